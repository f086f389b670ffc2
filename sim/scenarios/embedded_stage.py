"""A scenario on the embedded engine: simulated time, and every seam observed.

It watches the backend from outside the control plane and writes the trace: bus deliveries
and DLQ writes, Lambda invocations, DynamoDB writes and the status transitions they make,
SNS publishes. It observes through the backend's own seams (botocore events on the shared
clients, the dispatcher and delivery listeners), so a broken control plane is recorded as
it behaves, not as it should.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from fake_tfc import RunScript
from sim.controlplane.config import workspace_name
from sim.engines.embedded.alarms import AlarmState, Transition
from sim.engines.embedded.delivery import DeliveryRecord as Delivery
from sim.engines.embedded.environment import EmbeddedBackend, EmbeddedConfig
from sim.engines.embedded.faults import AwsCallFault, AwsFaultEffect, LambdaFault, LambdaFaultKind, StartExecutionFault
from sim.engines.embedded.lambdas import Invocation
from sim.engines.embedded.moto_adapter import DynamoRequest
from sim.stack.wiring import Stack

from . import invariants
from .model import Fault, Scenario, TfcBehaviour
from .observe import Observed, StatusWatch
from .recorded import Recorded, is_reveal
from .secret_search import SecretFinder
from .trace import AlarmRecord, DdbRecord, DeliveryRecord, DlqRecord, FaultRecord, FlowDlqRecord, LambdaRecord, SnsRecord, Trace

_de = TypeDeserializer()


def _epoch(start: str) -> float:
    return datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp()


def embedded_backend(scenario: Scenario, seed: int, *, tracing: bool = False) -> EmbeddedBackend:
    """An embedded backend (not started) with the scenario's settings (``tracing``: record
    the control plane's spans)."""
    s = scenario.settings
    config = EmbeddedConfig(seed=seed, start=_epoch(s.start), wait_seconds=s.wait_seconds, poll_budget=s.poll_budget, tracing=tracing)
    stack = Stack(
        wait_seconds=s.wait_seconds, poll_budget=s.poll_budget, tfc_organization=config.tfc_organization,
        retry_attempts=s.retry_attempts, max_event_age=s.max_event_age, task_timeout=s.task_timeout,
    )
    return EmbeddedBackend(config, stack)


