"""The tenant table: one DynamoDB row per tenant, changed only by conditional writes so
that at most one flow is in progress per tenant."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from .errors import FlowSuperseded, TenantConflict, TenantNotFound
from .models import TenantRecord
from .statuses import ACTION_ALLOWED_FROM, TenantStatus

_ser = TypeSerializer()
_de = TypeDeserializer()


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


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class TenantStore:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self._table = table

    def get(self, code: str) -> TenantRecord | None:
        item = self._db.get_item(TableName=self._table, Key={"tenant_code": {"S": code}}, ConsistentRead=True).get("Item")
        return _from_item(item) if item else None

    def begin(self, record: TenantRecord, previous: TenantRecord | None) -> None:
        """Write the desired state of a new flow, only if the row is still what the
        caller read (``previous``) and the action is allowed from its status."""
        allowed = ACTION_ALLOWED_FROM[record.action]
        current = previous.status if previous else None
        if current not in allowed:
            if previous is None:
                raise TenantNotFound(f"tenant {record.tenant_code!r} does not exist", "tenant_code")
            raise TenantConflict(
                f"tenant {record.tenant_code!r} is {current.value}; {record.action.value} is allowed only from "
                + ", ".join(sorted(s.value if s else "absent" for s in allowed)),
                "status",
            )
        if previous is None:
            cond, names, values = "attribute_not_exists(tenant_code)", None, None
        else:
            cond = "#v = :v"
            names = {"#v": "version"}
            values = {":v": {"N": str(previous.version)}}
        self._put(record, cond, names, values)

    def restore(self, record: TenantRecord, previous: TenantRecord | None) -> None:
        """Undo ``begin`` (the event could not be put on the bus)."""
        if previous is None:
            self._db.delete_item(
                TableName=self._table,
                Key={"tenant_code": {"S": record.tenant_code}},
                ConditionExpression="request_id = :r",
                ExpressionAttributeValues={":r": {"S": record.request_id}},
            )
        else:
            self._put(previous, "request_id = :r", None, {":r": {"S": record.request_id}})

    def update_flow(self, code: str, request_id: str, update: dict[str, Any], attempts: int = 5) -> TenantRecord:
        """Change the row of a flow (``request_id``) while it is still in progress.

        Raises :class:`FlowSuperseded` when the row has moved on to another request or
        out of progress. A lost race on the version alone (someone else wrote the row,
        which still belongs to this flow) is re-read and retried, not taken for that.
        """
        for _ in range(attempts):
            rec = self.get(code)
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
        resp = self._db.scan(**kwargs)
        last = resp.get("LastEvaluatedKey")
        return [_from_item(i) for i in resp.get("Items", [])], (last["tenant_code"]["S"] if last else None)

    def due_for_decommission(self, today: date) -> list[TenantRecord]:
        """Tenants whose decommission date has come and that are not deleted."""
        found: list[TenantRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "decommission_date <= :d AND #s <> :deleted",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":d": {"S": today.isoformat()}, ":deleted": {"S": TenantStatus.DELETED.value}},
        }
        while True:
            resp = self._db.scan(**kwargs)
            found += [_from_item(i) for i in resp.get("Items", [])]
            if "LastEvaluatedKey" not in resp:
                return sorted(found, key=lambda r: r.tenant_code)
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def _put(self, rec: TenantRecord, cond: str, names: dict | None, values: dict | None) -> None:
        kwargs: dict[str, Any] = {"TableName": self._table, "Item": _to_item(rec), "ConditionExpression": cond}
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if values:
            kwargs["ExpressionAttributeValues"] = values
        try:
            self._db.put_item(**kwargs)
        except ClientError as exc:
            if _conditional_failed(exc):
                raise TenantConflict(f"tenant {rec.tenant_code!r} changed concurrently; retry", "tenant_code") from None
            raise

