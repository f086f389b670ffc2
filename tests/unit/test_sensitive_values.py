"""Sensitive variables and outputs (issue 12): the request models, the row and the event, and
the API Lambda against moto's DynamoDB, EventBridge and Secrets Manager (in-process)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from sim.controlplane.errors import InvalidRequest
from sim.controlplane.models import (
    REDACTED,
    CreateTenantRequest,
    OutputsRef,
    SecretRef,
    SensitiveValue,
    TenantEvent,
    TenantRecord,
    UpdateTenantRequest,
)
from sim.controlplane.secrets import TenantSecrets
from sim.controlplane.statuses import Action, TenantStatus
from sim.controlplane.tenants import _from_item, _to_item
from tests.unit.test_api_handler import _create, aws, call, deps  # noqa: F401  (fixtures)

BASE = {"tenant_code": "acme", "decommission_date": "2099-01-01"}
PASSWORD = "hunter2-but-longer"
REF = SecretRef(secret="tenant-sim/tenants/acme/variables", version="v1")


def _row(**extra) -> TenantRecord:
    return TenantRecord(
        tenant_code="acme", status=TenantStatus.READY, decommission_date="2099-01-01", created_at="t", updated_at="t",
        request_id="r1", action=Action.CREATE, **extra,
    )


# ------------------------------------------------------------------ request models
def test_a_sensitive_variable_is_taken_in_its_object_form():
    req = CreateTenantRequest.parse({**BASE, "variables": {"tier": "gold", "db_password": {"value": PASSWORD, "sensitive": True}}})
    assert req.variables == {"tier": "gold", "db_password": SensitiveValue(value=PASSWORD)}


def test_the_object_form_with_sensitive_false_is_a_plain_variable():
    req = UpdateTenantRequest.parse({"variables": {"tier": {"value": "gold", "sensitive": False}}})
    assert req.variables == {"tier": "gold"}


@pytest.mark.parametrize(
    "value",
    [
        5,
        None,
        ["x"],
        {"value": 5, "sensitive": True},
        {"sensitive": True},
        {"value": "x"},
        {"value": "x", "sensitive": "yes"},
        {"value": "x", "sensitive": True, "description": "mine"},
    ],
    ids=["number", "null", "list", "value-not-a-string", "no-value", "no-sensitive", "sensitive-not-a-bool", "unknown-member"],
)
def test_a_bad_variable_shape_is_a_400_naming_the_variable(value):
    for model, body in ((CreateTenantRequest, BASE), (UpdateTenantRequest, {})):
        with pytest.raises(InvalidRequest) as err:
            model.parse({**body, "variables": {"db_password": value}})
        assert err.value.field == "variables.db_password", err.value.message
        assert "db_password" in err.value.message or "sensitive" in err.value.message


def test_a_sensitive_value_obeys_the_length_limit():
    with pytest.raises(InvalidRequest) as err:
        CreateTenantRequest.parse({**BASE, "variables": {"db_password": {"value": "x" * 4097, "sensitive": True}}})
    assert err.value.field == "variables" and "longer than 4096" in err.value.message


def test_a_sensitive_value_never_shows_in_its_repr():
    value = SensitiveValue(value=PASSWORD)
    assert PASSWORD not in repr(value) and PASSWORD not in str(value)
    assert PASSWORD not in repr(CreateTenantRequest.parse({**BASE, "variables": {"p": {"value": PASSWORD, "sensitive": True}}}))


# ------------------------------------------------------------------ row and event
def test_the_row_shows_sensitive_variables_and_outputs_redacted():
    row = _row(
        variables={"tier": "gold", "db_password": REF},
        outputs={"endpoint": "https://acme.example"},
        sensitive_outputs=OutputsRef(secret="tenant-sim/tenants/acme/outputs", version="v1", names=["admin_password"]),
    )
    body = row.public()
    assert body["variables"] == {"tier": "gold", "db_password": REDACTED}
    assert body["outputs"] == {"endpoint": "https://acme.example", "admin_password": REDACTED}


def test_the_row_keeps_references_through_dynamodb():
    row = _row(variables={"tier": "gold", "db_password": REF},
               sensitive_outputs=OutputsRef(secret="s", version="v", names=["admin_password"]))
    item = _to_item(row)
    assert item["variables"]["M"]["db_password"]["M"]["version"] == {"S": "v1"}
    assert _from_item(item) == row


def test_the_event_carries_the_reference_not_the_value():
    event = TenantEvent(tenant_code="acme", action=Action.CREATE, request_id="r1", actor="api",
                        variables={"tier": "gold", "db_password": REF}, requested_at="t")
    wire = json.loads(event.model_dump_json())
    assert wire["variables"]["db_password"] == {"sensitive": True, "secret": REF.secret, "version": "v1"}
    assert TenantEvent.model_validate(wire) == event


# ------------------------------------------------------------------ the API
def _secret(deps, code="acme", version=None) -> dict:
    kwargs = {"SecretId": f"tenant-sim/tenants/{code}/variables"} | ({"VersionId": version} if version else {})
    return json.loads(deps.secrets._sm.get_secret_value(**kwargs)["SecretString"])


def test_create_keeps_the_value_in_secrets_manager_and_a_reference_in_the_row(deps):
    status, body = _create(deps, variables={"tier": "gold", "db_password": {"value": PASSWORD, "sensitive": True}})
    assert status == 202 and body["variables"] == {"tier": "gold", "db_password": REDACTED}
    row = deps.store.get("acme")
    ref = row.variables["db_password"]
    assert isinstance(ref, SecretRef) and ref.secret == "tenant-sim/tenants/acme/variables"
    assert ref.version == row.request_id  # the request id is the ClientRequestToken
    assert _secret(deps, version=ref.version) == {"db_password": PASSWORD}
    assert PASSWORD not in json.dumps(deps.store._item("acme"))


def _ready(deps, code="acme"):
    row = deps.store.get(code)
    deps.store.update_flow(code, row.request_id, {"status": TenantStatus.READY})


def test_an_update_writes_a_new_version_with_every_sensitive_value(deps):
    _create(deps, variables={"a_password": {"value": "first-aaaa", "sensitive": True}, "b_password": {"value": "first-bbbb", "sensitive": True}})
    _ready(deps)
    first = deps.store.get("acme").variables["a_password"]
    status, _ = call(deps, "PATCH", "/tenants/acme", {"variables": {"a_password": {"value": "second-aaaa", "sensitive": True}}})
    assert status == 202
    row = deps.store.get("acme")
    assert row.variables["a_password"] == row.variables["b_password"] != first
    assert _secret(deps, version=row.variables["a_password"].version) == {"a_password": "second-aaaa", "b_password": "first-bbbb"}
    assert _secret(deps, version=first.version) == {"a_password": "first-aaaa", "b_password": "first-bbbb"}


def test_an_update_of_plain_variables_writes_no_new_version(deps):
    _create(deps, variables={"db_password": {"value": PASSWORD, "sensitive": True}})
    _ready(deps)
    before = deps.store.get("acme").variables["db_password"]
    call(deps, "PATCH", "/tenants/acme", {"variables": {"tier": "silver"}})
    assert deps.store.get("acme").variables == {"db_password": before, "tier": "silver"}
    versions = deps.secrets._sm.list_secret_version_ids(SecretId="tenant-sim/tenants/acme/variables")["Versions"]
    assert len(versions) == 1


def test_a_sensitive_variable_cannot_be_made_plain(deps):
    _create(deps, variables={"db_password": {"value": PASSWORD, "sensitive": True}})
    _ready(deps)
    status, body = call(deps, "PATCH", "/tenants/acme", {"variables": {"db_password": "in-the-clear"}})
    assert status == 400 and body["field"] == "variables.db_password"


def test_a_refused_request_writes_no_secret(deps):
    _create(deps)
    status, _ = call(deps, "PATCH", "/tenants/acme", {"variables": {"db_password": {"value": PASSWORD, "sensitive": True}}})
    assert status == 409  # the create is in progress
    with pytest.raises(ClientError):
        _secret(deps)


class DownSecrets:
    """A Secrets Manager that answers 503 to everything."""

    def __getattr__(self, name):
        def fail(**kwargs):
            raise ClientError({"Error": {"Code": "ServiceUnavailable"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, name)

        return fail


def test_secrets_manager_down_is_a_503_and_nothing_is_written(deps):
    deps.secrets = TenantSecrets(DownSecrets())
    status, body = _create(deps, variables={"db_password": {"value": PASSWORD, "sensitive": True}})
    assert status == 503 and "nothing was changed" in body["error"]
    assert deps.store.get("acme") is None
    assert _create(deps, variables={"tier": "gold"})[0] == 202  # plain variables need no secret


def test_the_reveal_endpoint_reads_the_version_the_row_names(deps):
    _create(deps)
    row = deps.store.get("acme")
    name, version = deps.secrets.write("acme", "outputs", {"admin_password": "pw-0123456789"}, row.request_id)
    deps.store.update_flow("acme", row.request_id, {
        "status": TenantStatus.READY, "sensitive_outputs": OutputsRef(secret=name, version=version, names=["admin_password"]),
    })
    assert call(deps, "GET", "/tenants/acme")[1]["outputs"] == {"admin_password": REDACTED}
    assert call(deps, "GET", "/tenants/acme/secrets") == (200, {"tenant_code": "acme", "outputs": {"admin_password": "pw-0123456789"}})
    assert call(deps, "POST", "/tenants/acme/secrets", {})[0] == 405


# ------------------------------------------------------------------ the secrets
def test_a_retried_write_makes_no_second_version(deps):
    first = deps.secrets.write("acme", "outputs", {"admin_password": "x" * 10}, "11111111-2222-3333-4444-555555555555")
    again = deps.secrets.write("acme", "outputs", {"admin_password": "x" * 10}, "11111111-2222-3333-4444-555555555555")
    assert first == again
    assert len(deps.secrets._sm.list_secret_version_ids(SecretId=first[0])["Versions"]) == 1


def test_delete_removes_both_secrets_at_once_and_is_safe_to_repeat(deps):
    deps.secrets.write("acme", "outputs", {"a": "b"}, "11111111-2222-3333-4444-555555555555")
    deps.secrets.write("acme", "variables", {"a": "b"}, "11111111-2222-3333-4444-555555555555")
    deps.secrets.delete("acme")
    deps.secrets.delete("acme")
    for kind in ("outputs", "variables"):
        with pytest.raises(ClientError) as err:
            deps.secrets._sm.describe_secret(SecretId=f"tenant-sim/tenants/acme/{kind}")
        assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
