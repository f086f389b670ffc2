"""Trigger, Check and Finalize called directly (the loop driven here, not by Step
Functions), against the fake TFC in-process and moto's DynamoDB and SNS."""

from __future__ import annotations

import json
from datetime import date

import boto3
import pytest

from fake_tfc import Outcome, RunBehaviour, RunScript, create_app
from fake_tfc.transport import SyncASGITransport
from sim.controlplane.decommission import decommission
from sim.controlplane.flow import FlowConstants, max_safe_poll_budget, worst_case_history_events, HISTORY_LIMIT, DEFAULT_POLL_BUDGET
from sim.controlplane.errors import FlowSuperseded
from sim.controlplane.steps import StepDeps, check, finalize, trigger
from sim.controlplane.statuses import Action
from sim.controlplane.tfc_client import TFCClient
from tests.conftest import ORG, TOKEN
from tests.unit.test_api_handler import REGION, _create, aws, call, deps  # noqa: F401  (fixtures)


@pytest.fixture
def steps(deps, fake, aws):  # noqa: F811
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="lifecycle")["TopicArn"]
    queue = sqs.create_queue(QueueName="events")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"})
    settings = deps.settings.__class__(**{**deps.settings.__dict__, "topic_arn": topic})
    deps.settings = settings
    app = create_app(fake)
    client = TFCClient("http://fake-tfc", TOKEN, ORG, transport=SyncASGITransport(app), sleep=lambda s: None)
    sd = StepDeps(settings=settings, store=deps.store, tfc=lambda: client, sns=sns, now=lambda: "2026-01-01T00:00:00Z", secrets=deps.secrets)

    def published() -> list[dict]:
        msgs = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in msgs]

    sd.published = published
    return sd


def _execution(deps, code: str, action: Action, budget: int = DEFAULT_POLL_BUDGET) -> dict:
    row = deps.store.get(code)
    detail = {"tenant_code": code, "action": action.value, "request_id": row.request_id, "actor": "api",
              "variables": row.variables, "requested_at": row.updated_at}
    return {"detail": detail, "flow": FlowConstants.for_action(action, poll_budget=budget).model_dump(mode="json")}


def _run_flow(steps, clock, state: dict) -> dict:
    """What the state machine does, step by step, on the virtual clock."""
    state = {**state, "poll": {"count": 0}}
    try:
        state["run"] = trigger(steps, state)
    except FlowSuperseded:
        raise
    except Exception as exc:  # the Catch
        state["error"] = {"Error": type(exc).__name__, "Cause": str(exc)}
        return finalize(steps, state)
    while True:
        clock.advance(state["flow"]["wait_seconds"])
        state["poll"] = check(steps, {"run_id": state["run"]["run_id"], "count": state["poll"]["count"]})
        if state["poll"]["finished"] or state["poll"]["count"] >= state["flow"]["poll_budget"]:
            return finalize(steps, state)


def test_create_reaches_ready_with_outputs_and_publishes(steps, deps, clock):  # noqa: F811
    _create(deps, "acme", variables={"size": "small"})
    assert _run_flow(steps, clock, _execution(deps, "acme", Action.CREATE)) == {"status": "ready"}
    row = deps.store.get("acme")
    assert row.status == "ready" and row.outputs["tenant_code"] == "acme"
    assert [m["event"] for m in steps.published()] == ["tenant.created"]


def test_a_redelivered_trigger_does_not_start_a_second_run(steps, deps, fake):  # noqa: F811
    _create(deps, "acme")
    state = _execution(deps, "acme", Action.CREATE)
    first = trigger(steps, state)
    deps.store.update_flow("acme", state["detail"]["request_id"], {"run_id": None})  # crash before the row saw it
    second = trigger(steps, state)
    assert first == second
    assert len(fake.workspaces[first["workspace_id"]].run_ids) == 1


def test_failed_apply_records_failed_then_update_converges(steps, deps, fake, clock):  # noqa: F811
    fake.set_script(RunScript(match="tenant-acme", runs=[RunBehaviour(outcome=Outcome.APPLY_ERROR)]))
    _create(deps, "acme")
    assert _run_flow(steps, clock, _execution(deps, "acme", Action.CREATE)) == {"status": "failed"}
    assert "ended errored" in deps.store.get("acme").last_error
    assert call(deps, "PATCH", "/tenants/acme", {"variables": {"size": "large"}})[0] == 202
    assert _run_flow(steps, clock, _execution(deps, "acme", Action.UPDATE)) == {"status": "ready"}
    assert [m["event"] for m in steps.published()] == ["tenant.create_failed", "tenant.updated"]


