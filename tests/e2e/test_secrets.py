"""Secrets kept secret (issue 12): sensitive variables and the outputs TFC marks sensitive are
kept in Secrets Manager, shown redacted by ``GET /tenants``, revealed only by
``GET /tenants/{code}/secrets``, written to TFC as sensitive variables, and found nowhere
else: not in the tenant row, the bus events, the executions' input and history, nor the
fake TFC's journal. End to end on the embedded backend, on the simulated clock."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from fake_tfc.statuses import VariableCategory
from sim.controlplane.statuses import Action

from .conftest import audit_queues, settle

DB_PASSWORD = "s3cr3t-db-password-0001"
NEW_PASSWORD = "s3cr3t-db-password-0002"
REDACTED = {"sensitive": True}


def _create(env, code: str = "acme", password: str = DB_PASSWORD):
    return env.api("POST", "/tenants", {
        "tenant_code": code, "decommission_date": "2027-01-01",
        "variables": {"tier": "gold", "db_password": {"value": password, "sensitive": True}},
    })


def _tfc_variables(env, code: str) -> dict:
    ws_id = env.fake.workspace_id_by_name(env.stack.tfc_organization, f"tenant-{code}")
    assert ws_id is not None
    return {v.key: v for v in env.fake.workspaces[ws_id].variables.values() if v.category is VariableCategory.TERRAFORM}


def _admin_password(env, code: str) -> str:
    ws_id = env.fake.workspace_id_by_name(env.stack.tfc_organization, f"tenant-{code}")
    [value] = [o.value for o in env.fake.current_state_version(env.fake.workspaces[ws_id]).outputs if o.name == "admin_password"]
    return str(value)


def _everything_recorded(env, audit_urls: dict) -> str:
    """The row as DynamoDB holds it, the events the buses carried, every execution's input,
    output and history, every Lambda log line's worth the backend kept, and the journal."""
    parts = [json.dumps(env.client("dynamodb").scan(TableName=env.stack.table)["Items"])]
    sqs, sfn = env.client("sqs"), env.client("stepfunctions")
    for url in audit_urls.values():
        parts += [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])]
    for action in Action:
        for ex in sfn.list_executions(stateMachineArn=env.stack.state_machine_arn(action))["executions"]:
            arn = ex["executionArn"]
            parts.append(json.dumps(sfn.describe_execution(executionArn=arn), default=str))
            parts.append(json.dumps(sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"], default=str))
    parts += [json.dumps(e.to_dict()) for e in env.fake.journal.entries()]
    return "\n".join(parts)


@pytest.fixture
def audit(env) -> dict:
    """A second consumer on each bus: what an audit log would keep of every event."""
    return audit_queues(env)


def test_get_shows_sensitive_variables_and_outputs_redacted(env):
    accepted = _create(env)
    assert accepted.status == 202
    assert accepted.body["variables"] == {"tier": "gold", "db_password": REDACTED}
    row = settle(env, "acme")
    assert row["status"] == "ready"
    assert row["variables"] == {"tier": "gold", "db_password": REDACTED}
    assert row["outputs"]["admin_password"] == REDACTED
    assert row["outputs"]["endpoint"] == "https://acme.tenants.example.test"  # plain outputs as they were
    listed = env.api("GET", "/tenants").body["tenants"]
    assert [t["outputs"]["admin_password"] for t in listed] == [REDACTED]
    password = _admin_password(env, "acme")
    for body in (env.api("GET", "/tenants/acme").raw_body, env.api("GET", "/tenants").raw_body):
        assert password not in body and DB_PASSWORD not in body


def test_the_reveal_endpoint_returns_the_sensitive_outputs(env):
    _create(env)
    settle(env, "acme")
    resp = env.api("GET", "/tenants/acme/secrets")
    assert resp.status == 200
    assert resp.body == {"tenant_code": "acme", "outputs": {"admin_password": _admin_password(env, "acme")}}
    assert _admin_password(env, "acme").startswith("pw-")
    assert env.api("GET", "/tenants/nobody/secrets").status == 404
    assert env.api("DELETE", "/tenants/acme/secrets").status == 405


def test_a_sensitive_variable_reaches_tfc_marked_sensitive_with_its_value(env):
    _create(env)
    settle(env, "acme")
    held = _tfc_variables(env, "acme")
    assert held["db_password"].sensitive is True and held["db_password"].value == DB_PASSWORD
    assert held["tier"].sensitive is False and held["tier"].value == "gold"


def test_no_plaintext_secret_in_the_row_events_executions_or_journal(env, audit):
    _create(env)
    settle(env, "acme")
    env.api("PATCH", "/tenants/acme", {"variables": {"db_password": {"value": NEW_PASSWORD, "sensitive": True}}})
    settle(env, "acme")
    recorded = _everything_recorded(env, audit)
    password = _admin_password(env, "acme")
    for secret in (DB_PASSWORD, NEW_PASSWORD, password):
        assert secret not in recorded
    # What they carry instead: a reference to a version of the tenant's secret.
    item = env.client("dynamodb").get_item(TableName=env.stack.table, Key={"tenant_code": {"S": "acme"}})["Item"]
    ref = item["variables"]["M"]["db_password"]["M"]
    assert ref["secret"]["S"] == "tenant-sim/tenants/acme/variables" and ref["sensitive"]["BOOL"] is True
    assert "admin_password" not in json.loads(item["outputs"]["S"])
    assert "tenant-sim/tenants/acme/variables" in recorded  # the events and executions carry the reference


def test_an_update_writes_a_new_secret_version_and_tfc_gets_the_new_value(env):
    _create(env)
    settle(env, "acme")
    sm = env.client("secretsmanager")
    name = "tenant-sim/tenants/acme/variables"
    first = env.client("dynamodb").get_item(TableName=env.stack.table, Key={"tenant_code": {"S": "acme"}})["Item"]
    env.api("PATCH", "/tenants/acme", {"variables": {"db_password": {"value": NEW_PASSWORD, "sensitive": True}, "tier": "silver"}})
    assert settle(env, "acme")["status"] == "ready"
    second = env.client("dynamodb").get_item(TableName=env.stack.table, Key={"tenant_code": {"S": "acme"}})["Item"]
    v1 = first["variables"]["M"]["db_password"]["M"]["version"]["S"]
    v2 = second["variables"]["M"]["db_password"]["M"]["version"]["S"]
    assert v1 != v2
    assert json.loads(sm.get_secret_value(SecretId=name, VersionId=v1)["SecretString"]) == {"db_password": DB_PASSWORD}
    assert json.loads(sm.get_secret_value(SecretId=name, VersionId=v2)["SecretString"]) == {"db_password": NEW_PASSWORD}
    held = _tfc_variables(env, "acme")
    assert held["db_password"].value == NEW_PASSWORD and held["db_password"].sensitive is True
    assert held["tier"].value == "silver"


def test_an_update_of_other_variables_keeps_the_sensitive_one(env):
    _create(env)
    settle(env, "acme")
    env.api("PATCH", "/tenants/acme", {"variables": {"tier": "silver"}})
    assert settle(env, "acme")["variables"] == {"tier": "silver", "db_password": REDACTED}
    assert _tfc_variables(env, "acme")["db_password"].value == DB_PASSWORD


def test_a_sensitive_variable_cannot_be_made_plain(env):
    _create(env)
    settle(env, "acme")
    resp = env.api("PATCH", "/tenants/acme", {"variables": {"db_password": "plain-now-1234"}})
    assert resp.status == 400 and resp.body["field"] == "variables.db_password"


def test_a_decommissioned_tenants_secrets_are_gone(env):
    _create(env)
    settle(env, "acme")
    sm = env.client("secretsmanager")
    names = ["tenant-sim/tenants/acme/variables", "tenant-sim/tenants/acme/outputs"]
    for name in names:
        assert sm.describe_secret(SecretId=name)["Name"] == name
    env.api("DELETE", "/tenants/acme")
    row = settle(env, "acme")
    assert row["status"] == "deleted" and row["outputs"] == {}
    for name in names:
        with pytest.raises(ClientError) as err:
            sm.get_secret_value(SecretId=name)
        assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert env.api("GET", "/tenants/acme/secrets").body["outputs"] == {}
    # Deleted without a recovery window: the code can be created again at once.
    assert _create(env, password=NEW_PASSWORD).status == 202
    assert settle(env, "acme")["status"] == "ready"
    assert _tfc_variables(env, "acme")["db_password"].value == NEW_PASSWORD
