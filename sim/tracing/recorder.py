"""A span recorder behind the OpenTelemetry API, for the simulator.

The control plane makes its spans through the OpenTelemetry API; a simulator hands it a
:class:`SpanRecorder` as its tracer provider. Spans are stamped with the simulator's clock
(simulated time, not the wall's) and their ids come from a seeded random stream, so the
same scenario and seed give the same spans, ids and timestamps included.

Not the SDK: the SDK takes its timestamps from the wall clock and its ids from the
system's entropy; a recorder of this size is simpler than bending both.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, Tracer, TracerProvider
from opentelemetry.util import types


def _ns(seconds: float) -> int:
    """Epoch seconds as nanoseconds, to the microsecond (a float of an epoch holds no
    more; rounding keeps the digits below it zero, not noise)."""
    return round(seconds * 1_000_000) * 1000


@dataclass
class RecordedSpan:
    """One span as recorded: what OTLP exports."""

    name: str
    scope: str
    context: SpanContext
    parent: SpanContext | None
    kind: SpanKind
    start: int
    end: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    status: StatusCode = StatusCode.UNSET
    status_message: str | None = None
    events: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)

    @property
    def trace_id(self) -> str:
        return format(self.context.trace_id, "032x")

    @property
    def span_id(self) -> str:
        return format(self.context.span_id, "016x")

    @property
    def parent_span_id(self) -> str | None:
        return None if self.parent is None else format(self.parent.span_id, "016x")


class SpanRecorder(TracerProvider):
    """A tracer provider that keeps every span it makes, in the order they start.

    ``now``: the clock (epoch seconds; the simulator's). ``seed``: the ids' random stream."""

    def __init__(self, now: Callable[[], float], seed: int | str = 0, service: str = "tenant-sim") -> None:
        self._now = now
        self._ids = random.Random(f"{seed}:trace-ids")
        self._lock = threading.Lock()
        self.service = service
        self.spans: list[RecordedSpan] = []

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: types.Attributes = None,
    ) -> Tracer:
        return _Tracer(self, instrumenting_module_name)

    def now_ns(self) -> int:
        return _ns(self._now())

    def _new_ids(self, parent: SpanContext | None) -> tuple[int, int]:
        with self._lock:
            trace_id = parent.trace_id if parent is not None else self._ids.getrandbits(128) or 1
            return trace_id, self._ids.getrandbits(64) or 1

    def _started(self, span: RecordedSpan) -> None:
        with self._lock:
            self.spans.append(span)

    def finished(self) -> list[RecordedSpan]:
        """The spans that ended, in the order they started."""
        with self._lock:
            return [s for s in self.spans if s.end is not None]

    def drain(self) -> list[RecordedSpan]:
        """The spans that ended, in the order they started, forgotten once returned (what
        an exporter sends; a long ``sim up`` does not keep them all)."""
        with self._lock:
            ended = [s for s in self.spans if s.end is not None]
            self.spans = [s for s in self.spans if s.end is None]
            return ended

    def traces(self) -> dict[str, list[RecordedSpan]]:
        """The ended spans by trace id."""
        out: dict[str, list[RecordedSpan]] = {}
        for s in self.finished():
            out.setdefault(s.trace_id, []).append(s)
        return out


class _Tracer(Tracer):
    def __init__(self, recorder: SpanRecorder, scope: str) -> None:
        self._recorder = recorder
        self._scope = scope

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        parent = trace.get_current_span(context).get_span_context()
        parent_context = parent if parent.is_valid else None
        trace_id, span_id = self._recorder._new_ids(parent_context)
        ctx = SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
        recorded = RecordedSpan(
            name=name, scope=self._scope, context=ctx, parent=parent_context, kind=kind,
            start=start_time if start_time is not None else self._recorder.now_ns(), attributes=dict(attributes or {}),
        )
        self._recorder._started(recorded)
        return _Span(recorded, self._recorder)

    # A plain context manager: the API's own decorator (``_agnosticcontextmanager``) is private.
    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[trace.Span]:
        span = self.start_span(name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception)
        with trace.use_span(
            span, end_on_exit=end_on_exit, record_exception=record_exception, set_status_on_exception=set_status_on_exception
        ) as current:
            yield current


class _Span(trace.Span):
    def __init__(self, recorded: RecordedSpan, recorder: SpanRecorder) -> None:
        self._r = recorded
        self._recorder = recorder

    def end(self, end_time: int | None = None) -> None:
        if self._r.end is None:
            self._r.end = end_time if end_time is not None else self._recorder.now_ns()

    def get_span_context(self) -> SpanContext:
        return self._r.context

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        if self._r.end is None:
            self._r.attributes.update(attributes)

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        if self._r.end is None:
            self._r.attributes[key] = value

    def add_event(self, name: str, attributes: types.Attributes = None, timestamp: int | None = None) -> None:
        if self._r.end is None:
            self._r.events.append((name, timestamp if timestamp is not None else self._recorder.now_ns(), dict(attributes or {})))

    def update_name(self, name: str) -> None:
        if self._r.end is None:
            self._r.name = name

    def is_recording(self) -> bool:
        return self._r.end is None

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self._r.end is not None:
            return
        if isinstance(status, Status):
            self._r.status, self._r.status_message = status.status_code, status.description
        else:
            self._r.status, self._r.status_message = status, description

    def record_exception(
        self, exception: BaseException, attributes: types.Attributes = None, timestamp: int | None = None, escaped: bool = False
    ) -> None:
        # The type only: an exception's message may quote what it was handed.
        self.add_event("exception", {"exception.type": type(exception).__name__, **dict(attributes or {})}, timestamp)
