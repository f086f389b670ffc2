"""Determinism is the bar: the same scenario and seed give a byte-identical
trace, with many tenants in flight and faults firing; another seed gives another fault
pattern; and adding a tenant does not change another tenant's faults (random streams
are keyed per component and tenant, not shared)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from sim.scenarios.runner import run_text
from sim.scenarios.trace import TfcRecord

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"


def many_tenants(n: int) -> str:
    steps = "\n".join(f"  - at: {i * 3}s\n    create: {{tenant: t{i:03d}, variables: {{tier: gold}}}}" for i in range(n))
    return f"""name: many-tenants-with-faults
settings: {{poll_budget: 8}}
tenants:
  t001: {{tfc: {{runs: [{{outcome: apply_error}}]}}}}
  t002: {{tfc: {{then: {{stuck_in: plan_queued}}}}}}
steps:
  - at: 0
    fault: {{tfc: {{path: "/api/v2/runs/*", status: 503, probability: 0.3}}}}
  - at: 0
    fault: {{tfc: {{path: "*/vars", status: 429, retry_after: 2, probability: 0.2}}}}
  - at: 0
    fault: {{lambda: {{function: check, kind: throttle, times: 5}}}}
{steps}
  - at: 1h
    delete: t003
"""


def test_fifty_tenants_with_faults_give_a_byte_identical_trace_and_another_seed_differs():
    text = many_tenants(50)
    first = run_text(text, seed=11)
    second = run_text(text, seed=11)
    other = run_text(text, seed=12)
    assert first.passed, first.report
    assert any(r.fault for r in first.trace.of(TfcRecord))  # faults did fire
    assert "\n".join(first.trace.lines()) == "\n".join(second.trace.lines())
    assert _faults_by_workspace(first) != _faults_by_workspace(other)


def test_adding_a_tenant_does_not_change_another_tenants_faults():
    ten = run_text(many_tenants(6), seed=5)
    eleven = run_text(many_tenants(7), seed=5)
    before, after = _faults_by_workspace(ten), _faults_by_workspace(eleven)
    assert before  # faults fired
    for workspace, faults in before.items():
        assert after[workspace] == faults, workspace


def _faults_by_workspace(result) -> dict[str, list[tuple[str, str, int, str | None]]]:
    out: dict[str, list] = defaultdict(list)
    for r in result.trace.of(TfcRecord):
        if r.workspace:
            # Ids differ when tenants are added (the fake numbers them); method, status
            # and the fault that fired, in order, do not.
            out[r.workspace].append((r.method, r.path.split("/")[3], r.status, r.fault))
    return dict(out)


def _played_with_histories(path: Path) -> tuple[list[str], list[list[dict]]]:
    """A library scenario's trace, and every execution's history as the Step Functions API
    gives it (Task results and errors, their causes with the Invoke request ids)."""
    from sim.scenarios.loader import load_scenario
    from sim.scenarios.runner import ScenarioRun

    scenario, _ = load_scenario(path)
    run = ScenarioRun(scenario, scenario.seed)
    run.open()
    try:
        for step in scenario.steps:
            run.apply(step)
        run.close(scenario.steps[-1].at + scenario.settings.run_for)
        sfn = run.env.client("stepfunctions")
        histories = []
        for machine in sfn.list_state_machines()["stateMachines"]:
            for ex in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]:
                histories.append(sfn.get_execution_history(executionArn=ex["executionArn"])["events"])
        return run.trace.lines(), histories
    finally:
        run.stage.stop()


@pytest.mark.parametrize(
    "name", ["quick-lifecycle-any-engine", "check-lambda-throttled", "finalize-task-error", "trigger-task-timeout", "sensitive-variable-kept-secret"]
)
def test_a_task_invokes_its_function_inline_with_the_answer_of_the_http_round_trip(monkeypatch, name):
    """The inline ``lambda:invoke`` (speed only) answers as moto's boto3 round trip does: a
    result, a function error, a throttle (``Lambda.TooManyRequestsException``), a timeout;
    and draws moto's random ids as it does: the trace and every execution history are
    identical."""
    from sim.engines.embedded import moto_adapter

    path = LIBRARY / f"{name}.yaml"
    monkeypatch.setattr(moto_adapter, "INLINE_LAMBDA_CALLS", False)
    round_trip = _played_with_histories(path)
    monkeypatch.setattr(moto_adapter, "INLINE_LAMBDA_CALLS", True)
    inline = _played_with_histories(path)
    assert round_trip[1], "no execution ran"
    assert inline[0] == round_trip[0]
    assert inline[1] == round_trip[1]
