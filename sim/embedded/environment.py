"""The embedded backend: moto in-process plus our layers, the fake TFC on the same
simulated clock, and the control plane's stack deployed onto it.

    with EmbeddedBackend() as env:
        env.api("POST", "/tenants", {"tenant_code": "acme", "variables": {"tier": "gold"}})
        env.run_until(lambda: env.tenant("acme")["status"] == "ready", max_seconds=3600)

One per process (moto's state is process-wide). :meth:`serve` additionally exposes it
on loopback ports for people and other processes (``python -m sim up``).
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
from botocore.config import Config
from moto import mock_aws

from fake_tfc import FakeTFC, create_app
from fake_tfc.clock import VIRTUAL_EPOCH
from fake_tfc.transport import SyncASGITransport
from sim.deploy import Deployed, deploy
from sim.stack import Stack

from . import moto_adapter
from .clock import SimClock
from .delivery import DeliveryRecord, EventDelivery
from .faults import Faults
from .lambdas import Invocation, LambdaDispatcher
from .schedules import ScheduleRunner

DEFAULT_TOKEN = "tenant-sim.atlasv1.embedded-token"


@dataclass
class EmbeddedConfig:
    seed: int = 0
    start: float = VIRTUAL_EPOCH
    wait_seconds: int = 120
    poll_budget: int = 96
    tfc_organization: str = "tenant-sim"
    tfc_token: str = DEFAULT_TOKEN
    tfc_rate_limit: bool = False
    prefix: str = "tenant-sim"
    stall_seconds: float = 60.0


class TFCClockView:
    """The fake TFC's view of the simulator's clock (its Clock protocol)."""

    def __init__(self, clock: SimClock) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock.now()

    async def sleep(self, seconds: float) -> None:
        await self._clock.async_sleep(seconds)


class EmbeddedPlatform:
    """What a handler sees when the dispatcher runs it in-process."""

    def __init__(self, backend: EmbeddedBackend, environ: dict[str, str]) -> None:
        self.environ = environ
        self._backend = backend

    def client(self, service: str) -> Any:
        return self._backend.client(service)

    def tfc_transport(self) -> httpx.BaseTransport:
        return self._backend.tfc_transport()

    def sleep(self, seconds: float) -> None:
        self._backend.clock.sleep(seconds)

    def now(self) -> float:
        return self._backend.clock.now()

    def new_id(self) -> str:
        return self._backend.new_id()


@dataclass
class ApiResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: str = ""


class PerThreadASGITransport(httpx.BaseTransport):
    """The fake TFC in-process, with one event loop per calling thread: an execution
    parked on the simulated clock inside a TFC call (injected latency) must not hold a
    transport another execution needs."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._local = threading.local()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        t = getattr(self._local, "transport", None)
        if t is None:
            t = self._local.transport = SyncASGITransport(self._app)
        return t.handle_request(request)


