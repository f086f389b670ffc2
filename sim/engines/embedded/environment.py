"""The embedded backend: moto in-process plus our layers, the fake TFC on the same
simulated clock, and the control plane's stack deployed onto it.

    with EmbeddedBackend() as env:
        env.api("POST", "/tenants", {"tenant_code": "acme", "variables": {"tier": "gold"}})
        env.run_until(lambda: env.tenant("acme")["status"] == "ready", max_seconds=3600)

One per process (moto's state is process-wide). :meth:`serve` additionally exposes it
on loopback ports for people and other processes (``python -m sim up``).
"""

from __future__ import annotations

import contextlib
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

import httpx
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError
from moto import mock_aws

from fake_tfc import FakeTFC
from fake_tfc.clock import VIRTUAL_EPOCH
from fake_tfc.transport import SyncASGITransport
from sim.controlplane.flow import DEFAULT_POLL_BUDGET, DEFAULT_WAIT_SECONDS
from sim.controlplane.metrics import NAMESPACE as METRICS_NAMESPACE
from sim.stack.deploy import Deployed, deploy, deploy_alarms
from sim.stack.wiring import DEFAULT_PREFIX, DEFAULT_TFC_ORGANIZATION, Stack
from sim.startup import collector_paused, release_kept

from ..base import BackendBase

from . import moto_adapter
from .botocore_files import boto3_session
from .alarms import AlarmEvaluator
from .clock import SimClock
from .delivery import DeliveryRecord, EventDelivery
from .faults import AwsFaultEffect, Faults
from .lambdas import Invocation, LambdaDispatcher
from .retention import Retention, RetentionSweeper
from .schedules import ScheduleRunner
from .ttl import DEFAULT_SWEEP_SECONDS, TtlSweeper

if TYPE_CHECKING:
    from sim.tracing import SpanRecorder

DEFAULT_TOKEN = "tenant-sim.atlasv1.embedded-token"


@dataclass
class EmbeddedConfig:
    seed: int = 0
    start: float = VIRTUAL_EPOCH
    wait_seconds: int = DEFAULT_WAIT_SECONDS
    poll_budget: int = DEFAULT_POLL_BUDGET
    tfc_organization: str = DEFAULT_TFC_ORGANIZATION
    tfc_token: str = DEFAULT_TOKEN
    tfc_rate_limit: bool = False
    prefix: str = DEFAULT_PREFIX
    stall_seconds: float = 60.0
    #: Simulated seconds between two DynamoDB TTL sweeps (AWS deletes expired items "within a few days").
    ttl_sweep_seconds: float = DEFAULT_SWEEP_SECONDS
    #: Record the control plane's spans (``env.spans``), on the simulated clock.
    tracing: bool = False
    #: How long closed executions (AWS: 90 days) and the simulator's own logs are kept.
    retention: Retention = field(default_factory=Retention)


@contextlib.contextmanager
def _drawing_from(stream: random.Random) -> Iterator[None]:
    """moto draws every id (event ids, message ids, alarm and topic ids) from one seeded
    source. The alarms' resources and notifications draw from a stream of their own
    instead, so that they shift no id anything else draws: a scenario where no alarm fires
    has the trace it had before the stack had alarms."""
    from moto.moto_api._internal import mock_random

    saved = mock_random.getstate()
    mock_random.setstate(stream.getstate())
    try:
        yield
    finally:
        stream.setstate(mock_random.getstate())
        mock_random.setstate(saved)


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
        self._clients: dict[str, FaultyClient] = {}
        #: The handlers' random source (the TFC client's jitter): seeded, one stream per
        #: container in the order containers are made, so a run is reproducible.
        self.random = backend.platform_random()
        #: Where the handlers' spans go (None: OpenTelemetry's global provider, a no-op).
        self.tracer_provider = backend.spans
        #: What the handlers keep warm in this container (clients, the TFC client): it goes
        #: with the container.
        self.warm: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        c = self._clients.get(service)
        if c is None:
            c = self._clients[service] = FaultyClient(self._backend, service)
        return c

    def tfc_transport(self) -> httpx.BaseTransport:
        return self._backend.tfc_transport()

    def sleep(self, seconds: float) -> None:
        self._backend.clock.sleep(seconds)

    def now(self) -> float:
        return self._backend.clock.now()

    def new_id(self) -> str:
        return self._backend.new_id()

    def metric(self, name: str, value: float) -> None:
        self._backend.record_metric(name, value, self.environ.get("AWS_LAMBDA_FUNCTION_NAME", "tenant-sim"))


