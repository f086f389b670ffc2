"""Recorded spans as OTLP/JSON: the JSON mapping of ``ExportTraceServiceRequest``
(opentelemetry-proto, ``collector/trace/v1``), which an OTLP/HTTP collector takes at
``/v1/traces`` with ``Content-Type: application/json``.

The mapping's rules (OTLP specification, "JSON Protobuf Encoding"): trace and span ids
are lowercase hex, not base64; 64-bit integers (the timestamps, ``intValue``) are decimal
strings; enums (``kind``, ``status.code``) are their integer values; field names are
lowerCamelCase; a field at its default is left out.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.trace import SpanKind, StatusCode

from .recorder import RecordedSpan, SpanRecorder

#: ``SpanKind`` in the proto counts from SPAN_KIND_UNSPECIFIED = 0; the API's from INTERNAL = 0.
_KIND = {
    SpanKind.INTERNAL: 1,
    SpanKind.SERVER: 2,
    SpanKind.CLIENT: 3,
    SpanKind.PRODUCER: 4,
    SpanKind.CONSUMER: 5,
}
_STATUS = {StatusCode.UNSET: 0, StatusCode.OK: 1, StatusCode.ERROR: 2}


def any_value(value: Any) -> dict[str, Any]:
    """An attribute value as an OTLP ``AnyValue``."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, Sequence):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    return {"stringValue": str(value)}


def key_values(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": any_value(v)} for k, v in sorted(attributes.items())]


def span_json(s: RecordedSpan) -> dict[str, Any]:
    out: dict[str, Any] = {"traceId": s.trace_id, "spanId": s.span_id}
    if s.parent_span_id is not None:
        out["parentSpanId"] = s.parent_span_id
    out |= {
        "name": s.name,
        "kind": _KIND[s.kind],
        "startTimeUnixNano": str(s.start),
        "endTimeUnixNano": str(s.end if s.end is not None else s.start),
        "attributes": key_values(s.attributes),
    }
    if s.events:
        out["events"] = [{"timeUnixNano": str(t), "name": n, "attributes": key_values(a)} for n, t, a in s.events]
    status: dict[str, Any] = {}
    if s.status is not StatusCode.UNSET:
        status["code"] = _STATUS[s.status]
        if s.status_message:
            status["message"] = s.status_message
    out["status"] = status
    return out


def otlp_json(spans: Iterable[RecordedSpan], service: str = "tenant-sim") -> dict[str, Any]:
    """An ``ExportTraceServiceRequest`` holding ``spans``: one resource (the service), one
    scope per instrumentation scope, spans in the order they started."""
    scopes: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        scopes.setdefault(s.scope, []).append(span_json(s))
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": key_values({"service.name": service, "cloud.provider": "aws"})},
                "scopeSpans": [{"scope": {"name": name}, "spans": found} for name, found in scopes.items()],
            }
        ]
    }


def dumps(recorder: SpanRecorder) -> str:
    return json.dumps(otlp_json(recorder.finished(), recorder.service), sort_keys=True, separators=(",", ":")) + "\n"


def write_otlp(recorder: SpanRecorder, path: str | Path) -> Path:
    """Write the recorder's ended spans to ``path`` as OTLP/JSON."""
    out = Path(path)
    out.write_text(dumps(recorder), encoding="utf-8")
    return out


def post_otlp(spans: Sequence[RecordedSpan], endpoint: str, client: httpx.Client, service: str = "tenant-sim") -> int:
    """Send ``spans`` to an OTLP/HTTP collector (``endpoint`` + ``/v1/traces``, JSON
    encoding); the answer's status."""
    body = json.dumps(otlp_json(spans, service), sort_keys=True, separators=(",", ":"))
    resp = client.post(endpoint.rstrip("/") + "/v1/traces", content=body, headers={"Content-Type": "application/json"})
    return resp.status_code


class OtlpHttpExporter:
    """Sends what a recorder ended to an OTLP/HTTP collector every ``interval`` real
    seconds, on a thread of its own (``sim up --otlp-endpoint``), and once more when stopped.
    Spans a collector did not take are dropped (and said so once): a served backend runs for
    hours and must not keep every span."""

    def __init__(
        self, recorder: SpanRecorder, endpoint: str, *, interval: float = 2.0, client: httpx.Client | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._recorder = recorder
        self._endpoint = endpoint
        self._interval = interval
        self._client = client or httpx.Client(timeout=10.0)
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.failed = 0

    def flush(self) -> None:
        spans = self._recorder.drain()
        if not spans:
            return
        try:
            status = post_otlp(spans, self._endpoint, self._client, self._recorder.service)
        except httpx.HTTPError as exc:
            status, why = 0, type(exc).__name__
        else:
            why = f"HTTP {status}"
        if 200 <= status < 300:
            self.sent += len(spans)
            return
        if not self.failed and self._on_error is not None:
            self._on_error(f"the OTLP collector at {self._endpoint} did not take the spans ({why}); later failures are not reported")
        self.failed += len(spans)

    def start(self) -> OtlpHttpExporter:
        self._thread = threading.Thread(target=self._run, name="otlp-exporter", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()
        self._client.close()
