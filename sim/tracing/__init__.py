"""The simulator's side of tracing: a span recorder the control plane's OpenTelemetry API
calls write to, on the simulated clock and with seeded ids (:mod:`.recorder`), and its
spans as OTLP/JSON (:mod:`.otlp`)."""

from .otlp import OtlpHttpExporter, otlp_json, post_otlp, write_otlp
from .recorder import RecordedSpan, SpanRecorder

__all__ = ["OtlpHttpExporter", "RecordedSpan", "SpanRecorder", "otlp_json", "post_otlp", "write_otlp"]
