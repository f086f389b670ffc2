"""The API Lambda against moto's DynamoDB and EventBridge (in-process, mock_aws)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from sim.controlplane.api import ApiDeps, handle
from sim.controlplane.config import ControlPlaneSettings
from sim.controlplane.statuses import Action, TenantStatus
from sim.controlplane.secrets import TenantSecrets
from sim.controlplane.tenants import TenantStore

REGION = "us-east-1"


class FlakyEvents:
    """An EventBridge client whose entries fail ``failures`` times first."""

    def __init__(self, real, failures: int) -> None:
        self.real, self.failures, self.calls = real, failures, 0

    def put_events(self, Entries):
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]}
        return self.real.put_events(Entries=Entries)


@pytest.fixture
def aws():
    with mock_aws():
        db = boto3.client("dynamodb", region_name=REGION)
        db.create_table(
            TableName="tenants",
            KeySchema=[{"AttributeName": "tenant_code", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "tenant_code", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        events = boto3.client("events", region_name=REGION)
        for name in ("create", "update", "delete"):
            events.create_event_bus(Name=f"tenants-{name}")
        yield db, events


@pytest.fixture
def deps(aws):
    db, events = aws
    settings = ControlPlaneSettings(
        table="tenants",
        buses={a: f"tenants-{a.value}" for a in Action},
        topic_arn="",
        tfc_secret_id="",
        tfc_address="http://fake",
        tfc_organization="example-org",
    )
    secrets = TenantSecrets(boto3.client("secretsmanager", region_name=REGION))
    return ApiDeps(settings=settings, store=TenantStore(db, "tenants"), events=events, secrets=secrets)


def call(deps, method, path, body=None, query=None):
    event = {"httpMethod": method, "path": path, "queryStringParameters": query}
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    resp = handle(deps, event)
    return resp["statusCode"], json.loads(resp["body"])


def _create(deps, code="acme", **extra):
    return call(deps, "POST", "/tenants", {"tenant_code": code, "decommission_date": "2099-01-01"} | extra)


def test_create_answers_202_creating_and_writes_the_row(deps):
    status, body = _create(deps, variables={"size": "small"})
    assert (status, body["status"]) == (202, "creating")
    assert deps.store.get("acme").variables == {"size": "small"}


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"tenant_code": "Acme", "decommission_date": "2099-01-01"}, "tenant_code"),
        ({"tenant_code": "ab", "decommission_date": "2099-01-01"}, "tenant_code"),
        ({"tenant_code": "a--b", "decommission_date": "2099-01-01"}, "tenant_code"),
        ({"tenant_code": "1abc", "decommission_date": "2099-01-01"}, "tenant_code"),
        ({"tenant_code": "a" * 33, "decommission_date": "2099-01-01"}, "tenant_code"),
        # re.match with $ accepts a trailing newline; full matches do not.
        ({"tenant_code": "abc\n", "decommission_date": "2099-01-01"}, "tenant_code"),
        ({"tenant_code": "acme", "decommission_date": "2099-01-01", "variables": {"k\n": "v"}}, "variables"),
        ({"tenant_code": "acme"}, "decommission_date"),
        ({"tenant_code": "acme", "decommission_date": "soon"}, "decommission_date"),
        ({"tenant_code": "acme", "decommission_date": "2099-01-01", "variables": {"x": 1}}, "variables.x"),
        ({"tenant_code": "acme", "decommission_date": "2099-01-01", "colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_writes_nothing(deps, payload, field):
    status, body = call(deps, "POST", "/tenants", payload)
    assert status == 400 and body["field"] == field
    assert deps.store.page(10, None)[0] == []


DEEP = "[" * 10_000 + "]" * 10_000


@pytest.mark.parametrize(
    "raw, field",
    [
        # A lone surrogate decodes from JSON but no AWS service can store it (UTF-8).
        ('{"tenant_code": "acme", "decommission_date": "2099-01-01", "variables": {"k": "\\ud800"}}', "variables"),
        ('{"tenant_code": "acme", "decommission_date": "2099-01-01", "\\udfff": 1}', None),
        ('{"tenant_code": "\\ud800ab", "decommission_date": "2099-01-01"}', "tenant_code"),
        # Nested beyond the parser's recursion limit.
        (DEEP, "body"),
        ('{"tenant_code": "acme", "decommission_date": "2099-01-01", "variables": ' + DEEP + "}", "body"),
        # Dates are YYYY-MM-DD, nothing else date.fromisoformat would take.
        ('{"tenant_code": "acme", "decommission_date": "20990101"}', "decommission_date"),
        ('{"tenant_code": "acme", "decommission_date": "2099-W01-1"}', "decommission_date"),
        ('{"tenant_code": "acme", "decommission_date": "2099-02-30"}', "decommission_date"),
        ('{"tenant_code": "acme", "decommission_date": "２０９９-01-01"}', "decommission_date"),
        ('{"tenant_code": "acme", "decommission_date": "2099-01-01T00:00:00"}', "decommission_date"),
        ('{"tenant_code": "acme", "decommission_date": "2020-01-01"}', "decommission_date"),
    ],
    ids=["surrogate-value", "surrogate-member", "surrogate-code", "deep", "deep-variables", "basic-date", "week-date", "no-such-day", "fullwidth-digits", "datetime", "past"],
)
def test_bad_input_is_400_naming_the_field_never_a_lambda_error(deps, raw, field):
    status, body = call(deps, "POST", "/tenants", raw)
    assert status == 400, body
    if field is not None:
        assert body["field"] == field
    assert deps.store.page(10, None)[0] == []


@pytest.mark.parametrize("limit", ["0", "101", "5" * 5000, "²", "٣", "５", "-1", "1.0", " 1", "1\n", ""])
def test_a_limit_that_is_not_an_ascii_integer_from_1_to_100_is_400(deps, limit):
    status, body = call(deps, "GET", "/tenants", query={"limit": limit})
    assert (status, body["field"]) == (400, "limit")


def test_today_is_a_valid_decommission_date_and_an_update_to_the_past_is_400(deps):
    today = deps.now()[:10]
    assert _create(deps, decommission_date=today)[0] == 202
    deps.store.update_flow("acme", deps.store.get("acme").request_id, {"status": TenantStatus.READY})
    status, body = call(deps, "PATCH", "/tenants/acme", {"decommission_date": "2000-01-01"})
    assert (status, body["field"]) == (400, "decommission_date")


def test_a_body_that_is_not_base64_when_it_says_so_is_400(deps):
    resp = handle(deps, {"httpMethod": "POST", "path": "/tenants", "body": "%%%not base64", "isBase64Encoded": True})
    assert resp["statusCode"] == 400 and json.loads(resp["body"])["field"] == "body"


def test_unparsable_body_is_400(deps):
    assert call(deps, "POST", "/tenants", "{nope")[0] == 400


def test_no_second_flow_while_one_is_in_progress(deps):
    _create(deps)
    assert call(deps, "PATCH", "/tenants/acme", {"variables": {"a": "b"}})[0] == 409
    assert call(deps, "DELETE", "/tenants/acme")[0] == 409
    assert _create(deps)[0] == 409


def test_a_code_with_a_trailing_newline_is_refused_on_every_route(deps):
    _create(deps)
    for method in ("GET", "DELETE"):
        status, body = call(deps, method, "/tenants/acme\n")
        assert (status, body["field"]) == (400, "tenant_code")
    status, body = call(deps, "GET", "/tenants", query={"next": "acme\n"})
    assert (status, body["field"]) == (400, "tenant_code")


def test_unknown_tenant_is_404(deps):
    assert call(deps, "GET", "/tenants/nobody")[0] == 404
    assert call(deps, "DELETE", "/tenants/nobody")[0] == 404


def test_a_failed_put_events_entry_is_resent(deps):
    deps.events = FlakyEvents(deps.events, failures=2)
    assert _create(deps)[0] == 202
    assert deps.events.calls == 3


def test_an_event_that_never_lands_rolls_back_and_answers_503(deps):
    deps.events = FlakyEvents(deps.events, failures=10)
    status, body = _create(deps)
    assert status == 503 and "InternalFailure" in body["error"]
    assert deps.store.get("acme") is None


def test_list_is_paginated(deps):
    for code in ("aaa", "bbb", "ccc"):
        _create(deps, code)
    status, first = call(deps, "GET", "/tenants", query={"limit": "2"})
    assert status == 200 and len(first["tenants"]) == 2 and first["next"]
    _, second = call(deps, "GET", "/tenants", query={"limit": "2", "next": first["next"]})
    codes = {t["tenant_code"] for t in first["tenants"] + second["tenants"]}
    assert codes == {"aaa", "bbb", "ccc"}
    assert call(deps, "GET", "/tenants", query={"limit": "0"})[0] == 400


class LostAnswerEvents:
    """PutEvents takes effect, but its answer is lost (botocore: no answer is a read
    timeout); ``meanwhile`` runs after each put, as a flow would start in the meantime."""

    def __init__(self, real, meanwhile=lambda: None) -> None:
        self.real, self.meanwhile, self.calls = real, meanwhile, 0

    def put_events(self, Entries):
        from botocore.exceptions import ReadTimeoutError

        self.calls += 1
        self.real.put_events(Entries=Entries)
        self.meanwhile()
        raise ReadTimeoutError(endpoint_url="https://events.us-east-1.amazonaws.com/")


def test_an_event_whose_answer_was_lost_and_whose_flow_began_is_accepted_not_rolled_back(deps):
    """PutEvents put the event but its answer was lost, and the flow took the request up
    (Trigger's claim) while the API was resending: rolling back would answer 503 for a
    tenant being provisioned. The request stands: 202, the row stays."""
    claimed = []

    def flow_starts():
        row = deps.store.get("acme")
        if row is not None and not claimed:
            claimed.append(deps.store.claim("acme", row.request_id, "arn:aws:states:us-east-1:1:execution:create:x"))

    deps.events = LostAnswerEvents(deps.events, flow_starts)
    status, body = _create(deps)
    assert status == 202 and body["status"] == "creating"
    assert deps.store.get("acme").request_id == body["request_id"]
    assert deps.events.calls == deps.settings.put_events_attempts


def test_an_event_whose_answer_was_lost_before_any_flow_began_is_rolled_back_and_refused_later(deps):
    """Nobody took the request up: the API rolls it back and answers 503; a flow the event
    starts later finds the request gone and refuses it before provisioning anything."""
    from sim.controlplane.errors import FlowSuperseded

    seen = []
    deps.events = LostAnswerEvents(deps.events, lambda: seen.append(deps.store.get("acme").request_id))
    status, body = _create(deps)
    assert status == 503 and "nothing was changed" in body["error"] and "no answer" in body["error"]
    assert deps.store.get("acme") is None
    with pytest.raises(FlowSuperseded):
        deps.store.claim("acme", seen[0], "arn:aws:states:us-east-1:1:execution:create:late")
    assert deps.store.get("acme") is None


def test_an_update_rolled_back_restores_the_row_and_its_flow_is_refused(deps):
    from sim.controlplane.errors import FlowSuperseded

    _create(deps)
    first = deps.store.get("acme")
    deps.store.update_flow("acme", first.request_id, {"status": TenantStatus.READY})
    before = deps.store.get("acme")
    seen = []
    deps.events = LostAnswerEvents(deps.events, lambda: seen.append(deps.store.get("acme").request_id))
    status, _ = call(deps, "PATCH", "/tenants/acme", {"variables": {"a": "b"}})
    assert status == 503
    assert deps.store.get("acme") == before
    with pytest.raises(FlowSuperseded):
        deps.store.claim("acme", seen[0], "arn:aws:states:us-east-1:1:execution:update:late")
