"""Determinism is the bar: the same scenario and seed give a byte-identical
trace, with many tenants in flight and faults firing; another seed gives another fault
pattern; and adding a tenant does not change another tenant's faults (random streams
are keyed per component and tenant, not shared)."""

from __future__ import annotations

from collections import defaultdict

from sim.scenarios.runner import run_text
from sim.scenarios.trace import TfcRecord


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
