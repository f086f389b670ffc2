"""A served embedded backend (``python -m sim up``), observed and driven: every seam writes to a
trace (the same recorder a scenario has), which feeds the console's :class:`Board` and the
report of the run so far; the clock can be paused, resumed, rescaled and advanced; faults
can be injected as a scenario would, plus PutEvents failures."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sim.engines.embedded.environment import EmbeddedBackend
from sim.engines.gateway import ApiResponse

from ..scenarios.embedded_stage import EmbeddedStage
from ..scenarios.model import Fault
from ..scenarios.observe import TfcWatch
from ..scenarios.trace import ApiRecord, FaultRecord, StepRecord
from .board import Board


class PutEventsFaultSpec(BaseModel):
    """PutEvents answers every entry failed (the API retries, then answers 503 and rolls back)."""

    model_config = ConfigDict(extra="forbid")
    times: int = Field(default=1, ge=-1, description="how many PutEvents calls fail; -1: every call")
    error_code: str = "InternalFailure"


@dataclass
class _PutEventsFault:
    times: int
    error_code: str
    fired: int = 0

    @property
    def live(self) -> bool:
        return self.times < 0 or self.fired < self.times


class _Answer:
    """The HTTP side of a short-circuited botocore call: a 200 whose body says every entry failed."""

    status_code = 200
    headers: dict[str, str] = {}
    content = b""


class LiveRun:
    def __init__(self, env: EmbeddedBackend, *, time_scale: float, paused: bool) -> None:
        self.env = env
        self.stage = EmbeddedStage(None, env.config.seed, env=env)
        self.trace = self.stage.trace
        self.board = Board()
        self.trace.listeners.append(self.board)
        self.time_scale = time_scale
        self.paused = paused
        self.put_events: list[_PutEventsFault] = []
        self._lock = threading.Lock()
        self._tfc: TfcWatch | None = None
        #: Where each server listens (set once serving): what a test suite connecting to
        #: ``sim up`` reads from ``GET /_sim/endpoints``.
        self.endpoints: dict[str, str] = {}

    def start(self) -> None:
        """Observe the started backend and let its clock run (unless paused)."""
        self.stage.attach()
        self._tfc = TfcWatch(self.env.fake, self.trace)
        # EventBridge's service id in botocore's event names is "eventbridge".
        self.env.client("events").meta.events.register("before-call.eventbridge.PutEvents", self._put_events)
        if not self.paused:
            self.env.clock.start_pacer(self.time_scale)

    # ------------------------------------------------------------- what happened
    def api_seen(self, method: str, path: str, resp: ApiResponse) -> None:
        self.trace.add(self.env.clock.now(), ApiRecord.of(method, path, resp.status, resp.body))

    # ------------------------------------------------------------- the clock
    def clock_state(self) -> dict[str, Any]:
        from datetime import datetime, timezone

        now = self.env.clock.now()
        return {
            "now": now,
            "time": datetime.fromtimestamp(now, timezone.utc).isoformat().replace("+00:00", "Z"),
            "elapsed": round(now - self.env.config.start, 3),
            "paused": self.paused,
            "time_scale": self.time_scale,
        }

    def pause(self) -> None:
        with self._lock:
            if not self.paused:
                self.env.clock.stop_pacer()
                self.paused = True

    def resume(self) -> None:
        with self._lock:
            if self.paused:
                self.env.clock.start_pacer(self.time_scale)
                self.paused = False

    def set_time_scale(self, scale: float) -> None:
        if scale <= 0:
            raise ValueError("time_scale must be positive")
        with self._lock:
            self.time_scale = scale
            if not self.paused:
                self.env.clock.time_scale = scale  # the pacer reads it on every tick

    def advance(self, seconds: float) -> None:
        self.env.clock.advance(seconds)

    # ------------------------------------------------------------- faults
    def inject(self, fault: Fault | PutEventsFaultSpec) -> dict[str, Any]:
        if isinstance(fault, PutEventsFaultSpec):
            with self._lock:
                self.put_events.append(_PutEventsFault(fault.times, fault.error_code))
            details: dict[str, Any] = {"fault": "put_events", "times": fault.times, "error_code": fault.error_code}
        else:
            details = self.stage.inject(fault)
        self.trace.add(self.env.clock.now(), StepRecord(step="fault", details=details))
        return details

    def clear_faults(self) -> None:
        self.stage.clear_faults()
        with self._lock:
            self.put_events.clear()
        self.trace.add(self.env.clock.now(), StepRecord(step="clear_faults"))

    def faults(self) -> dict[str, Any]:
        f = self.env.faults
        return {
            "lambda": [{**asdict(x), "kind": x.kind.value, "on_invocations": sorted(x.on_invocations or [])} for x in f.lambdas],
            "start_execution": [asdict(x) for x in f.start_execution],
            "put_events": [asdict(x) for x in self.put_events],
            "dynamodb_conflict": sorted(self.stage.conflicts),
            "tfc": self.env.fake.faults.rules(),
        }

    def _put_events(self, params: dict[str, Any], **_: Any) -> tuple[_Answer, dict[str, Any]] | None:
        with self._lock:
            fault = next((f for f in self.put_events if f.live), None)
            if fault is None:
                return None
            fault.fired += 1
        # before-call is given the serialized request: the entries are in its JSON body.
        try:
            entries = json.loads(params.get("body") or b"{}").get("Entries") or [{}]
            tenant = json.loads(entries[0].get("Detail") or "{}").get("tenant_code")
        except (ValueError, AttributeError):
            entries, tenant = [{}], None
        self.trace.add(self.env.clock.now(), FaultRecord(fault="put_events", tenant=tenant))
        failed = [{"ErrorCode": fault.error_code, "ErrorMessage": "injected by tenant-sim"} for _ in entries]
        return _Answer(), {"FailedEntryCount": len(entries), "Entries": failed}
