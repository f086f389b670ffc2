"""A rule-based state machine over the ``FakeTFC`` domain (no HTTP): several
workspaces, random run scripts (outcomes, stuck runs, cost estimation, policy checks,
stage durations), runs, variable changes, clock advances and run actions.

After every step all workspaces are settled and the invariants below are checked:

* every move of every run is in ``LEGAL_TRANSITIONS`` and history times never decrease;
* at most one active (non-terminal) run per workspace, and it holds ``locked_by``;
  a workspace with any unfinished run is locked, by the first unfinished run;
* runs of a workspace start in creation order, never before the runs ahead of them
  have finished;
* a terminal run never changes again;
* the ``actions`` flags agree with what ``run_action`` accepts (probe rules);
* a plain-Python oracle for the resources a workspace's state holds.

Runtime is bounded by ``max_examples``/``stateful_step_count`` (about 20 s on two
cores); ``HYPOTHESIS_MAX_EXAMPLES`` / ``HYPOTHESIS_STEP_COUNT`` raise them.
"""

from __future__ import annotations

import math
import os

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from fake_tfc import FakeTFC, Outcome, RunBehaviour, RunScript, VirtualClock
from fake_tfc import serializers
from fake_tfc.behaviour import DEFAULT_DURATIONS, FORCE_CANCEL_COOL_OFF, STUCKABLE
from fake_tfc.errors import InvalidAttribute, TransitionNotAllowed
from fake_tfc.inputs import RunInput, VariableInput, WorkspaceInput
from fake_tfc.statuses import (
    INTERRUPTIBLE,
    LEGAL_TRANSITIONS,
    TERMINAL,
    RunStatus,
    VariableCategory,
)

S = RunStatus
ORG = "example-org"
ACTIONS = ("apply", "discard", "cancel", "force-cancel")
WORKSPACE_NAMES = ("ws0", "ws1", "ws2", "ws3")

MAX_EXAMPLES = int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "150"))
STEP_COUNT = int(os.environ.get("HYPOTHESIS_STEP_COUNT", "50"))

# ------------------------------------------------------------------ strategies
# Small, "round" numbers make coincidences (a stage ending exactly when an action
# arrives, zero-length stages) likely; arbitrary floats cover the rest.
seconds = st.one_of(
    st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 11.0, 30.0, 120.0]),
    st.floats(min_value=0, max_value=60, allow_nan=False, allow_infinity=False),
)
stage_seconds = st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.0, 4.0, 12.0])
durations = st.dictionaries(st.sampled_from(sorted(DEFAULT_DURATIONS)), stage_seconds, max_size=4)
behaviours = st.builds(
    RunBehaviour,
    outcome=st.sampled_from(list(Outcome)),
    # Mostly not stuck; when stuck, sometimes forever (None).
    stuck_in=st.sampled_from([None, None, None, None, *sorted(STUCKABLE)]),
    stuck_for=st.one_of(st.none(), st.sampled_from([0.0, 5.0, 15.0, 60.0])),
    durations=durations,
)
scripts = st.builds(
    RunScript,
    match=st.sampled_from(["*", "ws0", "ws1", "ws2", "ws3", "ws[01]", "ws[23]", "nothing"]),
    runs=st.lists(behaviours, max_size=3),
    then=behaviours,
    durations=durations,
    output_delay=st.sampled_from([0.0, 2.0]),
    resource_count=st.integers(min_value=1, max_value=12),
    cost_estimation=st.booleans(),
    policy_check=st.booleans(),
    unknown_statuses=st.booleans(),
)


PAUSED_FOR_CONFIRMATION = frozenset({S.PLANNED, S.COST_ESTIMATED, S.POLICY_CHECKED})
PAUSED_FOR_DECISION = PAUSED_FOR_CONFIRMATION | {S.POLICY_OVERRIDE}


def _statuses(run) -> list[RunStatus]:
    return [s for s, _ in run.history]


