"""Run, plan and apply statuses: the one source of truth for the fake's run state machine."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    PENDING = "pending"
    PLAN_QUEUED = "plan_queued"
    PLANNING = "planning"
    PLANNED = "planned"
    COST_ESTIMATING = "cost_estimating"
    COST_ESTIMATED = "cost_estimated"
    POLICY_CHECKING = "policy_checking"
    POLICY_CHECKED = "policy_checked"
    POLICY_OVERRIDE = "policy_override"
    POLICY_SOFT_FAILED = "policy_soft_failed"
    CONFIRMED = "confirmed"
    APPLY_QUEUED = "apply_queued"
    APPLYING = "applying"
    APPLIED = "applied"
    PLANNED_AND_FINISHED = "planned_and_finished"
    DISCARDED = "discarded"
    ERRORED = "errored"
    CANCELED = "canceled"
    # Documented by TFC but unknown to pytfe 1.5.0 (it raises ValidationError on them):
    # emitted only when a script opts in.
    FORCE_CANCELED = "force_canceled"
    PLAN_QUEUEABLE = "plan_queueable"

    @property
    def timestamp_key(self) -> str:
        return self.value.replace("_", "-") + "-at"


TERMINAL = frozenset(
    {
        RunStatus.APPLIED,
        RunStatus.PLANNED_AND_FINISHED,
        RunStatus.ERRORED,
        RunStatus.DISCARDED,
        RunStatus.CANCELED,
        RunStatus.FORCE_CANCELED,
        RunStatus.POLICY_SOFT_FAILED,
    }
)
SUCCESS = frozenset({RunStatus.APPLIED, RunStatus.PLANNED_AND_FINISHED})

#: Statuses at which a run waits for a confirmation (``actions/apply``).
CONFIRMABLE = frozenset({RunStatus.PLANNED, RunStatus.COST_ESTIMATED, RunStatus.POLICY_CHECKED})
#: Statuses from which ``actions/discard`` is accepted (pending, or paused for a decision).
DISCARDABLE = CONFIRMABLE | {RunStatus.PENDING, RunStatus.POLICY_OVERRIDE}
#: Statuses from which ``actions/cancel`` is accepted. Queued statuses cancel at once;
#: planning and applying are interrupted and end ``canceled`` a little later.
CANCELABLE = frozenset(
    {
        RunStatus.PENDING,
        RunStatus.PLAN_QUEUED,
        RunStatus.PLANNING,
        RunStatus.APPLY_QUEUED,
        RunStatus.APPLYING,
    }
)
INTERRUPTIBLE = frozenset({RunStatus.PLANNING, RunStatus.APPLYING})

#: Every status a run may move to from each status. The property tests use this as
#: their oracle; the run machine never makes a move outside it.
_PLAN_PHASE = {
    RunStatus.PLANNED,
    RunStatus.COST_ESTIMATING,
    RunStatus.COST_ESTIMATED,
    RunStatus.POLICY_CHECKING,
    RunStatus.POLICY_CHECKED,
    RunStatus.POLICY_OVERRIDE,
    RunStatus.POLICY_SOFT_FAILED,
    RunStatus.PLANNED_AND_FINISHED,
    RunStatus.CONFIRMED,
    RunStatus.DISCARDED,
    RunStatus.ERRORED,
}
LEGAL_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.PENDING: frozenset(
        {RunStatus.PLAN_QUEUED, RunStatus.DISCARDED, RunStatus.CANCELED, RunStatus.ERRORED}
    ),
    RunStatus.PLAN_QUEUED: frozenset({RunStatus.PLANNING, RunStatus.CANCELED, RunStatus.ERRORED}),
    RunStatus.PLANNING: frozenset(
        {
            RunStatus.PLANNED,
            RunStatus.PLANNED_AND_FINISHED,
            RunStatus.COST_ESTIMATING,
            RunStatus.POLICY_CHECKING,
            RunStatus.ERRORED,
            RunStatus.CANCELED,
            RunStatus.FORCE_CANCELED,
        }
    ),
    RunStatus.PLANNED: frozenset(_PLAN_PHASE - {RunStatus.PLANNED, RunStatus.COST_ESTIMATED, RunStatus.POLICY_CHECKED}),
    RunStatus.COST_ESTIMATING: frozenset({RunStatus.COST_ESTIMATED, RunStatus.ERRORED}),
    RunStatus.COST_ESTIMATED: frozenset(
        {
            RunStatus.POLICY_CHECKING,
            RunStatus.PLANNED_AND_FINISHED,
            RunStatus.CONFIRMED,
            RunStatus.DISCARDED,
        }
    ),
    RunStatus.POLICY_CHECKING: frozenset(
        {
            RunStatus.POLICY_CHECKED,
            RunStatus.POLICY_OVERRIDE,
            RunStatus.POLICY_SOFT_FAILED,
            RunStatus.ERRORED,
        }
    ),
    RunStatus.POLICY_CHECKED: frozenset(
        {RunStatus.PLANNED_AND_FINISHED, RunStatus.CONFIRMED, RunStatus.DISCARDED}
    ),
    RunStatus.POLICY_OVERRIDE: frozenset({RunStatus.POLICY_CHECKED, RunStatus.DISCARDED}),
    RunStatus.CONFIRMED: frozenset({RunStatus.APPLY_QUEUED}),
    RunStatus.APPLY_QUEUED: frozenset({RunStatus.APPLYING, RunStatus.CANCELED, RunStatus.ERRORED}),
    RunStatus.APPLYING: frozenset(
        {RunStatus.APPLIED, RunStatus.ERRORED, RunStatus.CANCELED, RunStatus.FORCE_CANCELED}
    ),
}
for _s in TERMINAL:
    LEGAL_TRANSITIONS[_s] = frozenset()
LEGAL_TRANSITIONS[RunStatus.PLAN_QUEUEABLE] = LEGAL_TRANSITIONS[RunStatus.PENDING]


class PhaseStatus(StrEnum):
    """Status of a plan or an apply sub-resource (docs ``plans.mdx``, ``applies.mdx``)."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    ERRORED = "errored"
    CANCELED = "canceled"
    FINISHED = "finished"
    UNREACHABLE = "unreachable"


class VariableCategory(StrEnum):
    TERRAFORM = "terraform"
    ENV = "env"
