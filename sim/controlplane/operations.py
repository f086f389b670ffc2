"""What AWS operators have for requests that did not make it, built into the control plane:

* :func:`redrive` (the ``redrive`` function, invoked by an operator): moves messages from
  the rule targets' DLQ and from the flow DLQ back to their action's bus, so that the flow
  of each request runs again. A request that is no longer the tenant's current one (the row
  moved on, or is gone) is left in its queue and reported: redriving it would do nothing.
* :func:`reconcile` (the ``reconcile`` function, on a schedule): finds tenants still in
  progress ``reconcile_after`` seconds after their request was accepted, with no execution
  running for it (its event was dead-lettered or never delivered; its Finalize went to the
  flow DLQ), and ends them ``failed`` with the reason, publishing the failure event, so that
  no tenant stays in progress forever. The operator may then redrive or retry (an update).

Both leave a report (returned, logged) and metrics.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from .api import SOURCE, ApiDeps
from .aws import describe, transient
from .errors import AwsUnavailable, FlowSuperseded
from .metrics import RECONCILER_FAILED, REDRIVEN, Metric
from .models import TenantEvent, TenantRecord
from .statuses import TenantStatus

log = logging.getLogger(__name__)

#: Execution statuses of a flow that is still going (DescribeExecution's ``status``).
LIVE = frozenset({"RUNNING", "PENDING_REDRIVE"})
QUEUES = ("dlq", "flow_dlq")


@dataclass
class OpsDeps:
    api: ApiDeps
    sqs: Any
    sfn: Any
    sns: Any
    metric: Metric
    now: Callable[[], float]


# --------------------------------------------------------------------- redrive
@dataclass
class RedriveReport:
    redriven: list[str] = field(default_factory=list)  # request ids
    stale: dict[str, str] = field(default_factory=dict)  # request id -> why it stays
    unreadable: int = 0
    failed: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"redriven": self.redriven, "stale": self.stale, "unreadable": self.unreadable, "failed": self.failed}


def _event_of(queue: str, body: str) -> TenantEvent | None:
    """The request a DLQ message carries: an EventBridge event (rule-target DLQ, body = the
    event) or an execution's state (flow DLQ, ``detail`` = the event's detail)."""
    try:
        doc = json.loads(body)
        detail = doc.get("detail") if isinstance(doc, dict) else None
        return TenantEvent.model_validate(detail)
    except (ValueError, ValidationError, RecursionError):
        return None


def redrive(deps: OpsDeps, queues: tuple[str, ...] = QUEUES, max_messages: int = 100) -> RedriveReport:
    report = RedriveReport()
    settings = deps.api.settings
    urls = {"dlq": settings.dlq_url, "flow_dlq": settings.flow_dlq_url}
    for queue in queues:
        url = urls.get(queue)
        if not url:
            continue
        seen: set[str] = set()
        kept: list[str] = []  # receipt handles of messages left in the queue
        while len(report.redriven) + len(report.stale) + report.unreadable < max_messages:
            msgs = deps.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300).get("Messages", [])
            fresh = [m for m in msgs if m["MessageId"] not in seen]
            if not fresh:
                break
            for m in fresh:
                seen.add(m["MessageId"])
                if not _redrive_one(deps, queue, url, m, report):
                    kept.append(m["ReceiptHandle"])
        for handle in kept:  # visible again at once, for the operator
            deps.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    if report.redriven:
        deps.metric(REDRIVEN, len(report.redriven))
    log.info("redrive: %s", report.as_dict())
    return report


def _redrive_one(deps: OpsDeps, queue: str, url: str, m: dict[str, Any], report: RedriveReport) -> bool:
    """Put one message's request back on its bus; True if done (the message is deleted)."""
    event = _event_of(queue, m.get("Body", ""))
    if event is None:
        report.unreadable += 1
        return False
    row = deps.api.store.get(event.tenant_code)
    if row is None or row.request_id != event.request_id or not row.status.in_progress:
        now = "gone" if row is None else f"{row.status.value} on request {row.request_id}"
        report.stale[event.request_id] = f"tenant {event.tenant_code} is {now}: left in the {queue}"
        return False
    entry = {
        "Source": SOURCE,
        "DetailType": event.action.detail_type,
        "Detail": event.model_dump_json(),
        "EventBusName": deps.api.settings.buses[event.action],
    }
    try:
        resp = deps.api.events.put_events(Entries=[entry])
    except (ClientError, BotoCoreError) as exc:
        report.failed[event.request_id] = describe(exc)
        return False
    if resp.get("FailedEntryCount", 0):
        report.failed[event.request_id] = str(resp["Entries"][0].get("ErrorCode"))
        return False
    deps.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    report.redriven.append(event.request_id)
    return True


