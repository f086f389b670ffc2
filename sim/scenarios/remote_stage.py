"""A scenario on a real engine (MiniStack, LocalStack), in real time.

Only scenarios whose needs the engine meets come here (``needs.unmet(sc, engine)`` is
empty): a simulated span of at most ``needs.REAL_TIME_LIMIT`` seconds, ``wait_seconds``
of at most 60, no Lambda or StartExecution faults, no DLQ expectations. The scenario's
``at`` times are seconds of wall time from the start; ``run_for`` is capped so the whole
run stays within ``REAL_TIME_LIMIT`` and ends early once every tenant is in a terminal
status.

What is observed, from outside the control plane as on the embedded backend but through
what a real engine offers:

- status transitions: the tenant table is scanned every ~100 ms while waiting (and right
  after each step); a change of status, or a new request id with an in-progress status,
  is a ``status`` record (:class:`~sim.scenarios.observe.StatusWatch`, as on the embedded engine);
- API calls (``api`` records), the fake TFC's journal (``tfc``), the scenario's own
  non-API steps (``step``), all written by the one player;
- lifecycle events through an SQS queue subscribed to the topic (``sns`` records, at the
  time they were read), the flow DLQ drained at the end (``flow_dlq``);
- rows through ``GET /tenants/{code}``, runs, workspaces and variables from the fake TFC.

The trace is **not byte-deterministic**: ``t`` is wall time, cold starts and polling
shift every record, and a transition shorter than the scan interval could be missed (the
flows here take seconds). ``python -m sim replay`` replays on the embedded backend only.

Invariants: ``legal_transitions``, ``one_flow_at_a_time`` and ``no_secrets`` are checked
over this trace, and ``secrets_stay_secret`` over it, the tenant rows, the executions and
the fake TFC's journal. The others (``nothing_lost``, ``deleted_only_after_destroy``,
``poll_budget_reason``, ``lifecycle_event_per_terminal``, ``decommission_rules``) need the
full embedded trace (every DynamoDB write, Lambda invocation, SNS publish and DLQ write
at the simulated time it happened), which a real engine does not expose.

The engine is shared by every scenario of a ``python -m sim run``: before each one the
tenant table is emptied, running executions are stopped, the queues drained, the fake
TFC reset, and the flows' EventBridge targets re-pointed at the scenario's
``wait_seconds`` and ``poll_budget`` (the flow constants live in the input transformer).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
import uuid
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from fake_tfc import RunScript
from sim.controlplane.config import workspace_name
from sim.controlplane.statuses import TERMINAL
from sim.engines.remote.backend import RemoteBackend, wait_for

from . import invariants
from .model import Fault, Scenario, Settings, TfcBehaviour
from .needs import REAL_TIME_LIMIT
from .observe import Observed, StatusWatch
from .recorded import executions
from .player import FaultNotSupported, Player, ScenarioResult
from .trace import FlowDlqRecord, SnsRecord, StatusRecord, Trace

#: Seconds between two scans of the tenant table while waiting.
POLL_INTERVAL = 0.1
#: Seconds between two reads of the lifecycle-event queue while waiting.
EVENT_INTERVAL = 1.0
#: Real seconds to wait, at the end, for the lifecycle event of each flow that ended.
EVENT_GRACE = 10.0

_de = TypeDeserializer()


def quick_script(code: str, tfc: TfcBehaviour, base: RunScript | None) -> RunScript:
    """The tenant's TFC behaviour on the wall clock: stage durations and the output delay
    the scenario does not give come from ``base`` (the backend's quick default), not from
    TFC-like defaults (which would make every run ~13 s of real time)."""
    durations = {**(base.durations if base else {}), **tfc.durations}
    output_delay = tfc.output_delay if base is None or "output_delay" in tfc.model_fields_set else base.output_delay
    return RunScript(match=workspace_name(code), runs=tfc.runs, then=tfc.then, durations=durations, output_delay=output_delay)


def configure(backend: RemoteBackend, settings: Settings) -> None:
    """Point the flows' EventBridge targets at the scenario's settings. ``wait_seconds``
    and ``poll_budget`` reach the state machine only through the input transformer's
    constants, so re-putting the targets is enough (no function or definition changes)."""
    stack = backend.stack
    new = dataclasses.replace(
        stack, wait_seconds=settings.wait_seconds, poll_budget=settings.poll_budget,
        retry_attempts=settings.retry_attempts, max_event_age=settings.max_event_age,
    )
    if new == stack:
        return
    events = backend.client("events")
    for flow in new.flows:
        resp = events.put_targets(Rule=flow.rule, EventBusName=flow.bus, Targets=[new.target(flow.action)])
        if resp.get("FailedEntryCount"):
            raise RuntimeError(f"put_targets on {flow.rule} failed: {resp['FailedEntries']}")
    backend.stack = new
    if backend.deployed is not None:
        backend.deployed = dataclasses.replace(backend.deployed, stack=new)


def reset_engine(backend: RemoteBackend) -> None:
    """Forget the previous scenario: stop its executions, empty the tenant table, drain
    the DLQs, reset the fake TFC (its quick default script set again)."""
    stack = backend.stack
    assert stack is not None
    sfn = backend.client("stepfunctions")
    for flow in stack.flows:
        with contextlib.suppress(ClientError):
            for e in sfn.list_executions(stateMachineArn=stack.state_machine_arn(flow.action)).get("executions", []):
                if e.get("status") == "RUNNING":
                    with contextlib.suppress(ClientError):
                        sfn.stop_execution(executionArn=e["executionArn"], error="ScenarioReset", cause="the next scenario starts")
    ddb = backend.client("dynamodb")
    kwargs: dict[str, Any] = {"TableName": stack.table, "ProjectionExpression": "tenant_code"}
    while True:
        page = ddb.scan(**kwargs)
        for item in page.get("Items", []):
            ddb.delete_item(TableName=stack.table, Key={"tenant_code": item["tenant_code"]})
        if not page.get("LastEvaluatedKey"):
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    for queue in ("dlq", "flow_dlq"):
        backend.queue_messages(queue)
    backend.fake.reset()
    if backend.config.tfc_script is not None:
        backend.fake.set_script(backend.config.tfc_script)


class _EventQueue:
    """An SQS queue subscribed to the lifecycle topic (raw delivery), as the end-to-end
    tests' ``Lifecycle`` reads it; removed again by :meth:`close`."""

    def __init__(self, backend: RemoteBackend) -> None:
        assert backend.stack is not None
        self._sqs, self._sns = backend.client("sqs"), backend.client("sns")
        self.url = self._sqs.create_queue(QueueName=f"{backend.stack.prefix}-scenario-events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sub = self._sns.subscribe(TopicArn=backend.stack.topic_arn(), Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}, ReturnSubscriptionArn=True)
        self.subscription = sub.get("SubscriptionArn")

    def read(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            msgs = self._sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
            if not msgs:
                return out
            for m in msgs:
                try:
                    out.append(json.loads(m["Body"]))
                except ValueError:
                    out.append({"raw": m["Body"][:200]})
                self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])

    def close(self) -> None:
        with contextlib.suppress(ClientError):
            if self.subscription:
                self._sns.unsubscribe(SubscriptionArn=self.subscription)
        with contextlib.suppress(ClientError):
            self._sqs.delete_queue(QueueUrl=self.url)


class RemoteStage:
    """The shared engine of a ``python -m sim run``, reset for one scenario; :meth:`stop`
    leaves the engine running for the next."""

    def __init__(self, scenario: Scenario, backend: RemoteBackend) -> None:
        self.scenario = scenario
        self.backend = backend
        self.trace = Trace(start=0.0)
        self.watch = StatusWatch()
        self._pause = threading.Event()  # never set: an interruptible wait
        self._next_events = 0.0
        self._events: _EventQueue | None = None

    def open(self) -> None:
        reset_engine(self.backend)
        configure(self.backend, self.scenario.settings)
        self._events = _EventQueue(self.backend)
        self.trace.start = time.time()

    def now(self) -> float:
        return time.time()

    def wait_until(self, at: float) -> None:
        self._wait(self.trace.start + at)

    def settled(self) -> None:
        self._poll()

    def script(self, code: str, tfc: TfcBehaviour) -> RunScript:
        return quick_script(code, tfc, self.backend.config.tfc_script)

    def inject(self, fault: Fault) -> dict[str, Any]:
        if fault.tfc is None:  # needs.unmet() keeps these scenarios away from a real engine
            raise FaultNotSupported("only TFC faults can be injected on a real engine")
        self.backend.fake.faults.add(fault.tfc)
        return {"fault": "tfc", "rule": fault.tfc.model_dump(mode="json", exclude_none=True)}

    def clear_faults(self) -> None:
        self.backend.fake.faults.clear()

    def finish(self, until: float) -> None:
        self._wait(self.trace.start + min(until, REAL_TIME_LIMIT), until=self._all_terminal)
        wait_for(self._events_settled, timeout=EVENT_GRACE, interval=0.25)
        for msg in self.backend.queue_messages("flow_dlq"):
            self.trace.add(self.now(), FlowDlqRecord.of_message(msg["Body"]))

    def violations(self, scenario: Scenario, obs: Observed) -> list[str]:
        """Only what a real engine's trace can show (see the module's docstring)."""
        secrets = invariants.secrets_of(self.backend.config.tfc_token, self.backend.fake)
        return (
            invariants.legal_transitions(self.trace)
            + invariants.one_flow_at_a_time(self.trace)
            + invariants.no_secrets(self.trace, secrets)
            + invariants.secrets_stay_secret(self.trace, (*secrets, *invariants.scenario_secrets(scenario)), self._held())
        )

    def _held(self) -> list[tuple[str, str]]:
        """What the engine holds that ``secrets_stay_secret`` can read from outside: the
        tenant rows, the executions (input, output, history) and the fake TFC's journal (the
        Lambda payloads and log lines a real engine keeps to itself are not read)."""
        stack = self.backend.stack
        out = [("the fake TFC's journal", json.dumps([e.to_dict() for e in self.backend.fake.journal.entries()]))]
        try:
            rows = self.backend.client("dynamodb").scan(TableName=stack.table).get("Items", [])
            out.append(("the tenant rows in DynamoDB", json.dumps(rows, ensure_ascii=False)))
            machines = [stack.state_machine_arn(f.action) for f in stack.flows]
            sfn = self.backend.client("stepfunctions")
            out += [(where, json.dumps(value, ensure_ascii=False, default=str)) for where, value in executions(sfn, machines)]
        except ClientError:
            pass  # an engine that cannot answer: the trace and the journal are still searched
        return out

    def stop(self) -> None:
        if self._events is not None:
            self._events.close()
            self._events = None

    # ------------------------------------------------------------- waiting
    def _wait(self, deadline: float, until: Any = None) -> None:
        """Scan the table every ``POLL_INTERVAL`` until ``deadline`` (wall clock) or
        until ``until()`` holds; read the event queue now and then."""
        while True:
            self._poll()
            if time.time() >= self._next_events:
                self._read_events()
            if until is not None and until():
                return
            left = deadline - time.time()
            if left <= 0:
                return
            self._pause.wait(min(POLL_INTERVAL, left))

    def _poll(self) -> None:
        stack = self.backend.stack
        ddb = self.backend.client("dynamodb")
        kwargs: dict[str, Any] = {
            "TableName": stack.table, "ConsistentRead": True,
            "ProjectionExpression": "tenant_code, #s, request_id, last_error", "ExpressionAttributeNames": {"#s": "status"},
        }
        rows: list[dict[str, Any]] = []
        while True:
            page = ddb.scan(**kwargs)
            rows += [{k: _de.deserialize(v) for k, v in item.items()} for item in page.get("Items", [])]
            if not page.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        now = time.time()
        for row in sorted(rows, key=lambda r: r.get("tenant_code", "")):
            seen = self.watch.see(row["tenant_code"], row.get("status"), row.get("request_id"), row.get("last_error"))
            if seen is not None:
                self.trace.add(now, seen)

    def _all_terminal(self) -> bool:
        return all(s in TERMINAL for s in self.watch.statuses.values())

    def _read_events(self) -> None:
        self._next_events = time.time() + EVENT_INTERVAL
        assert self._events is not None
        for msg in self._events.read():
            self.trace.add(time.time(), SnsRecord.of(msg))

    def _events_settled(self) -> bool:
        """Every flow seen ending has published its lifecycle event (Finalize writes the
        row, then publishes: the last scan may be ahead of the event)."""
        self._read_events()
        published = {e.request_id for e in self.trace.of(SnsRecord)}
        return all(r.request_id in published for r in self.trace.of(StatusRecord) if r.to in TERMINAL and r.request_id)


def run_remote(scenario: Scenario, text: str, backend: RemoteBackend, source: str = "<scenario>", *, seed: int | None = None) -> ScenarioResult:
    """Play ``scenario`` on a started remote backend in real time and judge it (see the
    module's docstring for what is observed and which invariants are checked). The
    returned trace's ``t`` values are wall-clock seconds: not reproducible."""
    seed = scenario.seed if seed is None else seed
    player = Player(scenario, RemoteStage(scenario, backend), seed)
    obs = player.play()
    failures, violations = player.finish(obs)
    return ScenarioResult(scenario, seed, source, text, player.trace, obs, failures, violations)