class EmbeddedStage:
    """``env``: a backend to observe instead of one made from the scenario's settings (``sim
    up`` observes the backend it serves: :meth:`attach` it once that backend is started)."""

    def __init__(self, scenario: Scenario | None, seed: int, env: EmbeddedBackend | None = None, *, tracing: bool = False) -> None:
        if env is None:
            assert scenario is not None, "a scenario or a backend"
            env = embedded_backend(scenario, seed, tracing=tracing)
        self.backend = self.env = env
        self.scenario = scenario
        self.trace = Trace(start=self.env.config.start)
        self.watch = StatusWatch()
        #: Tenants whose next flow write is made to lose a conditional check.
        self.conflicts: set[str] = set()
        #: What the run left besides the trace (the secrets_stay_secret invariant searches it).
        self.recorded = Recorded()
        self._at_end: list[tuple[str, str]] = []

    # ------------------------------------------------------------- Stage
    def open(self) -> None:
        self.env.start()
        self.attach()
        self.recorded.attach()  # a scenario run keeps what it recorded, for secrets_stay_secret

    def attach(self) -> None:
        """Observe the (started) backend: every seam writes to the trace from now on."""
        env = self.env
        env.invocation_listeners.append(self._invocation)
        env.delivery_listeners.append(self._delivery)
        env.aws_fault_listeners.append(self._aws_fault)
        if env.alarms is not None:
            env.alarms.listeners.append(self._alarm)
        env.dynamodb_listeners.append(self._dynamodb)
        env.client("dynamodb").meta.events.register("provide-client-params.dynamodb.PutItem", self._before_put)
        env.client("sns").meta.events.register("provide-client-params.sns.Publish", self._sns)
        env.client("sqs").meta.events.register("provide-client-params.sqs.SendMessage", self._sqs)
        env.client("events").meta.events.register("provide-client-params.events.PutEvents", self._put_events)

    def now(self) -> float:
        return self.env.clock.now()

    def wait_until(self, at: float) -> None:
        self.env.clock.advance_to(self.trace.start + at)

    def settled(self) -> None:
        self.env.clock.run_due()

    def script(self, code: str, tfc: TfcBehaviour) -> RunScript:
        return RunScript(match=workspace_name(code), runs=tfc.runs, then=tfc.then, durations=tfc.durations, output_delay=tfc.output_delay)

    def inject(self, f: Fault) -> dict[str, Any]:
        env = self.env
        if f.tfc is not None:
            env.fake.faults.add(f.tfc)
            return {"fault": "tfc", "rule": f.tfc.model_dump(mode="json", exclude_none=True)}
        if f.aws is not None:
            a = f.aws
            env.faults.aws_calls.append(AwsCallFault(a.service, a.operation, AwsFaultEffect(a.effect), times=a.times, latency=a.latency))
            return {"fault": "aws", "service": a.service, "operation": a.operation, "effect": a.effect, "times": a.times}
        if f.lambda_ is not None:
            lf = f.lambda_
            env.faults.lambdas.append(
                LambdaFault(
                    lf.function, LambdaFaultKind(lf.kind), times=lf.times,
                    on_invocations=frozenset(lf.on_invocations) if lf.on_invocations else None, error_type=lf.error_type,
                )
            )
            return {"fault": "lambda", "function": lf.function, "effect": lf.kind, "times": lf.times}
        if f.start_execution is not None:
            se = f.start_execution
            env.faults.start_execution.append(StartExecutionFault(env.stack.flow(se.action).state_machine, se.error, times=se.times))
            return {"fault": "start_execution", "action": se.action.value, "error": se.error, "times": se.times}
        if f.delete_state_machine is not None:
            env.client("stepfunctions").delete_state_machine(stateMachineArn=env.stack.state_machine_arn(f.delete_state_machine))
            return {"fault": "delete_state_machine", "action": f.delete_state_machine.value}
        if f.malformed_row is not None:
            # UpdateItem (not PutItem): the trace's status watch reads the control plane's writes.
            env.client("dynamodb").update_item(
                TableName=env.stack.table,
                Key={"tenant_code": {"S": f.malformed_row}},
                UpdateExpression="SET #s = :s, decommission_date = :d, request_id = :r",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": {"S": "archived"}, ":d": {"S": "2000-01-01"}, ":r": {"S": "manual-edit"}},
            )
            return {"fault": "malformed_row", "tenant": f.malformed_row}
        assert f.dynamodb_conflict is not None  # the model allows exactly one
        self.conflicts.add(f.dynamodb_conflict)
        return {"fault": "dynamodb_conflict", "tenant": f.dynamodb_conflict}

    def clear_faults(self) -> None:
        self.env.faults.clear()
        self.env.fake.faults.clear()
        self.conflicts.clear()

    def finish(self, until: float) -> None:
        self.env.clock.advance_to(self.trace.start + until)
        # The flow DLQ is written by Step Functions' own SQS client, which the hooks do not see.
        for msg in self.env.queue_messages("flow_dlq"):
            self.trace.add(self.now(), FlowDlqRecord.of_message(msg["Body"]))
            self.recorded.add("the flow DLQ", msg["Body"])
        if self.recorded.keeping:
            # Only what holds a secret is kept for the invariant (the rest, every execution's
            # history, is the bulk of a long run's memory); the secrets are all known by now.
            finder = SecretFinder(self._secrets())
            self._at_end = [(where, text) for where, text in self._held_at_end() if finder.any_in(text)]

    def _secrets(self) -> tuple[str, ...]:
        given = invariants.scenario_secrets(self.scenario) if self.scenario is not None else ()
        return (*invariants.secrets_of(self.env.config.tfc_token, self.env.fake), *given)

    def violations(self, scenario: Scenario, obs: Observed) -> list[str]:
        secrets = invariants.secrets_of(self.env.config.tfc_token, self.env.fake)
        return invariants.check(scenario, self.trace, obs, secrets=secrets, recorded=self.everything_recorded())

    def everything_recorded(self) -> list[tuple[str, str]]:
        """What the run recorded as it went, and what the engine held at the end (read by
        :meth:`finish`, while the engine runs, and kept where it holds a secret): every
        execution's input, output and history, and the fake TFC's journal."""
        return self.recorded.items() + self._at_end

    def _held_at_end(self) -> list[tuple[str, str]]:
        env = self.env
        machines = [env.stack.state_machine_arn(f.action) for f in env.stack.flows]
        out = [(where, _json(value)) for where, value in env.executions_held(machines)]
        out.append(("the fake TFC's journal", _json([e.to_dict() for e in env.fake.journal.entries()])))
        return out

    def stop(self) -> None:
        self.recorded.detach()
        self.env.stop()

    # ------------------------------------------------------------- sources
    def _invocation(self, inv: Invocation) -> None:
        api = inv.function.endswith("-api")
        if not api:  # the API's input is the client's request: a sensitive value comes in there
            self.recorded.add(f"the input of {inv.function}", inv.event)
        if not (api and is_reveal(inv.event)):  # the reveal's answer is the values, by design
            self.recorded.add(f"the result of {inv.function}", inv.result)
        rec = LambdaRecord(function=inv.function, n=inv.number, request_id=inv.request_id, started=round(inv.started - self.trace.start, 3))
        rec.throttled = True if inv.throttled else None
        rec.error = inv.error_type or None
        rec.tenant = _tenant_of(inv.event)
        if inv.function.endswith("-decommission") and isinstance(inv.result, dict):
            rec.decommission = {k: inv.result.get(k) for k in ("date", "deleting", "skipped_mid_flow", "errors")}
        if inv.function.endswith("-check") and isinstance(inv.result, dict):
            rec.run_status = inv.result.get("status")
        self.trace.add(self.now(), rec)

    def _delivery(self, d: Delivery) -> None:
        self.trace.add(self.now(), DeliveryRecord(rule=d.rule_arn.rsplit("/", 1)[-1], target=d.target_arn.rsplit(":", 1)[-1], event_id=d.event_id, outcome=d.outcome, detail=d.detail))

    def _before_put(self, params: dict[str, Any], **_: Any) -> None:
        item = params.get("Item", {})
        self.recorded.add("a tenant row written to DynamoDB", item)
        code = item.get("tenant_code", {}).get("S")
        if code in self.conflicts and "#v" in params.get("ConditionExpression", ""):
            self.conflicts.discard(code)
            self._bump_version(code)

    def _bump_version(self, code: str) -> None:
        # A concurrent writer (another flow's retried write, an operator) changes the row.
        self.env.client("dynamodb").update_item(
            TableName=self.env.stack.table,
            Key={"tenant_code": {"S": code}},
            UpdateExpression="SET #v = #v + :one",
            ExpressionAttributeNames={"#v": "version"},
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        self.trace.add(self.now(), FaultRecord(fault="dynamodb_conflict", tenant=code))

    def _dynamodb(self, request: DynamoRequest) -> None:
        """A tenant row written or removed, seen as moto applied it (under its lock, so in
        the order the writes took effect even when served requests race on threads)."""
        if request.params.get("TableName") != self.env.stack.table or request.operation not in ("PutItem", "DeleteItem"):
            return
        ok = request.status < 300
        if request.operation == "DeleteItem":
            # A create rolled back by the API: the row is gone, as if never written.
            code = request.params.get("Key", {}).get("tenant_code", {}).get("S")
            self.trace.add(self.now(), DdbRecord(op="DeleteItem", tenant=code, status=None, request_id=None, ok=ok, error=request.error))
            if ok and code is not None:
                self.watch.forget(code)
            return
        item = request.params.get("Item", {})
        row = {k: _de.deserialize(v) for k, v in item.items() if k in ("tenant_code", "status", "request_id", "last_error")}
        code = row.get("tenant_code")
        self.trace.add(
            self.now(), DdbRecord(op="PutItem", tenant=code, status=row.get("status"), request_id=row.get("request_id"), ok=ok, error=request.error)
        )
        if ok and code is not None:
            seen = self.watch.see(code, row.get("status"), row.get("request_id"), row.get("last_error"))
            if seen is not None:
                self.trace.add(self.now(), seen)

    def _aws_fault(self, service: str, operation: str, effect: str) -> None:
        self.trace.add(self.now(), FaultRecord(fault=f"aws {service}.{operation} {effect}", tenant=None))

    def _put_events(self, params: dict[str, Any], **_: Any) -> None:
        self.recorded.add("an event put on a bus", params.get("Entries", []))

    def _alarm(self, change: Transition) -> None:
        if change.old is AlarmState.INSUFFICIENT_DATA and change.new is AlarmState.OK:
            return  # the alarm settling after its first period (see AlarmRecord)
        self.trace.add(change.at, AlarmRecord(alarm=change.alarm, from_=change.old.value, to=change.new.value))

    def _sns(self, params: dict[str, Any], **_: Any) -> None:
        self.recorded.add("a lifecycle event", params.get("Message", ""))
        try:
            msg = json.loads(params.get("Message", ""))
        except ValueError:
            msg = {}
        self.trace.add(self.now(), SnsRecord.of(msg))

    def _sqs(self, params: dict[str, Any], **_: Any) -> None:
        self.recorded.add("an SQS message", params.get("MessageBody", ""))
        attrs = {k: v.get("StringValue") for k, v in (params.get("MessageAttributes") or {}).items()}
        if "ERROR_CODE" not in attrs:
            return  # not a DLQ write (e.g. a test's own queue)
        try:
            event = json.loads(params.get("MessageBody", "{}"))
        except ValueError:
            event = {}
        detail = event.get("detail") if isinstance(event, dict) else None
        detail = detail if isinstance(detail, dict) else {}
        self.trace.add(
            self.now(),
            DlqRecord(
                queue=params.get("QueueUrl", "").rsplit("/", 1)[-1], error_code=attrs.get("ERROR_CODE"),
                exhausted=attrs.get("EXHAUSTED_RETRY_CONDITION"), retry_attempts=int(attrs.get("RETRY_ATTEMPTS", "0")),
                tenant=detail.get("tenant_code"), request_id=detail.get("request_id"), action=detail.get("action"),
            ),
        )


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _tenant_of(event: Any) -> str | None:
    if isinstance(event, dict):
        detail = event.get("detail")
        if isinstance(detail, dict) and isinstance(detail.get("tenant_code"), str) and detail["tenant_code"]:
            return str(detail["tenant_code"])
    return None
