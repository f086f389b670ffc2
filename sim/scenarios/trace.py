"""The trace: one ordered log of everything a scenario run did, each record typed and stamped
with its simulated time. JSON Lines; the first line carries the scenario text and the seed,
so that ``python -m sim replay`` can run it again and compare, record by record.

Records are written with sorted keys and no wall-clock values, so the same scenario and
seed give a byte-identical file. Each record kind is a dataclass below; a field marked
``OMIT`` is left out of the JSON when it is ``None`` (it is absent, not null, in the file).
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

TRACE_VERSION = 1

#: Field metadata: leave the key out of the JSON when the value is None.
OMIT = {"omit_none": True}


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(kw_only=True)
class Record:
    """What every record has: its place in the trace and its simulated time (seconds since
    the scenario's start). Both are set by :meth:`Trace.add`."""

    kind: ClassVar[str]
    seq: int = 0
    t: float = 0.0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.metadata.get("omit_none"):
                continue
            out[f.metadata.get("json", f.name)] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        names = {f.metadata.get("json", f.name): f.name for f in dataclasses.fields(cls)}
        return cls(**{names[k]: v for k, v in data.items() if k in names})


@dataclass(kw_only=True)
class ApiRecord(Record):
    """A REST API call a scenario step made, with the response fields that matter."""

    kind: ClassVar[str] = "api"
    KEPT: ClassVar[tuple[str, ...]] = ("tenant_code", "status", "request_id", "decommission_date", "error", "field", "message")
    method: str
    path: str
    status: int
    #: The kept response fields present in the body (``body_<name>`` in the JSON).
    body: dict[str, Any] = field(default_factory=dict)
    #: The answer was a replay of an earlier one (``Idempotent-Replayed: true``); only
    #: written when true.
    replayed: bool = False

    @classmethod
    def of(cls, method: str, path: str, status: int, body: Any, headers: dict[str, str] | None = None) -> ApiRecord:
        kept = {k: body[k] for k in cls.KEPT if k in body} if isinstance(body, dict) else {}
        replayed = any(k.lower() == "idempotent-replayed" and v == "true" for k, v in (headers or {}).items())
        return cls(method=method, path=path, status=status, body=kept, replayed=replayed)

    def to_json(self) -> dict[str, Any]:
        out = {"kind": self.kind, "seq": self.seq, "t": self.t, "method": self.method, "path": self.path, "status": self.status}
        if self.replayed:
            out["replayed"] = True
        return out | {f"body_{k}": v for k, v in self.body.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        body = {k.removeprefix("body_"): v for k, v in data.items() if k.startswith("body_")}
        return cls(
            seq=data["seq"], t=data["t"], method=data["method"], path=data["path"], status=data["status"], body=body,
            replayed=bool(data.get("replayed", False)),
        )

    @property
    def request_id(self) -> str | None:
        return self.body.get("request_id")

    @property
    def tenant_code(self) -> str | None:
        return self.body.get("tenant_code")


@dataclass(kw_only=True)
class StepRecord(Record):
    """A scenario step that is not an API call (a TFC script, a fault, a variable edited in TFC)."""

    kind: ClassVar[str] = "step"
    step: str
    #: What the step did, flattened into the record's JSON.
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "seq": self.seq, "t": self.t, "step": self.step, **self.details}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        details = {k: v for k, v in data.items() if k not in ("kind", "seq", "t", "step")}
        return cls(seq=data["seq"], t=data["t"], step=data["step"], details=details)


@dataclass(kw_only=True)
class LambdaRecord(Record):
    """One Lambda invocation (``started``: simulated seconds since the start, when it began)."""

    kind: ClassVar[str] = "lambda"
    function: str
    n: int
    request_id: str
    started: float
    throttled: bool | None = field(default=None, metadata=OMIT)
    error: str | None = field(default=None, metadata=OMIT)
    tenant: str | None = field(default=None, metadata=OMIT)
    #: The decommission function's result: ``date``, ``deleting``, ``skipped_mid_flow``, ``errors``.
    decommission: dict[str, Any] | None = field(default=None, metadata=OMIT)
    #: The Check function's reading of the run.
    run_status: str | None = field(default=None, metadata=OMIT)


@dataclass(kw_only=True)
class DeliveryRecord(Record):
    """One EventBridge delivery attempt to a rule target."""

    kind: ClassVar[str] = "delivery"
    rule: str
    target: str
    event_id: str
    outcome: str
    detail: str | None


@dataclass(kw_only=True)
class TfcRecord(Record):
    """A call the fake TFC answered (``fault``: the injected fault, if any)."""

    kind: ClassVar[str] = "tfc"
    method: str
    path: str
    status: int
    workspace: str | None
    fault: str | None


@dataclass(kw_only=True)
class FaultRecord(Record):
    """A fault the simulator made happen at this moment (not a step: it fired)."""

    kind: ClassVar[str] = "fault"
    fault: str
    tenant: str | None


@dataclass(kw_only=True)
class DdbRecord(Record):
    """A tenant-row write to DynamoDB, successful or refused."""

    kind: ClassVar[str] = "ddb"
    op: str
    tenant: str | None
    status: str | None
    request_id: str | None
    ok: bool
    error: str | None


@dataclass(kw_only=True)
class StatusRecord(Record):
    """A tenant's status changed, or a new flow began in the same status."""

    kind: ClassVar[str] = "status"
    tenant: str
    from_: str | None = field(metadata={"json": "from"})
    to: str | None
    request_id: str | None
    last_error: str | None
    #: The API undid a request it then answered 503 for: the row went back to what it was.
    rollback: bool | None = field(default=None, metadata=OMIT)


@dataclass(kw_only=True)
class SnsRecord(Record):
    """A lifecycle event published on the topic."""

    kind: ClassVar[str] = "sns"
    event: str | None
    tenant_code: str | None
    request_id: str | None
    status: str | None
    reason: str | None

    @classmethod
    def of(cls, message: dict[str, Any]) -> SnsRecord:
        g = message.get
        return cls(event=g("event"), tenant_code=g("tenant_code"), request_id=g("request_id"), status=g("status"), reason=g("reason"))


@dataclass(kw_only=True)
class DlqRecord(Record):
    """An event EventBridge dead-lettered, with the DLQ message's attributes."""

    kind: ClassVar[str] = "dlq"
    queue: str
    error_code: str | None
    exhausted: str | None
    retry_attempts: int
    tenant: str | None
    request_id: str | None
    action: str | None


@dataclass(kw_only=True)
class FlowDlqRecord(Record):
    """An execution's state left in the flow DLQ after Finalize failed for good."""

    kind: ClassVar[str] = "flow_dlq"
    tenant: str | None
    request_id: str | None
    error: str | None

    @classmethod
    def of_message(cls, body: str) -> FlowDlqRecord:
        state = json.loads(body)
        detail = state.get("detail", {})
        return cls(tenant=detail.get("tenant_code"), request_id=detail.get("request_id"), error=(state.get("finalize_error") or {}).get("Error"))


@dataclass(kw_only=True)
class AlarmRecord(Record):
    """A CloudWatch alarm of the stack changed state. An alarm's first evaluation, out of
    INSUFFICIENT_DATA into OK (every alarm settles so after its first period), is not
    recorded: a trace shows an alarm only when something made it fire."""

    kind: ClassVar[str] = "alarm"
    alarm: str
    from_: str = field(metadata={"json": "from"})
    to: str


KINDS: dict[str, type[Record]] = {
    c.kind: c
    for c in (
        ApiRecord, StepRecord, LambdaRecord, DeliveryRecord, TfcRecord, FaultRecord, DdbRecord, StatusRecord, SnsRecord, DlqRecord,
        FlowDlqRecord, AlarmRecord,
    )
}

R = TypeVar("R", bound=Record)


def record_from_json(data: dict[str, Any]) -> Record:
    kind = data.get("kind")
    if kind not in KINDS:
        raise ValueError(f"unknown trace record kind {kind!r}")
    return KINDS[kind].from_json(data)


@dataclass
class Trace:
    """Records in order. ``start`` is the scenario's start as an epoch (simulated)."""

    start: float
    records: list[Record] = field(default_factory=list)
    #: Real engines report from several threads (the fake TFC's server, the poller).
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    #: Called with each record once it is added (a live console); never part of the file.
    listeners: list[Callable[[Record], None]] = field(default_factory=list, repr=False, compare=False)

    def add(self, now: float, record: R) -> R:
        with self._lock:
            record.seq = len(self.records) + 1
            record.t = round(now - self.start, 3)
            self.records.append(record)
        for listener in self.listeners:
            listener(record)
        return record

    def of(self, kind: type[R]) -> Iterator[R]:
        return (r for r in self.records if isinstance(r, kind))

    def lines(self) -> list[str]:
        return [dumps(r.to_json()) for r in self.records]

    def text(self, header: dict[str, Any]) -> str:
        """The trace file's content: the header line, then one line per record."""
        return "\n".join([dumps({"kind": "header", "version": TRACE_VERSION, **header}), *self.lines()]) + "\n"

    def write(self, path: str | Path, header: dict[str, Any]) -> None:
        Path(path).write_text(self.text(header), encoding="utf-8")


#: The largest trace read back (a 50-tenant scenario with faults writes a few MB).
MAX_TRACE_BYTES = 256 * 1024 * 1024


def read_trace(path: str | Path) -> tuple[dict[str, Any], list[str]]:
    """The header and the record lines of a trace file; ``ValueError`` naming what is wrong
    with a file that is not one (``OSError`` if it cannot be read)."""
    p = Path(path)
    if p.stat().st_size > MAX_TRACE_BYTES:
        raise ValueError(f"{path}: larger than {MAX_TRACE_BYTES} bytes")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    if not lines:
        raise ValueError(f"{path}: empty trace")
    try:
        header = json.loads(lines[0])
    except (ValueError, RecursionError):
        raise ValueError(f"{path}:1: the header is not JSON") from None
    if not isinstance(header, dict) or header.get("kind") != "header":
        raise ValueError(f"{path}: the first line is not a trace header")
    if header.get("version") != TRACE_VERSION:
        raise ValueError(f"{path}: trace version {str(header.get('version'))[:20]}, this tool reads {TRACE_VERSION}")
    for key, kind in (("text", str), ("seed", int), ("scenario", str)):
        if not isinstance(header.get(key), kind) or isinstance(header.get(key), bool):
            raise ValueError(f"{path}:1: the header's {key!r} is missing or not a {kind.__name__}")
    return header, lines[1:]
