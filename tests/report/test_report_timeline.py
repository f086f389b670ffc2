"""What the report derives from a trace: each tenant's flows, the states each visited (read
off the Lambda invocations), the run statuses its Checks read, its retries and its end."""

from __future__ import annotations

import pytest

from sim.report.graph import graph_counts
from sim.report.story import flow_sentence
from sim.report.timeline import build_timeline
from sim.scenarios.runner import run_text

from report_helpers import TROUBLED


@pytest.fixture(scope="module")
def troubled():
    result = run_text(TROUBLED)
    return result, build_timeline(result.trace.records)


def test_each_tenant_has_a_lane_with_its_status_spans_in_order(troubled):
    result, tl = troubled
    assert sorted(tl.lanes) == ["acme", "beta", "gamma"]
    assert [s.status for s in tl.lanes["acme"].spans] == ["creating", "failed", "updating", "ready"]
    spans = tl.lanes["acme"].spans
    assert all(a.end == b.start for a, b in zip(spans, spans[1:])), "spans must tile the lane"
    assert spans[-1].end == tl.end


def test_a_flow_lists_the_states_it_visited_and_the_throttled_checks_as_retries(troubled):
    _, tl = troubled
    create, update = tl.lanes["acme"].flows
    assert (create.action, create.outcome, update.action, update.outcome) == ("create", "failed", "update", "ready")
    # Check was throttled twice (no TFC call: placed by its Retry) before it read the run.
    assert [(v.state, v.attempt, v.error) for v in create.visits] == [
        ("Trigger", 1, None), ("Check", 1, "throttled"), ("Check", 2, "throttled"), ("Check", 3, None), ("Finalize", 1, None),
    ]
    assert create.run_statuses == ["errored"]
    assert create.event == "tenant.create_failed" and "errored" in (create.last_error or "")
    assert "Check throttled ×2" in flow_sentence(create)


def test_a_dead_lettered_event_ends_its_flow_with_no_execution(troubled):
    _, tl = troubled
    update = tl.lanes["beta"].flows[-1]
    assert update.outcome == "dead-lettered" and update.visits == []
    kinds = [m.kind for m in tl.lanes["beta"].marks]
    assert "dlq" in kinds and "delivery_retry" in kinds


def test_the_refused_request_and_the_injected_faults_are_marked(troubled):
    _, tl = troubled
    refused = [m for m in tl.lanes["gamma"].marks if m.kind == "refused"]
    assert len(refused) == 1 and refused[0].details["status"] == 409 and refused[0].t == 30
    assert {m.label for m in tl.system if m.kind == "fault"} == {"fault: Lambda check throttle ×2", "fault: StartExecution refused for update (ExecutionLimitExceeded, every call)"}


def test_the_graph_counts_match_the_flows(troubled):
    _, tl = troubled
    counts = graph_counts(tl)
    flows = [f for f in tl.flows if f.visits]
    assert counts.nodes["Init"] == len(flows) == 4  # the dead-lettered update never started
    assert counts.nodes["Check"] == 6 and counts.edges[("Check", "Check")] == 2  # two Retries
    assert counts.nodes["Finalize"] == counts.edges[("Finalize", "End")] == 4
    assert counts.edges[("Done?", "Wait")] == 0 and counts.nodes["DeadLetter"] == 0


def test_a_finalize_that_fails_for_good_is_counted_into_the_flow_dlq():
    text = """
name: finalize-fails
settings: {run_for: 1h}
steps:
  - at: 0
    fault: {lambda: {function: finalize, kind: error, times: 10}}
  - at: 0
    create: {tenant: acme}
"""
    tl = build_timeline(run_text(text).trace.records)
    [flow] = tl.lanes["acme"].flows
    assert flow.outcome == "flow DLQ"
    counts = graph_counts(tl)
    assert counts.edges[("Finalize", "DeadLetter")] == 1 and counts.nodes["FinalizeFailed"] == 1
    assert counts.edges[("Finalize", "Finalize")] == counts.nodes["Finalize"] - 1


def test_a_decommission_flow_is_the_systems():
    text = """
name: decommissioned
settings: {run_for: 1d}
steps:
  - at: 0
    create: {tenant: acme, decommission_date: "2026-01-01"}
"""
    tl = build_timeline(run_text(text).trace.records)
    create, delete = tl.lanes["acme"].flows
    assert create.actor == "api" and delete.actor == "system (daily decommission)" and delete.outcome == "deleted"
    assert any(m.kind == "decommission" and "deleting acme" in m.label for m in tl.system)