class FaultyClient:
    """The backend's boto3 client as the control plane's functions get it: each API call
    first meets the AWS-call faults in force (``env.faults.aws_calls``): it may take
    simulated time, be refused before it takes effect (503 ``ServiceUnavailable``), or take
    effect and lose its answer (a read timeout, what botocore raises when no answer comes).
    Everything else is the real client (its event hooks, which the scenario trace uses,
    included)."""

    def __init__(self, backend: EmbeddedBackend, service: str) -> None:
        self._backend = backend
        self._service = service
        self._client = backend.client(service)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        operation = self._client.meta.method_to_api_mapping.get(name)
        if operation is None or not callable(attr):
            return attr
        backend, service = self._backend, self._service

        def call(*args: Any, **kwargs: Any) -> Any:
            fault = backend.faults.aws_call_fault(service, operation)
            if fault is None:
                return attr(*args, **kwargs)
            backend.pass_time(fault.latency)
            backend.aws_fault_fired(service, operation, fault.effect.value)
            if fault.effect is AwsFaultEffect.REFUSED:
                raise ClientError(
                    {"Error": {"Code": "ServiceUnavailable", "Message": "injected by tenant-sim"}, "ResponseMetadata": {"HTTPStatusCode": 503}},
                    operation,
                )
            attr(*args, **kwargs)
            raise ReadTimeoutError(endpoint_url=f"https://{service}.{backend.stack.region}.amazonaws.com/ (answer lost, injected)")

        return call


class PooledASGITransport(httpx.BaseTransport):
    """The fake TFC in-process, each request in flight on an event loop of its own: an
    execution parked on the simulated clock inside a TFC call (injected latency) must not
    hold a loop another execution needs. Loops are reused once their request is answered
    (a loop a thread, as before, made one for every execution and Task thread). ``app``
    gives the app (asked when a loop is first made: the app is built on first use)."""

    def __init__(self, app: Callable[[], Any]) -> None:
        self._app = app
        self._idle: list[SyncASGITransport] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            t = self._idle.pop() if self._idle else None
        if t is None:
            t = SyncASGITransport(self._app())
        try:
            return t.handle_request(request)
        finally:
            with self._lock:
                self._idle.append(t)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for t in idle:
            t.close()


