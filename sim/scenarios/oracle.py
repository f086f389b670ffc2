"""A plain-Python model of the tenant lifecycle: the oracle the property tests compare
the simulated control plane with. It knows the status machine, which API call is
allowed from which status, and what a flow will end in given the TFC outcome of its run
and the faults in force; it does not know how the control plane does any of it.

Time matters only coarsely: a flow cannot end before its first poll (``wait_seconds``
after it starts) and must have ended ``horizon`` seconds after it starts. In between its
status is uncertain and the model accepts either. A flow whose event is dead-lettered never
runs: the reconciler ends it ``failed`` at its first run at least ``reconcile_after``
seconds after the request (it runs every ``reconcile_period`` seconds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sim.controlplane.statuses import Action, TenantStatus

_S = TenantStatus
#: The rules, stated again on purpose: the oracle must not share the table it checks
#: (``sim.controlplane.statuses.ACTION_ALLOWED_FROM``). A tenant with no row, or deleted, may
#: be created; a tenant at rest (ready, or failed and so retryable) may be updated or deleted.
MAY_START: dict[Action, frozenset[TenantStatus | None]] = {
    Action.CREATE: frozenset({None, _S.DELETED}),
    Action.UPDATE: frozenset({_S.READY, _S.FAILED}),
    Action.DELETE: frozenset({_S.READY, _S.FAILED}),
}

#: Outcomes the generator may give a run attempt, and what a flow's run then does.
SUCCESS, NO_CHANGES, APPLY_ERROR, PLAN_ERROR, STUCK, SLOW = "success", "no_changes", "apply_error", "plan_error", "stuck", "slow"
OUTCOMES = (SUCCESS, NO_CHANGES, APPLY_ERROR, PLAN_ERROR, STUCK, SLOW)


@dataclass
class Flow:
    action: Action
    started: float
    ends: TenantStatus
    reason: str = ""
    #: The flow cannot have ended before ``earliest``, and has surely ended at ``latest``.
    earliest: float = 0.0
    latest: float = 0.0


@dataclass
class TenantModel:
    status: TenantStatus | None = None
    flow: Flow | None = None
    decommission_date: date | None = None
    next_outcomes: list[str] = field(default_factory=list)
    #: Resources in the workspace's state: a destroy run with none to destroy has no
    #: changes, so it never applies and ends well whatever its apply would have done.
    resources: int = 0


@dataclass
class Model:
    wait_seconds: float
    horizon: float
    #: The reconciler: how long after a request it ends one no execution took up, and how often it runs.
    reconcile_after: float = float("inf")
    reconcile_period: float = 6 * 3600
    tenants: dict[str, TenantModel] = field(default_factory=dict)
    dead_lettered_actions: set[Action] = field(default_factory=set)

    def tenant(self, code: str) -> TenantModel:
        return self.tenants.setdefault(code, TenantModel())

    # ------------------------------------------------------------ flows
    def predicted_end(self, t: TenantModel, action: Action) -> tuple[TenantStatus, str]:
        if action in self.dead_lettered_actions:
            return TenantStatus.FAILED, "dead-lettered"
        # A stuck run fails its flow (the poll budget runs out) and is then stopped, so it
        # holds nothing up: the next flow's run starts at once.
        outcome = t.next_outcomes.pop(0) if t.next_outcomes else SUCCESS
        if action is Action.DELETE and t.resources == 0 and outcome in (APPLY_ERROR, SLOW):
            outcome = NO_CHANGES  # a destroy of nothing: planned and finished
        t.resources = _resources_after(action, outcome, t.resources)
        if outcome in (SUCCESS, NO_CHANGES, SLOW):
            return action.success_status, outcome
        return TenantStatus.FAILED, outcome

    def possible(self, code: str, now: float) -> set[TenantStatus | None]:
        """The statuses the tenant may have at ``now``."""
        t = self.tenant(code)
        if t.flow is None or now < t.flow.earliest:
            return {t.status}
        if now >= t.flow.latest:
            return {t.flow.ends}
        return {t.status, t.flow.ends}

    def settle(self, code: str, now: float, observed: TenantStatus | None = None) -> None:
        """Fold a finished flow into the status (``observed`` resolves an uncertain one)."""
        t = self.tenant(code)
        if t.flow is None:
            return
        done = now >= t.flow.latest or (observed is not None and observed == t.flow.ends and observed != t.status)
        if done:
            t.status, t.flow = t.flow.ends, None

    def allowed(self, code: str, action: Action) -> bool:
        t = self.tenant(code)
        return t.flow is None and t.status in MAY_START[action]

    def start(self, code: str, action: Action, now: float, decommission_date: date | None = None) -> Flow:
        t = self.tenant(code)
        ends, reason = self.predicted_end(t, action)
        if reason == "dead-lettered":
            earliest = now + self.reconcile_after
            t.flow = Flow(action, now, ends, reason, earliest, earliest + self.reconcile_period + 60)
        else:
            t.flow = Flow(action, now, ends, reason, now + self.wait_seconds, now + self.horizon)
        t.status = action.in_progress_status
        if decommission_date is not None:
            t.decommission_date = decommission_date
        return t.flow


#: How many resources a run that applies creates (the fake TFC's default ``resource_count``).
RESOURCE_COUNT = 3


def _resources_after(action: Action, outcome: str, before: int) -> int:
    """The workspace's resources after a run: an apply writes them all, an errored apply
    part of them (half a destroy's, at least one of a create's), a deleted tenant's
    workspace is gone; a run that never applies leaves them as they were."""
    if outcome in (NO_CHANGES, PLAN_ERROR, STUCK):
        return before
    if action is Action.DELETE:
        return before // 2 if outcome == APPLY_ERROR else 0
    return max(1, RESOURCE_COUNT // 2) if outcome == APPLY_ERROR else RESOURCE_COUNT
