"""Idempotency keys end to end, through the embedded backend's REST API (API Gateway proxy
events to the real API function) and the flows they start.

IETF HTTPAPI draft "The Idempotency-Key HTTP Header Field": the same key with the same
request is answered once (a retry gets the first answer again, and nothing is done twice);
the same key with a different request is 422; a retry while the first is being handled is
409. Here a key's answer is kept 24 hours, and an error answer frees the key."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from sim.controlplane.api import SOURCE
from sim.controlplane.idempotency import HEADER, KEY_TTL_SECONDS, REPLAYED_HEADER
from sim.controlplane.statuses import Action
from sim.engines.embedded.environment import EmbeddedBackend
from sim.engines.gateway import ApiResponse
from sim.engines.iam_auth import httpx_auth
from tests.e2e.conftest import settle
from tests.e2e.test_concurrency import fast_switching, race, served, wait_for  # noqa: F401 - fixtures

BODY = {"tenant_code": "acme", "variables": {"tier": "gold"}, "decommission_date": "2099-01-01"}


def keyed(env: EmbeddedBackend, method: str, path: str, key: str, body: Any = None) -> ApiResponse:
    return env.api(method, path, body, headers={HEADER: key})


def runs(env: EmbeddedBackend) -> int:
    return len(env.fake.journal.entries(method="POST", path="/api/v2/runs"))


def executions(env: EmbeddedBackend, action: Action) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = env.client("stepfunctions").list_executions(stateMachineArn=env.stack.state_machine_arn(action))["executions"]
    return found


def key_items(env: EmbeddedBackend) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = env.client("dynamodb").scan(TableName=env.stack.idempotency_table)["Items"]
    return items


def replayed(resp: ApiResponse) -> bool:
    return resp.headers.get(REPLAYED_HEADER) == "true"


def assert_replay_of(again: ApiResponse, first: ApiResponse) -> None:
    assert replayed(again), again.headers
    assert not replayed(first)
    assert (again.status, again.raw_body) == (first.status, first.raw_body)


# ------------------------------------------------------------------ replays
def test_a_retried_create_with_the_same_key_gets_the_first_answer_and_starts_no_second_flow(env):
    first = keyed(env, "POST", "/tenants", "create-1", BODY)
    assert first.status == 202 and first.body["status"] == "creating"
    again = keyed(env, "POST", "/tenants", "create-1", json.loads(json.dumps(dict(reversed(BODY.items())))))
    assert_replay_of(again, first)
    assert settle(env, "acme")["status"] == "ready"
    # After the flow ended, a late retry still gets the first answer, not a 409.
    late = keyed(env, "POST", "/tenants", "create-1", BODY)
    assert_replay_of(late, first)
    assert len(executions(env, Action.CREATE)) == 1 and runs(env) == 1
    # Without a key, the same request is a conflict, as before.
    assert env.api("POST", "/tenants", BODY).status == 409


def test_a_retried_update_with_the_same_key_starts_no_second_update(env):
    keyed(env, "POST", "/tenants", "c", BODY)
    settle(env, "acme")
    first = keyed(env, "PATCH", "/tenants/acme", "u", {"variables": {"tier": "platinum"}})
    assert first.status == 202 and first.body["status"] == "updating"
    assert_replay_of(keyed(env, "PATCH", "/tenants/acme", "u", {"variables": {"tier": "platinum"}}), first)
    assert settle(env, "acme")["variables"] == {"tier": "platinum"}
    assert_replay_of(keyed(env, "PATCH", "/tenants/acme", "u", {"variables": {"tier": "platinum"}}), first)
    assert len(executions(env, Action.UPDATE)) == 1 and runs(env) == 2


def test_a_late_retry_of_a_create_after_a_delete_does_not_create_the_tenant_again(env):
    first = keyed(env, "POST", "/tenants", "create-1", BODY)
    settle(env, "acme")
    deleting = keyed(env, "DELETE", "/tenants/acme", "delete-1")
    assert deleting.status == 202
    assert_replay_of(keyed(env, "DELETE", "/tenants/acme", "delete-1"), deleting)
    assert settle(env, "acme")["status"] == "deleted"
    assert_replay_of(keyed(env, "POST", "/tenants", "create-1", BODY), first)
    env.advance(3600)
    assert env.status("acme") == "deleted"
    assert len(executions(env, Action.CREATE)) == 1 and len(executions(env, Action.DELETE)) == 1 and runs(env) == 2


# ------------------------------------------------------------------ refusals
@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", "/tenants", {**BODY, "variables": {"tier": "platinum"}}),
        ("PATCH", "/tenants/acme", {"variables": {"tier": "gold"}}),
        ("DELETE", "/tenants/acme", None),
    ],
    ids=["other-body", "other-method-and-path", "delete"],
)
def test_the_same_key_with_a_different_request_is_422_naming_the_header(env, method, path, body):
    keyed(env, "POST", "/tenants", "k", BODY)
    settle(env, "acme")
    resp = keyed(env, method, path, "k", body)
    assert resp.status == 422
    assert resp.body["field"] == HEADER and "another request" in resp.body["error"]
    assert not replayed(resp)
    assert env.status("acme") == "ready" and runs(env) == 1


def test_the_same_key_while_the_first_request_is_handled_is_409(env):
    from sim.controlplane.api import request_fingerprint
    from sim.controlplane.idempotency import IdempotencyStore
    from sim.engines.gateway import proxy_event

    event = proxy_event("POST", "/tenants", BODY, headers={HEADER: "k"})
    # The first request has taken the key and not answered yet (it is in its PutEvents).
    IdempotencyStore(env.client("dynamodb"), env.stack.idempotency_table, now=env.clock.now).begin("k", request_fingerprint(event), "POST", "/tenants")
    resp = env.invoke_api(event)
    assert resp.status == 409 and resp.body["field"] == HEADER
    assert env.status("acme") is None


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "a\u0007b", "ключ"], ids=["empty", "blank", "too-long", "bell", "non-ascii"])
def test_a_malformed_key_is_400_naming_the_header_and_changes_nothing(env, key):
    resp = keyed(env, "POST", "/tenants", key, BODY)
    assert resp.status == 400 and resp.body["field"] == HEADER
    assert env.status("acme") is None and key_items(env) == []


def test_two_different_keys_in_one_request_are_400(env):
    from sim.engines.gateway import proxy_event

    event = proxy_event("POST", "/tenants", BODY)
    event["headers"][HEADER] = "b"
    event["multiValueHeaders"][HEADER] = ["a", "b"]
    resp = env.invoke_api(event)
    assert resp.status == 400 and resp.body["field"] == HEADER
    assert env.status("acme") is None


def test_a_refused_request_frees_its_key(env):
    assert keyed(env, "PATCH", "/tenants/acme", "k", {"variables": {"tier": "x"}}).status == 404
    assert key_items(env) == []
    created = keyed(env, "POST", "/tenants", "k", BODY)  # another request under the freed key
    assert created.status == 202 and not replayed(created)


def test_a_503_leaves_the_key_free_for_the_retry(env):
    from sim.engines.embedded.faults import AwsCallFault, AwsFaultEffect

    env.faults.aws_calls.append(AwsCallFault(service="events", operation="PutEvents", effect=AwsFaultEffect.REFUSED, times=3))
    refused = keyed(env, "POST", "/tenants", "k", BODY)
    assert refused.status == 503
    assert key_items(env) == [] and env.status("acme") is None
    retry = keyed(env, "POST", "/tenants", "k", BODY)
    assert retry.status == 202 and not replayed(retry)
    assert_replay_of(keyed(env, "POST", "/tenants", "k", BODY), retry)
    assert settle(env, "acme")["status"] == "ready"
    assert runs(env) == 1


# ------------------------------------------------------------------ the window
def test_after_24_hours_the_same_key_is_a_new_request_even_before_ttl_deletes_it(env):
    first = keyed(env, "POST", "/tenants", "k", BODY)
    settle(env, "acme")
    assert keyed(env, "DELETE", "/tenants/acme", "d").status == 202
    settle(env, "acme")
    env.clock.advance_to(env.config.start + KEY_TTL_SECONDS + 30)
    stored = {i["idempotency_key"]["S"] for i in key_items(env)}
    assert "k" in stored, "the TTL sweep deleted the record already: the lazy-deletion case is not tested"
    again = keyed(env, "POST", "/tenants", "k", BODY)
    assert again.status == 202 and not replayed(again)
    assert again.body["request_id"] != first.body["request_id"]
    assert settle(env, "acme")["status"] == "ready"
    assert len(executions(env, Action.CREATE)) == 2 and runs(env) == 3


def test_the_ttl_sweep_deletes_key_records_past_their_window(env):
    keyed(env, "POST", "/tenants", "k", BODY)
    assert len(key_items(env)) == 1
    env.advance(KEY_TTL_SECONDS + 2 * 3600)
    assert key_items(env) == []


# ------------------------------------------------------------------ the flow
def test_a_redelivered_event_with_a_key_starts_no_second_run(env):
    """EventBridge delivers at least once. The event carries the key and the request id;
    Trigger's claim fences by request id, and the run already started for the request is
    reused, so a redelivery (during the flow, or after it ended) starts no run."""
    assert keyed(env, "POST", "/tenants", "k", BODY).status == 202
    assert env.run_until(lambda: runs(env) == 1, max_seconds=600)
    [execution] = executions(env, Action.CREATE)
    detail = json.loads(env.client("stepfunctions").describe_execution(executionArn=execution["executionArn"])["input"])["detail"]
    assert detail["idempotency_key"] == "k"
    entry = {"Source": SOURCE, "DetailType": Action.CREATE.detail_type, "Detail": json.dumps(detail), "EventBusName": env.stack.flow(Action.CREATE).bus}

    def redeliver() -> None:
        assert env.client("events").put_events(Entries=[entry])["FailedEntryCount"] == 0

    redeliver()  # mid-flow: the first execution is waiting to poll its run
    assert settle(env, "acme")["status"] == "ready"
    redeliver()  # after the flow ended
    env.advance(3600)
    assert len(executions(env, Action.CREATE)) == 3, "the redeliveries did not start executions: nothing was tested"
    assert runs(env) == 1
    assert env.status("acme") == "ready"


def test_an_event_without_a_key_carries_no_key_field(env):
    assert env.api("POST", "/tenants", BODY).status == 202
    env.run_until(lambda: bool(executions(env, Action.CREATE)), max_seconds=60)
    [execution] = executions(env, Action.CREATE)
    detail = json.loads(env.client("stepfunctions").describe_execution(executionArn=execution["executionArn"])["input"])["detail"]
    assert "idempotency_key" not in detail


# ------------------------------------------------------------------ concurrency
def test_many_concurrent_requests_with_one_key_start_exactly_one_flow(served, fast_switching):  # noqa: F811
    """Through the served REST API (HTTP, many threads): one request handles the key;
    every other gets its answer replayed or 409 while it is being handled."""
    env, ep = served

    def post(i: int) -> httpx.Response:
        with httpx.Client(base_url=ep.api, timeout=30, auth=httpx_auth()) as http:
            return http.post("/tenants", json=BODY, headers={"idempotency-key": "storm"})

    # The clock holds still during the storm: paced 600x, a loaded machine's tenth of a
    # second is a simulated minute, past the key's 60 s lease, and a waiting request would
    # rightly take over the key of one still being handled.
    env.clock.stop_pacer()
    try:
        answers = race(16, post)
    finally:
        env.clock.start_pacer(time_scale=600)
    assert not [a for a in answers if isinstance(a, Exception)], answers
    handled = [a for a in answers if a.status_code == 202 and a.headers.get(REPLAYED_HEADER) != "true"]
    assert len(handled) == 1, [(a.status_code, dict(a.headers)) for a in answers]
    for a in answers:
        assert a.status_code in (202, 409), (a.status_code, a.text)
        if a.status_code == 202:
            assert a.text == handled[0].text
        else:
            assert a.json()["field"] == HEADER
    assert wait_for(lambda: env.status("acme") == "ready", timeout=60)
    assert len(executions(env, Action.CREATE)) == 1 and runs(env) == 1
