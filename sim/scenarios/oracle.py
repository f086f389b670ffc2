"""A plain-Python model of the tenant lifecycle: the oracle the property tests compare
the simulated control plane with. It knows the status machine, which API call is
allowed from which status, and what a flow will end in given the TFC outcome of its run
and the faults in force; it does not know how the control plane does any of it.

Time matters only coarsely: a flow cannot end before its first poll (``wait_seconds``
after it starts) and must have ended ``horizon`` seconds after it starts. In between its
status is uncertain and the model accepts either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sim.controlplane.statuses import ACTION_ALLOWED_FROM, Action, TenantStatus

#: Outcomes the generator may give a run attempt, and what a flow's run then does.
SUCCESS, NO_CHANGES, APPLY_ERROR, PLAN_ERROR, STUCK, SLOW = "success", "no_changes", "apply_error", "plan_error", "stuck", "slow"
OUTCOMES = (SUCCESS, NO_CHANGES, APPLY_ERROR, PLAN_ERROR, STUCK, SLOW)


@dataclass
class Flow:
    action: Action
    started: float
    ends: TenantStatus | None  # None: dead-lettered, stays in progress for good
    reason: str = ""


@dataclass
class TenantModel:
    status: TenantStatus | None = None
    flow: Flow | None = None
    decommission_date: date | None = None
    next_outcomes: list[str] = field(default_factory=list)
    failed_before: bool = False
    #: A run stuck for good holds the workspace's queue: every later run waits behind
    #: it, so every later flow spends its poll budget (the control plane does not
    #: cancel an abandoned run).
    blocked: bool = False


@dataclass
class Model:
    wait_seconds: float
    horizon: float
    tenants: dict[str, TenantModel] = field(default_factory=dict)
    dead_lettered_actions: set[Action] = field(default_factory=set)

    def tenant(self, code: str) -> TenantModel:
        return self.tenants.setdefault(code, TenantModel())

    # ------------------------------------------------------------ flows
    def predicted_end(self, t: TenantModel, action: Action) -> tuple[TenantStatus | None, str]:
        if action in self.dead_lettered_actions:
            return None, "dead-lettered"
        outcome = t.next_outcomes.pop(0) if t.next_outcomes else SUCCESS
        if t.blocked:
            return TenantStatus.FAILED, "queued behind a stuck run"
        if outcome == STUCK:
            t.blocked = True
        if outcome in (SUCCESS, NO_CHANGES, SLOW):
            return action.success_status, outcome
        return TenantStatus.FAILED, outcome

    def possible(self, code: str, now: float) -> set[TenantStatus | None]:
        """The statuses the tenant may have at ``now``."""
        t = self.tenant(code)
        if t.flow is None:
            return {t.status}
        if t.flow.ends is None or now < t.flow.started + self.wait_seconds:
            return {t.status}
        if now >= t.flow.started + self.horizon:
            return {t.flow.ends}
        return {t.status, t.flow.ends}

    def settle(self, code: str, now: float, observed: TenantStatus | None = None) -> None:
        """Fold a finished flow into the status (``observed`` resolves an uncertain one)."""
        t = self.tenant(code)
        if t.flow is None or t.flow.ends is None:
            return
        done = now >= t.flow.started + self.horizon or (observed is not None and observed == t.flow.ends and observed != t.status)
        if done:
            if t.flow.ends is TenantStatus.FAILED:
                t.failed_before = True
            t.status, t.flow = t.flow.ends, None

    def allowed(self, code: str, action: Action) -> bool:
        t = self.tenant(code)
        return t.flow is None and t.status in ACTION_ALLOWED_FROM[action]

    def start(self, code: str, action: Action, now: float, decommission_date: date | None = None) -> Flow:
        t = self.tenant(code)
        ends, reason = self.predicted_end(t, action)
        t.flow = Flow(action, now, ends, reason)
        t.status = action.in_progress_status
        if decommission_date is not None:
            t.decommission_date = decommission_date
        return t.flow