def test_exhausted_poll_budget_ends_failed_with_that_reason(steps, deps, fake, clock):  # noqa: F811
    fake.set_script(RunScript(match="tenant-acme", runs=[RunBehaviour(stuck_in="plan_queued")]))
    _create(deps, "acme")
    assert _run_flow(steps, clock, _execution(deps, "acme", Action.CREATE, budget=3)) == {"status": "failed"}
    assert deps.store.get("acme").last_error.startswith("poll budget exhausted")


def test_delete_runs_a_destroy_and_removes_the_workspace(steps, deps, fake, clock):  # noqa: F811
    _create(deps, "acme")
    _run_flow(steps, clock, _execution(deps, "acme", Action.CREATE))
    assert call(deps, "DELETE", "/tenants/acme")[0] == 202
    assert _run_flow(steps, clock, _execution(deps, "acme", Action.DELETE)) == {"status": "deleted"}
    assert fake.workspace_id_by_name(ORG, "tenant-acme") is None
    destroys = [r for r in fake.runs.values() if r.is_destroy]
    assert destroys == []  # deleted with the workspace; the journal shows the destroy run was made
    assert any(e.method == "DELETE" for e in fake.journal.entries())


def test_decommission_skips_mid_flow_and_deletes_the_next_day(steps, deps, clock):  # noqa: F811
    _create(deps, "aaa")
    _run_flow(steps, clock, _execution(deps, "aaa", Action.CREATE))
    _create(deps, "bbb")  # still creating
    report = decommission(deps, date(2099, 1, 1))
    assert (report.deleting, report.skipped_mid_flow) == (["aaa"], ["bbb"])
    assert decommission(deps, date(2098, 12, 31)).deleting == []  # never before the date
    _run_flow(steps, clock, _execution(deps, "bbb", Action.CREATE))
    assert decommission(deps, date(2099, 1, 2)).deleting == ["bbb"]


def test_poll_budget_stays_well_inside_the_history_limit():
    """25,000 events per Standard execution (AWS Step Functions quotas)."""
    assert worst_case_history_events(DEFAULT_POLL_BUDGET) < HISTORY_LIMIT // 4
    assert worst_case_history_events(max_safe_poll_budget()) <= HISTORY_LIMIT // 2
    assert worst_case_history_events(max_safe_poll_budget() + 1) > HISTORY_LIMIT // 2


def test_a_malformed_row_is_skipped_and_reported_by_listing_and_decommission(steps, deps, clock):  # noqa: F811
    """One row with a status the control plane does not have must not hide the others: the
    listing and the decommission skip it, each time with a log line and a metric."""
    from sim.controlplane.api import handle
    from sim.controlplane.errors import MalformedRow

    reported: list[tuple[str, str]] = []
    deps.store.on_malformed = lambda code, why: reported.append((code, why))
    _create(deps, "aaa")
    _run_flow(steps, clock, _execution(deps, "aaa", Action.CREATE))
    deps.store._db.put_item(
        TableName="tenants",
        Item={"tenant_code": {"S": "zzz"}, "status": {"S": "archived"}, "decommission_date": {"S": "2000-01-01"}},
    )
    listed = handle(deps, {"httpMethod": "GET", "path": "/tenants"})
    assert listed["statusCode"] == 200
    assert [t["tenant_code"] for t in json.loads(listed["body"])["tenants"]] == ["aaa"]
    report = decommission(deps, date(2099, 1, 1))
    assert report.deleting == ["aaa"] and list(report.malformed) == ["zzz"] and "status" in report.malformed["zzz"]
    assert [code for code, _ in reported] == ["zzz", "zzz"]
    with pytest.raises(MalformedRow):
        deps.store.get("zzz")
    got = handle(deps, {"httpMethod": "GET", "path": "/tenants/zzz"})
    assert got["statusCode"] == 500 and json.loads(got["body"])["field"] == "tenant_code"