class EmbeddedBackend(BackendBase):
    def __init__(self, config: EmbeddedConfig | None = None, stack: Stack | None = None) -> None:
        self.config = config or EmbeddedConfig()
        c = self.config
        self.stack = stack or Stack(
            prefix=c.prefix, wait_seconds=c.wait_seconds, poll_budget=c.poll_budget, tfc_organization=c.tfc_organization
        )
        self.clock = SimClock(c.start, stall_seconds=c.stall_seconds)
        self.fake = FakeTFC(TFCClockView(self.clock), seed=c.seed, organizations=[c.tfc_organization], tokens=[c.tfc_token])
        self.faults = Faults()
        self.invocations: list[Invocation] = []
        self.deliveries: list[DeliveryRecord] = []
        #: Observers (a scenario's trace): called with each Invocation / DeliveryRecord.
        self.invocation_listeners: list[Callable[[Invocation], None]] = [self.invocations.append]
        self.delivery_listeners: list[Callable[[DeliveryRecord], None]] = [self.deliveries.append]
        #: Observers of the DynamoDB requests moto answered, in the order they took effect
        #: (called under moto's DynamoDB lock: they must not call DynamoDB themselves).
        self.dynamodb_listeners: list[Callable[[moto_adapter.DynamoRequest], None]] = []
        #: Observers of injected AWS-call faults: called with (service, operation, effect).
        self.aws_fault_listeners: list[Callable[[str, str, str], None]] = []
        #: The control plane's metrics (what it would emit to CloudWatch), summed by name.
        self.metrics: dict[str, float] = {}
        self.metric_listeners: list[Callable[[str, float], None]] = []
        self.dispatcher = LambdaDispatcher(
            lambda env: EmbeddedPlatform(self, env), self.clock.now, self.faults, self._invoked, self.clock.deadline
        )
        self.delivery = EventDelivery(self.clock, self.client, self.faults, c.seed, self._delivered)
        self.deployed: Deployed | None = None
        self._mock: Any = None
        self._adapter: moto_adapter.AdapterHandle | None = None
        self._kept = False  # start() froze its heap (see sim.startup)
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()  # boto3 builds clients thread-unsafely; served calls come on many threads
        self._tfc_app: Any = None
        self._tfc_app_lock = threading.Lock()
        self._tfc_transport = PooledASGITransport(lambda: self.tfc_app)
        self._ids = random.Random(f"{c.seed}:request-ids")
        self._id_lock = threading.Lock()
        self._platforms = 0
        self._schedules: ScheduleRunner | None = None
        self.ttl: TtlSweeper | None = None
        self.retention: RetentionSweeper | None = None
        #: The stack's CloudWatch alarms, evaluated on the simulated clock (once started).
        self.alarms: AlarmEvaluator | None = None
        #: What the alarms' resources and notifications draw moto's ids from (see _drawing_from).
        self._alarm_random = random.Random(f"{c.seed}:alarms")
        #: The control plane's spans, when ``config.tracing`` (the simulated clock, seeded ids).
        self.spans: SpanRecorder | None = None
        if c.tracing:
            from sim.tracing import SpanRecorder

            self.spans = SpanRecorder(self.clock.now, c.seed)

    def _invoked(self, inv: Invocation) -> None:
        for listener in self.invocation_listeners:
            listener(inv)

    def _delivered(self, rec: DeliveryRecord) -> None:
        for listener in self.delivery_listeners:
            listener(rec)

    def record_metric(self, name: str, value: float, function: str = "tenant-sim") -> None:
        """A metric a handler emitted. On Lambda it is an embedded-metric-format line that
        CloudWatch Logs turns into a datapoint (namespace ``tenant-sim``, dimension
        ``Function``); here it is put into CloudWatch directly, at the simulated time."""
        self.metrics[name] = self.metrics.get(name, 0.0) + value
        if self.alarms is not None:
            self.alarms.record_datum(METRICS_NAMESPACE, name, {"Function": function}, value, self.clock.now())
        for listener in self.metric_listeners:
            listener(name, value)

    def _notify(self, topic_arn: str, subject: str, message: str) -> None:
        """Publish an alarm's notification (its message id drawn from the alarms' stream)."""
        from moto.sns.models import sns_backends

        with _drawing_from(self._alarm_random):
            sns_backends[self.stack.account][self.stack.region].publish(message=message, arn=topic_arn, subject=subject)

    def executions_held(self, state_machine_arns: list[str]) -> Iterator[tuple[str, Any]]:
        """Each execution's description (input, output) and history, as (where, value), in
        the order and with the content DescribeExecution and GetExecutionHistory give,
        read from moto's model (the API round trip costs more than a flow's Task states).
        A state machine that is gone has none."""
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        sfn = stepfunctions_parser_backends[self.stack.account][self.stack.region]
        for arn in state_machine_arns:
            machine = next((m for m in sfn.state_machines if m.arn == arn), None)
            if machine is None:
                continue
            held: list[Any] = list(machine.executions)  # the parser's executions (moto types the base class)
            for ex in sorted(held, key=lambda e: e.start_date, reverse=True):
                name = ex.execution_arn.rsplit(":", 1)[-1]
                yield f"execution {name}'s input and output", ex.to_describe_output()
                yield f"execution {name}'s history", ex.to_history_output().get("events", [])

    def _dynamodb_answered(self, request: moto_adapter.DynamoRequest) -> None:
        for listener in self.dynamodb_listeners:
            listener(request)

    def _execution_ended(self, execution: Any) -> None:
        if self.alarms is not None:
            self.alarms.execution_ended(execution)

    def aws_fault_fired(self, service: str, operation: str, effect: str) -> None:
        for listener in self.aws_fault_listeners:
            listener(service, operation, effect)

    def pass_time(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass for the calling thread, whoever it is: an
        execution (or, under the pacer, a served request) parks on the clock; the thread
        that drives the clock (a test, a scenario step, the pacer) drives it forward, so
        what falls due meanwhile runs (a flow may start while an API call is resending)."""
        if seconds <= 0:
            return
        managed = getattr(self.clock._local, "managed", False)  # an execution's thread
        pacer = self.clock._pacer
        if managed or (pacer is not None and pacer is not threading.current_thread()):
            self.clock.sleep(seconds)
        else:
            self.clock.advance(seconds)

    # ------------------------------------------------------------- lifecycle
    def start(self) -> Self:
        with collector_paused(keep=True):  # kept until stop(): the backend's heap lives as long
            self._start()
        self._kept = True
        return self

    def _start(self) -> None:
        # The adapter first: a second backend in this process is refused here, before it
        # has touched moto (its mock, its random seed) or anything the first one uses.
        self._adapter = moto_adapter.install(self.clock, self.dispatcher, self.delivery, self._execution_ended, self._dynamodb_answered)
        try:
            self._mock = mock_aws(config={"lambda": {"use_docker": False}, "stepfunctions": {"execute_state_machine": True}})
            self._mock.start()
            from moto.moto_api._internal import mock_random

            mock_random.seed(self.config.seed)  # moto's ids (event ids, message ids) from the seed
            self.deployed = deploy(self.client, self.stack, tfc_token=self.config.tfc_token, alarms=False)
            with _drawing_from(self._alarm_random):
                deploy_alarms(self.client, self.stack)
            from moto.events.models import events_backends

            backend = events_backends[self.stack.account][self.stack.region]
            self._schedules = ScheduleRunner(self.clock, self.delivery, backend, self.stack.region, self.stack.account)
            self._schedules.arm()
            from moto.dynamodb.models import dynamodb_backends

            ddb = dynamodb_backends[self.stack.account][self.stack.region]
            self.ttl = TtlSweeper(self.clock, lambda: ddb.tables, self.client, self.config.ttl_sweep_seconds)
            self.ttl.arm()
            from moto.stepfunctions.parser.models import stepfunctions_parser_backends

            sfn = stepfunctions_parser_backends[self.stack.account][self.stack.region]
            self.retention = RetentionSweeper(
                self.clock, self.config.retention, lambda: sfn.state_machines,
                lambda: ((self.invocations, lambda i: i.ended), (self.deliveries, lambda d: d.at)), self.fake.journal.forget_before,
            )
            self.retention.arm()
            from moto.cloudwatch.models import cloudwatch_backends
            from moto.sqs.models import sqs_backends

            self.alarms = AlarmEvaluator(
                self.clock, cloudwatch_backends[self.stack.account][self.stack.region], sqs_backends[self.stack.account][self.stack.region],
                self._notify, account=self.stack.account, region=self.stack.region,
            )
            self.alarms.arm()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop what this backend started (its pacer, its moto mock, its adapter); idempotent."""
        self.clock.stop_pacer()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        if self._adapter is not None:
            self._adapter.uninstall()
            self._adapter = None
        self._tfc_transport.close()
        if self._kept:
            release_kept()
            self._kept = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------- seams
    def client(self, service: str) -> Any:
        """A boto3 client on the embedded backend (in-process; no network)."""
        c = self._clients.get(service)
        if c is not None:
            return c
        with self._clients_lock:
            c = self._clients.get(service)
            if c is not None:
                return c
            c = boto3_session().client(
                service,
                region_name=self.stack.region,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=Config(retries={"max_attempts": 1, "mode": "standard"}),
            )
            self._clients[service] = c
        return c

    @property
    def tfc_app(self) -> Any:
        """The fake TFC's ASGI app, made on first use (an embedded backend whose handlers
        never call TFC does not load its HTTP layer)."""
        with self._tfc_app_lock:
            if self._tfc_app is None:
                from fake_tfc import create_app

                self._tfc_app = create_app(self.fake, rate_limit=self.config.tfc_rate_limit)
            return self._tfc_app

    def tfc_transport(self) -> httpx.BaseTransport:
        return self._tfc_transport

    def platform_random(self) -> random.Random:
        with self._id_lock:
            self._platforms += 1
            return random.Random(f"{self.config.seed}:platform:{self._platforms}")

    def new_id(self) -> str:
        """A request id from the seeded stream (ids are part of the trace)."""
        with self._id_lock:
            return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    # ------------------------------------------------------------- driving
    def run_until(self, predicate: Callable[[], bool], *, max_seconds: float) -> bool:
        return self.clock.run_until(predicate, max_seconds=max_seconds)

    def advance(self, seconds: float) -> float:
        return self.clock.advance(seconds)
