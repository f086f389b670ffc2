"""Property-based testing of the whole lifecycle: hypothesis generates whole
programs of create, update, delete, read, clock advances, the next TFC outcome, faults
and the daily decommission; a plain-Python model of the status machine
(``sim.scenarios.oracle``) is the oracle, and the trace invariants are checked at the
end of every example.

A failing example is shrunk by hypothesis and written out as a scenario file in
``scenarios/regressions/`` (which the scenario suite then runs). Coverage assertions
("sometimes"): across the run at least one example must reach the DLQ, exhaust a poll
budget, skip a decommission because the tenant is mid-flow, and retry an update after a
failure, so a generator that stops exploring fails the test.

Fault classes, chosen per example (swarm testing: each example enables a random subset, so
that a class is sometimes explored alone and sometimes with the others; Groce et al., "Swarm
Testing", ISSTA 2012): dead-lettered flows, Lambda throttles, lost answers (or refusals) on
every AWS call the control plane makes, PutEvents taking effect with its answer lost while
the flow starts (the API may then answer 202 or 503, and a 503 must leave nothing
provisioned), concurrent requests on one tenant from many threads (what the served API does:
each request on its own thread, outside the scheduler), extreme Retry-After and latencies
from TFC, a malformed row in the tenant table, and boundary strings for codes, keys and
dates. Each class must be reached at least once per run.

Profiles: ``ci`` (default, derandomized, a few minutes at most on 2 cores) and ``soak``
(``make soak``, many more examples): ``HYPOTHESIS_PROFILE=soak``.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

from sim.controlplane.statuses import Action, TenantStatus
from sim.scenarios import invariants
from sim.scenarios.model import Scenario, Step
from sim.scenarios.oracle import MAY_START, APPLY_ERROR, NO_CHANGES, OUTCOMES, PLAN_ERROR, SLOW, STUCK, SUCCESS, Model
from sim.scenarios.expectations import expectation_failures
from sim.report import result_report, write_report
from sim.scenarios.observe import Observed
from sim.scenarios.player import ScenarioResult
from sim.scenarios.runner import ScenarioRun
from sim.controlplane.metrics import MALFORMED_ROWS
from sim.engines.gateway import proxy_event
from sim.scenarios.trace import ApiRecord, DlqRecord, FaultRecord, LambdaRecord, StatusRecord
from sim.engines.embedded.schedules import Schedule
from sim.stack.wiring import Stack

WAIT, BUDGET = 600, 6
HORIZON = WAIT * BUDGET + 1800  # a flow has surely ended this long after it starts
#: The reconciler of the stack these settings give (it ends a dead-lettered request).
RECONCILE_AFTER = Stack(wait_seconds=WAIT, poll_budget=BUDGET, max_event_age=3600).reconcile_after
RECONCILE_PERIOD = Schedule(Stack().reconcile_schedule).next_after(0)
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
#: A tenant at the maximum code length is one of the two, so that every rule meets it.
CODES = ["alpha", "b" + "r" * 31]
#: How late a flow's Trigger may create its run: the Retry backoff of six tries (126 s) and
#: one call slowed by injected latency (the client gives up on it after its 10 s read
#: timeout and retries), with a wide margin.
TRIGGER_DELAY = 450
#: The control plane's AWS calls a fault may hit (lost answer, or refused).
AWS_CALLS = [
    ("dynamodb", "GetItem"), ("dynamodb", "PutItem"), ("dynamodb", "DeleteItem"), ("dynamodb", "Scan"),
    ("events", "PutEvents"), ("sns", "Publish"), ("secretsmanager", "GetSecretValue"), ("stepfunctions", "DescribeExecution"),
]
FAULT_CLASSES = ("dead_letter", "throttle", "lost_answer", "put_events_lost", "concurrent", "extreme_tfc", "malformed_row", "boundary")
#: Requests with boundary strings that must be refused with 400 naming the field.
BOUNDARY = [
    ({"tenant_code": "alpha\n", "decommission_date": "2099-01-01"}, "tenant_code"),
    ({"tenant_code": "alph\u0663", "decommission_date": "2099-01-01"}, "tenant_code"),
    ({"tenant_code": "\ud800alpha", "decommission_date": "2099-01-01"}, "tenant_code"),
    ({"tenant_code": "a" * 33, "decommission_date": "2099-01-01"}, "tenant_code"),
    ({"tenant_code": "alpha", "decommission_date": "2099-01-01", "variables": {"k\n": "v"}}, "variables"),
    ({"tenant_code": "alpha", "decommission_date": "2099-01-01", "variables": {"k" * 129: "v"}}, "variables"),
    ({"tenant_code": "alpha", "decommission_date": "2099-01-01", "variables": {"tier": "\udfff"}}, "variables"),
    ({"tenant_code": "alpha", "decommission_date": "20990101"}, "decommission_date"),
    ({"tenant_code": "alpha", "decommission_date": "2099-W01-1"}, "decommission_date"),
    ({"tenant_code": "alpha", "decommission_date": "２０９９-01-01"}, "decommission_date"),
]
REGRESSIONS = Path(__file__).resolve().parents[2] / "scenarios" / "regressions"

settings.register_profile(
    "ci", max_examples=int(os.environ.get("LIFECYCLE_EXAMPLES", "40")), stateful_step_count=20, deadline=None,
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
        self.model = Model(wait_seconds=WAIT, horizon=HORIZON, reconcile_after=RECONCILE_AFTER, reconcile_period=RECONCILE_PERIOD)
        self.now = 0.0
        self.steps: list[dict] = []
        self.decommission_seen = 0
        self.swarm: frozenset[str] = frozenset()
        self.malformed = False

    # ------------------------------------------------------------ plumbing
    def do(self, **step: object):
        doc = {"at": self.now, **step}
        self.steps.append(doc)
        resp = self.run.apply(Step.model_validate(doc))
        if resp is not None and resp.status >= 400:
            # the regression file says the refusal was expected here (a raw request says it inside)
            target = doc["request"] if "request" in doc else doc
            assert isinstance(target, dict)
            target["expect_status"] = resp.status
        return resp

    def advance(self, seconds: float) -> None:
        """Let time pass, folding in flows that must have ended and checking each daily
        decommission run against the model."""
        target = self.now + seconds
        while True:
            boundary = _next_decommission(self.now)
            if boundary > target:
                break
            may_fail = self.put_events_may_fail()
            self._to(boundary + 1)
            self._check_decommission(boundary, may_fail)
        self._to(target)

    def _to(self, t: float) -> None:
        self.env.clock.advance_to(self.run.trace.start + t)
        self.now = t
        for code in list(self.model.tenants):
            self.model.settle(code, self.now)

    def _check_decommission(self, boundary: float, may_fail: bool = False) -> None:
        runs = [r for r in self.run.trace.of(LambdaRecord) if r.decommission is not None]
        assert len(runs) == self.decommission_seen + 1, "the daily decommission did not run"
        self.decommission_seen += 1
        report = runs[-1].decommission
        today = (START + timedelta(seconds=boundary)).date()
        for code, t in self.model.tenants.items():
            due = t.decommission_date is not None and t.decommission_date <= today
            possible = self.model.possible(code, boundary)
            if code in report["deleting"]:
                assert due, f"{code} decommissioned before its date"
                assert possible & {TenantStatus.READY, TenantStatus.FAILED}, f"{code} decommissioned while {possible}"
                t.flow, t.status = None, (possible & {TenantStatus.READY, TenantStatus.FAILED}).pop()
                self.model.start(code, Action.DELETE, boundary)
            elif code in report["errors"] and may_fail:
                # Its delete event was never acknowledged and was rolled back (nothing changed):
                # the next day's run tries again.
                SEEN["decommission put off by lost PutEvents answers"] += 1
            elif code in report["skipped_mid_flow"]:
                SEEN["decommission skipped mid-flow"] += 1
                assert due and any(s is not None and s.in_progress for s in possible), f"{code} skipped but {possible}"
            elif due:
                assert not possible <= {TenantStatus.READY, TenantStatus.FAILED}, f"{code} due and idle ({possible}) but not decommissioned on {today}"

    def put_events_may_fail(self) -> bool:
        """A PutEvents fault is in force that may eat all of the API's tries."""
        return any(f.service == "events" and (f.times < 0 or f.fired < f.times) for f in self.env.faults.aws_calls)

    def expect_api(self, code: str, action: Action, resp, decommission: date | None = None, may_fail: bool = False) -> None:
        t = self.model.tenant(code)
        possible = self.model.possible(code, self.now)
        allowed = MAY_START[action]
        if resp.status == 503:
            # The event never landed as far as the API can tell and it rolled the request
            # back: nothing changed (and nothing may be provisioned, checked at the end).
            assert may_fail, f"{action.value} {code}: 503 with no PutEvents fault in force: {resp.body}"
            SEEN["503 after lost PutEvents answers"] += 1
            return
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

    # ------------------------------------------------------------ fault classes (swarm)
    @initialize(flags=st.tuples(*[st.booleans()] * len(FAULT_CLASSES)), rnd=st.randoms(use_true_random=False))
    def choose_fault_classes(self, flags, rnd):
        # Each class on or off with even odds (a set strategy would favour small sets), and
        # each class enabled is met once at the start, then again whenever the rule below runs.
        classes = frozenset(c for c, on in zip(FAULT_CLASSES, flags) if on)
        self.swarm = classes
        for c in sorted(classes, key=lambda _: rnd.random()):
            SEEN[f"swarm enabled {c}"] += 1
            self._inject(c, rnd)

    @precondition(lambda self: bool(self.swarm))
    @rule(rnd=st.randoms(use_true_random=False))
    def inject_a_fault(self, rnd):
        """One rule for every fault class, the class drawn uniformly from those this example
        enables, and its parameters too (a random stream hypothesis controls and replays:
        its own choices lean towards the first of a list, which would starve the others)."""
        self._inject(rnd.choice(sorted(self.swarm)), rnd)

    def _inject(self, kind: str, rnd) -> None:
        if kind == "lost_answer":
            self.lose_aws_answers(rnd.choice(AWS_CALLS), rnd.choice(["lost", "refused"]), rnd.choice([1, 2]))
        elif kind == "put_events_lost":
            self.lose_every_put_events_answer(rnd.choice([0, 0, 5]), rnd.choice(CODES))
        elif kind == "concurrent":
            kinds = [rnd.choice(["create", "update", "delete"]) for _ in range(rnd.randint(2, 6))]
            self.concurrent_requests(self._a_tenant_at_rest(rnd), kinds)
        elif kind == "extreme_tfc":
            # both kinds, in a random order: one drawn alone could starve the other in a run
            self.extreme_tfc_answers(rnd.choice(CODES), sorted(["retry_after", "latency"], key=lambda _: rnd.random()))
        elif kind == "malformed_row":
            self.write_a_malformed_row()
        elif kind == "boundary":
            self.boundary_strings(rnd.randrange(len(BOUNDARY)), rnd.choice(["POST", "PATCH"]))
        elif kind == "dead_letter":
            self.dead_letter_next_flows(rnd.choice(list(Action)), rnd.choice(CODES))
        else:
            self.throttle_a_lambda(rnd.choice(["trigger", "check", "finalize"]))
        SEEN[f"fault class injected: {kind}"] += 1

    def _a_tenant_at_rest(self, rnd) -> str:
        """A tenant on which some request surely may start (so that a burst has a winner to
        find), letting the flows in progress end first if no tenant is at rest."""
        def at_rest() -> list[str]:
            return [c for c in CODES if any(self.model.possible(c, self.now) <= MAY_START[a] for a in Action)]

        if not at_rest():
            self.advance(HORIZON)
        return rnd.choice(at_rest() or CODES)

    def _live_aws_fault(self, service: str, operation: str) -> bool:
        return any(f.service == service and f.operation == operation and (f.times < 0 or f.fired < f.times) for f in self.env.faults.aws_calls)

    def lose_aws_answers(self, call, effect, times):
        # At most two in a row per call: the control plane's own retries (reads and checked
        # writes: 4 tries; PutEvents: 3; the flow's Retry on AwsUnavailable) absorb them, so
        # no outcome may change; a duplicate lifecycle event from a lost Publish is allowed.
        service, operation = call
        if self._live_aws_fault(service, operation):
            return
        self.do(fault={"aws": {"service": service, "operation": operation, "effect": effect, "times": times}})

    def lose_every_put_events_answer(self, latency, code):
        # Every try of the next request's PutEvents takes effect and loses its answer. With
        # latency the flow may take the request up while the API is still resending (202);
        # without, the API rolls it back (503, and its flows must refuse it).
        if not self._live_aws_fault("events", "PutEvents"):
            self.do(fault={"aws": {"service": "events", "operation": "PutEvents", "effect": "lost", "times": 3, "latency": latency}})
        for candidate in [code, *CODES]:  # a request that reaches PutEvents, on whichever tenant allows one
            if any(self.request_if_allowed(candidate, action) for action in Action):
                break

    def request_if_allowed(self, code: str, action: Action) -> bool:
        """Make the request for ``action`` on ``code`` if the model says it is surely allowed."""
        if not self.model.possible(code, self.now) <= MAY_START[action]:
            return False
        if action is Action.CREATE:
            self.create(code, 400)
        elif action is Action.UPDATE:
            self.update(code, "silver")
        else:
            self.delete(code)
        return True

    def concurrent_requests(self, code, kinds):
        """Requests on one tenant, each on its own thread (as the served API runs them), with
        forced thread switching: at most one is accepted, and one is if any surely could be."""
        bodies = {
            "create": ("POST", "/tenants", {"tenant_code": code, "variables": {"tier": "gold"}, "decommission_date": "2099-01-01"}),
            "update": ("PATCH", f"/tenants/{code}", {"variables": {"tier": "silver", "n": str(len(self.steps))}}),
            "delete": ("DELETE", f"/tenants/{code}", None),
        }
        possible = self.model.possible(code, self.now)
        allowed = [k for k, a in (("create", Action.CREATE), ("update", Action.UPDATE), ("delete", Action.DELETE)) if possible <= MAY_START[a]]
        if allowed and not set(kinds) & set(allowed):
            kinds = [allowed[0], *kinds[1:]]  # a burst where one request surely may win
        may_fail = self.put_events_may_fail()
        barrier = threading.Barrier(len(kinds))
        answers: list = [None] * len(kinds)

        def send(i: int) -> None:
            method, path, body = bodies[kinds[i]]
            barrier.wait()
            answers[i] = self.env.invoke_api(proxy_event(method, path, body))

        before = sys.getswitchinterval()
        sys.setswitchinterval(1e-5)
        try:
            threads = [threading.Thread(target=send, args=(i,)) for i in range(len(kinds))]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
        finally:
            sys.setswitchinterval(before)
        SEEN["concurrent bursts"] += 1
        self.env.clock.run_due()
        for kind, resp in zip(kinds, answers):
            method, path, body = bodies[kind]
            self.run.trace.add(self.env.clock.now(), ApiRecord.of(method, path, resp.status, resp.body))
            self.steps.append({"at": self.now, "request": {"method": method, "path": path, "body": body}})
        assert all(r.status in (202, 404, 409) or (r.status == 503 and may_fail) for r in answers), [(r.status, r.body) for r in answers]
        won = [(k, r) for k, r in zip(kinds, answers) if r.status == 202]
        assert len(won) <= 1, f"{len(won)} of {len(kinds)} concurrent requests on {code} were accepted: {kinds}"
        possible = self.model.possible(code, self.now)
        actions = {"create": Action.CREATE, "update": Action.UPDATE, "delete": Action.DELETE}
        if won:
            kind, resp = won[0]
            self.expect_api(code, actions[kind], resp, date(2099, 1, 1) if kind == "create" else None, may_fail)
            if len(kinds) > 1:
                SEEN["concurrent requests, one accepted"] += 1
        else:
            surely = [k for k in kinds if possible <= MAY_START[actions[k]]]
            assert not surely or may_fail, f"none of {kinds} on {code} was accepted though {surely} surely could be ({possible})"

    def extreme_tfc_answers(self, code, kinds):
        # A day of Retry-After (the client must not wait it: it fails at once and the flow's
        # Retry goes on), and five minutes of latency on one call (the client's read timeout
        # ends the wait and it retries): no outcome changes.
        workspace = f"tenant-{code}"
        if any(r["workspace"] == workspace and r["name"].startswith("extreme-") and r["remaining"] for r in self.env.fake.faults.rules()):
            return  # the model counts on one such pair at a time: stacked, they outlast the flow's Retry
        for kind in kinds:
            rule = {"workspace": workspace, "count": 2}
            rule |= {"status": 429, "retry_after": 86400} if kind == "retry_after" else {"latency": 300, "count": 1}
            self.do(fault={"tfc": {"name": f"extreme-{kind}-{len(self.steps)}", **rule}})
        for action in Action:  # a flow of that tenant meets it (if one may start)
            if self.request_if_allowed(code, action):
                break

    def write_a_malformed_row(self):
        if not self.malformed:
            self.malformed = True
            self.do(fault={"malformed_row": "zulu"})
        self.list_tenants()

    @rule()
    def list_tenants(self):
        resp = self.do(request={"method": "GET", "path": "/tenants", "body": None})
        assert resp.status == 200, resp.body
        for row in resp.body["tenants"]:
            code = row["tenant_code"]
            assert code in self.model.tenants, f"{code} listed: not a tenant of this run"
            assert TenantStatus(row["status"]) in self.model.possible(code, self.now), (code, row["status"])
        if self.malformed:
            SEEN["malformed row skipped by the listing"] += 1

    def boundary_strings(self, case, method):
        body, field = BOUNDARY[case]
        if method == "PATCH":
            code = body["tenant_code"]
            body = {k: v for k, v in body.items() if k != "tenant_code"}
            path = f"/tenants/{code}"
        else:
            path = "/tenants"
        resp = self.do(request={"method": method, "path": path, "body": body})
        assert resp.status == 400 and resp.body.get("field") in (field, "tenant_code", "body"), (method, path, resp.status, resp.body)
        SEEN["boundary string refused"] += 1


    # ---------------------------------------------------------------- rules
    @rule(code=st.sampled_from(CODES), decommission_in_days=st.sampled_from([0, 0, 1, 400]))
    def create(self, code, decommission_in_days):
        when = (START + timedelta(seconds=self.now) + timedelta(days=decommission_in_days)).date()
        may_fail = self.put_events_may_fail()
        resp = self.do(create={"tenant": code, "variables": {"tier": "gold"}, "decommission_date": when.isoformat()})
        self.expect_api(code, Action.CREATE, resp, when, may_fail)

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
        may_fail = self.put_events_may_fail()
        # Every update changes a variable, so that its plan has changes and the outcome set
        # for its run is the one it meets (a plan without changes always succeeds).
        resp = self.do(update={"tenant": code, "variables": {"tier": tier, "n": str(len(self.steps))}})
        self.expect_api(code, Action.UPDATE, resp, may_fail=may_fail)

    @rule(code=st.sampled_from(CODES))
    def update_just_before_decommission(self, code):
        if not self._due_at(_next_decommission(self.now)) and self.model.possible(code, self.now) <= MAY_START[Action.CREATE]:
            # No tenant will be due at the next run: make one due at a run far enough ahead
            # for its create to end first (else the generator rarely meets the case at all).
            run_at = _next_decommission(self.now + HORIZON)
            self.create(code, ((START + timedelta(seconds=run_at)).date() - (START + timedelta(seconds=self.now)).date()).days)
            self.advance(run_at - 300 - self.now)
        self.advance(_next_decommission(self.now) - 300 - self.now if _next_decommission(self.now) - 300 > self.now else 0)
        # Prefer a tenant that will be due at that run and may be updated now: then the run
        # meets it mid-flow (the decommission must skip it).
        due = self._due_at(_next_decommission(self.now))
        self.update(due[0] if due else code, "bronze")
        self.advance(600)  # through the daily run

    def _due_at(self, run_at: float) -> list[str]:
        """Tenants the daily run at ``run_at`` will find due that may be updated now."""
        today = (START + timedelta(seconds=run_at)).date()
        return [
            c for c, t in sorted(self.model.tenants.items())
            if t.decommission_date is not None and t.decommission_date <= today and self.model.possible(c, self.now) <= MAY_START[Action.UPDATE]
        ]

    @rule(code=st.sampled_from(CODES))
    def delete(self, code):
        may_fail = self.put_events_may_fail()
        resp = self.do(delete=code)
        self.expect_api(code, Action.DELETE, resp, may_fail=may_fail)

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
        # The outcome is the next *run's*: a flow that started a moment ago may not have
        # created its run yet (its Trigger throttled, waiting out a Retry-After, or slowed by
        # latency), so let that happen first.
        recent = [t.flow.started for t in self.model.tenants.values() if t.flow is not None and self.now - t.flow.started < TRIGGER_DELAY]
        if recent:
            self.advance(max(recent) + TRIGGER_DELAY - self.now)
        self.do(tfc={code: {"runs": [behaviour(outcome)]}})
        self.model.tenant(code).next_outcomes = [outcome]

    def dead_letter_next_flows(self, action, code):
        self.do(fault={"start_execution": {"action": action.value, "error": "ExecutionLimitExceeded", "times": -1}})
        self.model.dead_lettered_actions.add(action)
        self.request_if_allowed(code, action)

    @precondition(lambda self: self.model.dead_lettered_actions)
    @rule()
    def clear_faults(self):
        # Wait out EventBridge's retry window first, so that the flows predicted to be
        # dead-lettered are (a retry after the clear would start them after all).
        self.advance(3600)
        self.do(clear_faults=True)
        self.model.dead_lettered_actions.clear()

    def throttle_a_lambda(self, function):
        # Retried by the state machine's Retry block (6 retries): no effect on any outcome, as
        # long as throttles do not pile up beyond the retries (one rule at a time per function).
        if any(f.function == function and f.fired < f.times for f in self.env.faults.lambdas):
            return
        self.do(fault={"lambda": {"function": function, "kind": "throttle", "times": 2}})


    @invariant()
    def no_violation_so_far(self):
        for check in (invariants.legal_transitions, invariants.one_flow_at_a_time):
            problems = check(self.run.trace)
            assert not problems, problems

    def teardown(self) -> None:
        try:
            # Until every flow has surely ended (a daily run on the way may start one more; a
            # dead-lettered one ends when the reconciler runs); the model follows each daily run.
            for _ in range(int((RECONCILE_AFTER + RECONCILE_PERIOD) // HORIZON) + 4):
                self.advance(HORIZON)
                if all(t.flow is None for t in self.model.tenants.values()):
                    break
            end = self.now
            obs = self.run.close(end)
            trace = self.run.trace
            SEEN["examples"] += 1
            SEEN["dlq"] += sum(1 for _ in trace.of(DlqRecord))
            faults = [r.fault for r in trace.of(FaultRecord)]
            SEEN["lost answer on an AWS call"] += sum(1 for f in faults if f.startswith("aws ") and f.endswith(" lost"))
            SEEN["PutEvents answer lost"] += sum(1 for f in faults if f == "aws events.PutEvents lost")
            journal = self.env.fake.journal.entries()
            SEEN["extreme Retry-After answered"] += sum(1 for e in journal if (e.fault or "").startswith("extreme-retry_after"))
            SEEN["extreme latency answered"] += sum(1 for e in journal if (e.fault or "").startswith("extreme-latency"))
            SEEN["malformed row skipped by a scan"] += int(self.env.metrics.get(MALFORMED_ROWS, 0))
            SEEN["poll budget exhausted"] += sum(1 for r in trace.of(StatusRecord) if (r.last_error or "").startswith("poll budget exhausted"))
            problems = invariants.check(self.run.scenario, trace, obs, secrets=invariants.secrets_of(self.env.config.tfc_token, self.env.fake))
            for code, t in self.model.tenants.items():
                row = self.env.tenant(code)  # read at the end (a rolled-back create has none)
                final = TenantStatus(row["status"]) if row else None
                if final != t.status:
                    problems.append(f"{code}: ended {final}, the model says {t.status}")
                workspace = self.env.fake.workspace_id_by_name(self.env.stack.tfc_organization, f"tenant-{code}")
                if t.status is None and workspace is not None:
                    # Never accepted (a 503 included): nothing may have been provisioned.
                    problems.append(f"{code} was never accepted, yet TFC has its workspace")
            if problems:
                self.write_regression(problems, end, obs)
            assert not problems, problems
        finally:
            self.env.stop()

    def write_regression(self, problems: list[str], end: float, obs: Observed) -> None:
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
        path = REGRESSIONS / "lifecycle-machine-latest.yaml"
        # Scenario files take no aliases: dump repeated objects in full.
        dumper = type("NoAliases", (yaml.SafeDumper,), {"ignore_aliases": lambda self, data: True})
        text = yaml.dump(doc, Dumper=dumper, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        # The run's report beside it: what each tenant went through, and where it went wrong.
        result = ScenarioResult(Scenario.model_validate(doc), 0, str(path), text, self.run.trace, obs, [], [])
        write_report(path.with_suffix(".html"), result_report(result, secrets=(self.env.config.tfc_token,), problems=problems))


def _next_decommission(now: float) -> float:
    """Seconds from START of the first 03:00 UTC strictly after ``now``."""
    t = START + timedelta(seconds=now)
    candidate = t.replace(hour=3, minute=0, second=0, microsecond=0)
    if candidate <= t:
        candidate += timedelta(days=1)
    return (candidate - START).total_seconds()


#: What the generator must reach (the "sometimes" coverage): else the property says little.
WANTED = [
    "dlq", "poll budget exhausted", "decommission skipped mid-flow", "update after failure",
    "lost answer on an AWS call", "PutEvents answer lost", "503 after lost PutEvents answers",
    "concurrent requests, one accepted", "extreme Retry-After answered", "extreme latency answered",
    "malformed row skipped by a scan", "malformed row skipped by the listing", "boundary string refused",
]


def _unreached() -> list[str]:
    return [w for w in WANTED if SEEN[w] == 0]


def test_the_lifecycle_against_its_model():
    from sim.campaign.machine import hypothesis_seed

    SEEN.clear()
    profile = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
    run_state_machine_as_test(LifecycleMachine, settings=profile)
    # A concurrent burst races real threads, and which request wins shifts the rest of the
    # derandomized generation: now and then a run misses a situation it usually reaches a
    # few times (seen: "poll budget exhausted", 0 of 45 examples). Up to two more rounds, on
    # other seeds, before calling the generator blind to it.
    for extra_seed in (1, 2):
        if not _unreached():
            break
        with hypothesis_seed(extra_seed):
            run_state_machine_as_test(LifecycleMachine, settings=settings(profile, derandomize=False, database=None, max_examples=20))
    missing = _unreached()
    assert not missing, f"the generator never reached: {missing} (seen: {dict(SEEN)})"


def test_expectation_failures_name_the_field():
    # The regression files rely on the runner's expectation report naming what differs.
    scenario = Scenario.model_validate({"name": "x", "steps": [{"get": "alpha"}], "expect": {"tenants": {"alpha": {"status": "ready"}}}})
    from sim.scenarios.observe import Observed

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
    # Its report is beside it, showing the failure.
    html = written.with_suffix(".html").read_text(encoding="utf-8")
    assert 'id="verdict">FAIL' in html and "lifecycle events, expected 1" in html
