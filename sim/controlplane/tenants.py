"""The tenant table: one DynamoDB row per tenant, changed only by conditional writes so
that at most one flow is in progress per tenant."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import date
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from .aws import describe, no_answer, transient
from .errors import AwsUnavailable, FlowSuperseded, MalformedRow, TenantConflict, TenantNotFound
from .models import TenantRecord
from .statuses import ACTION_ALLOWED_FROM, Action, TenantStatus

_ser = TypeSerializer()
_de = TypeDeserializer()
log = logging.getLogger(__name__)

#: What reading a row can fail with when the row itself is wrong (an unknown status, a
#: missing or ill-typed field, outputs that are not JSON).
_BAD_ROW = (ValidationError, ValueError, KeyError, TypeError, AttributeError)


def _to_item(rec: TenantRecord) -> dict[str, Any]:
    data = rec.model_dump(mode="json")
    # Outputs are arbitrary JSON (floats, nulls): kept as a string, not a DynamoDB map.
    data["outputs"] = json.dumps(data["outputs"], sort_keys=True)
    data = {k: v for k, v in data.items() if v is not None}
    return {k: _ser.serialize(v) for k, v in data.items()}


def _from_item(item: dict[str, Any]) -> TenantRecord:
    data = {k: _de.deserialize(v) for k, v in item.items()}
    data["outputs"] = json.loads(data.get("outputs") or "{}")
    data["version"] = int(data.get("version", 1))
    return TenantRecord.model_validate(data)


def _code_of(item: dict[str, Any]) -> str:
    code = item.get("tenant_code", {})
    return str(code.get("S")) if isinstance(code, dict) and "S" in code else repr(code)[:80]


def _why(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc']) or 'row'}: {first['msg']}"
    return f"{type(exc).__name__}"


def _conditional_failed(exc: ClientError) -> bool:
    code: str | None = exc.response.get("Error", {}).get("Code")
    return code == "ConditionalCheckFailedException"


def allowed(action: Action, code: str, previous: TenantRecord | None) -> None:
    """Refuse an action the tenant's status does not allow (absent: 404; otherwise 409).
    :meth:`TenantStore.begin` checks it; the API checks it first too, before it writes a
    sensitive variable's secret for a request that would be refused."""
    if (previous.status if previous else None) not in ACTION_ALLOWED_FROM[action]:
        if previous is None:
            raise TenantNotFound(f"tenant {code!r} does not exist", "tenant_code")
        raise TenantConflict(
            f"tenant {code!r} is {previous.status.value}; {action.value} is allowed only from "
            + ", ".join(sorted(s.value if s else "absent" for s in ACTION_ALLOWED_FROM[action])),
            "status",
        )


#: Tries of one DynamoDB call that failed transiently (the SDK's own retries come on top).
ATTEMPTS = 4


