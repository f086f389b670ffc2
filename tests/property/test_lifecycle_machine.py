"""Property-based testing of the whole lifecycle (issue 4): hypothesis generates whole
programs of create, update, delete, read, clock advances, the next TFC outcome, faults
and the daily decommission; a plain-Python model of the status machine
(``sim.scenarios.oracle``) is the oracle, and the trace invariants are checked at the
end of every example.

A failing example is shrunk by hypothesis and written out as a scenario file in
``scenarios/regressions/`` (which the scenario suite then runs). Coverage assertions
("sometimes"): across the run at least one example must reach the DLQ, exhaust a poll
budget, skip a decommission because the tenant is mid-flow, and retry an update after a
failure, so a generator that stops exploring fails the test.

Profiles: ``ci`` (default, derandomized, a few minutes at most on 2 cores) and ``soak``
(``make soak``, many more examples): ``HYPOTHESIS_PROFILE=soak``.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

from sim.controlplane.statuses import ACTION_ALLOWED_FROM, Action, TenantStatus
from sim.scenarios import invariants
from sim.scenarios.model import Scenario, Step
from sim.scenarios.oracle import APPLY_ERROR, NO_CHANGES, OUTCOMES, PLAN_ERROR, SLOW, STUCK, SUCCESS, Model
from sim.scenarios.runner import ScenarioRun, expectation_failures

WAIT, BUDGET = 600, 6
HORIZON = WAIT * BUDGET + 1800  # a flow has surely ended this long after it starts
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
CODES = ["alpha", "bravo"]
REGRESSIONS = Path(__file__).resolve().parents[2] / "scenarios" / "regressions"

settings.register_profile(
    "ci", max_examples=int(os.environ.get("LIFECYCLE_EXAMPLES", "30")), stateful_step_count=14, deadline=None,
    derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much], print_blob=True,
)
settings.register_profile(
    "soak", max_examples=400, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True,
)

SEEN: Counter[str] = Counter()  # the "sometimes" coverage, across all examples


def behaviour(outcome: str) -> dict:
    return {
        SUCCESS: {},
        NO_CHANGES: {"outcome": "no_changes"},
        APPLY_ERROR: {"outcome": "apply_error"},
        PLAN_ERROR: {"outcome": "plan_error"},
        STUCK: {"stuck_in": "plan_queued"},
        SLOW: {"durations": {"applying": float(WAIT * (BUDGET - 2))}},
    }[outcome]


class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.settings_doc = {"wait_seconds": WAIT, "poll_budget": BUDGET, "retry_attempts": 2, "max_event_age": 3600}
        scenario = Scenario.model_validate({"name": "lifecycle-machine", "settings": self.settings_doc, "steps": [{"get": "alpha"}]})
        self.run = ScenarioRun(scenario, seed=0)
        self.run.open()
        self.env = self.run.env
        self.model = Model(wait_seconds=WAIT, horizon=HORIZON)
        self.now = 0.0
        self.steps: list[dict] = []
        self.decommission_seen = 0

    # ------------------------------------------------------------ plumbing
    def do(self, **step: object):
        doc = {"at": self.now, **step}
        self.steps.append(doc)
        return self.run.apply(Step.model_validate(doc))

    def advance(self, seconds: float) -> None:
        """Let time pass, folding in flows that must have ended and checking each daily
        decommission run against the model."""
        target = self.now + seconds
        while True:
            boundary = _next_decommission(self.now)
            if boundary > target:
                break
            self._to(boundary + 1)
            self._check_decommission(boundary)
        self._to(target)

    def _to(self, t: float) -> None:
        self.env.clock.advance_to(self.run.trace.start + t)
        self.now = t
        for code in list(self.model.tenants):
            self.model.settle(code, self.now)

    def _check_decommission(self, boundary: float) -> None:
        runs = [r for r in self.run.trace.of("lambda") if "decommission" in r]
        assert len(runs) == self.decommission_seen + 1, "the daily decommission did not run"
        self.decommission_seen += 1
        report = runs[-1]["decommission"]
        today = (START + timedelta(seconds=boundary)).date()
        for code, t in self.model.tenants.items():
            due = t.decommission_date is not None and t.decommission_date <= today
            possible = self.model.possible(code, boundary)
            if code in report["deleting"]:
                assert due, f"{code} decommissioned before its date"
                assert possible & {TenantStatus.READY, TenantStatus.FAILED}, f"{code} decommissioned while {possible}"
                t.flow, t.status = None, (possible & {TenantStatus.READY, TenantStatus.FAILED}).pop()
                self.model.start(code, Action.DELETE, boundary)
            elif code in report["skipped_mid_flow"]:
                SEEN["decommission skipped mid-flow"] += 1
                assert due and any(s is not None and s.in_progress for s in possible), f"{code} skipped but {possible}"
            elif due:
                assert not possible <= {TenantStatus.READY, TenantStatus.FAILED}, f"{code} due and idle ({possible}) but not decommissioned on {today}"

    def expect_api(self, code: str, action: Action, resp, decommission: date | None = None) -> None:
        t = self.model.tenant(code)
        possible = self.model.possible(code, self.now)
        allowed = ACTION_ALLOWED_FROM[action]
        if resp.status == 202:
            assert possible & allowed, f"{action.value} {code} accepted while the model says {possible}"
            if t.flow is not None:  # the flow had ended (the model was unsure): fold it in
                self.model.settle(code, self.now, observed=t.flow.ends)
            if action is Action.UPDATE and t.status is TenantStatus.FAILED:
                SEEN["update after failure"] += 1
            self.model.start(code, action, self.now, decommission)
        else:
            assert not possible <= allowed, f"{action.value} {code} refused ({resp.status} {resp.body}) though the model allows it from {possible}"
            assert resp.status in (404, 409), resp.body

    # ---------------------------------------------------------------- rules
    @rule(code=st.sampled_from(CODES), decommission_in_days=st.sampled_from([0, 0, 1, 400]))
    def create(self, code, decommission_in_days):
        when = (START + timedelta(seconds=self.now) + timedelta(days=decommission_in_days)).date()
        resp = self.do(create={"tenant": code, "variables": {"tier": "gold"}, "decommission_date": when.isoformat()})
        self.expect_api(code, Action.CREATE, resp, when)

    @initialize(outcome=st.sampled_from(OUTCOMES), decommission_in_days=st.sampled_from([0, 1, 400]))
    def first_tenant(self, outcome, decommission_in_days):
        self.set_next_tfc_outcome("alpha", outcome)
        self.create("alpha", decommission_in_days)

    @rule(code=st.sampled_from(CODES), outcome=st.sampled_from(OUTCOMES), decommission_in_days=st.sampled_from([0, 1, 400]))
    def create_with_outcome(self, code, outcome, decommission_in_days):
        self.set_next_tfc_outcome(code, outcome)
        self.create(code, decommission_in_days)

    @rule(code=st.sampled_from(CODES), outcome=st.sampled_from(OUTCOMES))
    def update_with_outcome(self, code, outcome):
        self.set_next_tfc_outcome(code, outcome)
        self.update(code, "platinum")

    @rule(code=st.sampled_from(CODES), tier=st.sampled_from(["gold", "silver"]))
    def update(self, code, tier):
        resp = self.do(update={"tenant": code, "variables": {"tier": tier}})
        self.expect_api(code, Action.UPDATE, resp)

    @rule(code=st.sampled_from(CODES))
    def update_just_before_decommission(self, code):
        self.advance(_next_decommission(self.now) - 300 - self.now if _next_decommission(self.now) - 300 > self.now else 0)
        self.update(code, "bronze")

    @rule(code=st.sampled_from(CODES))
    def delete(self, code):
        resp = self.do(delete=code)
        self.expect_api(code, Action.DELETE, resp)

    @rule(code=st.sampled_from(CODES))
    def read(self, code):
        resp = self.do(get=code)
        possible = self.model.possible(code, self.now)
        got = TenantStatus(resp.body["status"]) if resp.status == 200 else None
        assert got in possible, f"GET {code}: {got}, model says {possible}"
        self.model.settle(code, self.now, observed=got)

    @rule(seconds=st.sampled_from([30, 700, 3 * 3600, 26 * 3600]))
    def advance_clock(self, seconds):
        self.advance(seconds)

    @rule(code=st.sampled_from(CODES), outcome=st.sampled_from(OUTCOMES))
    def set_next_tfc_outcome(self, code, outcome):
        self.do(tfc={code: {"runs": [behaviour(outcome)]}})
        self.model.tenant(code).next_outcomes = [outcome]

    @rule(action=st.sampled_from(list(Action)))
    def dead_letter_next_flows(self, action):
        self.do(fault={"start_execution": {"action": action.value, "error": "ExecutionLimitExceeded", "times": -1}})
        self.model.dead_lettered_actions.add(action)

    @precondition(lambda self: self.model.dead_lettered_actions)
    @rule()
    def clear_faults(self):
        # Wait out EventBridge's retry window first, so that the flows predicted to be
        # dead-lettered are (a retry after the clear would start them after all).
        self.advance(3600)
        self.do(clear_faults=True)
        self.model.dead_lettered_actions.clear()

    @rule(function=st.sampled_from(["trigger", "check", "finalize"]))
    def throttle_a_lambda(self, function):
        # Retried by the state machine's Retry block: no effect on any outcome.
        self.do(fault={"lambda": {"function": function, "kind": "throttle", "times": 2}})

    @invariant()
    def no_violation_so_far(self):
        for check in (invariants.legal_transitions, invariants.one_flow_at_a_time):
            problems = check(self.run.trace)
            assert not problems, problems

    def teardown(self) -> None:
        try:
            # Until every flow has surely ended (a daily run on the way may start one more);
            # the model follows each daily run.
            for _ in range(3):
                self.advance(HORIZON)
                if all(t.flow is None or t.flow.ends is None for t in self.model.tenants.values()):
                    break
            end = self.now
            obs = self.run.close(end)
            trace = self.run.trace
            SEEN["dlq"] += sum(1 for _ in trace.of("dlq"))
            SEEN["poll budget exhausted"] += sum(1 for r in trace.of("status") if (r.get("last_error") or "").startswith("poll budget exhausted"))
            problems = invariants.check(self.run.scenario, trace, obs, secrets=(self.env.config.tfc_token,))
            for code, t in self.model.tenants.items():
                seen = obs.transitions.get(code, [])
                final = TenantStatus(seen[-1]) if seen else None
                if final != t.status:
                    problems.append(f"{code}: ended {final}, the model says {t.status}")
            if problems:
                self.write_regression(problems, end)
            assert not problems, problems
        finally:
            self.env.stop()

    def write_regression(self, problems: list[str], end: float) -> None:
        """The (shrunk) failing program as a scenario file; the last one written is the
        minimal example hypothesis reports."""
        last_at = self.steps[-1]["at"] if self.steps else 0.0
        expect = {code: {"status": t.status.value} for code, t in self.model.tenants.items() if t.status is not None and t.flow is None}
        doc = {
            "name": "lifecycle-machine-regression",
            "description": "Written by tests/property/test_lifecycle_machine.py. Problems seen:\n" + "\n".join(problems),
            "settings": {**self.settings_doc, "run_for": end - last_at},
            "steps": self.steps or [{"get": "alpha"}],
            "expect": {"tenants": expect},
        }
        REGRESSIONS.mkdir(parents=True, exist_ok=True)
        (REGRESSIONS / "lifecycle-machine-latest.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def _next_decommission(now: float) -> float:
    """Seconds from START of the first 03:00 UTC strictly after ``now``."""
    t = START + timedelta(seconds=now)
    candidate = t.replace(hour=3, minute=0, second=0, microsecond=0)
    if candidate <= t:
        candidate += timedelta(days=1)
    return (candidate - START).total_seconds()


def test_the_lifecycle_against_its_model():
    SEEN.clear()
    run_state_machine_as_test(LifecycleMachine, settings=settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci")))
    wanted = ["dlq", "poll budget exhausted", "decommission skipped mid-flow", "update after failure"]
    missing = [w for w in wanted if SEEN[w] == 0]
    assert not missing, f"the generator never reached: {missing} (seen: {dict(SEEN)})"


def test_expectation_failures_name_the_field():
    # The regression files rely on the runner's expectation report naming what differs.
    scenario = Scenario.model_validate({"name": "x", "steps": [{"get": "alpha"}], "expect": {"tenants": {"alpha": {"status": "ready"}}}})
    from sim.scenarios.runner import Observed

    assert expectation_failures(scenario, Observed()) == ["tenants.alpha.status: expected ready, got None"]


def test_a_failing_example_is_written_as_a_scenario_that_fails_when_run(monkeypatch, tmp_path):
    """With a broken control plane (Finalize publishes no lifecycle event) the machine
    fails, writes the failing program as a scenario file, and that file fails when run
    by the scenario runner. (Shrinking is left out here to keep the test fast.)"""
    from hypothesis import Phase

    from sim.controlplane import handlers, steps
    from sim.scenarios.runner import run_file

    real = steps.finalize

    def forgetful(deps, payload):
        deps.settings = deps.settings.__class__(**{**deps.settings.__dict__, "topic_arn": ""})
        return real(deps, payload)

    monkeypatch.setattr(handlers, "finalize", forgetful)
    monkeypatch.setitem(globals(), "REGRESSIONS", tmp_path)
    failing = settings(max_examples=3, stateful_step_count=3, deadline=None, derandomize=True, phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    try:
        run_state_machine_as_test(LifecycleMachine, settings=failing)
    except AssertionError:
        pass
    else:
        raise AssertionError("the broken control plane was not caught")
    [written] = list(tmp_path.glob("*.yaml"))
    result = run_file(written)
    assert not result.passed
    assert any("lifecycle events, expected 1" in v for v in result.violations), result.report
