"""DynamoDB Time to Live on the simulated clock (moto stores a table's TTL setting and never
expires an item).

AWS deletes an expired item "within a few days" of its expiry, in the background, with no
guarantee of when; until then the item is still returned by reads, queries and scans
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html). Here a
sweep runs every ``interval`` simulated seconds and deletes, through the DynamoDB API (so the
same locks apply as for any other writer), each item whose TTL attribute holds a number of
epoch seconds earlier than the simulated time. Items whose attribute is missing or not a
number are never deleted, as on AWS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .clock import SimClock

#: Simulated seconds between two sweeps: AWS gives no bound, so a test should not rely on
#: an expired item being gone sooner than the next sweep.
DEFAULT_SWEEP_SECONDS = 3600.0


class TtlSweeper:
    def __init__(self, clock: SimClock, tables: Callable[[], dict[str, Any]], client: Callable[[str], Any], interval: float = DEFAULT_SWEEP_SECONDS) -> None:
        self._clock = clock
        self._tables = tables
        self._client = client
        self._interval = interval
        self.deleted = 0

    def arm(self) -> None:
        self._clock.call_later(self._interval, self._sweep)

    def _sweep(self) -> None:
        try:
            for name, table in list(self._tables().items()):
                ttl = getattr(table, "ttl", {}) or {}
                if ttl.get("TimeToLiveStatus") == "ENABLED" and ttl.get("AttributeName") and _any_expired(table, ttl["AttributeName"], self._clock.now()):
                    self._expire(name, ttl["AttributeName"])
        finally:
            self.arm()

    def _expire(self, table: str, attribute: str) -> None:
        ddb = self._client("dynamodb")
        now = str(int(self._clock.now()))
        key_names = [k["AttributeName"] for k in ddb.describe_table(TableName=table)["Table"]["KeySchema"]]
        kwargs: dict[str, Any] = {
            "TableName": table,
            # attribute_type first: moto (unlike DynamoDB) raises comparing a string with a number.
            "FilterExpression": "attribute_type(#ttl, :n) AND #ttl < :now",
            "ExpressionAttributeNames": {"#ttl": attribute},
            "ExpressionAttributeValues": {":now": {"N": now}, ":n": {"S": "N"}},
        }
        while True:
            page = ddb.scan(**kwargs)
            for item in page.get("Items", []):
                key = {k: item[k] for k in key_names}
                try:
                    ddb.delete_item(
                        TableName=table, Key=key, ConditionExpression="#ttl < :now",
                        ExpressionAttributeNames={"#ttl": attribute}, ExpressionAttributeValues={":now": {"N": now}},
                    )
                    self.deleted += 1
                except ddb.exceptions.ConditionalCheckFailedException:
                    pass  # rewritten with a later expiry since the scan
            if not page.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _any_expired(table: Any, attribute: str, now: float) -> bool:
    """Whether moto's table holds an item past its expiry: read in-process, so that a sweep
    of a table with nothing to delete (most of them, most of the time) makes no API call. A
    table changing under the read (a served request's thread) is swept through the API."""
    try:
        items = table.all_items()
    except RuntimeError:
        return True
    for item in items:
        value = item.attrs.get(attribute)
        if value is not None and getattr(value, "type", None) == "N":
            try:
                if float(value.value) < now:
                    return True
            except (TypeError, ValueError):
                continue
    return False
