"""What an operator of the control plane meets, on the embedded backend: rows the control
plane cannot read, requests left in progress (the reconciler), dead-lettered requests (the
redrive)."""

from __future__ import annotations

from sim.controlplane.metrics import MALFORMED_ROWS
from sim.engines.embedded.environment import EmbeddedBackend
from tests.e2e.conftest import create, settle


def test_a_malformed_row_is_counted_as_a_metric_and_hides_nothing(env: EmbeddedBackend):
    create(env, "acme")
    settle(env, "acme")
    env.client("dynamodb").put_item(
        TableName=env.stack.table, Item={"tenant_code": {"S": "zulu"}, "status": {"S": "archived"}, "decommission_date": {"S": "2000-01-01"}}
    )
    listed = env.api("GET", "/tenants")
    assert listed.status == 200 and [t["tenant_code"] for t in listed.body["tenants"]] == ["acme"]
    assert env.metrics[MALFORMED_ROWS] == 1
    assert env.api("GET", "/tenants/zulu").status == 500


# ------------------------------------------------------------------ reconciler and redrive
import json  # noqa: E402

from sim.controlplane.metrics import RECONCILER_FAILED, REDRIVEN  # noqa: E402
from sim.engines.embedded.environment import EmbeddedConfig  # noqa: E402
from sim.engines.embedded.faults import LambdaFault, LambdaFaultKind, StartExecutionFault  # noqa: E402
from sim.stack.wiring import Stack  # noqa: E402


def _backend(**stack: int) -> EmbeddedBackend:
    config = EmbeddedConfig(stall_seconds=30)
    return EmbeddedBackend(config, Stack(tfc_organization=config.tfc_organization, **stack))


def _invoke(env: EmbeddedBackend, function: str, payload: dict) -> tuple[dict, str | None]:
    resp = env.client("lambda").invoke(FunctionName=env.stack.function_name(function), Payload=json.dumps(payload).encode())
    return json.loads(resp["Payload"].read()), resp.get("FunctionError")


def test_the_reconciler_and_the_redrive_are_deployed_with_the_stack():
    with _backend() as env:
        names = {f["FunctionName"] for f in env.client("lambda").list_functions()["Functions"]}
        assert {env.stack.function_name("reconcile"), env.stack.function_name("redrive")} <= names
        rules = {r["Name"]: r.get("ScheduleExpression") for r in env.client("events").list_rules()["Rules"]}
        assert rules[env.stack.reconcile_rule] == env.stack.reconcile_schedule


def test_the_reconciler_ends_a_request_whose_execution_died_and_leaves_live_ones_alone():
    """Finalize fails for good for acme (its state goes to the flow DLQ, the execution
    fails): past the deadline the reconciler ends acme failed, saying its execution ended
    FAILED, once. bravo's execution is still running (a slow run); even with its request
    made to look old, the reconciler leaves it alone (DescribeExecution: RUNNING)."""
    from fake_tfc import RunScript

    with _backend(max_event_age=600, poll_budget=20, wait_seconds=60) as env:
        env.faults.lambdas.append(LambdaFault("finalize", LambdaFaultKind.ERROR, times=4, error_type="RuntimeError"))
        create(env, "acme")
        assert env.run_until(lambda: env.status("acme") == "failed", max_seconds=env.stack.reconcile_after + 7 * 3600)
        acme = env.tenant("acme")
        assert "execution ended FAILED" in acme["last_error"] and acme["last_error"].startswith("reconciler:")
        assert env.metrics[RECONCILER_FAILED] == 1

        env.fake.set_script(RunScript(match="tenant-bravo", durations={"applying": 900.0}))
        create(env, "bravo")
        env.run_until(lambda: False, max_seconds=300)
        env.client("dynamodb").update_item(
            TableName=env.stack.table, Key={"tenant_code": {"S": "bravo"}},
            UpdateExpression="SET updated_at = :t", ExpressionAttributeValues={":t": {"S": "2000-01-01T00:00:00.000Z"}},
        )
        report, error = _invoke(env, "reconcile", {})
        assert error is None and report["live"] == ["bravo"] and report["failed"] == {}
        assert env.run_until(lambda: env.status("bravo") == "ready", max_seconds=3600)
        assert env.metrics[RECONCILER_FAILED] == 1


def test_the_redrive_leaves_a_stale_message_in_its_queue_and_says_why():
    """acme's create is dead-lettered; the reconciler ends it failed; a later redrive finds
    the message's request is no longer the tenant's current one and leaves it (redriving
    would do nothing)."""
    with _backend(max_event_age=600, retry_attempts=1) as env:
        env.faults.start_execution.append(StartExecutionFault(env.stack.flow(__import__("sim.controlplane.statuses", fromlist=["Action"]).Action.CREATE).state_machine, times=-1))
        create(env, "acme")
        assert env.run_until(lambda: env.status("acme") == "failed", max_seconds=env.stack.reconcile_after + 7 * 3600)
        env.faults.clear()
        report, error = _invoke(env, "redrive", {"queues": ["dlq"]})
        assert error is None and report["redriven"] == [] and len(report["stale"]) == 1
        assert "failed" in next(iter(report["stale"].values()))
        assert len(env.queue_messages("dlq")) == 1  # still there for the operator
        assert REDRIVEN not in env.metrics


def test_the_redrive_refuses_a_bad_request():
    with _backend() as env:
        _, error = _invoke(env, "redrive", {"queues": ["everything"]})
        assert error == "Unhandled"
