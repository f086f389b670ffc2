"""Lambda entry points: ``handler(event, context)`` for each function of the stack.

On AWS (or any LocalStack-compatible engine) each function builds its clients from its
environment once per container, as Lambda code does. A simulator may run the same
entry points in-process by installing a :class:`Platform` for the duration of one
invocation (see :func:`use_platform`): it supplies the environment, the AWS clients,
the way to reach TFC and the clock. The control plane never imports the simulator.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import random
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, timezone
from typing import Any, Protocol, TypeVar, cast

import httpx
from botocore.exceptions import BotoCoreError, ClientError

from .api import ApiDeps, handle, utc_now
from .aws import describe, transient
from .errors import AwsUnavailable
from .config import ControlPlaneSettings
from .decommission import decommission
from .idempotency import IdempotencyStore
from .metrics import MALFORMED_ROWS, Metric, stdout_metric
from .operations import QUEUES, OpsDeps, reconcile, redrive
from .secrets import TenantSecrets
from .steps import StepDeps, check, finalize, trigger
from .tenants import TenantStore
from .tfc_client import TFCClient
from .tracing import Tracing, carried, current_traceparent

log = logging.getLogger(__name__)


class Platform(Protocol):
    """Where a handler runs: its environment, clients, network and clock."""

    @property
    def environ(self) -> Mapping[str, str]: ...

    def client(self, service: str) -> Any: ...
    def tfc_transport(self) -> httpx.BaseTransport | None: ...
    def sleep(self, seconds: float) -> None: ...
    def now(self) -> float: ...


class AwsPlatform:
    """The real thing: ``os.environ``, boto3 (honouring ``AWS_ENDPOINT_URL``), real time."""

    def __init__(self) -> None:
        self.environ = os.environ
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3

            self._clients[service] = boto3.client(service)
        return self._clients[service]

    def tfc_transport(self) -> httpx.BaseTransport | None:
        return None

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def now(self) -> float:
        return time.time()


_default = AwsPlatform()
_platform: contextvars.ContextVar[Platform | None] = contextvars.ContextVar("tenant_sim_platform", default=None)
#: The Lambda context of the invocation running on this thread (per invocation, unlike the
#: warm container's clients: a simulator may interleave invocations of one function).
_context: contextvars.ContextVar[Any] = contextvars.ContextVar("tenant_sim_lambda_context", default=None)


@contextmanager
def _invocation(context: Any) -> Iterator[None]:
    token = _context.set(context)
    try:
        yield
    finally:
        _context.reset(token)


def time_left() -> float | None:
    """Seconds the running invocation has left (``context.get_remaining_time_in_millis``),
    or None outside an invocation."""
    remaining = getattr(_context.get(), "get_remaining_time_in_millis", None)
    return None if remaining is None else float(remaining()) / 1000.0


@contextmanager
def use_platform(platform: Platform) -> Iterator[None]:
    token = _platform.set(platform)
    try:
        yield
    finally:
        _platform.reset(token)


def _current() -> Platform:
    return _platform.get() or _default


def _iso(platform: Platform) -> Callable[[], str]:
    def now() -> str:
        dt = datetime.fromtimestamp(platform.now(), tz=timezone.utc)
        return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    return now if platform is not _default else utc_now


_T = TypeVar("_T")
#: Warm state of platforms that keep none themselves (see :func:`_warm`).
_warm_by_platform: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _warm(platform: Platform, kind: str, build: Callable[[], _T]) -> _T:
    """What a warm Lambda container keeps between invocations: clients, and the TFC client
    with the token read once from Secrets Manager (as real handlers cache at cold start).
    Kept in the platform's own ``warm`` dict when it has one (a simulator's container: the
    state goes when the container goes; held in a module-level table keyed weakly by the
    platform, it refers back to the platform, which then never went), else in that table."""
    store = getattr(platform, "warm", None)
    if not isinstance(store, dict):
        store = _warm_by_platform.get(platform)
        if store is None:
            store = _warm_by_platform[platform] = {}
    value = store.get(kind)
    if value is None:
        value = store[kind] = build()
    return cast(_T, value)


def _tracing(platform: Platform) -> Tracing:
    """The platform's tracer: a simulator's ``tracer_provider`` if it has one, else
    OpenTelemetry's global provider (a no-op unless the ADOT layer configured one)."""
    return _warm(platform, "tracing", lambda: Tracing(getattr(platform, "tracer_provider", None)))


