"""Tracing with the OpenTelemetry API: a span per Lambda invocation, per AWS call and per
Terraform Cloud request, and the W3C ``traceparent`` that carries one trace from the API
request through the bus event and the execution to every Task and TFC request.

Only the API is used: with no tracer provider configured (OpenTelemetry's no-op default)
every span is a no-op and no ``traceparent`` is produced, so events, execution inputs and
TFC requests are exactly what they are without tracing. On AWS a provider is configured by
the ADOT Lambda layer (the global one); a simulator hands its own to :class:`Tracing`.

Span attributes never hold a request's content: no headers (the TFC token rides in
``Authorization``), no bodies, no exception messages; an error is named by its type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

#: The instrumentation scope of every span the control plane makes.
SCOPE = "tenant_sim.controlplane"
TRACEPARENT = "traceparent"

_propagator = TraceContextTextMapPropagator()


def _error(span: Span, exc: BaseException) -> None:
    span.set_attribute("error.type", type(exc).__name__)
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))


class Tracing:
    """The control plane's tracer (``provider``: a simulator's; None: OpenTelemetry's
    global one, a no-op unless something configured it)."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self.tracer: Tracer = (provider or trace.get_tracer_provider()).get_tracer(SCOPE)

    @contextmanager
    def invocation(
        self, function: str, traceparent: str | None, context: Any, kind: SpanKind = SpanKind.SERVER, name: str | None = None
    ) -> Iterator[Span]:
        """The span of one Lambda invocation, a child of ``traceparent`` if one was carried
        (else a new trace). The parent is always explicit: whatever span happens to be
        current on this thread (a simulator may run a flow inside the call that put its
        event) is not the invocation's parent."""
        parent = extract(traceparent)
        attributes: dict[str, Any] = {"faas.name": function, "cloud.provider": "aws"}
        request_id = getattr(context, "aws_request_id", None)
        if isinstance(request_id, str):
            attributes["faas.invocation_id"] = request_id
        with self.tracer.start_as_current_span(
            name or function, context=parent, kind=kind, attributes=attributes, record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                yield span
            except BaseException as exc:
                _error(span, exc)
                raise

    def client(self, client: Any) -> Any:
        """``client`` (a boto3 client) with a span around each API call."""
        return TracedClient(client, self.tracer)

    def transport(self, inner: httpx.BaseTransport | None) -> httpx.BaseTransport:
        """``inner`` (None: httpx's own) with a span and a ``traceparent`` on each request."""
        return TracingTransport(inner or httpx.HTTPTransport(), self.tracer)


def extract(traceparent: str | None) -> Context:
    """The context a carried ``traceparent`` names (an empty one, hence a new trace, if
    there is none or it is not a valid one)."""
    if not traceparent:
        return Context()
    return _propagator.extract({TRACEPARENT: traceparent}, context=Context())


def current_traceparent() -> str | None:
    """The ``traceparent`` of the current span; None when nothing is traced."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get(TRACEPARENT)


def carried(payload: Any) -> str | None:
    """The ``traceparent`` a Task's input carries: the execution input's copy (``$.traceparent``,
    which the input transformer fills, empty when the event had none), else the event's."""
    if not isinstance(payload, Mapping):
        return None
    value = payload.get(TRACEPARENT)
    if not value:
        detail = payload.get("detail")
        value = detail.get(TRACEPARENT) if isinstance(detail, Mapping) else None
    return value if isinstance(value, str) and value else None


class TracedClient:
    """A boto3 client whose API calls each make a CLIENT span named ``Service.Operation``
    (the span of every retry the SDK makes inside the call). Everything else is the client."""

    def __init__(self, client: Any, tracer: Tracer) -> None:
        self._client = client
        self._tracer = tracer
        meta = client.meta
        self._service = str(meta.service_model.service_id)
        self._region = str(meta.region_name)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        operation = self._client.meta.method_to_api_mapping.get(name)
        if operation is None or not callable(attr):
            return attr
        tracer, service = self._tracer, self._service
        attributes = {"rpc.system": "aws-api", "rpc.service": service, "rpc.method": operation, "cloud.region": self._region}

        def call(*args: Any, **kwargs: Any) -> Any:
            with tracer.start_as_current_span(
                f"{service}.{operation}", kind=SpanKind.CLIENT, attributes=attributes, record_exception=False, set_status_on_exception=False
            ) as span:
                try:
                    return attr(*args, **kwargs)
                except BaseException as exc:
                    # Only a ClientError's response is AWS's answer (an HTTPClientError's
                    # is None, or a raw response): its error code, never its message.
                    answer = getattr(exc, "response", None)
                    error = answer.get("Error") if isinstance(answer, dict) else None
                    if isinstance(error, dict) and isinstance(error.get("Code"), str):
                        span.set_attribute("aws.error.code", error["Code"])
                    _error(span, exc)
                    raise

        return call


class TracingTransport(httpx.BaseTransport):
    """httpx's seam: a CLIENT span per request (each retry its own), and the W3C
    ``traceparent`` of that span on the request, so the server's spans join the trace.
    Attributes name the method, the path and the answer's status: never a header."""

    def __init__(self, inner: httpx.BaseTransport, tracer: Tracer) -> None:
        self._inner = inner
        self._tracer = tracer

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        attributes = {
            "http.request.method": request.method,
            "server.address": request.url.host,
            "url.path": request.url.path,
        }
        with self._tracer.start_as_current_span(
            f"TFC {request.method}", kind=SpanKind.CLIENT, attributes=attributes, record_exception=False, set_status_on_exception=False
        ) as span:
            carrier: dict[str, str] = {}
            _propagator.inject(carrier)
            if TRACEPARENT in carrier:
                request.headers[TRACEPARENT] = carrier[TRACEPARENT]
            try:
                response = self._inner.handle_request(request)
            except BaseException as exc:
                _error(span, exc)
                raise
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 400:
                span.set_status(Status(StatusCode.ERROR, f"HTTP {response.status_code}"))
            return response

    def close(self) -> None:
        self._inner.close()
