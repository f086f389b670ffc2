"""The tenant lifecycle: statuses and legal transitions, the one source of truth used by
the handlers, the simulator, the scenario schema and the property tests' oracle."""

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


IN_PROGRESS = frozenset({TenantStatus.CREATING, TenantStatus.UPDATING, TenantStatus.DELETING})
_IN_PROGRESS_OF = {
    Action.CREATE: TenantStatus.CREATING,
    Action.UPDATE: TenantStatus.UPDATING,
    Action.DELETE: TenantStatus.DELETING,
}

#: From which statuses (``None`` = no row) each action may start a flow.
ACTION_ALLOWED_FROM: dict[Action, frozenset[TenantStatus | None]] = {
    Action.CREATE: frozenset({None, TenantStatus.DELETED}),
    Action.UPDATE: frozenset({TenantStatus.READY, TenantStatus.FAILED}),
    Action.DELETE: frozenset({TenantStatus.READY, TenantStatus.FAILED}),
}

#: Every legal move of a tenant's status.
LEGAL_TRANSITIONS: dict[TenantStatus | None, frozenset[TenantStatus]] = {
    None: frozenset({TenantStatus.CREATING}),
    TenantStatus.CREATING: frozenset({TenantStatus.READY, TenantStatus.FAILED}),
    TenantStatus.UPDATING: frozenset({TenantStatus.READY, TenantStatus.FAILED}),
    TenantStatus.DELETING: frozenset({TenantStatus.DELETED, TenantStatus.FAILED}),
    TenantStatus.READY: frozenset({TenantStatus.UPDATING, TenantStatus.DELETING}),
    TenantStatus.FAILED: frozenset({TenantStatus.UPDATING, TenantStatus.DELETING}),
    TenantStatus.DELETED: frozenset({TenantStatus.CREATING}),
}


def is_legal(before: TenantStatus | None, after: TenantStatus) -> bool:
    return after in LEGAL_TRANSITIONS[before]
