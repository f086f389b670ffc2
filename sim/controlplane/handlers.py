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
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, timezone
from typing import Any, Protocol

import httpx

from .api import ApiDeps, handle, utc_now
from .config import Settings
from .decommission import decommission
from .steps import StepDeps, check, finalize, trigger
from .tenants import TenantStore
from .tfc_client import TFCClient

log = logging.getLogger(__name__)


class Platform(Protocol):
    """Where a handler runs: its environment, clients, network and clock."""

    environ: Mapping[str, str]

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


# What a warm Lambda container keeps between invocations: clients, and the TFC client
# with the token read once from Secrets Manager (as real handlers cache at cold start).
_warm_api: weakref.WeakKeyDictionary[Any, ApiDeps] = weakref.WeakKeyDictionary()
_warm_steps: weakref.WeakKeyDictionary[Any, StepDeps] = weakref.WeakKeyDictionary()


def _api_deps(platform: Platform) -> ApiDeps:
    deps = _warm_api.get(platform)
    if deps is None:
        deps = _warm_api[platform] = _build_api_deps(platform)
    return deps


def _step_deps(platform: Platform) -> StepDeps:
    deps = _warm_steps.get(platform)
    if deps is None:
        deps = _warm_steps[platform] = _build_step_deps(platform)
    return deps


def _build_api_deps(platform: Platform) -> ApiDeps:
    settings = Settings.from_env(platform.environ)
    store = TenantStore(platform.client("dynamodb"), settings.table)
    deps = ApiDeps(settings=settings, store=store, events=platform.client("events"), now=_iso(platform))
    new_id = getattr(platform, "new_id", None)  # a simulator's seeded ids; uuid4 otherwise
    if new_id is not None:
        deps.new_id = new_id
    return deps


def _build_step_deps(platform: Platform) -> StepDeps:
    settings = Settings.from_env(platform.environ)
    store = TenantStore(platform.client("dynamodb"), settings.table)
    client: list[TFCClient] = []

    def tfc() -> TFCClient:
        # Built on first use: reading the token is a Secrets Manager call the Check
        # step would otherwise pay on every poll for nothing.
        if not client:
            secret = platform.client("secretsmanager").get_secret_value(SecretId=settings.tfc_secret_id)
            token = _token_from_secret(secret["SecretString"])
            client.append(
                TFCClient(
                    settings.tfc_address,
                    token,
                    settings.tfc_organization,
                    transport=platform.tfc_transport(),
                    sleep=platform.sleep,
                )
            )
        return client[0]

    return StepDeps(settings=settings, store=store, tfc=tfc, sns=platform.client("sns"), now=_iso(platform))


def _token_from_secret(secret: str) -> str:
    """The secret is either the bare token or ``{"token": "..."}``."""
    try:
        parsed = json.loads(secret)
    except ValueError:
        return secret
    if isinstance(parsed, dict) and isinstance(parsed.get("token"), str):
        return parsed["token"]
    return secret


# ---------------------------------------------------------------------- entry points
def api(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(_api_deps(_current()), event)


def trigger_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return trigger(_step_deps(_current()), event)


def check_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return check(_step_deps(_current()), event)


def finalize_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return finalize(_step_deps(_current()), event)


def decommission_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Invoked by the daily schedule. The scheduled event's ``time`` is "today"."""
    platform = _current()
    when = event.get("time") if isinstance(event, dict) else None
    if when:
        today = datetime.fromisoformat(str(when).replace("Z", "+00:00")).date()
    else:
        today = datetime.fromtimestamp(platform.now(), tz=timezone.utc).date()
    report = decommission(_api_deps(platform), today)
    log.info("decommission %s: %s", today, report.as_dict())
    return {"date": date.isoformat(today), **report.as_dict()}