class TenantStore:
    def __init__(
        self, dynamodb: Any, table: str, attempts: int = ATTEMPTS, on_malformed: Callable[[str, str], None] | None = None
    ) -> None:
        self._db = dynamodb
        self._table = table
        self._attempts = attempts
        #: Told (tenant code, why) of each row a listing or the decommission skipped.
        self.on_malformed = on_malformed

    def _records(self, items: list[dict[str, Any]], skipped: dict[str, str] | None = None) -> list[TenantRecord]:
        """The rows that can be read; each one that cannot is skipped and reported (a log
        line, the caller's metric, and ``skipped``): one bad row must not hide every other
        tenant."""
        out = []
        for item in items:
            try:
                out.append(_from_item(item))
            except _BAD_ROW as exc:
                code, why = _code_of(item), _why(exc)
                log.warning("tenant row %r skipped: malformed (%s)", code, why)
                if self.on_malformed is not None:
                    self.on_malformed(code, why)
                if skipped is not None:
                    skipped[code] = why
        return out

    def _call(self, operation: str, **kwargs: Any) -> Any:
        """A call that is safe to repeat (a read, or a write whose effect is checked by
        reading back), tried again while it fails transiently."""
        last: BaseException | None = None
        for _ in range(self._attempts):
            try:
                return getattr(self._db, operation)(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                if not transient(exc):
                    raise
                last = exc
        assert last is not None
        raise AwsUnavailable(f"the tenant table did not answer {operation} ({describe(last)}); retry", "tenant_code")

    def _item(self, code: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._call(
            "get_item", TableName=self._table, Key={"tenant_code": {"S": code}}, ConsistentRead=True
        ).get("Item")
        return item

    def get(self, code: str) -> TenantRecord | None:
        item = self._item(code)
        if not item:
            return None
        try:
            return _from_item(item)
        except _BAD_ROW as exc:
            raise MalformedRow(f"the stored row of tenant {code!r} is malformed ({_why(exc)}); an operator must repair it", "tenant_code") from None

    def begin(self, record: TenantRecord, previous: TenantRecord | None) -> None:
        """Write the desired state of a new flow, only if the row is still what the
        caller read (``previous``) and the action is allowed from its status."""
        allowed(record.action, record.tenant_code, previous)
        if previous is None:
            cond, names, values = "attribute_not_exists(tenant_code)", None, None
        else:
            cond = "#v = :v"
            names = {"#v": "version"}
            values = {":v": {"N": str(previous.version)}}
        self._put(record, cond, names, values)

    def restore(self, record: TenantRecord, previous: TenantRecord | None) -> bool:
        """Undo ``begin`` (the event could not be put on the bus), unless a flow has claimed
        the request already (:meth:`claim`): then the event did land, the flow is running and
        the request stands. True if undone. The claim and the undo are conditional writes on
        one row, so exactly one of them wins."""
        cond = "request_id = :r AND attribute_not_exists(#e)"
        names = {"#e": "execution"}
        values = {":r": {"S": record.request_id}}
        try:
            if previous is None:
                self._write_checked(
                    record.tenant_code, None, "delete_item",
                    Key={"tenant_code": {"S": record.tenant_code}}, ConditionExpression=cond,
                    ExpressionAttributeNames=names, ExpressionAttributeValues=values,
                )
            else:
                self._put(previous, cond, names, values)
        except TenantConflict:
            return False
        return True

    def claim(self, code: str, request_id: str, execution: str) -> TenantRecord:
        """A flow takes up its request before it acts: the row must still be on that request
        and in progress. After this, the API can no longer roll the request back; before
        it, a rolled-back request is refused here (:class:`FlowSuperseded`), so a flow never
        provisions a request the API answered 503. The latest execution of a request (a
        redelivery, a redrive) takes over."""
        rec = self.get(code)
        if rec is not None and rec.request_id == request_id and rec.execution == execution and rec.status.in_progress:
            return rec  # a retried Trigger of this very execution
        return self.update_flow(code, request_id, {"execution": execution}, read=rec)

    def update_flow(
        self, code: str, request_id: str, update: dict[str, Any], attempts: int = 5, read: TenantRecord | None = None
    ) -> TenantRecord:
        """Change the row of a flow (``request_id``) while it is still in progress.

        Raises :class:`FlowSuperseded` when the row has moved on to another request or
        out of progress. A lost race on the version alone (someone else wrote the row,
        which still belongs to this flow) is re-read and retried, not taken for that.
        """
        for attempt in range(attempts):
            rec = read if attempt == 0 and read is not None else self.get(code)  # ``read``: the row just read
            if rec is None or rec.request_id != request_id or not rec.status.in_progress:
                raise FlowSuperseded(f"flow {request_id} of tenant {code!r} is no longer in progress", "request_id")
            new = rec.model_copy(update={**update, "version": rec.version + 1})
            try:
                self._put(new, "request_id = :r AND #v = :v", {"#v": "version"}, {":r": {"S": request_id}, ":v": {"N": str(rec.version)}})
            except TenantConflict:
                continue
            return new
        raise TenantConflict(f"tenant {code!r}: the row kept changing under flow {request_id}; retry", "tenant_code")

    def page(self, limit: int, start: str | None) -> tuple[list[TenantRecord], str | None]:
        kwargs: dict[str, Any] = {"TableName": self._table, "Limit": limit}
        if start:
            kwargs["ExclusiveStartKey"] = {"tenant_code": {"S": start}}
        resp = self._call("scan", **kwargs)
        last = resp.get("LastEvaluatedKey")
        return self._records(resp.get("Items", [])), (last["tenant_code"]["S"] if last else None)

    def in_progress(self) -> list[TenantRecord]:
        """Tenants with a flow in progress (rows that cannot be read are skipped, reported)."""
        found: list[TenantRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "#s IN (:a, :b, :c)",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {f":{k}": {"S": s.value} for k, s in zip("abc", [x for x in TenantStatus if x.in_progress])},
        }
        while True:
            resp = self._call("scan", **kwargs)
            found += self._records(resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return sorted(found, key=lambda r: r.tenant_code)
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def due_for_decommission(self, today: date, skipped: dict[str, str] | None = None) -> list[TenantRecord]:
        """Tenants whose decommission date has come and that are not deleted (rows that
        cannot be read are reported in ``skipped``)."""
        found: list[TenantRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "decommission_date <= :d AND #s <> :deleted",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":d": {"S": today.isoformat()}, ":deleted": {"S": TenantStatus.DELETED.value}},
        }
        while True:
            resp = self._call("scan", **kwargs)
            found += self._records(resp.get("Items", []), skipped)
            if "LastEvaluatedKey" not in resp:
                return sorted(found, key=lambda r: r.tenant_code)
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def _put(
        self, rec: TenantRecord, cond: str, names: dict[str, str] | None, values: dict[str, Any] | None
    ) -> None:
        item = _to_item(rec)
        kwargs: dict[str, Any] = {"Item": item, "ConditionExpression": cond}
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if values:
            kwargs["ExpressionAttributeValues"] = values
        self._write_checked(rec.tenant_code, item, "put_item", **kwargs)

    def _write_checked(self, code: str, wanted: dict[str, Any] | None, operation: str, **kwargs: Any) -> None:
        """A conditional write that tells the truth when its answer is lost.

        When no answer comes, or the condition fails, the write may have landed anyway (a
        lost answer, or the SDK's own retry of a write that had taken effect fails its
        condition): the row is read back, and if it is exactly what was written
        (``wanted``; ``None``: deleted) the write counts as done. Otherwise a lost answer is
        tried again and a failed condition is a :class:`TenantConflict`."""
        for _ in range(self._attempts):
            try:
                getattr(self._db, operation)(TableName=self._table, **kwargs)
                return
            except (ClientError, BotoCoreError) as exc:
                conflict = isinstance(exc, ClientError) and _conditional_failed(exc)
                if not conflict and not transient(exc):
                    raise
                failure = exc
            if self._item(code) == wanted:
                return  # it landed: a lost answer, or a retry of a write that had landed
            if conflict:
                raise TenantConflict(f"tenant {code!r} changed concurrently; retry", "tenant_code")
        kind = "no answer" if no_answer(failure) else describe(failure)
        raise AwsUnavailable(f"the tenant table did not answer {operation} for {code!r} ({kind}); retry", "tenant_code")

