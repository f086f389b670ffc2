"""The API Lambda against moto's DynamoDB and EventBridge (in-process, mock_aws)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from sim.controlplane.api import ApiDeps, handle
from sim.controlplane.config import Settings
from sim.controlplane.statuses import Action
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
    settings = Settings(
        table="tenants",
        buses={a: f"tenants-{a.value}" for a in Action},
        topic_arn="",
        tfc_secret_id="",
        tfc_address="http://fake",
        tfc_organization="example-org",
    )
    return ApiDeps(settings=settings, store=TenantStore(db, "tenants"), events=events)


def call(deps, method, path, body=None, query=None):
    event = {"httpMethod": method, "path": path, "queryStringParameters": query}
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    resp = handle(deps, event)
    return resp["statusCode"], json.loads(resp["body"])


def _create(deps, code="acme", **extra):
    return call(deps, "POST", "/tenants", {"tenant_code": code, "decommission_date": "2027-01-01", **extra})


def test_create_answers_202_creating_and_writes_the_row(deps):
    status, body = _create(deps, variables={"size": "small"})
    assert (status, body["status"]) == (202, "creating")
    assert deps.store.get("acme").variables == {"size": "small"}


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"tenant_code": "Acme", "decommission_date": "2027-01-01"}, "tenant_code"),
        ({"tenant_code": "ab", "decommission_date": "2027-01-01"}, "tenant_code"),
        ({"tenant_code": "a--b", "decommission_date": "2027-01-01"}, "tenant_code"),
        ({"tenant_code": "1abc", "decommission_date": "2027-01-01"}, "tenant_code"),
        ({"tenant_code": "a" * 33, "decommission_date": "2027-01-01"}, "tenant_code"),
        ({"tenant_code": "acme"}, "decommission_date"),
        ({"tenant_code": "acme", "decommission_date": "soon"}, "decommission_date"),
        ({"tenant_code": "acme", "decommission_date": "2027-01-01", "variables": {"x": 1}}, "variables.x"),
        ({"tenant_code": "acme", "decommission_date": "2027-01-01", "colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_writes_nothing(deps, payload, field):
    status, body = call(deps, "POST", "/tenants", payload)
    assert status == 400 and body["field"] == field
    assert deps.store.page(10, None)[0] == []


def test_unparsable_body_is_400(deps):
    assert call(deps, "POST", "/tenants", "{nope")[0] == 400


def test_no_second_flow_while_one_is_in_progress(deps):
    _create(deps)
    assert call(deps, "PATCH", "/tenants/acme", {"variables": {"a": "b"}})[0] == 409
    assert call(deps, "DELETE", "/tenants/acme")[0] == 409
    assert _create(deps)[0] == 409


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