def _traced(platform: Platform, client: Any) -> Any:
    """``client`` (one of the platform's) with a span around each call. Callers name the
    service as a literal ``platform.client("...")``: the Lambda packager finds the SDK models
    to keep by those calls."""
    return _tracing(platform).client(client)


def _api_deps(platform: Platform) -> ApiDeps:
    return _warm(platform, "api", lambda: _build_api_deps(platform))


def _step_deps(platform: Platform) -> StepDeps:
    return _warm(platform, "steps", lambda: _build_step_deps(platform))


def _metric(platform: Platform) -> Metric:
    """Where a handler's metrics go: the platform's sink if it has one (a simulator), else
    EMF on standard output (Lambda)."""
    sink: Metric | None = getattr(platform, "metric", None)
    return sink if sink is not None else stdout_metric(platform.environ.get("AWS_LAMBDA_FUNCTION_NAME", "tenant-sim"))


def _store(platform: Platform, settings: ControlPlaneSettings) -> TenantStore:
    metric = _metric(platform)
    return TenantStore(_traced(platform, platform.client("dynamodb")), settings.table, on_malformed=lambda code, why: metric(MALFORMED_ROWS, 1))


def _build_api_deps(platform: Platform) -> ApiDeps:
    settings = ControlPlaneSettings.from_env(platform.environ)
    store = _store(platform, settings)
    deps = ApiDeps(
        settings=settings, store=store, events=_traced(platform, platform.client("events")), now=_iso(platform),
        secrets=TenantSecrets(_traced(platform, platform.client("secretsmanager")), settings.tenant_secret_prefix),
        traceparent=current_traceparent,
    )
    if settings.idempotency_table:
        deps.keys = IdempotencyStore(_traced(platform, platform.client("dynamodb")), settings.idempotency_table, now=platform.now)
    new_id = getattr(platform, "new_id", None)  # a simulator's seeded ids; uuid4 otherwise
    if new_id is not None:
        deps.new_id = new_id
    return deps


def _build_step_deps(platform: Platform) -> StepDeps:
    settings = ControlPlaneSettings.from_env(platform.environ)
    store = _store(platform, settings)
    client: list[TFCClient] = []

    def tfc() -> TFCClient:
        # Built on first use: reading the token is a Secrets Manager call the Check
        # step would otherwise pay on every poll for nothing.
        if not client:
            secret = _read_secret(_traced(platform, platform.client("secretsmanager")), settings.tfc_secret_id)
            token = _token_from_secret(secret)
            client.append(
                TFCClient(
                    settings.tfc_address,
                    token,
                    settings.tfc_organization,
                    transport=_tracing(platform).transport(platform.tfc_transport()),
                    sleep=platform.sleep,
                    time_left=time_left,
                    # Jitter: a simulator's seeded stream, else the system's entropy.
                    rng=getattr(platform, "random", None) or random.Random(),
                    now=platform.now,
                )
            )
        return client[0]

    return StepDeps(
        settings=settings, store=store, tfc=tfc, sns=_traced(platform, platform.client("sns")), now=_iso(platform),
        secrets=TenantSecrets(_traced(platform, platform.client("secretsmanager")), settings.tenant_secret_prefix), metric=_metric(platform),
    )


def _ops_deps(platform: Platform) -> OpsDeps:
    return _warm(
        platform,
        "ops",
        lambda: OpsDeps(
            api=_build_api_deps(platform), sqs=_traced(platform, platform.client("sqs")), sfn=_traced(platform, platform.client("stepfunctions")),
            sns=_traced(platform, platform.client("sns")), metric=_metric(platform), now=platform.now,
        ),
    )


def _read_secret(secretsmanager: Any, secret_id: str, attempts: int = 4) -> str:
    """The secret's string, read again while the read fails transiently (a read is safe to
    repeat); then :class:`AwsUnavailable`, which the flow's Retry waits out."""
    last: BaseException | None = None
    for _ in range(attempts):
        try:
            value: str = secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"]
            return value
        except (ClientError, BotoCoreError) as exc:
            if not transient(exc):
                raise
            last = exc
    raise AwsUnavailable(f"Secrets Manager did not answer GetSecretValue ({describe(last) if last else 'no attempt'}); retry")


