"""Play a scenario on a real engine (MiniStack, LocalStack) in real time (issue 5).

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
  is a ``status`` record with the fields :class:`~sim.scenarios.recorder.Recorder` writes;
- API calls (``api`` records, as ``Recorder.api``), the fake TFC's journal (``tfc``),
  the scenario's own non-API steps (``step``);
- lifecycle events through an SQS queue subscribed to the topic (``sns`` records, at the
  time they were read), the flow DLQ drained at the end (``flow_dlq``);
- rows through ``GET /tenants/{code}``, runs, workspaces and variables from the fake TFC.

The trace is **not byte-deterministic**: ``t`` is wall time, cold starts and polling
shift every record, and a transition shorter than the scan interval could be missed (the
flows here take seconds). ``python -m sim replay`` replays on the embedded backend only.

Invariants: ``legal_transitions``, ``one_flow_at_a_time`` and ``no_secrets`` are checked
over this trace. The others (``nothing_lost``, ``deleted_only_after_destroy``,
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
from fake_tfc.journal import JournalEntry
from sim.controlplane.statuses import TenantStatus
from sim.remote.backend import RemoteBackend, wait_for

from . import invariants
from .model import Scenario, Settings, Step, TfcBehaviour
from .needs import REAL_TIME_LIMIT
from .runner import Observed, ScenarioResult, expectation_failures, observe_tenants, observe_trace, workspace_of, write_tfc_variable
from .trace import Trace

#: Seconds between two scans of the tenant table while waiting.
POLL_INTERVAL = 0.1
#: Seconds between two reads of the lifecycle-event queue while waiting.
EVENT_INTERVAL = 1.0
#: Real seconds to wait, at the end, for the lifecycle event of each flow that ended.
EVENT_GRACE = 10.0

_de = TypeDeserializer()
_IN_PROGRESS = {s.value for s in TenantStatus if s.in_progress}
_TERMINAL = {s.value for s in TenantStatus} - _IN_PROGRESS


class EngineUnavailable(RuntimeError):
    """The engine could not be started or reached; the message says why."""


def start_engine(engine: str) -> RemoteBackend:
    """Start ``engine`` with the stack deployed: ``ministack`` starts a MiniStack of its
    own; ``localstack`` deploys onto the endpoint from ``AWS_ENDPOINT_URL`` /
    ``LOCALSTACK_HOST`` (default ``http://localhost:4566``). The caller stops it."""
    from botocore.exceptions import ConnectionError as BotoConnectionError

    from sim.remote.backend import MiniStackBackend
    from sim.remote.ministack import MiniStackUnavailable

    if engine == "ministack":
        backend: RemoteBackend = MiniStackBackend()
        try:
            return backend.start()
        except MiniStackUnavailable as exc:
            raise EngineUnavailable(f"MiniStack unavailable: {exc}") from exc
    if engine == "localstack":
        backend = RemoteBackend()
        try:
            return backend.start()
        except BotoConnectionError as exc:
            raise EngineUnavailable(f"LocalStack unavailable at {backend.endpoint_url}: {exc}") from exc
    raise ValueError(f"no real engine called {engine!r}")


def quick_script(code: str, tfc: TfcBehaviour, base: RunScript | None) -> RunScript:
    """The tenant's TFC behaviour on the wall clock: stage durations and the output delay
    the scenario does not give come from ``base`` (the backend's quick default), not from
    TFC-like defaults (which would make every run ~13 s of real time)."""
    durations = {**(base.durations if base else {}), **tfc.durations}
    output_delay = tfc.output_delay if base is None or "output_delay" in tfc.model_fields_set else base.output_delay
    return RunScript(match=workspace_of(code), runs=tfc.runs, then=tfc.then, durations=durations, output_delay=output_delay)


def configure(backend: RemoteBackend, settings: Settings) -> None:
    """Point the flows' EventBridge targets at the scenario's settings. ``wait_seconds``
    and ``poll_budget`` reach the state machine only through the input transformer's
    constants, so re-putting the targets is enough (no function or definition changes)."""
    stack = backend.stack
    assert stack is not None
    want = {"wait_seconds": settings.wait_seconds, "poll_budget": settings.poll_budget, "retry_attempts": settings.retry_attempts, "max_event_age": settings.max_event_age}
    if all(getattr(stack, k) == v for k, v in want.items()):
        return
    new = dataclasses.replace(stack, **want)
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


class RemoteScenarioRun:
    def __init__(self, scenario: Scenario, backend: RemoteBackend, seed: int) -> None:
        if backend.stack is None:
            raise ValueError("the backend is not started")
        self.scenario = scenario
        self.backend = backend
        self.seed = seed
        self.trace = Trace(start=0.0)
        self.step_failures: list[str] = []
        self.statuses: dict[str, str] = {}
        self.requests: dict[str, str | None] = {}
        self.run_ids: dict[str, set[str]] = {}
        self.flow_dlq = 0
        self._lock = threading.Lock()
        self._pause = threading.Event()  # never set: an interruptible wait
        self._closed = False
        self._next_events = 0.0

    # ------------------------------------------------------------- the run
    def play(self) -> Observed:
        b, sc = self.backend, self.scenario
        reset_engine(b)
        configure(b, sc.settings)
        b.fake.faults.seed = self.seed  # probability faults draw from (seed, rule, workspace)
        for code, spec in sc.tenants.items():
            b.fake.set_script(quick_script(code, spec.tfc, b.config.tfc_script))
        events = _EventQueue(b)
        self.events = events
        listener = self._tfc
        b.fake.journal.subscribe(listener)
        try:
            self.trace.start = time.time()
            for step in sc.steps:
                self._wait(self.trace.start + step.at)
                self._do(step)
                self._poll()
            end = min(sc.steps[-1].at + sc.settings.run_for, REAL_TIME_LIMIT)
            self._wait(self.trace.start + end, until=self._all_terminal)
            wait_for(self._events_settled, timeout=EVENT_GRACE, interval=0.25)
            for msg in b.queue_messages("flow_dlq"):
                state = json.loads(msg["Body"])
                detail = state.get("detail", {})
                self._add(time.time(), "flow_dlq", tenant=detail.get("tenant_code"), request_id=detail.get("request_id"), error=(state.get("finalize_error") or {}).get("Error"))
                self.flow_dlq += 1
            return self._observe()
        finally:
            self._closed = True
            with contextlib.suppress(AttributeError, ValueError):
                b.fake.journal.unsubscribe(listener)
            events.close()

    def finish(self, obs: Observed) -> tuple[list[str], list[str]]:
        violations = invariants.legal_transitions(self.trace) + invariants.one_flow_at_a_time(self.trace)
        violations += invariants.no_secrets(self.trace, (self.backend.config.tfc_token,))
        return self.step_failures + expectation_failures(self.scenario, obs), violations

    # ------------------------------------------------------------- waiting
    def _add(self, now: float, kind: str, **fields: Any) -> None:
        with self._lock:
            self.trace.add(now, kind, **fields)

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
        assert stack is not None
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
            code, status, rid = row.get("tenant_code"), row.get("status"), row.get("request_id")
            new_flow = rid != self.requests.get(code) and status in _IN_PROGRESS
            if status != self.statuses.get(code) or new_flow:
                self._add(now, "status", tenant=code, **{"from": self.statuses.get(code)}, to=status, request_id=rid, last_error=row.get("last_error"))
                self.statuses[code] = status
            self.requests[code] = rid

    def _all_terminal(self) -> bool:
        return all(s in _TERMINAL for s in self.statuses.values())

    def _read_events(self) -> None:
        self._next_events = time.time() + EVENT_INTERVAL
        for msg in self.events.read():
            self._add(time.time(), "sns", **{k: msg.get(k) for k in ("event", "tenant_code", "request_id", "status", "reason")})

    def _events_settled(self) -> bool:
        """Every flow seen ending has published its lifecycle event (Finalize writes the
        row, then publishes: the last scan may be ahead of the event)."""
        self._read_events()
        published = {r.get("request_id") for r in self.trace.of("sns")}
        return all(r["request_id"] in published for r in self.trace.of("status") if r["to"] in _TERMINAL and r.get("request_id"))

    def _tfc(self, entry: JournalEntry) -> None:
        if self._closed:
            return
        if entry.method == "POST" and entry.path == "/api/v2/runs" and entry.workspace_id:
            # The runs TFC holds, whatever the client heard (as the embedded recorder counts).
            ws = self.backend.fake.workspaces.get(entry.workspace_id)
            if ws is not None:
                self.run_ids.setdefault(ws.name, set()).update(ws.run_ids)
        self._add(entry.time, "tfc", method=entry.method, path=entry.path, status=entry.status, workspace=entry.workspace, fault=entry.fault)

    # ------------------------------------------------------------- steps
    def _api(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.backend.api(method, path, body)
        fields: dict[str, Any] = {"method": method, "path": path, "status": resp.status}
        if isinstance(resp.body, dict):  # the fields Recorder.api keeps
            for key in ("tenant_code", "status", "request_id", "decommission_date", "error", "field"):
                if key in resp.body:
                    fields[f"body_{key}"] = resp.body[key]
        self._add(time.time(), "api", **fields)
        return resp

    def _step(self, kind: str, **fields: Any) -> None:
        self._add(time.time(), "step", step=kind, **fields)

    def _do(self, step: Step) -> Any:
        b, kind = self.backend, step.kind
        if kind == "create":
            c = step.create
            return self._api("POST", "/tenants", {"tenant_code": c.tenant, "variables": c.variables, "decommission_date": c.decommission_date})
        if kind == "update":
            u = step.update
            body = {k: v for k, v in (("variables", u.variables), ("decommission_date", u.decommission_date)) if v is not None}
            return self._api("PATCH", f"/tenants/{u.tenant}", body)
        if kind == "delete":
            return self._api("DELETE", f"/tenants/{step.delete}")
        if kind == "get":
            return self._api("GET", f"/tenants/{step.get}")
        if kind == "request":
            r = step.request
            resp = self._api(r.method, r.path, r.body)
            if r.expect_status is not None and resp.status != r.expect_status:
                self.step_failures.append(f"request {r.method} {r.path} at t={step.at:g}: expected status {r.expect_status}, got {resp.status} {resp.body}")
            return resp
        if kind == "tfc":
            for code, behaviour in step.tfc.items():
                b.fake.set_script(quick_script(code, behaviour, b.config.tfc_script))
            self._step("tfc", tenants=sorted(step.tfc))
        elif kind == "tfc_variable":
            self._tfc_variable(step)
        elif kind == "clear_faults":
            b.fake.faults.clear()
            self._step("clear_faults")
        elif kind == "fault":
            f = step.fault
            if f.tfc is None:  # needs.unmet() keeps these scenarios away from a real engine
                self.step_failures.append(f"fault at t={step.at:g}: only TFC faults can be injected on a real engine")
                return None
            b.fake.faults.add(f.tfc)
            self._step("fault", fault="tfc", rule=f.tfc.model_dump(mode="json", exclude_none=True))
        return None

    def _tfc_variable(self, step: Step) -> None:
        problem = write_tfc_variable(self.backend.fake, self.backend.config.tfc_organization, step)
        if problem:
            self.step_failures.append(problem)
            return
        self._step("tfc_variable", tenant=step.tfc_variable.tenant, key=step.tfc_variable.key)

    # ------------------------------------------------------------- results
    def _observe(self) -> Observed:
        obs = observe_trace(self.trace, self.run_ids)
        obs.flow_dlq = self.flow_dlq  # drained from the queue, not traced
        observe_tenants(obs, self.scenario, self.backend.tenant, self.backend.fake, self.backend.config.tfc_organization)
        return obs


def run_remote(scenario: Scenario, text: str, backend: RemoteBackend, source: str = "<scenario>", *, seed: int | None = None) -> ScenarioResult:
    """Play ``scenario`` on a started remote backend in real time and judge it (see the
    module's docstring for what is observed and which invariants are checked). The
    returned trace's ``t`` values are wall-clock seconds: not reproducible."""
    seed = scenario.seed if seed is None else seed
    run = RemoteScenarioRun(scenario, backend, seed)
    obs = run.play()
    failures, violations = run.finish(obs)
    return ScenarioResult(scenario, seed, source, text, run.trace, obs, failures, violations)


class LazyEngine:
    """The engine of one ``python -m sim run``: started on first use, once for all the
    files; if it cannot start, every later :meth:`get` raises the same reason."""

    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.backend: RemoteBackend | None = None
        self.error: EngineUnavailable | None = None

    def get(self) -> RemoteBackend:
        if self.error is not None:
            raise self.error
        if self.backend is None:
            try:
                self.backend = start_engine(self.engine)
            except EngineUnavailable as exc:
                self.error = exc
                raise
        return self.backend

    def stop(self) -> None:
        backend, self.backend = self.backend, None
        if backend is not None:
            backend.stop()

    def __enter__(self) -> LazyEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
