"""EventBridge target delivery for the embedded backend (what moto does not do).

Replaces moto's ``Rule.send_to_targets``. For each rule an event reaches: skip a
DISABLED rule or a schedule-only one; match the pattern; then, for each target,
schedule an attempt on the simulated clock (delivery is asynchronous on AWS: the
PutEvents call has returned before the target is invoked). An attempt renders the
target input, and starts the state machine under a fresh execution name, since a
Classic target has no name field. A retriable failure is retried on the simulated
clock within the RetryPolicy; a non-retriable one, or exhausted retries, goes to the
target's DLQ with the attributes AWS documents.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from .clock import SimClock
from .faults import Faults
from .patterns import InvalidEventPattern, event_matches
from .targets import (
    ErrorCode,
    RetryPolicy,
    TargetInputError,
    TargetValidationError,
    classify_start_execution_error,
    dlq_message,
    next_retry,
    render_target_input,
)

log = logging.getLogger(__name__)


def iso_z(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Attempt:
    rule_arn: str
    rule_name: str
    target: dict[str, Any]
    event: dict[str, Any]
    ingestion_time: str
    first_at: float
    attempts: int = 0  # attempts made so far


@dataclass(frozen=True)
class DeliveryRecord:
    """One attempt's outcome, for traces and tests."""

    at: float
    rule_arn: str
    target_arn: str
    event_id: str
    outcome: str  # "started" | "retry" | "dead-lettered" | "dropped"
    detail: str


