"""End to end through the public REST API (API Gateway proxy events to the API
function) and boto3 on the embedded backend: one test per bullet of the system
description (docs/system.md)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from fake_tfc import Outcome, RunBehaviour, RunScript, RunStatus
from sim.controlplane.statuses import Action
from sim.engines.embedded.faults import LambdaFault, LambdaFaultKind

from .conftest import FLOW_DEADLINE, audit_queues, create, settle


def _executions(env, action: Action) -> list[dict]:
    sfn = env.client("stepfunctions")
    arn = env.stack.state_machine_arn(action)
    return sfn.list_executions(stateMachineArn=arn)["executions"]


def _history(env, execution_arn: str) -> list[dict]:
    return env.client("stepfunctions").get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]


# --------------------------------------------------------------------- API
def test_create_answers_202_creating_and_writes_the_desired_state_first(env):
    resp = create(env, "acme", {"tier": "gold"})
    assert resp.status == 202
    assert resp.body["status"] == "creating"
    # Before the clock moves, the row holds the desired state and nothing ran yet.
    item = env.client("dynamodb").get_item(TableName=env.stack.table, Key={"tenant_code": {"S": "acme"}})["Item"]
    assert item["status"]["S"] == "creating"
    assert json.loads(json.dumps(item["variables"]))  # stored
    assert env.fake.journal.entries() == []


def test_the_event_goes_on_the_bus_of_its_action(env):
    # A second consumer on each bus (what SYSTEM.md calls "subscribe to a bus") sees
    # exactly the events of that action.
    sqs = env.client("sqs")
    seen = audit_queues(env)
    create(env, "acme")
    settle(env, "acme")
    env.api("PATCH", "/tenants/acme", {"variables": {"tier": "silver"}})
    settle(env, "acme")
    env.api("DELETE", "/tenants/acme")
    settle(env, "acme")
    for action, url in seen.items():
        bodies = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])]
        assert [b["detail-type"] for b in bodies] == [f"tenant.{action.value}"]
        assert bodies[0]["detail"]["tenant_code"] == "acme"
        assert bodies[0]["detail"]["action"] == action.value


def test_input_transformer_constants_reach_the_execution_input(env):
    create(env, "acme")
    settle(env, "acme")
    env.api("DELETE", "/tenants/acme")
    settle(env, "acme")
    sfn = env.client("stepfunctions")
    created = json.loads(sfn.describe_execution(executionArn=_executions(env, Action.CREATE)[0]["executionArn"])["input"])
    deleted = json.loads(sfn.describe_execution(executionArn=_executions(env, Action.DELETE)[0]["executionArn"])["input"])
    assert created["flow"] == {
        "action": "create", "destroy": False, "success_status": "ready", "event_name": "tenant.created",
        "wait_seconds": 120, "poll_budget": env.stack.poll_budget,
    }
    assert deleted["flow"]["destroy"] is True and deleted["flow"]["success_status"] == "deleted"
    assert created["detail"]["tenant_code"] == "acme"
    # The template's id is the event id (LocalStack names executions after it).
    assert created["id"] and created["id"] != deleted["id"]


def test_the_flow_waits_and_polls_until_the_run_finishes(env):
    env.fake.set_script(RunScript(match="*", durations={"applying": 400.0}))
    create(env, "acme")
    row = settle(env, "acme")
    assert row["status"] == "ready"
    history = _history(env, _executions(env, Action.CREATE)[0]["executionArn"])
    waits = [e for e in history if e["type"] == "WaitStateEntered"]
    assert len(waits) >= 4  # ~411 s of run at 120 s a poll
    checks = [i for i in env.invocations if i.function.endswith("-check")]
    assert len(checks) == len(waits)
    # The simulated clock moved by the loop's waits, not the wall clock.
    assert env.clock.now() - env.config.start >= 120 * len(waits)


def test_outputs_are_persisted_and_read_back_without_calling_tfc(env):
    create(env, "acme")
    settle(env, "acme")
    env.fake.journal.clear()
    row = env.tenant("acme")
    assert row["outputs"]["tenant_code"] == "acme"
    assert row["outputs"]["endpoint"] == "https://acme.tenants.example.test"
    assert env.fake.journal.entries() == []


def test_an_errored_apply_ends_failed_and_an_update_retries_it(env, lifecycle):
    env.fake.set_script(RunScript(match="*", runs=[RunBehaviour(outcome=Outcome.APPLY_ERROR)]))
    create(env, "acme")
    row = settle(env, "acme")
    assert row["status"] == "failed"
    assert "errored" in row["last_error"]
    resp = env.api("PATCH", "/tenants/acme", {"variables": {"tier": "platinum"}})
    assert resp.status == 202 and resp.body["status"] == "updating"
    row = settle(env, "acme")
    assert row["status"] == "ready" and row["last_error"] is None
    assert [e["event"] for e in lifecycle.events()] == ["tenant.create_failed", "tenant.updated"]


def test_delete_runs_a_destroy_run_and_removes_the_workspace(env, lifecycle):
    create(env, "acme")
    settle(env, "acme")
    resp = env.api("DELETE", "/tenants/acme")
    assert resp.status == 202 and resp.body["status"] == "deleting"
    row = settle(env, "acme")
    assert row["status"] == "deleted"
    assert env.fake.workspace_id_by_name(env.stack.tfc_organization, "tenant-acme") is None
    posts = env.fake.journal.entries(method="POST", path="/api/v2/runs")
    assert len(posts) == 2
    deletes = [e for e in env.fake.journal.entries(method="DELETE") if "/workspaces/" in e.path]
    assert len(deletes) == 1 and deletes[0].status == 204
    assert [e["event"] for e in lifecycle.events()] == ["tenant.created", "tenant.deleted"]


def test_lifecycle_events_for_success_and_failure(env, lifecycle):
    env.fake.set_script(RunScript(match="tenant-bad*", then=RunBehaviour(outcome=Outcome.PLAN_ERROR)))
    create(env, "good")
    create(env, "bad-one")
    settle(env, "good")
    settle(env, "bad-one")
    by_code = {e["tenant_code"]: e for e in lifecycle.events()}
    assert by_code["good"]["event"] == "tenant.created" and by_code["good"]["status"] == "ready"
    assert by_code["bad-one"]["event"] == "tenant.create_failed" and by_code["bad-one"]["status"] == "failed"
    assert "errored" in by_code["bad-one"]["reason"]


def test_an_exhausted_poll_budget_ends_failed_with_that_reason(env):
    env.fake.set_script(RunScript(match="*", then=RunBehaviour(stuck_in=RunStatus.PLAN_QUEUED)))
    create(env, "stuck")
    row = settle(env, "stuck", max_seconds=env.stack.poll_budget * 120 + 3600)
    assert row["status"] == "failed"
    assert row["last_error"].startswith("poll budget exhausted")
    assert sum(1 for i in env.invocations if i.function.endswith("-check")) == env.stack.poll_budget


def test_throttled_lambda_is_retried_by_the_state_machine(env):
    # AWS Step Functions docs (handling Lambda errors): Lambda.TooManyRequestsException is retried by the Retry block.
    env.faults.lambdas.append(LambdaFault("trigger", LambdaFaultKind.THROTTLE, times=2))
    create(env, "acme")
    assert settle(env, "acme")["status"] == "ready"
    history = _history(env, _executions(env, Action.CREATE)[0]["executionArn"])
    failed = [e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"]
    assert failed == ["Lambda.TooManyRequestsException"] * 2


def test_a_task_error_is_caught_and_recorded_as_failed(env, lifecycle):
    env.faults.lambdas.append(LambdaFault("check", LambdaFaultKind.ERROR, times=1, error_type="KeyError", message="boom"))
    create(env, "acme")
    row = settle(env, "acme")
    assert row["status"] == "failed"
    assert row["last_error"].startswith("task error: KeyError")
    assert [e["event"] for e in lifecycle.events()] == ["tenant.create_failed"]


def test_a_redelivered_event_does_not_start_a_second_run(env):
    # EventBridge delivers at least once, each attempt a new execution name: Trigger must be idempotent.
    env.fake.set_script(RunScript(match="*", durations={"applying": 200.0}))
    create(env, "acme")
    env.clock.run_due()  # the first execution starts
    row = env.client("dynamodb").get_item(TableName=env.stack.table, Key={"tenant_code": {"S": "acme"}})["Item"]
    detail = {
        "tenant_code": "acme", "action": "create", "request_id": row["request_id"]["S"], "actor": "api",
        "variables": {"tier": "gold"}, "requested_at": row["updated_at"]["S"],
    }
    env.client("events").put_events(
        Entries=[{"Source": "tenant-sim.api", "DetailType": "tenant.create", "Detail": json.dumps(detail), "EventBusName": env.stack.flow(Action.CREATE).bus}]
    )
    assert settle(env, "acme")["status"] == "ready"
    env.run_until(lambda: all(e["status"] != "RUNNING" for e in _executions(env, Action.CREATE)), max_seconds=FLOW_DEADLINE)
    assert len(_executions(env, Action.CREATE)) == 2
    assert len(env.fake.journal.entries(method="POST", path="/api/v2/runs")) == 1


# --------------------------------------------------------------------- DLQ
def test_missing_state_machine_sends_the_event_to_the_dlq_with_its_attributes(env):
    # eb-rule-dlq: a target that no longer exists is not retried; the DLQ message
    # carries the original event and RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE.
    env.client("stepfunctions").delete_state_machine(stateMachineArn=env.stack.state_machine_arn(Action.CREATE))
    assert create(env, "acme").status == 202
    env.clock.run_due()
    [msg] = env.queue_messages("dlq")
    attrs = {k: v["StringValue"] for k, v in msg["MessageAttributes"].items()}
    assert attrs["ERROR_CODE"] == "NO_RESOURCE"
    assert attrs["RULE_ARN"].endswith(f"rule/{env.stack.flow(Action.CREATE).bus}/{env.stack.flow(Action.CREATE).rule}")
    assert attrs["TARGET_ARN"] == env.stack.state_machine_arn(Action.CREATE)
    assert attrs["RETRY_ATTEMPTS"] == "0"
    assert "EXHAUSTED_RETRY_CONDITION" not in attrs
    body = json.loads(msg["Body"])
    assert body["detail-type"] == "tenant.create" and body["detail"]["tenant_code"] == "acme"
    assert "flow" not in body  # the original event, not the transformed input


def test_throttled_start_execution_is_retried_then_dead_lettered(env):
    from sim.engines.embedded.faults import StartExecutionFault

    events = env.client("events")
    flow = env.stack.flow(Action.CREATE)
    target = {**env.stack.target(Action.CREATE), "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}}
    events.put_targets(Rule=flow.rule, EventBusName=flow.bus, Targets=[target])
    env.faults.start_execution.append(StartExecutionFault(flow.state_machine, "ExecutionLimitExceeded", times=-1))
    create(env, "acme")
    env.advance(3600)
    [msg] = env.queue_messages("dlq")
    attrs = {k: v["StringValue"] for k, v in msg["MessageAttributes"].items()}
    assert attrs["ERROR_CODE"] == "THROTTLING"
    assert attrs["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
    assert attrs["RETRY_ATTEMPTS"] == "3"
    assert [r.outcome for r in env.deliveries] == ["retry"] * 3 + ["dead-lettered"]


def test_a_throttle_that_clears_is_retried_until_the_flow_runs(env):
    from sim.engines.embedded.faults import StartExecutionFault

    env.faults.start_execution.append(StartExecutionFault(env.stack.flow(Action.CREATE).state_machine, times=2))
    create(env, "acme")
    assert settle(env, "acme")["status"] == "ready"
    assert [r.outcome for r in env.deliveries] == ["retry", "retry", "started"]
    assert env.queue_messages("dlq") == []


# ------------------------------------------------------------ decommission
def _day(env, days: int) -> float:
    return env.config.start + days * 86400


def test_decommission_skips_a_tenant_mid_flow_and_deletes_it_the_next_day(env, lifecycle):
    start = datetime.fromtimestamp(env.config.start, tz=timezone.utc).date()
    due = start.replace(day=start.day + 1).isoformat()  # past due from the second day's run
    create(env, "old", decommission_date=due)
    create(env, "young", decommission_date="2027-06-01")
    settle(env, "old")
    settle(env, "young")
    # Just before the second day's 03:00 run, start an update that is still running then.
    env.clock.advance_to(_day(env, 1) + 3 * 3600 - 60)
    env.fake.set_script(RunScript(match="*", durations={"applying": 600.0}))
    env.api("PATCH", "/tenants/old", {"variables": {"tier": "bronze"}})
    env.clock.advance_to(_day(env, 1) + 3 * 3600 + 1)
    runs = [i for i in env.invocations if i.function.endswith("-decommission")]
    assert len(runs) == 2  # day 1 (nothing due) and day 2 (skipped: mid-flow)
    assert env.status("old") == "updating"
    settle(env, "old")
    assert env.status("old") == "ready"
    env.clock.advance_to(_day(env, 2) + 3 * 3600 + 1)
    assert env.status("old") == "deleting"
    assert settle(env, "old")["status"] == "deleted"
    assert env.status("young") == "ready"
    env.clock.advance_to(_day(env, 4) + 3 * 3600 + 1)  # never twice
    assert [e["event"] for e in lifecycle.events() if e["tenant_code"] == "old"].count("tenant.deleted") == 1


# ------------------------------------------------------------ bad input
def test_bad_requests_get_4xx_and_write_nothing(env):
    db = env.client("dynamodb")

    def rows() -> int:
        return db.scan(TableName=env.stack.table)["Count"]

    bad = env.api("POST", "/tenants", {"tenant_code": "Bad_Code", "variables": {}, "decommission_date": "2027-01-01"})
    assert bad.status == 400 and bad.body["field"] == "tenant_code"
    assert env.api("GET", "/tenants/nobody").status == 404
    assert env.api("PATCH", "/tenants/nobody", {"variables": {"a": "b"}}).status == 404
    assert rows() == 0
    create(env, "acme")
    conflict = env.api("PATCH", "/tenants/acme", {"variables": {"a": "b"}})
    assert conflict.status == 409  # a flow is in progress
    assert env.api("DELETE", "/tenants/acme").status == 409
    assert rows() == 1
    assert env.tenant("acme")["variables"] == {"tier": "gold"}
    env.clock.run_due()
    assert len(env.deliveries) == 1  # only the accepted create reached a bus


def test_a_finalize_that_keeps_failing_leaves_the_flow_state_in_the_flow_dlq(env):
    # "Nothing lost": Finalize is retried, then the execution's state goes to an SQS
    # queue through the sqs:sendMessage integration before the execution fails.
    env.faults.lambdas.append(LambdaFault("finalize", LambdaFaultKind.ERROR, times=10, error_type="ProvisionedThroughputExceeded"))
    create(env, "acme")
    env.run_until(lambda: _executions(env, Action.CREATE)[0]["status"] != "RUNNING", max_seconds=FLOW_DEADLINE)
    [execution] = _executions(env, Action.CREATE)
    assert execution["status"] == "FAILED"
    [msg] = env.queue_messages("flow_dlq")
    state = json.loads(msg["Body"])
    assert state["detail"]["tenant_code"] == "acme"
    assert state["finalize_error"]["Error"] == "ProvisionedThroughputExceeded"
    assert sum(1 for i in env.invocations if i.function.endswith("-finalize")) == 4  # 1 + 3 retries
