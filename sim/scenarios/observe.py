"""Watching a run from outside the control plane, the same way on every engine: a tenant's
status changes (:class:`StatusWatch`), the calls the fake TFC answered and the runs it holds
(:class:`TfcWatch`), and at the end what the trace and the engine show (:func:`observe`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fake_tfc import FakeTFC
from fake_tfc.journal import JournalEntry
from fake_tfc.statuses import VariableCategory
from sim.controlplane.config import tenant_of_workspace, workspace_name
from sim.controlplane.statuses import IN_PROGRESS

from .model import Scenario
from .trace import AlarmRecord, DlqRecord, FlowDlqRecord, SnsRecord, StatusRecord, TfcRecord, Trace


@dataclass
class StatusWatch:
    """Turns each reading of a tenant row into a ``status`` record when it is news: the
    status changed, or a new flow began in the same in-progress status (a new request id)."""

    statuses: dict[str, str | None] = field(default_factory=dict)
    requests: dict[str, str | None] = field(default_factory=dict)
    #: Per tenant, the row as it was before the current flow began (what a rollback restores).
    before_flow: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    def see(self, code: str, status: str | None, request_id: str | None, last_error: str | None) -> StatusRecord | None:
        before = self.statuses.get(code)
        if before in IN_PROGRESS and request_id != self.requests.get(code) and (status, request_id) == self.before_flow.get(code):
            # The API rolled back a request whose event never landed (it answered 503): the
            # row is what it was, as if the flow had never begun (not a transition a flow made).
            self.statuses[code], self.requests[code] = status, request_id
            return StatusRecord(tenant=code, from_=before, to=status, request_id=request_id, last_error=last_error, rollback=True)
        new_flow = request_id != self.requests.get(code) and status in IN_PROGRESS
        if new_flow:
            self.before_flow[code] = (before, self.requests.get(code))
        self.requests[code] = request_id
        if status == before and not new_flow:
            return None
        self.statuses[code] = status
        return StatusRecord(tenant=code, from_=before, to=status, request_id=request_id, last_error=last_error)

    def forget(self, code: str) -> None:
        """The row is gone (a create rolled back): the next reading starts from no row."""
        self.statuses.pop(code, None)
        self.requests.pop(code, None)
        self.before_flow.pop(code, None)


class TfcWatch:
    """Records every call the fake TFC answers, and counts the runs TFC holds per workspace
    (a run whose answer was lost still exists). Subscribed to the fake's journal until closed."""

    def __init__(self, fake: FakeTFC, trace: Trace) -> None:
        self.fake = fake
        self.trace = trace
        self.run_ids: dict[str, set[str]] = {}
        self._closed = False
        fake.journal.subscribe(self._entry)

    def _entry(self, entry: JournalEntry) -> None:
        if self._closed:
            return
        if entry.method == "POST" and entry.path == "/api/v2/runs" and entry.workspace_id:
            ws = self.fake.workspaces.get(entry.workspace_id)
            if ws is not None:
                self.run_ids.setdefault(ws.name, set()).update(ws.run_ids)
        self.trace.add(entry.time, TfcRecord(method=entry.method, path=entry.path, status=entry.status, workspace=entry.workspace, fault=entry.fault))

    def close(self) -> None:
        self._closed = True
        try:
            self.fake.journal.unsubscribe(self._entry)
        except (AttributeError, ValueError):
            pass


@dataclass
class Observed:
    """What a run showed, for the expectations to be compared with."""

    transitions: dict[str, list[str | None]] = field(default_factory=lambda: defaultdict(list))
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    dlq: list[DlqRecord] = field(default_factory=list)
    flow_dlq: int = 0
    tfc_runs: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    workspaces: dict[str, bool] = field(default_factory=dict)
    tfc_variables: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Per alarm, the states it changed to after it settled (the trace's alarm records).
    alarms: dict[str, list[str]] = field(default_factory=dict)


def alarm_states(trace: Trace) -> dict[str, list[str]]:
    """Per alarm, the states the trace saw it change to, in order."""
    out: dict[str, list[str]] = defaultdict(list)
    for r in trace.of(AlarmRecord):
        out[r.alarm].append(r.to)
    return dict(out)


def trace_observed(trace: Trace) -> Observed:
    """What the trace alone shows: each tenant's transitions and lifecycle events, the DLQ
    writes, the alarms' states."""
    obs = Observed()
    for r in trace.of(StatusRecord):
        obs.transitions[r.tenant].append(r.to)
    for e in trace.of(SnsRecord):
        if e.tenant_code:
            obs.events[e.tenant_code].append(e.event or "")
    obs.dlq = list(trace.of(DlqRecord))
    obs.flow_dlq = sum(1 for _ in trace.of(FlowDlqRecord))
    obs.alarms = alarm_states(trace)
    return obs


def observe(trace: Trace, run_ids: dict[str, set[str]], scenario: Scenario, tenant: Callable[[str], dict[str, Any] | None], fake: FakeTFC, org: str) -> Observed:
    """The trace's transitions, lifecycle events and DLQ writes per tenant; the runs TFC
    held (``run_ids`` by workspace name); each tenant's row (read through the API) and its
    workspace as TFC holds it."""
    obs = trace_observed(trace)
    for name, ids in run_ids.items():
        code = tenant_of_workspace(name)
        if code is not None:
            obs.tfc_runs[code] = len(ids)
    for code in sorted(set(obs.transitions) | set(scenario.expect.tenants)):
        row = tenant(code)
        if row is not None:
            obs.rows[code] = row
        with fake.lock:
            ws_id = fake.workspace_id_by_name(org, workspace_name(code))
            obs.workspaces[code] = ws_id is not None
            if ws_id is not None:
                obs.tfc_variables[code] = {
                    var.key: var.value for var in fake.workspaces[ws_id].variables.values()
                    if var.category is VariableCategory.TERRAFORM and not var.sensitive
                }
    return obs