# ------------------------------------------------------------------- reconcile
@dataclass
class ReconcileReport:
    failed: dict[str, str] = field(default_factory=dict)  # tenant -> reason
    live: list[str] = field(default_factory=list)
    young: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # tenant -> what failed (tried again next run)

    def as_dict(self) -> dict[str, Any]:
        return {"failed": self.failed, "live": self.live, "young": self.young, "errors": self.errors}


def _epoch(iso: str) -> float | None:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _execution_status(deps: OpsDeps, arn: str | None) -> str:
    if not arn or not arn.startswith("arn:"):
        return "NONE"
    try:
        status: str = deps.sfn.describe_execution(executionArn=arn)["status"]
        return status
    except (ClientError, BotoCoreError) as exc:
        if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            return "NONE"
        if transient(exc):
            return "UNKNOWN"  # left for the next run: never end a flow that may be alive
        raise


def reconcile(deps: OpsDeps) -> ReconcileReport:
    report = ReconcileReport()
    settings = deps.api.settings
    if settings.reconcile_after <= 0:
        return report
    now = deps.now()
    for row in deps.api.store.in_progress():
        try:
            _reconcile_one(deps, row, now, report)
        except (ClientError, BotoCoreError, AwsUnavailable) as exc:  # one tenant's trouble stops no other
            report.errors[row.tenant_code] = describe(exc) if not isinstance(exc, AwsUnavailable) else exc.message
    if report.failed:
        deps.metric(RECONCILER_FAILED, len(report.failed))
    log.info("reconcile: %s", report.as_dict())
    return report


def _reconcile_one(deps: OpsDeps, row: TenantRecord, now: float, report: ReconcileReport) -> None:
    settings = deps.api.settings
    accepted = _epoch(row.updated_at)
    if accepted is None or now - accepted < settings.reconcile_after:
        report.young.append(row.tenant_code)
        return
    status = _execution_status(deps, row.execution)
    if status in LIVE or status == "UNKNOWN":
        report.live.append(row.tenant_code)
        return
    hours = (now - accepted) / 3600
    where = "its event was never delivered (dead-lettered or lost)" if status == "NONE" else f"its execution ended {status} without recording an end"
    reason = (
        f"reconciler: request {row.request_id} was accepted {hours:.1f}h ago and no execution is running for it: "
        f"{where}; marked failed (see the DLQs; retry with an update)"
    )
    if _end_failed(deps, row, reason):
        report.failed[row.tenant_code] = reason


def _end_failed(deps: OpsDeps, row: TenantRecord, reason: str) -> bool:
    update = {"status": TenantStatus.FAILED, "last_error": reason, "updated_at": deps.api.now(), "execution": "reconciler"}
    try:
        deps.api.store.update_flow(row.tenant_code, row.request_id, update)
    except FlowSuperseded:
        return False  # a flow (or a request) moved it on meanwhile
    settings = deps.api.settings
    if settings.topic_arn:
        message = {
            "event": row.action.failure_event,
            "tenant_code": row.tenant_code,
            "request_id": row.request_id,
            "status": TenantStatus.FAILED.value,
            "reason": reason,
        }
        _publish(deps, settings.topic_arn, message)
    return True


def _publish(deps: OpsDeps, topic_arn: str, message: dict[str, Any], attempts: int = 4) -> None:
    """Publish, again while it fails transiently: an answer lost may mean it was published
    (SNS standard topics deliver at least once; subscribers deduplicate by request id), but
    an event never published would be lost for good."""
    for attempt in range(attempts):
        try:
            deps.sns.publish(
                TopicArn=topic_arn,
                Message=json.dumps(message),
                MessageAttributes={"event": {"DataType": "String", "StringValue": message["event"]}},
            )
            return
        except (ClientError, BotoCoreError) as exc:
            if not transient(exc) or attempt == attempts - 1:
                raise


def utc_epoch() -> float:
    return datetime.now(timezone.utc).timestamp()