def _token_from_secret(secret: str) -> str:
    """The secret is either the bare token or ``{"token": "..."}``."""
    try:
        parsed = json.loads(secret)
    except ValueError:
        return secret
    token = parsed.get("token") if isinstance(parsed, dict) else None
    return token if isinstance(token, str) else secret


# ---------------------------------------------------------------------- entry points
def _header(event: Mapping[str, Any], name: str) -> str | None:
    headers = event.get("headers")
    if not isinstance(headers, Mapping):
        return None
    value = next((v for k, v in headers.items() if isinstance(k, str) and k.lower() == name), None)
    return value if isinstance(value, str) else None


def api(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One REST API request: its span is the root of the request's trace (or a child of
    the client's, if the client sent a ``traceparent``)."""
    platform = _current()
    proxied = event if isinstance(event, dict) else {}
    method = str(proxied.get("httpMethod", ""))
    route = str(proxied.get("resource") or "")
    with _tracing(platform).invocation(
        _function_name(context, "api"), _header(proxied, "traceparent"), context, name=f"{method} {route}".strip() or "api"
    ) as span:
        span.set_attribute("http.request.method", method)
        if route:
            span.set_attribute("http.route", route)
        if isinstance(proxied.get("path"), str):
            span.set_attribute("url.path", proxied["path"])
        answer = handle(_api_deps(platform), event)
        span.set_attribute("http.response.status_code", int(answer.get("statusCode", 0)))
        return answer


def _function_name(context: Any, short: str) -> str:
    name = getattr(context, "function_name", None)
    return name if isinstance(name, str) else short


def _task(
    state: str, short: str, step: Callable[[StepDeps, dict[str, Any]], dict[str, Any]], event: dict[str, Any], context: Any
) -> dict[str, Any]:
    """One Task invocation, in the trace its input carries."""
    platform = _current()
    with _invocation(context), _tracing(platform).invocation(_function_name(context, short), carried(event), context, name=state) as span:
        detail = event.get("detail") if isinstance(event, dict) else None
        if isinstance(detail, dict):
            for key in ("tenant_code", "request_id"):
                if isinstance(detail.get(key), str):
                    span.set_attribute(f"tenant_sim.{key}", detail[key])
        if isinstance(event, dict) and isinstance(event.get("run_id"), str):
            span.set_attribute("tenant_sim.run_id", event["run_id"])
        return step(_step_deps(platform), event)


def trigger_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _task("Trigger", "trigger", trigger, event, context)


def check_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _task("Check", "check", check, event, context)


def finalize_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _task("Finalize", "finalize", finalize, event, context)


def decommission_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Invoked by the daily schedule. The scheduled event's ``time`` is "today"."""
    platform = _current()
    with _tracing(platform).invocation(_function_name(context, "decommission"), None, context, name="Decommission"):
        return _decommission(platform, event)


def _decommission(platform: Platform, event: dict[str, Any]) -> dict[str, Any]:
    when = event.get("time") if isinstance(event, dict) else None
    if when:
        today = datetime.fromisoformat(str(when).replace("Z", "+00:00")).date()
    else:
        today = datetime.fromtimestamp(platform.now(), tz=timezone.utc).date()
    report = decommission(_api_deps(platform), today)
    log.info("decommission %s: %s", today, report.as_dict())
    return {"date": date.isoformat(today), **report.as_dict()}


def reconcile_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Invoked by its schedule: ends tenants left in progress with no live execution."""
    platform = _current()
    with _tracing(platform).invocation(_function_name(context, "reconcile"), None, context, name="Reconcile"):
        return reconcile(_ops_deps(platform)).as_dict()


def redrive_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Invoked by an operator: ``{"queues": ["dlq", "flow_dlq"], "max_messages": 100}``
    (both queues, 100 messages, by default)."""
    event = event if isinstance(event, dict) else {}
    queues = event.get("queues") or list(QUEUES)
    if not isinstance(queues, list) or not set(queues) <= set(QUEUES):
        raise ValueError(f"queues must be a list of {', '.join(QUEUES)}")
    limit = event.get("max_messages", 100)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 10_000:
        raise ValueError("max_messages must be an integer from 1 to 10000")
    platform = _current()
    with _tracing(platform).invocation(_function_name(context, "redrive"), None, context, name="Redrive"):
        return redrive(_ops_deps(platform), tuple(queues), limit).as_dict()
