"""A run and its state machine, in plain Python: no HTTP, no clock of its own.

A run walks a *path* of statuses decided when it leaves the queue (from its
behaviour, the workspace's configuration and whether the plan has changes). Each
status on the path lasts a stage duration; ``advance(now)`` moves the run along the
path up to ``now``, stamping each status with the exact simulated time it was
entered, so what a poller sees does not depend on when it looks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .behaviour import FORCE_CANCEL_COOL_OFF, Outcome, RunBehaviour, RunScript
from .errors import TransitionNotAllowed
from .statuses import (
    CANCELABLE,
    CONFIRMABLE,
    DISCARDABLE,
    INTERRUPTIBLE,
    LEGAL_TRANSITIONS,
    TERMINAL,
    PhaseStatus,
    RunStatus,
)

S = RunStatus

_TIMED = {
    S.PENDING: "pending",
    S.PLAN_QUEUED: "plan_queued",
    S.PLANNING: "planning",
    S.COST_ESTIMATING: "cost_estimating",
    S.POLICY_CHECKING: "policy_checking",
    S.APPLY_QUEUED: "apply_queued",
    S.APPLYING: "applying",
}


class IllegalTransition(AssertionError):
    """The run machine tried a move outside ``LEGAL_TRANSITIONS``: a bug in the fake."""


@dataclass
class Phase:
    """The plan or apply sub-resource of a run."""

    id: str
    status: PhaseStatus = PhaseStatus.PENDING
    timestamps: dict[str, float] = field(default_factory=dict)

    def enter(self, status: PhaseStatus, t: float) -> None:
        if self.status == status:
            return
        self.status = status
        key = {
            PhaseStatus.QUEUED: "queued-at",
            PhaseStatus.RUNNING: "started-at",
            PhaseStatus.FINISHED: "finished-at",
            PhaseStatus.ERRORED: "errored-at",
            PhaseStatus.CANCELED: "canceled-at",
        }.get(status)
        if key:
            self.timestamps[key] = t


@dataclass
class Run:
    id: str
    workspace_id: str
    created_at: float
    behaviour: RunBehaviour
    script: RunScript
    plan: Phase
    apply: Phase
    variables: dict[tuple[str, str], tuple[str, bool]]
    is_destroy: bool = False
    auto_apply: bool = False
    plan_only: bool = False
    message: str = "Queued manually via the Terraform Enterprise API"
    status: RunStatus = S.PENDING
    timestamps: dict[str, float] = field(default_factory=dict)
    history: list[tuple[RunStatus, float]] = field(default_factory=list)
    path: list[RunStatus] = field(default_factory=list)
    #: Index in ``path`` of the status at which the run waits for a human
    #: (confirmation or policy override); -1 when it never waits.
    pause_index: int = -1
    position: int = 0
    #: When the current status ends; ``math.inf`` while paused or stuck forever.
    next_at: float = math.inf
    active: bool = False
    has_changes: bool = False
    resource_additions: int = 0
    resource_destructions: int = 0
    cancel_requested_at: float | None = None
    force_cancel_available_at: float | None = None
    canceled_at: float | None = None
    confirmed: bool = False

    def __post_init__(self) -> None:
        self.history.append((self.status, self.created_at))
        self.timestamps["plan-queueable-at"] = self.created_at

    # ----------------------------------------------------------------- queries
    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def finished_at(self) -> float | None:
        return self.history[-1][1] if self.terminal else None

    @property
    def awaiting_confirmation(self) -> bool:
        return self.status in CONFIRMABLE and self.position == self.pause_index

    def is_cancelable(self) -> bool:
        return self.status in CANCELABLE and self.cancel_requested_at is None

    def is_discardable(self) -> bool:
        if self.status == S.PENDING:
            return True
        return self.status in DISCARDABLE and self.position == self.pause_index

    def is_force_cancelable(self, now: float) -> bool:
        return (
            not self.terminal
            and self.force_cancel_available_at is not None
            and now >= self.force_cancel_available_at
        )

    def shown_status(self) -> RunStatus:
        if self.script.unknown_statuses and self.status == S.PENDING and not self.active:
            return S.PLAN_QUEUEABLE
        return self.status

    # -------------------------------------------------------------- lifecycle
    def activate(self, t: float, current_resources: int, state_fingerprint: str | None, my_fingerprint: str) -> None:
        """The run reaches the head of its workspace's queue at ``t``: decide its path."""
        self.active = True
        outcome = self.behaviour.outcome
        if self.is_destroy:
            changes = current_resources > 0
            self.resource_destructions = current_resources
        else:
            changes = state_fingerprint != my_fingerprint or current_resources == 0
            self.resource_additions = self.script.resource_count if current_resources == 0 else 0
        if outcome == Outcome.NO_CHANGES:
            changes = False
            self.resource_additions = self.resource_destructions = 0
        self.has_changes = changes

        path = [S.PENDING, S.PLAN_QUEUED, S.PLANNING]
        pause = -1
        if outcome == Outcome.PLAN_ERROR:
            path.append(S.ERRORED)
        elif outcome == Outcome.CANCELED:
            path.append(S.CANCELED)
        else:
            soft_fail = outcome == Outcome.POLICY_SOFT_FAIL
            optional: list[RunStatus] = []
            if self.script.cost_estimation:
                optional += [S.COST_ESTIMATING, S.COST_ESTIMATED]
            if self.script.policy_check or soft_fail:
                optional.append(S.POLICY_CHECKING)
                if soft_fail:
                    optional.append(S.POLICY_SOFT_FAILED if self.plan_only else S.POLICY_OVERRIDE)
                else:
                    optional.append(S.POLICY_CHECKED)
            if changes or optional:
                path.append(S.PLANNED)
            path += optional
            if soft_fail:
                pause = len(path) - 1 if not self.plan_only else -1
            elif not changes or self.plan_only:
                path.append(S.PLANNED_AND_FINISHED)
            else:
                if not self.auto_apply:
                    pause = len(path) - 1
                path += [S.CONFIRMED, S.APPLY_QUEUED, S.APPLYING]
                path.append(S.ERRORED if outcome == Outcome.APPLY_ERROR else S.APPLIED)
        self.path = path
        self.pause_index = pause
        self.position = 0
        self.next_at = t + self._stage_time(S.PENDING)
        if self.behaviour.stuck_in == S.PENDING:
            self.next_at = self._stuck_end(S.PENDING, t)

    def advance(self, now: float) -> list[tuple[RunStatus, float]]:
        """Move along the path up to ``now``; return the transitions made."""
        moves: list[tuple[RunStatus, float]] = []
        while self.active and not self.terminal and self.next_at <= now:
            t = self.next_at
            if self.cancel_requested_at is not None and self.status in INTERRUPTIBLE:
                self._enter(S.CANCELED, t)
            else:
                self.position += 1
                self._enter(self.path[self.position], t)
            moves.append((self.status, t))
        return moves

    def _enter(self, status: RunStatus, t: float) -> None:
        if status not in LEGAL_TRANSITIONS[self.status]:
            raise IllegalTransition(f"{self.id}: {self.status} -> {status}")
        self.status = status
        self.history.append((status, t))
        self.timestamps.setdefault(status.timestamp_key, t)
        self._update_phases(status, t)
        if status in TERMINAL:
            self.next_at = math.inf
            if status in (S.CANCELED, S.FORCE_CANCELED):
                self.canceled_at = t
            return
        if self.position == self.pause_index and status not in _TIMED:
            self.next_at = math.inf  # waits for a human
        elif self.behaviour.stuck_in == status:
            self.next_at = self._stuck_end(status, t)
        else:
            self.next_at = t + self._stage_time(status)

    def _stage_time(self, status: RunStatus) -> float:
        stage = _TIMED.get(status)
        return self.script.duration(self.behaviour, stage) if stage else 0.0

    def _stuck_end(self, stuck_in: RunStatus, t: float) -> float:
        if self.behaviour.stuck_for is None:
            return math.inf
        return t + self.behaviour.stuck_for + self._stage_time(stuck_in)

    def _update_phases(self, status: RunStatus, t: float) -> None:
        plan, apply = self.plan, self.apply
        if status == S.PLAN_QUEUED:
            plan.enter(PhaseStatus.QUEUED, t)
        elif status == S.PLANNING:
            plan.enter(PhaseStatus.RUNNING, t)
        elif status == S.APPLY_QUEUED:
            apply.enter(PhaseStatus.QUEUED, t)
        elif status == S.APPLYING:
            apply.enter(PhaseStatus.RUNNING, t)
        elif status == S.APPLIED:
            apply.enter(PhaseStatus.FINISHED, t)
        elif status in (S.ERRORED, S.CANCELED, S.FORCE_CANCELED):
            failed = PhaseStatus.ERRORED if status == S.ERRORED else PhaseStatus.CANCELED
            if apply.status in (PhaseStatus.QUEUED, PhaseStatus.RUNNING):
                apply.enter(failed, t)
            else:
                if plan.status in (PhaseStatus.PENDING, PhaseStatus.QUEUED, PhaseStatus.RUNNING):
                    plan.enter(failed if plan.status == PhaseStatus.RUNNING or status == S.ERRORED else PhaseStatus.CANCELED, t)
                apply.enter(PhaseStatus.UNREACHABLE, t)
        elif status not in (S.PENDING, S.CONFIRMED):
            if plan.status in (PhaseStatus.QUEUED, PhaseStatus.RUNNING):
                plan.enter(PhaseStatus.FINISHED, t)
            if status in TERMINAL:
                apply.enter(PhaseStatus.UNREACHABLE, t)
        if status == S.DISCARDED and plan.status == PhaseStatus.PENDING:
            plan.enter(PhaseStatus.UNREACHABLE, t)

    # ---------------------------------------------------------------- actions
    def confirm(self, now: float) -> None:
        if not self.awaiting_confirmation:
            raise TransitionNotAllowed("Run was not paused for confirmation; apply not allowed")
        self.confirmed = True
        self.position += 1
        self._enter(S.CONFIRMED, now)

    def discard(self, now: float) -> None:
        if not self.is_discardable():
            raise TransitionNotAllowed("Run was not paused for confirmation or priority; discard not allowed")
        self._enter(S.DISCARDED, now)

    def cancel(self, now: float) -> None:
        if not self.is_cancelable():
            raise TransitionNotAllowed("Run was not planning or applying; cancel not allowed")
        if self.status not in INTERRUPTIBLE:
            self._enter(S.CANCELED, now)
            return
        self.cancel_requested_at = now
        self.force_cancel_available_at = now + FORCE_CANCEL_COOL_OFF
        self.timestamps["force-cancel-available-at"] = self.force_cancel_available_at
        delay = self.script.duration(self.behaviour, "cancel")
        if self.behaviour.stuck_in == self.status:
            # A stuck process ignores the interrupt until it comes unstuck.
            self.next_at = max(self.next_at, now) + delay
        else:
            self.next_at = now + delay

    def force_cancel(self, now: float) -> None:
        if not self.is_force_cancelable(now):
            raise TransitionNotAllowed("Run cannot be force-canceled; cancel it first and wait for the cool-off")
        target = S.FORCE_CANCELED if self.script.unknown_statuses else S.CANCELED
        self.timestamps["force-canceled-at"] = now
        self._enter(target, now)