class EventDelivery:
    def __init__(
        self,
        clock: SimClock,
        clients: Callable[[str], Any],
        faults: Faults,
        seed: int = 0,
        on_record: Callable[[DeliveryRecord], None] | None = None,
    ) -> None:
        self._clock = clock
        self._clients = clients
        self._faults = faults
        self._names = random.Random(f"{seed}:execution-names")
        self._seed = seed
        self._on_record = on_record
        self.records: list[DeliveryRecord] = []

    # ------------------------------------------------------------ from moto
    def deliver(self, rule: Any, moto_event: dict[str, Any]) -> None:
        if rule.state != "ENABLED":
            return
        event = self.envelope(moto_event)
        try:
            matched = event_matches(rule.event_pattern.get_pattern() or None, event)
        except InvalidEventPattern as exc:
            # PutRule refuses such a pattern (moto_adapter); one stored some other way
            # must still never break PutEvents for the bus's other rules.
            log.warning("eventbridge rule %s has a pattern AWS refuses (%s); skipped", rule.name, exc)
            return
        if not matched:
            return
        for target in list(rule.targets):
            attempt = Attempt(rule.arn, rule.name, dict(target), event, event["time"], self._clock.now())
            self._clock.call_soon(functools.partial(self._attempt, attempt))

    def deliver_event(self, rule_arn: str, rule_name: str, targets: list[dict[str, Any]], event: dict[str, Any]) -> None:
        """Deliver an event that did not come through PutEvents (a schedule firing)."""
        for target in targets:
            attempt = Attempt(rule_arn, rule_name, dict(target), event, event["time"], self._clock.now())
            self._clock.call_soon(functools.partial(self._attempt, attempt))

    def envelope(self, moto_event: dict[str, Any]) -> dict[str, Any]:
        """The event as AWS delivers it: ISO 8601 ``time``, the entry's ``Time`` if PutEvents
        gave one, else the simulated time of the call."""
        when = moto_event.get("time")
        return {
            "version": "0",
            "id": moto_event["id"],
            "detail-type": moto_event["detail-type"],
            "source": moto_event["source"],
            "account": moto_event["account"],
            "time": iso_z(float(when) if isinstance(when, (int, float)) else self._clock.now()),
            "region": moto_event["region"],
            "resources": moto_event.get("resources", []),
            "detail": moto_event.get("detail", {}),
        }

    # ------------------------------------------------------------ attempts
    def _attempt(self, a: Attempt) -> None:
        a.attempts += 1
        target_arn = a.target["Arn"]
        try:
            body = render_target_input(a.target, a.event, rule_arn=a.rule_arn, rule_name=a.rule_name, ingestion_time=a.ingestion_time)
        except TargetInputError as exc:
            self._dead_letter(a, exc.error_code, str(exc), None)
            return
        except TargetValidationError as exc:
            # PutTargets refuses such a target (moto_adapter); one stored some other way is
            # dead-lettered, never raised out of the clock.
            self._dead_letter(a, ErrorCode.INVALID_PARAMETER, str(exc), None)
            return
        service = target_arn.split(":")[2]
        try:
            if service == "states":
                detail = self._start_execution(target_arn, body)
            elif service == "lambda":
                self._clients("lambda").invoke(FunctionName=target_arn, InvocationType="Event", Payload=body.encode())
                detail = "invoked"
            elif service == "sqs":
                url = self._clients("sqs").get_queue_url(QueueName=target_arn.rsplit(":", 1)[1])["QueueUrl"]
                self._clients("sqs").send_message(QueueUrl=url, MessageBody=body)
                detail = "sent"
            else:
                self._dead_letter(a, "INVALID_PARAMETER", f"target service {service} is not simulated", None)
                return
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code, retriable = classify_start_execution_error(err.get("Code", ""))
            message = f"{err.get('Code')}: {err.get('Message')}"
            if not retriable:
                self._dead_letter(a, code, message, None)
                return
            policy = RetryPolicy.from_target(a.target)
            nxt = next_retry(policy, a.attempts, a.first_at, self._clock.now(), self._backoff_stream(a))
            if isinstance(nxt, str):
                self._dead_letter(a, code, message, nxt)
                return
            self._record(a, "retry", f"{message}; attempt {a.attempts + 1} at +{nxt - self._clock.now():.1f}s")
            self._clock.call_at(nxt, lambda: self._attempt(a))
            return
        self._record(a, "started", detail)

    def _backoff_stream(self, a: Attempt) -> random.Random:
        # Keyed by the rule and the event's content (not a shared stream), so that one
        # event's retry schedule does not depend on how many other events are retrying.
        key = json.dumps([a.rule_arn, a.event.get("detail-type"), a.event.get("detail"), a.attempts], sort_keys=True)
        return random.Random(f"{self._seed}:eventbridge-backoff:{hashlib.sha256(key.encode()).hexdigest()}")

    def _start_execution(self, state_machine_arn: str, body: str) -> str:
        name = state_machine_arn.rsplit(":", 1)[1]
        fault = self._faults.start_execution_fault(name)
        if fault is not None:
            raise ClientError({"Error": {"Code": fault.error_code, "Message": fault.message}}, "StartExecution")
        # A Classic target has no execution-name field: Step Functions names it with a
        # UUID, fresh on every attempt (so a redelivery is not deduplicated by name).
        exec_name = str(uuid.UUID(int=self._names.getrandbits(128), version=4))
        resp = self._clients("stepfunctions").start_execution(stateMachineArn=state_machine_arn, name=exec_name, input=body)
        arn: str = resp["executionArn"]
        return arn

    def _dead_letter(self, a: Attempt, code: str, message: str, exhausted: str | None) -> None:
        dlq = a.target.get("DeadLetterConfig", {}).get("Arn")
        retries = a.attempts - 1
        if not dlq:
            self._record(a, "dropped", f"{code}: {message} (no DLQ)")
            return
        msg = dlq_message(
            a.event,
            rule_arn=a.rule_arn,
            target_arn=a.target["Arn"],
            error_code=code,
            error_message=message,
            exhausted_retry_condition=exhausted,
            retry_attempts=retries,
        )
        sqs = self._clients("sqs")
        url = sqs.get_queue_url(QueueName=dlq.rsplit(":", 1)[1])["QueueUrl"]
        sqs.send_message(QueueUrl=url, **msg)
        self._record(a, "dead-lettered", f"{code}: {message}" + (f" ({exhausted})" if exhausted else ""))

    def _record(self, a: Attempt, outcome: str, detail: str) -> None:
        rec = DeliveryRecord(self._clock.now(), a.rule_arn, a.target["Arn"], a.event["id"], outcome, detail)
        self.records.append(rec)
        log.info("eventbridge %s -> %s: %s %s", a.rule_name, a.target["Arn"], outcome, detail)
        if self._on_record is not None:
            self._on_record(rec)


def scheduled_event(rule_arn: str, region: str, account: str, when: float, event_id: str) -> dict[str, Any]:
    """The event a schedule rule sends its targets (documented "Scheduled Event" shape)."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": iso_z(when),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }
