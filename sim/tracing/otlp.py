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
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

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


def post_otlp(recorder: SpanRecorder, endpoint: str, *, timeout: float = 10.0) -> int:
    """Send the recorder's ended spans to an OTLP/HTTP collector (``endpoint`` + ``/v1/traces``);
    the answer's status."""
    import httpx

    resp = httpx.post(
        endpoint.rstrip("/") + "/v1/traces", content=dumps(recorder), headers={"Content-Type": "application/json"}, timeout=timeout
    )
    return resp.status_code
