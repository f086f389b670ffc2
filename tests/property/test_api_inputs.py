"""The API Lambda under hostile input: whatever a client sends, the answer is one of the
API's own (never the function raising, which API Gateway turns into a 502), and a 400 names
the field. Boundary strings are drawn on purpose: newlines (``re.match`` with ``$`` lets a
trailing one through), other scripts' digits (``str.isdigit`` and ``int`` take them), lone
surrogates (valid JSON escapes that no AWS service can store), the longest names allowed
and one longer, odd date forms ``date.fromisoformat`` takes, and deep nesting.

Runs against moto's DynamoDB and EventBridge in-process (no simulated flow): fast enough
for a few hundred examples in CI."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from sim.controlplane.api import ApiDeps, handle
from sim.controlplane.config import ControlPlaneSettings
from sim.controlplane.statuses import Action
from sim.controlplane.secrets import TenantSecrets
from sim.controlplane.tenants import TenantStore

EXAMPLES = int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "150"))

#: The naming rules, stated here again on purpose (an oracle must not share the code it
#: checks): lowercase letters, digits and single inner hyphens, starting with a letter;
#: identifiers for variable keys. Always matched whole.
TENANT_CODE = re.compile(r"[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*")
VARIABLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")

#: Strings at the edges of what the API's rules accept.
BOUNDARY = [
    "abc\n", "abc\r\n", "\nabc", "abc ", " abc", "a" * 32, "a" * 33, "abc-", "-abc", "a--b", "ab", "",
    "ａｂｃ", "abç", "ab\u200bc", "ab\x00c", "\ud800abc", "abc\udfff", "٣", "５", "²", "1e3", "0x1",
    "k" * 128, "k" * 129, "k\n", "K_1", "_", "1k", "k-1", "2099-01-01", "20990101", "2099-W01-1", "2099-1-1",
    "2099-01-01\n", "٢٠٩٩-٠١-٠١", "9999-12-31", "0000-01-01", "2099-02-29", "2020-01-01",
]
text = st.sampled_from(BOUNDARY) | st.text(max_size=40)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | text
json_values = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(text, c, max_size=3), max_leaves=8)


@st.composite
def bodies(draw: st.DrawFn) -> str:
    """A near-valid body (each member possibly replaced, dropped or added), or junk."""
    kind = draw(st.sampled_from(["near", "near", "near", "json", "raw", "deep"]))
    if kind == "json":
        return json.dumps(draw(json_values))
    if kind == "raw":
        return draw(st.text(max_size=60))
    if kind == "deep":
        depth = draw(st.sampled_from([100, 1_000, 10_000]))
        return '{"tenant_code": "acme", "decommission_date": "2099-01-01", "variables": ' + "[" * depth + "]" * depth + "}"
    doc: dict[str, Any] = {
        "tenant_code": draw(st.sampled_from(["acme", "bravo"]) | text),
        "decommission_date": draw(st.sampled_from(["2099-01-01"]) | text),
        "variables": draw(st.dictionaries(st.sampled_from(["tier", "size"]) | text, st.sampled_from(["gold"]) | text, max_size=3)),
    }
    for member in draw(st.lists(st.sampled_from(list(doc)), max_size=2, unique=True)):
        doc.pop(member) if draw(st.booleans()) else doc.__setitem__(member, draw(json_values))
    if draw(st.booleans()):
        doc[draw(text)] = draw(json_values)
    return json.dumps(doc)


@pytest.fixture(scope="module")
def deps() -> Iterator[ApiDeps]:
    with mock_aws():
        db = boto3.client("dynamodb", region_name="us-east-1")
        db.create_table(
            TableName="tenants",
            KeySchema=[{"AttributeName": "tenant_code", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "tenant_code", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        events = boto3.client("events", region_name="us-east-1")
        for a in Action:
            events.create_event_bus(Name=f"tenants-{a.value}")
        settings_ = ControlPlaneSettings(
            table="tenants", buses={a: f"tenants-{a.value}" for a in Action}, topic_arn="", tfc_secret_id="",
            tfc_address="http://fake", tfc_organization="example-org",
        )
        secrets = TenantSecrets(boto3.client("secretsmanager", region_name="us-east-1"))
        yield ApiDeps(settings=settings_, store=TenantStore(db, "tenants"), events=events, secrets=secrets)


def answer(deps: ApiDeps, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    resp = handle(deps, event)  # an exception here is what API Gateway answers 502 for
    body = json.loads(resp["body"])
    assert resp["statusCode"] in (200, 202, 400, 404, 405, 409), (resp["statusCode"], body)
    if resp["statusCode"] == 400:
        assert isinstance(body.get("field"), str) and body["field"], body
    return resp["statusCode"], body


FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(body=bodies())
def test_any_create_body_gets_one_of_the_apis_answers(deps: ApiDeps, body: str) -> None:
    status, resp = answer(deps, {"httpMethod": "POST", "path": "/tenants", "body": body})
    if status == 202:
        # Accepted means every name in it is one the rules allow, whole.
        assert TENANT_CODE.fullmatch(resp["tenant_code"]) and len(resp["tenant_code"]) <= 32
        assert all(VARIABLE_KEY.fullmatch(k) for k in resp["variables"])
        resp["decommission_date"].encode("ascii")


@FUZZ
@given(code=text, method=st.sampled_from(["GET", "PATCH", "DELETE", "PUT"]), body=bodies())
def test_any_tenant_path_gets_one_of_the_apis_answers(deps: ApiDeps, code: str, method: str, body: str) -> None:
    answer(deps, {"httpMethod": method, "path": f"/tenants/{code}", "body": body if method == "PATCH" else None})


@FUZZ
@given(limit=text, nxt=st.none() | text)
def test_any_listing_query_gets_one_of_the_apis_answers(deps: ApiDeps, limit: str, nxt: str | None) -> None:
    query = {"limit": limit} | ({"next": nxt} if nxt is not None else {})
    status, body = answer(deps, {"httpMethod": "GET", "path": "/tenants", "queryStringParameters": query})
    if status == 200:
        assert limit.isascii() and limit.isdigit() and 1 <= int(limit) <= 100


#: Codes that look right: hypothesis's from_regex treats a final ``$`` as Python does and so
#: also draws a trailing newline, exactly what ``re.match`` with ``$`` lets through.
near_codes = st.from_regex(r"\A[a-z][a-z0-9-]{1,33}$") | st.sampled_from(BOUNDARY) | text
near_keys = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,130}$") | st.sampled_from(BOUNDARY) | text


@FUZZ
@given(code=near_codes)
def test_a_code_is_accepted_only_when_the_whole_of_it_follows_the_rules(deps: ApiDeps, code: str) -> None:
    body = json.dumps({"tenant_code": code, "decommission_date": "2099-01-01"})
    status, resp = answer(deps, {"httpMethod": "POST", "path": "/tenants", "body": body})
    ok = TENANT_CODE.fullmatch(code) is not None and 3 <= len(code) <= 32
    assert (status in (202, 409)) == ok and (status == 400) == (not ok), (code, status, resp)


@FUZZ
@given(key=near_keys)
def test_a_variable_key_is_accepted_only_when_the_whole_of_it_follows_the_rules(deps: ApiDeps, key: str) -> None:
    # PATCH validates the body before it looks the tenant up: 400 for a bad key, else 404.
    status, resp = answer(deps, {"httpMethod": "PATCH", "path": "/tenants/nobody", "body": json.dumps({"variables": {key: "v"}})})
    ok = VARIABLE_KEY.fullmatch(key) is not None and key != "tenant_code"
    assert (status == 404) == ok and (status == 400) == (not ok), (key, status, resp)
