"""The tenant lifecycle: statuses, actions, and from which status each action may start. The
one source of truth used by the handlers and the simulator; the legal transitions are derived
from it. (The property tests' oracle states the rules again, independently, to check them.)"""

from __future__ import annotations

from enum import StrEnum


class TenantStatus(StrEnum):
    CREATING = "creating"
    UPDATING = "updating"
    DELETING = "deleting"
    READY = "ready"
    FAILED = "failed"
    DELETED = "deleted"

    @property
    def in_progress(self) -> bool:
        return self in IN_PROGRESS

    @property
    def terminal(self) -> bool:
        return self not in IN_PROGRESS


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"

    @property
    def in_progress_status(self) -> TenantStatus:
        return _IN_PROGRESS_OF[self]

    @property
    def success_status(self) -> TenantStatus:
        return TenantStatus.DELETED if self is Action.DELETE else TenantStatus.READY

    @property
    def detail_type(self) -> str:
        """The ``DetailType`` of this action's event on its bus (``tenant.create`` ...)."""
        return f"tenant.{self.value}"

    @property
    def success_event(self) -> str:
        """The lifecycle event a successful flow publishes (``tenant.created`` ...)."""
        return f"tenant.{self.value}d"

    @property
    def failure_event(self) -> str:
        """The lifecycle event a failed flow publishes (``tenant.create_failed`` ...)."""
        return f"tenant.{self.value}_failed"


_IN_PROGRESS_OF = {
    Action.CREATE: TenantStatus.CREATING,
    Action.UPDATE: TenantStatus.UPDATING,
    Action.DELETE: TenantStatus.DELETING,
}
#: A flow is running; StrEnum members compare and hash as their values, so ``"creating" in IN_PROGRESS``.
IN_PROGRESS: frozenset[TenantStatus] = frozenset(_IN_PROGRESS_OF.values())
#: Where a flow ends.
TERMINAL: frozenset[TenantStatus] = frozenset(TenantStatus) - IN_PROGRESS

#: From which statuses (``None`` = no row) each action may start a flow.
ACTION_ALLOWED_FROM: dict[Action, frozenset[TenantStatus | None]] = {
    Action.CREATE: frozenset({None, TenantStatus.DELETED}),
    Action.UPDATE: frozenset({TenantStatus.READY, TenantStatus.FAILED}),
    Action.DELETE: frozenset({TenantStatus.READY, TenantStatus.FAILED}),
}


def _legal_transitions() -> dict[TenantStatus | None, frozenset[TenantStatus]]:
    moves: dict[TenantStatus | None, set[TenantStatus]] = {None: set(), **{s: set() for s in TenantStatus}}
    for action, sources in ACTION_ALLOWED_FROM.items():
        for source in sources:
            moves[source].add(action.in_progress_status)  # a flow starts
        moves[action.in_progress_status] |= {action.success_status, TenantStatus.FAILED}  # and ends
    return {k: frozenset(v) for k, v in moves.items()}


#: Every legal move of a tenant's status: a flow starts where its action is allowed, and ends
#: in its action's success status or ``failed``.
LEGAL_TRANSITIONS: dict[TenantStatus | None, frozenset[TenantStatus]] = _legal_transitions()