class EmbeddedBackend:
    def __init__(self, config: EmbeddedConfig | None = None, stack: Stack | None = None) -> None:
        self.config = config or EmbeddedConfig()
        c = self.config
        self.stack = stack or Stack(
            prefix=c.prefix, wait_seconds=c.wait_seconds, poll_budget=c.poll_budget, tfc_organization=c.tfc_organization
        )
        self.clock = SimClock(c.start, stall_seconds=c.stall_seconds)
        self.fake = FakeTFC(TFCClockView(self.clock), seed=c.seed, organizations=[c.tfc_organization], tokens=[c.tfc_token])
        self.tfc_app = create_app(self.fake, rate_limit=c.tfc_rate_limit)
        self.faults = Faults()
        self.invocations: list[Invocation] = []
        self.deliveries: list[DeliveryRecord] = []
        #: Observers (a scenario's trace): called with each Invocation / DeliveryRecord.
        self.invocation_listeners: list[Callable[[Invocation], None]] = [self.invocations.append]
        self.delivery_listeners: list[Callable[[DeliveryRecord], None]] = [self.deliveries.append]
        self.dispatcher = LambdaDispatcher(lambda env: EmbeddedPlatform(self, env), self.clock.now, self.faults, self._invoked)
        self.delivery = EventDelivery(self.clock, self.client, self.faults, c.seed, self._delivered)
        self.deployed: Deployed | None = None
        self._mock: Any = None
        self._clients: dict[str, Any] = {}
        self._tfc_transport = PerThreadASGITransport(self.tfc_app)
        self._ids = random.Random(f"{c.seed}:request-ids")
        self._id_lock = threading.Lock()
        self._schedules: ScheduleRunner | None = None

    def _invoked(self, inv: Invocation) -> None:
        for listener in self.invocation_listeners:
            listener(inv)

    def _delivered(self, rec: DeliveryRecord) -> None:
        for listener in self.delivery_listeners:
            listener(rec)

    # ------------------------------------------------------------- lifecycle
    def start(self) -> EmbeddedBackend:
        self._mock = mock_aws(config={"lambda": {"use_docker": False}, "stepfunctions": {"execute_state_machine": True}})
        self._mock.start()
        from moto.moto_api._internal import mock_random

        mock_random.seed(self.config.seed)  # moto's ids (event ids, message ids) from the seed
        try:
            moto_adapter.install(self.clock, self.dispatcher, self.delivery)
            self.deployed = deploy(self.client, self.stack, tfc_token=self.config.tfc_token)
            from moto.events.models import events_backends

            backend = events_backends[self.stack.account][self.stack.region]
            self._schedules = ScheduleRunner(self.clock, self.delivery, backend, self.stack.region, self.stack.account)
            self._schedules.arm()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.clock.stop_pacer()
        moto_adapter.uninstall()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None

    def __enter__(self) -> EmbeddedBackend:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------- seams
    def client(self, service: str) -> Any:
        """A boto3 client on the embedded backend (in-process; no network)."""
        c = self._clients.get(service)
        if c is None:
            c = boto3.client(
                service,
                region_name=self.stack.region,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=Config(retries={"max_attempts": 1, "mode": "standard"}),
            )
            self._clients[service] = c
        return c

    def tfc_transport(self) -> httpx.BaseTransport:
        return self._tfc_transport

    def new_id(self) -> str:
        """A request id from the seeded stream (ids are part of the trace)."""
        with self._id_lock:
            return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    # ------------------------------------------------------------- driving
    def run_until(self, predicate: Callable[[], bool], *, max_seconds: float) -> bool:
        return self.clock.run_until(predicate, max_seconds=max_seconds)

    def advance(self, seconds: float) -> float:
        return self.clock.advance(seconds)

    # ------------------------------------------------------------- the REST API
    def api(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> ApiResponse:
        """Call the control plane's REST API as API Gateway's proxy integration does:
        the request becomes a proxy event for the API function."""
        return self.invoke_api(proxy_event(method, path, body, query))

    def invoke_api(self, event: dict[str, Any]) -> ApiResponse:
        resp = self.client("lambda").invoke(FunctionName=self.stack.function_name("api"), Payload=json.dumps(event).encode())
        return proxy_response(resp["Payload"].read(), resp.get("FunctionError"))

    def tenant(self, code: str) -> dict[str, Any] | None:
        r = self.api("GET", f"/tenants/{code}")
        return r.body if r.status == 200 else None

    def status(self, code: str) -> str | None:
        t = self.tenant(code)
        return t["status"] if t else None

    def dlq_messages(self, queue: str = "dlq") -> list[dict[str, Any]]:
        """Take every message from the events DLQ (``"dlq"``) or the flow DLQ (``"flow_dlq"``)."""
        sqs = self.client("sqs")
        url = self.deployed.queue_urls[queue] if self.deployed else ""
        out: list[dict[str, Any]] = []
        while True:
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages", [])
            if not msgs:
                return out
            for m in msgs:
                out.append(m)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def proxy_response(payload: bytes, function_error: str | None) -> ApiResponse:
    """What API Gateway's proxy integration answers for the API function's invoke result."""
    if function_error:
        # What API Gateway answers when the integration fails.
        raw = json.dumps({"message": "Internal server error"})
        return ApiResponse(502, json.loads(raw), {"Content-Type": "application/json"}, raw)
    result = json.loads(payload or b"null")
    raw = result.get("body") or "null"
    return ApiResponse(int(result.get("statusCode", 502)), json.loads(raw), result.get("headers") or {}, raw)


def proxy_event(method: str, path: str, body: Any = None, query: dict[str, str] | None = None, raw_body: str | None = None) -> dict[str, Any]:
    """An API Gateway REST API proxy integration event (the fields the handler reads and a
    few more so that real handler code finds them where AWS puts them)."""
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method.upper(),
        "headers": {"Content-Type": "application/json"},
        "queryStringParameters": query or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "requestContext": {"stage": "local", "httpMethod": method.upper(), "path": path},
        "body": text,
        "isBase64Encoded": False,
    }
