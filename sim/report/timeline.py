"""What happened to each tenant, derived from a trace's records alone: its status spans, its
flows (each with the states it visited and the TFC run statuses its Checks read) and the
moments worth a mark (requests, refusals, faults, retries, dead letters, lifecycle events).

The trace has no record per state: the states visited are read off the Lambda invocations
(``-trigger``, ``-check``, ``-finalize``). Trigger and Finalize carry the tenant; a Check's
input holds only the run id, so a Check is placed by the ``GET /api/v2/runs/<id>`` it made
(whose workspace names the tenant), and a Check that made no call (throttled) by the next
placed Check after it: its Retry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sim.controlplane.config import tenant_of_workspace
from sim.controlplane.statuses import IN_PROGRESS, TERMINAL, TenantStatus

from ..scenarios.trace import (
    AlarmRecord,
    ApiRecord,
    DdbRecord,
    DeliveryRecord,
    DlqRecord,
    FaultRecord,
    FlowDlqRecord,
    LambdaRecord,
    Record,
    SnsRecord,
    StatusRecord,
    StepRecord,
    TfcRecord,
)

_RUN_READ = re.compile(r"^/api/v2/runs/(run-[^/]+)$")
_TENANT_PATH = re.compile(r"^/tenants/([^/?]+)")
ACTION_OF = {TenantStatus.CREATING.value: "create", TenantStatus.UPDATING.value: "update", TenantStatus.DELETING.value: "delete"}
STATES = ("Trigger", "Check", "Finalize")


@dataclass(frozen=True)
class Mark:
    """A moment worth showing: ``kind`` says what (see :data:`MARK_KINDS`), ``label`` is
    one line, ``details`` what a click shows."""

    t: float
    kind: str
    label: str
    tenant: str | None
    details: dict[str, Any]
    seq: int = 0


#: Every kind of mark: its legend text, a short name, and whether it is a problem.
MARK_KINDS: dict[str, tuple[str, str, bool]] = {
    "api": ("API request accepted", "request", False),
    "refused": ("API request refused (4xx/5xx)", "refused request", True),
    "step": ("scenario step (TFC behaviour, variable edited, faults cleared)", "step", False),
    "fault": ("fault injected by the scenario", "fault injected", True),
    "fault_fired": ("fault fired (DynamoDB conflict)", "fault fired", True),
    "tfc_fault": ("TFC answered an error (fault or limit)", "TFC error", True),
    "retry": ("Task retried (Lambda error or throttle)", "Task retry", True),
    "delivery_retry": ("EventBridge delivery retried", "EventBridge retry", True),
    "ddb_refused": ("DynamoDB write refused", "DynamoDB refusal", True),
    "lifecycle": ("lifecycle event on SNS", "lifecycle event", False),
    "dlq": ("event dead-lettered (DLQ)", "dead letter", True),
    "flow_dlq": ("flow state sent to the flow DLQ", "flow DLQ", True),
    "decommission": ("daily decommission run", "decommission run", False),
    "alarm": ("CloudWatch alarm fired (to ALARM)", "alarm fired", True),
    "alarm_clear": ("CloudWatch alarm cleared (back to OK)", "alarm cleared", False),
}


def is_problem(kind: str) -> bool:
    return MARK_KINDS[kind][2]


@dataclass
class Visit:
    """One invocation of a flow's Lambda state; ``attempt`` > 1 is a Retry."""

    state: str
    started: float
    ended: float
    attempt: int
    seq: int
    error: str | None = None
    run_status: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Flow:
    tenant: str
    request_id: str | None
    status: str
    start: float
    start_seq: int
    end: float | None = None
    outcome: str = "in progress"
    actor: str = "api"
    last_error: str | None = None
    event: str | None = None
    visits: list[Visit] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    execution: str | None = None

    @property
    def action(self) -> str:
        return ACTION_OF.get(self.status, self.status)

    @property
    def polls(self) -> int:
        return sum(1 for v in self.visits if v.state == "Check" and v.ok)

    @property
    def run_statuses(self) -> list[str]:
        """The run statuses the Checks read, repeats collapsed."""
        out: list[str] = []
        for v in self.visits:
            if v.run_status and (not out or out[-1] != v.run_status):
                out.append(v.run_status)
        return out

    @property
    def failed(self) -> bool:
        return self.outcome not in (TenantStatus.READY.value, TenantStatus.DELETED.value, "in progress")


@dataclass
class Span:
    status: str
    start: float
    end: float
    request_id: str | None
    last_error: str | None


@dataclass
class Lane:
    tenant: str
    spans: list[Span] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)

    @property
    def final(self) -> str:
        return self.spans[-1].status if self.spans else "(no row)"

    @property
    def troubled(self) -> bool:
        return any(f.failed for f in self.flows) or any(is_problem(m.kind) for m in self.marks)


