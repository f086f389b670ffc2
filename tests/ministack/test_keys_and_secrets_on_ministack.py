"""Idempotency keys and secrets on MiniStack: the same control plane, its real Lambda zip run
by MiniStack, its DynamoDB (conditional writes) and Secrets Manager. Real time: every wait is
a condition with a deadline."""

from __future__ import annotations

import json

import pytest

from fake_tfc.statuses import VariableCategory
from sim.controlplane.idempotency import HEADER, REPLAYED_HEADER
from sim.controlplane.statuses import Action
from sim.engines.remote.backend import RemoteBackend

pytestmark = pytest.mark.ministack

FLOW_TIMEOUT = 45.0
REDACTED = {"sensitive": True}
DB_PASSWORD = "s3cr3t-ministack-db-password"


def _executions_about(env: RemoteBackend, action: Action, code: str) -> int:
    sfn = env.client("stepfunctions")
    return sum(
        1 for e in env.executions(action)
        if json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])["detail"]["tenant_code"] == code
    )


def test_a_retried_create_with_its_key_is_replayed_and_starts_one_flow(env: RemoteBackend) -> None:
    body = {"tenant_code": "keyed", "variables": {"tier": "gold"}, "decommission_date": "2099-01-01"}
    first = env.api("POST", "/tenants", body, headers={HEADER: "ministack-retry-1"})
    again = env.api("POST", "/tenants", body, headers={HEADER: "ministack-retry-1"})
    assert first.status == 202, first.body
    assert again.status == 202 and again.body == first.body
    assert again.headers.get(REPLAYED_HEADER) == "true" and REPLAYED_HEADER not in first.headers
    other = env.api("POST", "/tenants", {**body, "variables": {"tier": "silver"}}, headers={HEADER: "ministack-retry-1"})
    assert other.status == 422 and other.body["field"] == HEADER
    assert env.wait_for_status("keyed", timeout=FLOW_TIMEOUT)["status"] == "ready"
    assert _executions_about(env, Action.CREATE, "keyed") == 1


def test_sensitive_values_are_kept_in_secrets_manager_and_shown_redacted(env: RemoteBackend) -> None:
    resp = env.api("POST", "/tenants", {
        "tenant_code": "secretive", "decommission_date": "2099-01-01",
        "variables": {"tier": "gold", "db_password": {"value": DB_PASSWORD, "sensitive": True}},
    })
    assert resp.status == 202, resp.body
    row = env.wait_for_status("secretive", timeout=FLOW_TIMEOUT)
    assert row["status"] == "ready", row
    assert row["variables"] == {"tier": "gold", "db_password": REDACTED}
    assert row["outputs"]["admin_password"] == REDACTED
    ws_id = env.fake.workspace_id_by_name(env.stack.tfc_organization, "tenant-secretive")
    assert ws_id is not None
    held = {v.key: v for v in env.fake.workspaces[ws_id].variables.values() if v.category is VariableCategory.TERRAFORM}
    assert held["db_password"].sensitive is True and held["db_password"].value == DB_PASSWORD
    revealed = env.api("GET", "/tenants/secretive/secrets")
    assert revealed.status == 200 and str(revealed.body["outputs"]["admin_password"]).startswith("pw-")
    stored = json.dumps(env.client("dynamodb").scan(TableName=env.stack.table)["Items"])
    assert DB_PASSWORD not in stored and revealed.body["outputs"]["admin_password"] not in stored


def test_the_api_is_authorized_per_method_before_the_function(env: RemoteBackend) -> None:
    """Our API Gateway layer checks SigV4 and the stack's resource policy on this engine too."""
    unsigned = env.api("POST", "/tenants", {"tenant_code": "nobody", "decommission_date": "2099-01-01"}, principal=None)
    assert unsigned.status == 403 and unsigned.body["message"] == "Missing Authentication Token"
    assert env.api("DELETE", "/tenants/keyed", principal="reader").status == 403
    assert env.api("GET", "/tenants/nobody", principal="reader").status == 404  # a reader may read
    assert env.api("GET", "/tenants/nobody").status == 404
    assert _executions_about(env, Action.CREATE, "nobody") == 0
