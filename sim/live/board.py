"""What ``sim up``'s console shows, kept up to date from the trace as records arrive: a row per
tenant (status, the state its flow is in, since when, its last event) and one
:class:`Line` per API request, flow end, dead letter and fault."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

from sim.controlplane.config import tenant_of_workspace
from sim.controlplane.statuses import IN_PROGRESS, TERMINAL

from ..report.axis import duration
from ..scenarios.trace import AlarmRecord, ApiRecord, DlqRecord, FaultRecord, FlowDlqRecord, LambdaRecord, Record, SnsRecord, StatusRecord, StepRecord, TfcRecord

_RUN_READ = re.compile(r"^/api/v2/runs/run-[^/]+$")
ACTION_OF = {"creating": "create", "updating": "update", "deleting": "delete"}


@dataclass
class Row:
    status: str | None = None
    state: str = ""
    flow_started: float | None = None
    action: str = ""
    last_event: str = ""
    last_at: float = 0.0


@dataclass(frozen=True)
class Line:
    """One thing worth a line of its own: ``kind`` is api, flow_end, dlq, flow_dlq, fault or decommission."""

    t: float
    kind: str
    tenant: str | None
    text: str
    fields: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"t": self.t, "kind": self.kind, "tenant": self.tenant, "text": self.text, **self.fields}


@dataclass
class Board:
    rows: dict[str, Row] = field(default_factory=dict)
    lines: list[Line] = field(default_factory=list)
    _reader: str | None = None  # the tenant whose run a Check just read
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take_lines(self) -> list[Line]:
        with self._lock:
            out, self.lines = self.lines, []
            return out

    def snapshot(self) -> dict[str, Row]:
        with self._lock:
            return {code: Row(**vars(row)) for code, row in sorted(self.rows.items())}

    def __call__(self, r: Record) -> None:
        with self._lock:
            self._see(r)

    def _row(self, code: str) -> Row:
        return self.rows.setdefault(code, Row())

    def _line(self, r: Record, kind: str, tenant: str | None, text: str, **fields: Any) -> None:
        self.lines.append(Line(r.t, kind, tenant, text, fields))

    def _event(self, code: str, t: float, text: str) -> None:
        row = self._row(code)
        row.last_event, row.last_at = text, t

    def _see(self, r: Record) -> None:
        if isinstance(r, ApiRecord):
            code = r.tenant_code or (r.path.split("/")[2] if r.path.startswith("/tenants/") else None)
            answer = r.body.get("status") or r.body.get("error") or ""
            who = f" ({code})" if code and r.method == "POST" else ""
            self._line(r, "api", code, f"{r.method} {r.path}{who} -> {r.status} {answer}".rstrip(),
                       method=r.method, path=r.path, status=r.status, answer=answer)
            if code and r.status < 400 and r.method != "GET":
                self._event(code, r.t, f"{r.method} -> {r.status}")
        elif isinstance(r, StatusRecord):
            row = self._row(r.tenant)
            if r.to in IN_PROGRESS:
                row.status, row.state, row.flow_started, row.action = r.to, "Trigger", r.t, ACTION_OF.get(r.to or "", "")
            elif r.to in TERMINAL:
                took = duration(r.t - row.flow_started) if row.flow_started is not None else "?"
                text = f"{r.tenant}: {row.action or 'flow'} ended {r.to} after {took}" + (f" ({r.last_error})" if r.last_error else "")
                self._line(r, "flow_end", r.tenant, text, action=row.action, status=r.to, last_error=r.last_error)
                row.status, row.state, row.flow_started = r.to, "", None
                self._event(r.tenant, r.t, f"-> {r.to}")
        elif isinstance(r, TfcRecord):
            if r.method == "GET" and _RUN_READ.match(r.path) and r.workspace:
                self._reader = tenant_of_workspace(r.workspace)
            if r.fault:
                code = tenant_of_workspace(r.workspace) if r.workspace else None
                self._line(r, "fault", code, f"TFC fault {r.fault}: {r.method} {r.path} -> {r.status}", fault=r.fault, status=r.status)
        elif isinstance(r, LambdaRecord):
            self._lambda(r)
        elif isinstance(r, SnsRecord) and r.tenant_code:
            self._event(r.tenant_code, r.t, r.event or "event")
        elif isinstance(r, DlqRecord):
            text = f"DLQ: {r.tenant} {r.action} event, {r.error_code} after {r.retry_attempts} retries" + (f" ({r.exhausted})" if r.exhausted else "")
            self._line(r, "dlq", r.tenant, text, error_code=r.error_code, action=r.action, retry_attempts=r.retry_attempts)
            if r.tenant:
                self._row(r.tenant).state = "dead-lettered"
                self._event(r.tenant, r.t, f"DLQ {r.error_code}")
        elif isinstance(r, FlowDlqRecord):
            self._line(r, "flow_dlq", r.tenant, f"flow DLQ: {r.tenant} ({r.error})", error=r.error)
        elif isinstance(r, FaultRecord):
            self._line(r, "fault", r.tenant, f"fault fired: {r.fault} ({r.tenant})", fault=r.fault)
        elif isinstance(r, AlarmRecord):
            self._line(r, "alarm", None, f"alarm {r.alarm}: {r.from_} -> {r.to}", alarm=r.alarm, old=r.from_, new=r.to)
        elif isinstance(r, StepRecord) and r.step in ("fault", "clear_faults"):
            details = {k: v for k, v in r.details.items()}
            self._line(r, "fault", None, f"{r.step.replace('_', ' ')}: " + ", ".join(f"{k}={v}" for k, v in sorted(details.items())), **details)

    def _lambda(self, r: LambdaRecord) -> None:
        kind = r.function.rsplit("-", 1)[-1]
        failed = "throttled" if r.throttled else r.error
        code = r.tenant if kind != "check" else self._reader
        if kind == "decommission" and r.decommission and r.decommission.get("deleting"):
            self._line(r, "decommission", None, f"daily decommission: deleting {', '.join(r.decommission['deleting'])}", deleting=r.decommission["deleting"])
        if code is None or kind not in ("trigger", "check", "finalize"):
            return
        row = self._row(code)
        if failed:
            row.state = f"{kind.capitalize()} retrying ({failed})"
        elif kind == "trigger":
            row.state = "Wait"
        elif kind == "check":
            row.state = f"Wait (run {r.run_status})" if r.run_status else "Wait"
        elif kind == "finalize" and row.status in IN_PROGRESS:
            row.state = "Finalize"