@dataclass
class Timeline:
    end: float
    lanes: dict[str, Lane]
    #: Marks of no one tenant: the daily schedule, faults on every workspace, cleared faults.
    system: list[Mark]
    executions: int
    #: Check invocations no flow could be found for (counted in the graph, drawn nowhere).
    unplaced_checks: int = 0

    @property
    def flows(self) -> list[Flow]:
        return [f for lane in self.lanes.values() for f in lane.flows]

    def marks(self) -> Iterable[Mark]:
        yield from self.system
        for lane in self.lanes.values():
            yield from lane.marks


def _short(function: str) -> str:
    return function.rsplit("-", 1)[-1]


def _tenant_of_path(path: str) -> str | None:
    m = _TENANT_PATH.match(path)
    return m.group(1) if m else None


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != ""}


class _Builder:
    def __init__(self, records: list[Record], end: float | None) -> None:
        self.records = records
        self.end = max([end or 0.0, *(r.t for r in records)])
        self.lanes: dict[str, Lane] = {}
        self.system: list[Mark] = []
        self.executions = 0
        self.unplaced = 0
        self._run_reads: list[TfcRecord] = []
        self._claimed: set[int] = set()
        self._unplaced_checks: list[LambdaRecord] = []
        self._placed_checks: list[tuple[LambdaRecord, Flow]] = []
        self._events: dict[str, str] = {}  # EventBridge event id -> tenant
        self._flows_with_event: set[int] = set()
        self._decommissions: list[LambdaRecord] = []

    def lane(self, code: str) -> Lane:
        if code not in self.lanes:
            self.lanes[code] = Lane(code)
        return self.lanes[code]

    def mark(self, t: float, kind: str, label: str, tenant: str | None, seq: int, /, **details: Any) -> None:
        m = Mark(t, kind, label, tenant, _drop_none(details), seq)
        (self.lane(tenant).marks if tenant else self.system).append(m)

    def flow_at(self, code: str, seq: int) -> Flow | None:
        """The tenant's latest flow begun before record ``seq`` (one flow at a time)."""
        lane = self.lanes.get(code)
        if lane is None:
            return None
        begun = [f for f in lane.flows if f.start_seq < seq]
        return begun[-1] if begun else None

    def build(self) -> Timeline:
        for r in self.records:
            handler = getattr(self, f"_{r.kind}", None)
            if handler is not None:
                handler(r)
        self._place_unplaced_checks()
        for lane in self.lanes.values():
            for i, span in enumerate(lane.spans):
                span.end = lane.spans[i + 1].start if i + 1 < len(lane.spans) else self.end
            for flow in lane.flows:
                if any(flow.tenant in (d.decommission or {}).get("deleting", []) and d.started <= flow.start <= d.t for d in self._decommissions):
                    flow.actor = "system (daily decommission)"
                flow.visits.sort(key=lambda v: (v.started, v.seq))
                self._number_attempts(flow)
        return Timeline(self.end, dict(sorted(self.lanes.items())), self.system, self.executions, self.unplaced)

    # ------------------------------------------------------------- records
    def _status(self, r: StatusRecord) -> None:
        lane = self.lane(r.tenant)
        if r.to is not None:
            lane.spans.append(Span(r.to, r.t, self.end, r.request_id, r.last_error))
        if r.to in IN_PROGRESS:
            lane.flows.append(Flow(r.tenant, r.request_id, r.to, r.t, r.seq))
        elif r.to in TERMINAL:
            flow = next((f for f in reversed(lane.flows) if f.request_id == r.request_id and f.end is None), None)
            if flow is not None:
                flow.end, flow.outcome, flow.last_error = r.t, r.to, r.last_error

    def _api(self, r: ApiRecord) -> None:
        code = r.tenant_code or _tenant_of_path(r.path)
        ok = r.status < 400
        answer = r.body.get("status") or r.body.get("error") or ""
        label = f"{r.method} {r.path} → {r.status}" + (f" {answer}" if answer else "")
        self.mark(
            r.t, "api" if ok else "refused", label, code, r.seq,
            method=r.method, path=r.path, status=r.status, answer=r.body.get("status"), error=r.body.get("error"),
            field=r.body.get("field"), request_id=r.request_id,
        )

    def _step(self, r: StepRecord) -> None:
        d = r.details
        if r.step == "fault":
            kind = d.get("fault")
            tenant = d.get("tenant")
            rule = d.get("rule") or {}
            ws = rule.get("workspace")
            if ws and not any(ch in ws for ch in "*?["):
                tenant = tenant_of_workspace(ws)
            what = {
                "tfc": lambda: f"TFC {rule.get('method', '*')} {rule.get('path', '*')} → "
                + ("dropped" if rule.get("drop") else f"{rule.get('status') or 'latency'}")
                + (f" ×{rule['count']}" if rule.get("count") else "")
                + (f" p={rule['probability']}" if rule.get("probability") else ""),
                "lambda": lambda: f"Lambda {d.get('function')} {d.get('effect')} ×{d.get('times')}",
                "start_execution": lambda: f"StartExecution refused for {d.get('action')} ({d.get('error')}"
                + (", every call)" if d.get("times") == -1 else f", ×{d.get('times')})"),
                "delete_state_machine": lambda: f"the {d.get('action')} state machine deleted",
                "dynamodb_conflict": lambda: f"a DynamoDB conflict armed for {d.get('tenant')}",
            }.get(str(kind), lambda: str(kind))()
            self.mark(r.t, "fault", f"fault: {what}", tenant, r.seq, **{k: str(v) for k, v in d.items()})
        elif r.step == "tfc":
            for code in d.get("tenants", []):
                self.mark(r.t, "step", "TFC behaviour changed", code, r.seq)
        elif r.step == "tfc_variable":
            self.mark(r.t, "step", f"variable {d.get('key')} edited in TFC", d.get("tenant"), r.seq, key=d.get("key"))
        else:
            self.mark(r.t, "step", r.step.replace("_", " "), None, r.seq)

    def _fault(self, r: FaultRecord) -> None:
        self.mark(r.t, "fault_fired", f"{r.fault} fired", r.tenant, r.seq, fault=r.fault)

    def _tfc(self, r: TfcRecord) -> None:
        if r.method == "GET" and _RUN_READ.match(r.path):
            self._run_reads.append(r)
        if r.fault or r.status == 429 or r.status >= 500:
            code = tenant_of_workspace(r.workspace) if r.workspace else None
            why = f" ({r.fault})" if r.fault else ""
            self.mark(r.t, "tfc_fault", f"TFC {r.method} {r.path} → {r.status}{why}", code, r.seq,
                      method=r.method, path=r.path, status=r.status, workspace=r.workspace, fault=r.fault)

    def _ddb(self, r: DdbRecord) -> None:
        if not r.ok:
            self.mark(r.t, "ddb_refused", f"DynamoDB {r.op} refused: {r.error}", r.tenant, r.seq,
                      op=r.op, error=r.error, status=r.status, request_id=r.request_id)

    def _sns(self, r: SnsRecord) -> None:
        code = r.tenant_code
        self.mark(r.t, "lifecycle", r.event or "(event)", code, r.seq, event=r.event, status=r.status, reason=r.reason, request_id=r.request_id)
        if code:
            flow = self.flow_at(code, r.seq)
            if flow is not None and flow.request_id == r.request_id:
                flow.event = r.event

    def _dlq(self, r: DlqRecord) -> None:
        self.mark(
            r.t, "dlq", f"dead-lettered: {r.error_code}" + (f" ({r.exhausted})" if r.exhausted else ""), r.tenant, r.seq,
            queue=r.queue, error_code=r.error_code, exhausted=r.exhausted, retry_attempts=r.retry_attempts,
            action=r.action, request_id=r.request_id,
        )
        if r.tenant:
            flow = self.flow_at(r.tenant, r.seq)
            if flow is not None and flow.request_id == r.request_id and flow.end is None:
                flow.end, flow.outcome = r.t, "dead-lettered"
                flow.last_error = f"event dead-lettered: {r.error_code}"

    def _alarm(self, r: AlarmRecord) -> None:
        kind = "alarm" if r.to == "ALARM" else "alarm_clear"
        self.mark(r.t, kind, f"alarm {r.alarm}: {r.from_} -> {r.to}", None, r.seq, alarm=r.alarm, old=r.from_, new=r.to)

    def _flow_dlq(self, r: FlowDlqRecord) -> None:
        self.mark(r.t, "flow_dlq", f"flow DLQ: {r.error}", r.tenant, r.seq, error=r.error, request_id=r.request_id)
        if r.tenant:
            flow = next((f for f in reversed(self.lane(r.tenant).flows) if f.request_id == r.request_id), None)
            if flow is not None and flow.end is None:
                last = max((v.ended for v in flow.visits), default=r.t)
                flow.end, flow.outcome = last, "flow DLQ"
                flow.last_error = f"Finalize failed for good: {r.error}"

    def _delivery(self, r: DeliveryRecord) -> None:
        if r.rule.endswith("decommission-daily"):
            return  # shown by the decommission run itself
        code = self._events.get(r.event_id)
        if code is None:
            code = self._claim_delivery(r)
        if r.outcome == "started":
            self.executions += 1
            flow = self.flow_at(code, r.seq) if code else None
            if flow is not None and flow.execution is None:
                flow.execution = r.detail
        elif r.outcome == "retry":
            self.mark(r.t, "delivery_retry", f"EventBridge retry: {r.detail}", code, r.seq, rule=r.rule, event_id=r.event_id, detail=r.detail)

    def _claim_delivery(self, r: DeliveryRecord) -> str | None:
        """A new event's tenant: the flow most recently begun that no event was placed on."""
        for flow in sorted(self._open_flows(r.seq), key=lambda f: f.start_seq, reverse=True):
            if id(flow) not in self._flows_with_event:
                self._flows_with_event.add(id(flow))
                self._events[r.event_id] = flow.tenant
                return flow.tenant
        return None

    def _open_flows(self, seq: int) -> list[Flow]:
        return [f for lane in self.lanes.values() for f in lane.flows if f.start_seq < seq and f.end is None]

    def _lambda(self, r: LambdaRecord) -> None:
        kind = _short(r.function)
        if kind == "decommission":
            self._decommissions.append(r)
            d = r.decommission or {}
            parts = [f"deleting {', '.join(d['deleting'])}" if d.get("deleting") else "",
                     f"skipped mid-flow {', '.join(d['skipped_mid_flow'])}" if d.get("skipped_mid_flow") else "",
                     f"errors {', '.join(d['errors'])}" if d.get("errors") else ""]
            summary = "; ".join(p for p in parts if p) or "nothing due"
            self.mark(r.t, "decommission", f"daily decommission ({d.get('date', '?')}): {summary}", None, r.seq,
                      date=d.get("date"), deleting=", ".join(d.get("deleting") or []),
                      skipped_mid_flow=", ".join(d.get("skipped_mid_flow") or []), errors=d.get("errors") or None)
            return
        state = {"trigger": "Trigger", "check": "Check", "finalize": "Finalize"}.get(kind)
        if state is None:
            return  # the API function: its requests are marked as such
        error = "throttled" if r.throttled else r.error
        visit = Visit(state, r.started, r.t, 1, r.seq, error, r.run_status)
        code, seq = r.tenant, r.seq
        run_id = None
        if state == "Check":
            read = self._claim_run_read(r)
            if read is None:
                self._unplaced_checks.append(r)
                return
            code = tenant_of_workspace(read.workspace or "")
            seq = read.seq
            m = _RUN_READ.match(read.path)
            run_id = m.group(1) if m else None
        flow = self.flow_at(code, seq) if code else None
        if flow is None:
            self.unplaced += state == "Check"
            return
        flow.visits.append(visit)
        if run_id and run_id not in flow.run_ids:
            flow.run_ids.append(run_id)
        if state == "Check":
            self._placed_checks.append((r, flow))
        if error:
            self.mark(r.t, "retry", f"{state} {'throttled' if r.throttled else 'failed: ' + str(r.error)}", flow.tenant, r.seq,
                      function=r.function, invocation=r.n, error=r.error, throttled=r.throttled)

    def _claim_run_read(self, r: LambdaRecord) -> TfcRecord | None:
        """The latest unclaimed run read made during this Check (an earlier one may be a
        read another Check made while this one was parked in a retry sleep)."""
        for read in reversed(self._run_reads):
            if read.seq in self._claimed or read.seq > r.seq:
                continue
            if r.started <= read.t <= r.t:
                self._claimed.add(read.seq)
                return read
            if read.t < r.started:
                break
        return None

    def _place_unplaced_checks(self) -> None:
        placed = sorted(self._placed_checks, key=lambda p: (p[0].started, p[0].seq))
        for r in self._unplaced_checks:
            after = next((flow for rec, flow in placed if rec.started > r.started), None)
            if after is None:
                self.unplaced += 1
                continue
            error = "throttled" if r.throttled else r.error
            after.visits.append(Visit("Check", r.started, r.t, 1, r.seq, error, r.run_status))
            if error:
                self.mark(r.t, "retry", f"Check {'throttled' if r.throttled else 'failed: ' + str(r.error)}", after.tenant, r.seq,
                          function=r.function, invocation=r.n, error=r.error, throttled=r.throttled)

    @staticmethod
    def _number_attempts(flow: Flow) -> None:
        """Attempt numbers per state: a failed visit followed by a visit of the same state is retried."""
        previous: Visit | None = None
        for v in flow.visits:
            v.attempt = previous.attempt + 1 if previous is not None and previous.state == v.state and not previous.ok else 1
            previous = v


def build_timeline(records: list[Record], end: float | None = None) -> Timeline:
    """``end``: simulated seconds the run lasted (default: its last record)."""
    return _Builder(records, end).build()
