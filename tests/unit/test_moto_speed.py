"""The speed-only replacements of moto internals (:mod:`sim.engines.embedded.moto_speed`)
answer byte for byte as moto's own code does."""

from __future__ import annotations

from typing import Any

import pytest

from sim.engines.embedded import moto_speed
from sim.engines.embedded.environment import EmbeddedBackend


def _rows(n: int) -> list[dict[str, Any]]:
    statuses = ["ready", "creating", "deleted", "updating", "failed"]
    rows = []
    for i in range(n):
        row: dict[str, Any] = {"tenant_code": {"S": f"t{i:03d}"}, "status": {"S": statuses[i % 5]}, "n": {"N": str(i)}}
        if i % 7 == 0:
            row["payload"] = {"S": "x" * 90_000}  # a few large rows: the 1 MB page limit is reached
        if i % 3 == 0:
            row["decommission_date"] = {"S": f"2026-01-{1 + i % 28:02d}"}
        rows.append(row)
    return rows


SCANS: list[dict[str, Any]] = [
    {},
    {"Limit": 7},
    {"FilterExpression": "#s IN (:a, :b)", "ExpressionAttributeNames": {"#s": "status"},
     "ExpressionAttributeValues": {":a": {"S": "creating"}, ":b": {"S": "updating"}}},
    {"FilterExpression": "#s = :a", "ExpressionAttributeNames": {"#s": "status"},
     "ExpressionAttributeValues": {":a": {"S": "failed"}}, "Limit": 4},
    {"FilterExpression": "decommission_date <= :d AND #s <> :x", "ExpressionAttributeNames": {"#s": "status"},
     "ExpressionAttributeValues": {":d": {"S": "2026-01-15"}, ":x": {"S": "deleted"}}},
    {"FilterExpression": "attribute_exists(payload)", "ProjectionExpression": "tenant_code, n"},
    {"FilterExpression": "n > :z", "ExpressionAttributeValues": {":z": {"N": "40"}}, "Select": "COUNT"},
    {"Segment": 1, "TotalSegments": 3, "FilterExpression": "n < :z", "ExpressionAttributeValues": {":z": {"N": "30"}}},
    {"ScanFilter": {"status": {"AttributeValueList": [{"S": "ready"}], "ComparisonOperator": "EQ"}}},
]


@pytest.mark.parametrize("params", SCANS, ids=[str(i) for i in range(len(SCANS))])
def test_a_filtered_scan_answers_every_page_as_moto_does(monkeypatch, params):
    """A FilterExpression evaluated before the copy, not after: the same items, Count,
    ScannedCount and LastEvaluatedKey on every page (Limit and the 1 MB page count the
    items read before the filter, as DynamoDB's developer guide says for Scan), bytes
    compared."""
    with EmbeddedBackend() as env:
        db = env.client("dynamodb")
        table = env.stack.table
        for row in _rows(90):
            db.put_item(TableName=table, Item=row)
        bodies: list[bytes] = []
        db.meta.events.register("after-call.dynamodb.Scan", lambda http_response, **_: bodies.append(http_response.content))
        answers = {}
        for fast in (False, True):
            monkeypatch.setattr(moto_speed, "FAST_MOTO_INTERNALS", fast)
            bodies.clear()
            pages = 0
            kwargs = dict(params)
            while True:
                resp = db.scan(TableName=table, **kwargs)
                pages += 1
                if "LastEvaluatedKey" not in resp:
                    break
                kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
            answers[fast] = list(bodies)
        assert answers[True] == answers[False]
        if not params:
            assert pages > 1, "the 1 MB limit did not page the full scan: the test would not cover it"


def test_method_names_are_listed_once_per_class_and_as_moto_lists_them(monkeypatch):
    from moto.core import utils
    from moto.dynamodb.responses import DynamoHandler

    listed = []

    def original(clazz: object) -> list[str]:
        listed.append(clazz)
        return utils.method_names_from_class(clazz)

    names = moto_speed.cached_method_names(original)
    first = names(DynamoHandler)
    first.append("mutated by a caller")
    assert names(DynamoHandler) == utils.method_names_from_class(DynamoHandler)
    assert "put_item" in first and listed == [DynamoHandler]


def test_an_attribute_is_sized_as_moto_sizes_it(monkeypatch):
    """Sizes count toward Scan's 1 MB page and the 400 KB item limit: the direct sizes of
    strings (ASCII and not), numbers, booleans and null equal moto's, and the rest is
    moto's own."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    values = [
        {"S": ""}, {"S": "plain"}, {"S": "Grüße \u2603"}, {"N": "-12.50"}, {"N": "0"}, {"BOOL": True}, {"BOOL": False},
        {"NULL": True}, {"SS": ["a", "bb"]}, {"NS": ["1", "22"]}, {"L": [{"S": "x"}, {"N": "3"}]},
        {"M": {"k": {"S": "v"}, "n": {"M": {"z": {"BOOL": False}}}}}, {"B": b"\x00\xff"},
    ]
    sizes = {}
    for fast in (False, True):
        monkeypatch.setattr(moto_speed, "FAST_MOTO_INTERNALS", fast)
        with EmbeddedBackend():
            sizes[fast] = [DynamoType(v).size() for v in values]
    assert sizes[True] == sizes[False]
    assert sizes[True][:4] == [0, 5, len("Grüße \u2603".encode()), 6]
