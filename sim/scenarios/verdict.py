"""Everything a run was judged on, each item passed or failed: the steps (an API step answered
as it should), the scenario's expectations and the invariants. What ``python -m sim run
--verbose`` lists and what a report shows; :attr:`ScenarioResult.failures` and
``violations`` stay the source of truth (a violation the checks here cannot place is
listed under ``other``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import invariants
from .expectations import Check, expectation_checks
from .invariants import InvariantResult
from .model import Scenario
from .observe import Observed
from .player import ScenarioResult, api_step_problem, is_api_step
from .trace import ApiRecord, Trace

#: What a real engine's trace can show (see :mod:`sim.scenarios.remote_stage`).
REMOTE_INVARIANTS = ("legal_transitions", "one_flow_at_a_time", "no_secrets", "secrets_stay_secret")


@dataclass(frozen=True)
class Verdict:
    steps: list[Check]
    expectations: list[Check]
    invariants: list[InvariantResult]
    #: Expectation fields not judged (a report rendered from a saved trace cannot see them).
    unjudged: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.steps + self.expectations) and all(i.passed for i in self.invariants)


def verdict_of(result: ScenarioResult, *, engine: str = "embedded", unjudged: tuple[str, ...] = ()) -> Verdict:
    """``unjudged``: expectation field prefixes left out (``tenants.acme.outputs``...)."""
    return judge(result.scenario, result.trace, result.observed, result.failures, result.violations, engine=engine, unjudged=unjudged)


def judge(
    scenario: Scenario, trace: Trace, observed: Observed, failures: list[str], violations: list[str], *,
    engine: str = "embedded", unjudged: tuple[str, ...] = (), invariant_names: list[str] | None = None,
) -> Verdict:
    all_expectations = expectation_checks(scenario, observed)
    skipped = [c.field for c in all_expectations if unjudged and c.field.startswith(unjudged)]
    expectations = [c for c in all_expectations if c.field not in skipped]
    steps = step_checks(scenario, trace)
    known = {c.message for c in all_expectations} | {c.message for c in steps}
    steps += [Check(f.split(":", 1)[0], "as the step says", "otherwise", False, f) for f in failures if f not in known]
    names = invariant_names if invariant_names is not None else None if engine == "embedded" else list(REMOTE_INVARIANTS)
    results = invariants.checked(scenario, trace, observed, names=names)
    placed = {v for r in results for v in r.violations}
    leftover = [v for v in violations if v not in placed]
    secret = [v for v in leftover if v.startswith("a secret")]
    sensitive = [v for v in leftover if v.startswith(invariants.SENSITIVE_VIOLATION)]
    other = [v for v in leftover if v not in secret and v not in sensitive]
    placed_by = {"no_secrets": secret, "secrets_stay_secret": sensitive}
    results = [InvariantResult(r.name, r.description, r.violations + placed_by[r.name]) if r.name in placed_by else r for r in results]
    if other:
        results.append(InvariantResult("other", "violations reported by the engine's stage", other))
    return Verdict(steps, expectations, results, skipped)


def step_checks(scenario: Scenario, trace: Trace) -> list[Check]:
    """Each API step with the answer it got (the player records one ``api`` record per API
    step, in order), judged by the player's own rule."""
    api_steps = [(i, s) for i, s in enumerate(scenario.steps) if is_api_step(s)]
    out = []
    for (i, step), rec in zip(api_steps, trace.of(ApiRecord)):
        problem = api_step_problem(i, step, rec.status, rec.body)
        wanted = step.request.expect_status if step.request is not None else step.expect_status
        expected = f"status {wanted}" if wanted is not None else "not refused" if step.request is None else "any status"
        answer = rec.body.get("status") or rec.body.get("error") or ""
        what = f"steps.{i}.{step.kind} {rec.method} {rec.path}"
        out.append(Check(what, expected, f"{rec.status} {answer}".strip(), problem is None, problem or ""))
    return out
