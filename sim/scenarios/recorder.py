"""Watches an embedded backend from outside the control plane and writes the trace:
API requests, bus deliveries and DLQ writes, Lambda invocations, TFC calls, DynamoDB
writes and the tenant status transitions they make, SNS publishes.

It observes through the backend's own seams (botocore events on the shared clients,
the dispatcher and delivery listeners, the fake TFC's journal), so a broken control
plane is recorded as it behaves, not as it should.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from fake_tfc.journal import JournalEntry
from sim.controlplane.statuses import TenantStatus
from sim.embedded.delivery import DeliveryRecord
from sim.embedded.environment import EmbeddedBackend
from sim.embedded.lambdas import Invocation

from .trace import Trace

_de = TypeDeserializer()
_IN_PROGRESS = {s.value for s in TenantStatus if s.in_progress}


@dataclass
class Conflicts:
    """Tenants whose next flow write is made to lose a conditional check."""

    pending: set[str] = field(default_factory=set)


class Recorder:
    def __init__(self, env: EmbeddedBackend, trace: Trace) -> None:
        self.env = env
        self.trace = trace
        self.statuses: dict[str, str] = {}
        self.requests: dict[str, str | None] = {}
        self.run_ids: dict[str, set[str]] = {}
        self.conflicts = Conflicts()
        self._local = threading.local()
        env.invocation_listeners.append(self._invocation)
        env.delivery_listeners.append(self._delivery)
        env.fake.journal.subscribe(self._tfc)
        ddb = env.client("dynamodb")
        ddb.meta.events.register("provide-client-params.dynamodb.PutItem", self._before_put)
        ddb.meta.events.register("after-call.dynamodb.PutItem", self._after_put)
        env.client("sns").meta.events.register("provide-client-params.sns.Publish", self._sns)
        env.client("sqs").meta.events.register("provide-client-params.sqs.SendMessage", self._sqs)

    def now(self) -> float:
        return self.env.clock.now()

    # ------------------------------------------------------------- sources
    def api(self, method: str, path: str, status: int, body: Any) -> None:
        fields: dict[str, Any] = {"method": method, "path": path, "status": status}
        if isinstance(body, dict):
            for key in ("tenant_code", "status", "request_id", "decommission_date", "error", "field"):
                if key in body:
                    fields[f"body_{key}"] = body[key]
        self.trace.add(self.now(), "api", **fields)

    def step(self, kind: str, **fields: Any) -> None:
        self.trace.add(self.now(), "step", step=kind, **fields)

    def _invocation(self, inv: Invocation) -> None:
        fields: dict[str, Any] = {"function": inv.function, "n": inv.number, "request_id": inv.request_id, "started": round(inv.started - self.trace.start, 3)}
        if inv.throttled:
            fields["throttled"] = True
        if inv.error_type:
            fields["error"] = inv.error_type
        tenant = _tenant_of(inv.event)
        if tenant:
            fields["tenant"] = tenant
        if inv.function.endswith("-decommission") and isinstance(inv.result, dict):
            fields["decommission"] = {k: inv.result.get(k) for k in ("date", "deleting", "skipped_mid_flow", "errors")}
        if inv.function.endswith("-check") and isinstance(inv.result, dict):
            fields["run_status"] = inv.result.get("status")
        self.trace.add(self.now(), "lambda", **fields)

    def _delivery(self, rec: DeliveryRecord) -> None:
        self.trace.add(self.now(), "delivery", rule=rec.rule_arn.rsplit("/", 1)[-1], target=rec.target_arn.rsplit(":", 1)[-1], event_id=rec.event_id, outcome=rec.outcome, detail=rec.detail)

    def _tfc(self, entry: JournalEntry) -> None:
        if entry.method == "POST" and entry.path == "/api/v2/runs" and entry.workspace_id:
            # The runs TFC holds, whatever the client heard (a lost answer still made one).
            ws = self.env.fake.workspaces.get(entry.workspace_id)
            if ws is not None:
                self.run_ids.setdefault(ws.name, set()).update(ws.run_ids)
        self.trace.add(entry.time, "tfc", method=entry.method, path=entry.path, status=entry.status, workspace=entry.workspace, fault=entry.fault)

    # ------------------------------------------------------------ DynamoDB
    def _before_put(self, params: dict[str, Any], **_: Any) -> None:
        item = params.get("Item", {})
        self._local.put = item
        code = item.get("tenant_code", {}).get("S")
        cond = params.get("ConditionExpression", "")
        if code in self.conflicts.pending and "#v" in cond:
            self.conflicts.pending.discard(code)
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
        self.trace.add(self.now(), "fault", fault="dynamodb_conflict", tenant=code)

    def _after_put(self, http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        item = getattr(self._local, "put", None) or {}
        self._local.put = None
        row = {k: _de.deserialize(v) for k, v in item.items() if k in ("tenant_code", "status", "request_id", "last_error")}
        code = row.get("tenant_code")
        ok = http_response.status_code < 300
        self.trace.add(self.now(), "ddb", op="PutItem", tenant=code, status=row.get("status"), request_id=row.get("request_id"), ok=ok, error=None if ok else parsed.get("Error", {}).get("Code"))
        new_flow = row.get("request_id") != self.requests.get(code) and row.get("status") in _IN_PROGRESS
        if ok and code is not None and (row.get("status") != self.statuses.get(code) or new_flow):
            self.trace.add(
                self.now(), "status", tenant=code, **{"from": self.statuses.get(code)}, to=row.get("status"),
                request_id=row.get("request_id"), last_error=row.get("last_error"),
            )
            self.statuses[code] = row.get("status")
        if ok and code is not None:
            self.requests[code] = row.get("request_id")

    # --------------------------------------------------------- SNS and SQS
    def _sns(self, params: dict[str, Any], **_: Any) -> None:
        try:
            msg = json.loads(params.get("Message", ""))
        except ValueError:
            msg = {"raw": params.get("Message", "")[:200]}
        self.trace.add(self.now(), "sns", **{k: msg.get(k) for k in ("event", "tenant_code", "request_id", "status", "reason")})

    def _sqs(self, params: dict[str, Any], **_: Any) -> None:
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
            self.now(), "dlq", queue=params.get("QueueUrl", "").rsplit("/", 1)[-1], error_code=attrs.get("ERROR_CODE"),
            exhausted=attrs.get("EXHAUSTED_RETRY_CONDITION"), retry_attempts=int(attrs.get("RETRY_ATTEMPTS", "0")),
            tenant=detail.get("tenant_code"), request_id=detail.get("request_id"), action=detail.get("action"),
        )

    def flow_dlq(self) -> list[dict[str, Any]]:
        """Drain the flow DLQ (written by Step Functions' own SQS client) into the trace."""
        found = []
        for msg in self.env.dlq_messages("flow_dlq"):
            state = json.loads(msg["Body"])
            detail = state.get("detail", {})
            rec = self.trace.add(self.now(), "flow_dlq", tenant=detail.get("tenant_code"), request_id=detail.get("request_id"), error=(state.get("finalize_error") or {}).get("Error"))
            found.append(rec)
        return found


def _tenant_of(event: Any) -> str | None:
    if isinstance(event, dict):
        detail = event.get("detail")
        if isinstance(detail, dict) and isinstance(detail.get("tenant_code"), str):
            return detail["tenant_code"]
    return None
