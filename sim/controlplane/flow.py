"""The per-flow constants each rule target's input transformer injects, and the
arithmetic that keeps the poll loop inside Step Functions' 25,000-event history."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .statuses import Action, TenantStatus

DEFAULT_WAIT_SECONDS = 120
#: 96 polls of 120 s = 3.2 h, far below the ~2,770 polls the history allows.
DEFAULT_POLL_BUDGET = 96
HISTORY_LIMIT = 25_000
EVENTS_PER_POLL = 9  # Wait 2 + Check via lambda:invoke 5 + Choice 2 (history events, as Step Functions writes them)
EVENTS_PER_RETRY = 3  # TaskScheduled, TaskStarted, TaskFailed
EVENTS_OVERHEAD = 20  # start, Init, Trigger, Finalize, end (14 measured) with margin
MAX_TASK_RETRIES = 6  # per Task state, from the definition's Retry blocks


class FlowConstants(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Action
    destroy: bool
    success_status: TenantStatus
    event_name: str
    wait_seconds: int = Field(default=DEFAULT_WAIT_SECONDS, ge=0, le=99_999_999)
    poll_budget: int = Field(default=DEFAULT_POLL_BUDGET, ge=1)

    @classmethod
    def for_action(cls, action: Action, *, wait_seconds: int = DEFAULT_WAIT_SECONDS, poll_budget: int = DEFAULT_POLL_BUDGET) -> FlowConstants:
        return cls(
            action=action,
            destroy=action is Action.DELETE,
            success_status=action.success_status,
            event_name=action.success_event,
            wait_seconds=wait_seconds,
            poll_budget=poll_budget,
        )


def worst_case_history_events(poll_budget: int) -> int:
    """History events of an execution that spends its whole poll budget, with every
    Check retried to the limit, plus the Trigger and Finalize retries."""
    retries = (poll_budget + 2) * MAX_TASK_RETRIES
    return EVENTS_OVERHEAD + poll_budget * EVENTS_PER_POLL + retries * EVENTS_PER_RETRY


def max_safe_poll_budget(margin: float = 0.5) -> int:
    """The largest budget whose worst case uses at most ``margin`` of the history limit."""
    budget = 1
    while worst_case_history_events(budget + 1) <= HISTORY_LIMIT * margin:
        budget += 1
    return budget