def _entered(run, status: RunStatus) -> float | None:
    for s, t in run.history:
        if s == status:
            return t
    return None


class RunQueueMachine(RuleBasedStateMachine):
    workspaces = Bundle("workspaces")
    runs = Bundle("runs")

    def __init__(self) -> None:
        super().__init__()
        self.clock = VirtualClock()
        self.fake = FakeTFC(self.clock, tokens=["t"])
        self.token = self.fake.token("t")
        #: run id -> everything observable about it when it was first seen terminal
        self.frozen: dict[str, tuple] = {}
        #: run id -> (time, status, len(history)) of an accepted cancel that
        #: interrupts (planning/applying)
        self.cancel_requests: dict[str, tuple[float, RunStatus, int]] = {}

    # ------------------------------------------------------------- helpers
    def _ws(self, ws_id: str):
        return self.fake.workspaces[ws_id]

    def _settle_all(self) -> None:
        for ws in list(self.fake.workspaces.values()):
            self.fake.settle(ws)

    def _ws_runs(self, ws):
        return [self.fake.runs[r] for r in ws.run_ids]

    # --------------------------------------------------------------- setup
    @initialize(
        target=workspaces,
        auto_apply=st.lists(st.booleans(), min_size=2, max_size=4),
        with_var=st.booleans(),
    )
    def create_workspaces(self, auto_apply, with_var):
        ids = []
        for name, auto in zip(WORKSPACE_NAMES, auto_apply):
            ws = self.fake.create_workspace(
                self.token, ORG, WorkspaceInput(name=name, settings={"auto-apply": auto})
            )
            if with_var:
                self.fake.create_variable(
                    ws, VariableInput(key="tenant_code", value=name, category=VariableCategory.TERRAFORM)
                )
            ids.append(ws.id)
        return multiple(*ids)

    # --------------------------------------------------------------- rules
    @rule(script=scripts)
    def set_script(self, script):
        self.fake.set_script(script)
        self._settle_all()

    @rule(
        ws_id=workspaces,
        # planning/applying are where cancel interrupts and force-cancel matters
        stuck_in=st.sampled_from([S.PLANNING, S.APPLYING, *sorted(STUCKABLE)]),
        stuck_for=st.sampled_from([None, None, 5.0, 30.0]),
        outcome=st.sampled_from(list(Outcome)),
        unknown_statuses=st.booleans(),
    )
    def make_next_run_stuck(self, ws_id, stuck_in, stuck_for, outcome, unknown_statuses):
        """Stuck runs are rare in ``scripts``; this makes the next run of one
        workspace hang somewhere (so cancel and force-cancel get exercised)."""
        self.fake.set_script(
            RunScript(
                match=self._ws(ws_id).name,
                runs=[RunBehaviour(outcome=outcome, stuck_in=stuck_in, stuck_for=stuck_for)],
                unknown_statuses=unknown_statuses,
            )
        )
        self._settle_all()

    @rule()
    def clear_scripts(self):
        self.fake.clear_scripts()
        self._settle_all()

    @rule(
        target=runs,
        ws_id=workspaces,
        is_destroy=st.booleans(),
        auto_apply=st.sampled_from([None, None, True, False]),
        plan_only=st.sampled_from([False, False, False, True]),
    )
    def create_run(self, ws_id, is_destroy, auto_apply, plan_only):
        run_id = self._create_run(ws_id, is_destroy, auto_apply, plan_only)
        self._settle_all()
        return multiple(run_id) if run_id else multiple()

    @rule(
        target=runs,
        ws_id=workspaces,
        kinds=st.lists(st.tuples(st.booleans(), st.sampled_from([None, True, False])), min_size=2, max_size=4),
    )
    def queue_runs(self, ws_id, kinds):
        """Several runs at once on one workspace: they must wait for each other."""
        ids = [self._create_run(ws_id, is_destroy, auto_apply, False) for is_destroy, auto_apply in kinds]
        self._settle_all()
        return multiple(*[i for i in ids if i])

    def _create_run(self, ws_id, is_destroy, auto_apply, plan_only) -> str | None:
        ws = self._ws(ws_id)
        before = len(ws.run_ids)
        try:
            run = self.fake.create_run(
                self.token,
                RunInput(workspace_id=ws_id, is_destroy=is_destroy, auto_apply=auto_apply, plan_only=plan_only),
            )
        except InvalidAttribute:
            assert is_destroy and not ws.settings["allow-destroy-plan"]
            assert len(ws.run_ids) == before  # a refused run leaves no trace
            return None
        assert not (is_destroy and not ws.settings["allow-destroy-plan"])
        assert ws.run_ids[-1] == run.id and len(ws.run_ids) == before + 1
        assert run.created_at == self.clock.now()
        assert run.auto_apply == (ws.auto_apply if auto_apply is None else auto_apply)
        return run.id

    @rule(dt=seconds)
    def advance(self, dt):
        self.clock.advance(dt)
        self._settle_all()

    @rule(
        ws_id=workspaces,
        key=st.sampled_from(["tenant_code", "region"]),
        value=st.sampled_from(["a", "b", "c"]),
        category=st.sampled_from(list(VariableCategory)),
    )
    def set_variable(self, ws_id, key, value, category):
        ws = self._ws(ws_id)
        var = ws.find_variable(key, category)
        if var is None:
            self.fake.create_variable(ws, VariableInput(key=key, value=value, category=category))
        else:
            self.fake.update_variable(ws, var.id, VariableInput(value=value))
        self._settle_all()

    @rule(ws_id=workspaces, auto_apply=st.booleans(), allow_destroy=st.sampled_from([True, True, True, False]))
    def update_settings(self, ws_id, auto_apply, allow_destroy):
        ws = self._ws(ws_id)
        self.fake.update_workspace(
            ws, WorkspaceInput(settings={"auto-apply": auto_apply, "allow-destroy-plan": allow_destroy})
        )
        self._settle_all()

    def _expected_flags(self, run, now: float) -> dict[str, bool]:
        """What the actions should be, from the status alone (the workspace has just
        been settled, so a run sitting in a plan-phase status is paused for a human:
        those statuses take no time) and from the cancels this machine has made."""
        requested = self.cancel_requests.get(run.id)
        return {
            "apply": run.status in PAUSED_FOR_CONFIRMATION,
            "discard": run.status == S.PENDING or run.status in PAUSED_FOR_DECISION,
            "cancel": run.status in (S.PENDING, S.PLAN_QUEUED, S.APPLY_QUEUED)
            or (run.status in (S.PLANNING, S.APPLYING) and requested is None),
            "force-cancel": not run.terminal
            and requested is not None
            and now >= requested[0] + FORCE_CANCEL_COOL_OFF,
        }

    def _probe(self, run_id: str, action: str) -> None:
        """Try ``action`` on the run: it must be accepted exactly when the model says
        so and when the run's ``actions`` flags say so, and a refusal must leave the
        run as it was."""
        fake, run = self.fake, self.fake.runs[run_id]
        ws = self._ws(run.workspace_id)
        now = self.clock.now()
        flags = {
            "apply": run.awaiting_confirmation,
            "discard": run.is_discardable(),
            "cancel": run.is_cancelable(),
            "force-cancel": run.is_force_cancelable(now),
        }
        # The flags the API shows are the ones the endpoints use ...
        shown = serializers.run(run, position_in_queue=0, now=now)["attributes"]["actions"]
        assert shown == {
            "is-confirmable": flags["apply"],
            "is-discardable": flags["discard"],
            "is-cancelable": flags["cancel"],
            "is-force-cancelable": flags["force-cancel"],
        }
        # ... and they are the model's.
        assert flags == self._expected_flags(run, now), (run.status, flags)
        if flags["apply"]:
            assert ws.locked_by == run.id

        before = (run.status, list(run.history), run.cancel_requested_at)
        was_interruptible = run.status in INTERRUPTIBLE
        try:
            fake.run_action(self.token, run_id, action)
            accepted = True
        except TransitionNotAllowed:
            accepted = False
        assert accepted == flags[action], (action, before[0], flags)
        event(f"{action} {'accepted' if accepted else 'refused'}")
        if not accepted:
            fake.settle(ws)
            assert (run.status, run.history, run.cancel_requested_at) == before
            return
        # What an accepted action did, at the time it was accepted.
        new = run.history[len(before[1]):]
        if action == "apply":
            assert new and new[0] == (S.CONFIRMED, now)
        elif action == "discard":
            assert new == [(S.DISCARDED, now)]
        elif action == "cancel":
            if was_interruptible:
                self.cancel_requests[run_id] = (now, before[0], len(before[1]))
                assert run.cancel_requested_at == now
                assert all(s == S.CANCELED for s, _ in new)  # later, or now if the cancel takes 0 s
            else:
                assert new == [(S.CANCELED, now)]
        else:
            target = S.FORCE_CANCELED if run.script.unknown_statuses else S.CANCELED
            assert new == [(target, now)]
        self._settle_all()

    @rule(run_id=runs, action=st.sampled_from(ACTIONS))
    def act_on_any_run(self, run_id, action):
        self._probe(run_id, action)

    def _locked_workspaces(self):
        return [ws for ws in self.fake.workspaces.values() if ws.locked_by is not None]

    @precondition(lambda self: bool(self._locked_workspaces()))
    @rule(data=st.data(), action=st.sampled_from(ACTIONS))
    def act_on_active_run(self, data, action):
        """Most runs in the bundle are finished; aim at the interesting ones."""
        ws_id = data.draw(st.sampled_from([w.id for w in self._locked_workspaces()]), label="workspace")
        self._probe(self._ws(ws_id).locked_by, action)

    @precondition(lambda self: bool(self._locked_workspaces()))
    @rule(data=st.data())
    def cancel_then_force_cancel(self, data):
        """The only way out for a run stuck in planning/applying: cancel, wait, force."""
        locked = self._locked_workspaces()
        interruptible = [w for w in locked if self.fake.runs[w.locked_by].status in INTERRUPTIBLE]
        ws_id = data.draw(st.sampled_from([w.id for w in interruptible or locked]), label="workspace")
        run_id = self._ws(ws_id).locked_by
        self._probe(run_id, "cancel")
        self.clock.advance(FORCE_CANCEL_COOL_OFF)
        self._settle_all()
        self._probe(run_id, "force-cancel")

    # ---------------------------------------------------------- invariants
    @invariant()
    def settled(self):
        """Nothing is overdue: the active run's next move lies in the future."""
        now = self.clock.now()
        for ws in self.fake.workspaces.values():
            if ws.locked_by is not None:
                run = self.fake.runs[ws.locked_by]
                assert run.next_at > now, (run.id, run.status, run.next_at, now)

    @invariant()
    def histories_are_legal_and_ordered(self):
        now = self.clock.now()
        for run in self.fake.runs.values():
            assert run.history[0] == (S.PENDING, run.created_at)
            assert run.status == run.history[-1][0]
            for (a, ta), (b, tb) in zip(run.history, run.history[1:]):
                assert b in LEGAL_TRANSITIONS[a], (run.id, a, b)
                assert ta <= tb, (run.id, a, ta, b, tb)
            assert run.history[-1][1] <= now
            for status, t in run.history[1:]:
                # status-timestamps record the first time each status was entered
                assert run.timestamps[status.timestamp_key] == _entered(run, status)
            if not run.active:
                # never left the queue: pending, or discarded/canceled while waiting
                assert _statuses(run) in ([S.PENDING], [S.PENDING, S.DISCARDED], [S.PENDING, S.CANCELED])

    @invariant()
    def one_active_run_per_workspace_holding_the_lock(self):
        for ws in self.fake.workspaces.values():
            runs = self._ws_runs(ws)
            active = [r for r in runs if r.active and not r.terminal]
            assert len(active) <= 1, [r.id for r in active]
            unfinished = [r for r in runs if not r.terminal]
            if active:
                assert ws.locked_by == active[0].id
            if unfinished:
                # the head of the queue holds the lock (it started, since time
                # never stands still for it: created_at <= now)
                assert ws.locked_by == unfinished[0].id, (ws.locked_by, unfinished[0].id)
            else:
                assert ws.locked_by is None

    @invariant()
    def runs_start_in_creation_order(self):
        for ws in self.fake.workspaces.values():
            runs = self._ws_runs(ws)
            last_queued = -math.inf
            for i, run in enumerate(runs):
                queued = _entered(run, S.PLAN_QUEUED)
                if queued is not None:
                    assert queued >= last_queued, (run.id, queued, last_queued)
                    last_queued = queued
                if not run.active:
                    continue
                started = run.history[1][1] if len(run.history) > 1 else None
                for earlier in runs[:i]:
                    assert earlier.terminal, (earlier.id, earlier.status, run.id)
                    if started is not None:
                        assert earlier.finished_at <= started, (earlier.id, earlier.finished_at, run.id, started)

    @invariant()
    def cancel_interrupts_in_time(self):
        """After a cancel in planning/applying the run moves only to canceled (or
        force-canceled), and within the cancel duration unless it is stuck there."""
        now = self.clock.now()
        for run_id, (t, status, seen) in self.cancel_requests.items():
            run = self.fake.runs[run_id]
            assert run.history[seen - 1][0] == status
            moves = [s for s, _ in run.history[seen:]]
            assert moves in ([], [S.CANCELED], [S.FORCE_CANCELED]), (run_id, moves)
            assert all(u >= t for _, u in run.history[seen:])
            if run.behaviour.stuck_in != status:
                deadline = t + run.script.duration(run.behaviour, "cancel")
                if now >= deadline:
                    assert run.terminal and run.finished_at <= deadline, (run_id, run.status)

    @invariant()
    def terminal_runs_never_change(self):
        for run in self.fake.runs.values():
            seen = (
                run.status,
                len(run.history),
                tuple(run.history),
                run.plan.status,
                run.apply.status,
                dict(run.timestamps),
            )
            if run.id in self.frozen:
                assert self.frozen[run.id] == seen, run.id
            elif run.status in TERMINAL:
                self.frozen[run.id] = seen
                event(f"run ended {run.status.value}")

    @invariant()
    def resources_match_the_applies(self):
        """Oracle: fold the finished runs of each workspace in creation order (they
        run one at a time). A successful apply leaves ``resource_count`` resources, a
        successful destroy none; an errored apply leaves partial state (half, at least
        one; an errored destroy half of what was there). Nothing else writes state."""
        for ws in self.fake.workspaces.values():
            expected, writes = 0, 0
            for run in self._ws_runs(ws):
                statuses = _statuses(run)
                if run.status == S.APPLIED:
                    expected = 0 if run.is_destroy else run.script.resource_count
                    writes += 1
                elif run.status == S.ERRORED and S.APPLYING in statuses:
                    expected = expected // 2 if run.is_destroy else max(1, run.script.resource_count // 2)
                    writes += 1
                # only runs that got through a plan with changes and a confirmation apply
                if S.APPLYING in statuses:
                    assert S.CONFIRMED in statuses and run.has_changes and not run.plan_only
                    assert run.auto_apply or run.confirmed
            assert self.fake.resource_count(ws) == expected, (ws.name, self.fake.resource_count(ws), expected)
            assert len(ws.state_version_ids) == writes


RunQueueMachine.TestCase.settings = settings(
    max_examples=MAX_EXAMPLES,
    stateful_step_count=STEP_COUNT,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestRunQueue = RunQueueMachine.TestCase
