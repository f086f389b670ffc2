"""Concurrent callers on the embedded backend: what ``sim up`` serves on threads of its own
(the REST API on 8080, the AWS endpoint on 4566) must behave as AWS does under concurrency.

DynamoDB: "conditional writes are ... atomic" and "if the condition expression evaluates to
false, DynamoDB returns ConditionalCheckFailedException" (DynamoDB developer guide,
"Condition expressions"; PutItem API reference, ``ConditionExpression``). So of many
conditional writes racing on one item, exactly one wins.

Thread switching is forced (``sys.setswitchinterval``) so that a check-then-write without a
lock is interleaved in practice, not only in theory.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sim.engines.embedded.environment import EmbeddedBackend, EmbeddedConfig
from sim.engines.iam_auth import httpx_auth


@pytest.fixture
def fast_switching() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def race(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run ``fn(i)`` on ``n`` threads released at once; their results (an exception counts)."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 - the result of the race
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def conditional_failed(result: Any) -> bool:
    return isinstance(result, ClientError) and result.response["Error"]["Code"] == "ConditionalCheckFailedException"


def test_of_many_conditional_writes_racing_on_one_item_exactly_one_wins(fast_switching):
    with EmbeddedBackend() as env:
        db = env.client("dynamodb")
        table = env.stack.table
        for round_ in range(25):
            key = f"race-{round_}"

            def create(i: int) -> str:
                db.put_item(
                    TableName=table,
                    Item={"tenant_code": {"S": key}, "writer": {"N": str(i)}, "version": {"N": "1"}},
                    ConditionExpression="attribute_not_exists(tenant_code)",
                )
                return "won"

            results = race(16, create)
            assert results.count("won") == 1, f"round {round_}: {results.count('won')} winners of attribute_not_exists"
            assert all(r == "won" or conditional_failed(r) for r in results), results

            def bump(i: int) -> str:
                db.put_item(
                    TableName=table,
                    Item={"tenant_code": {"S": key}, "writer": {"N": str(i)}, "version": {"N": "2"}},
                    ConditionExpression="#v = :v",
                    ExpressionAttributeNames={"#v": "version"},
                    ExpressionAttributeValues={":v": {"N": "1"}},
                )
                return "won"

            results = race(16, bump)
            assert results.count("won") == 1, f"round {round_}: {results.count('won')} winners of version = 1"


def test_the_trace_sees_racing_writes_in_the_order_they_took_effect():
    """A scenario's trace reads the tenant rows as DynamoDB applied them, not as each
    caller's thread got round to its answer. Writer A's answer is held back (a botocore
    hook ahead of everything else) until writer B, who wrote on top of A, has had its
    answer: the trace still has A's write first. Read from each caller's answer instead,
    B's would come first (what made a racing burst look like ``deleting -> deleting``)."""
    from sim.scenarios.embedded_stage import EmbeddedStage
    from sim.scenarios.trace import DdbRecord, StatusRecord

    with EmbeddedBackend() as env:
        stage = EmbeddedStage(None, 0, env=env)
        stage.attach()
        db = env.client("dynamodb")
        table, code = env.stack.table, "race-order"
        db.put_item(TableName=table, Item={"tenant_code": {"S": code}, "status": {"S": "ready"}, "request_id": {"S": "v1"}, "version": {"N": "1"}})
        a_written, b_answered = threading.Event(), threading.Event()

        def hold_a(params: Any = None, **_: Any) -> None:
            if threading.current_thread().name == "writer-a":
                a_written.set()
                assert b_answered.wait(10), "writer B never wrote"
            else:
                b_answered.set()

        db.meta.events.register_first("after-call.dynamodb.PutItem", hold_a)

        def write(version: int, status: str) -> None:
            db.put_item(
                TableName=table,
                Item={"tenant_code": {"S": code}, "status": {"S": status}, "request_id": {"S": f"v{version}"}, "version": {"N": str(version)}},
                ConditionExpression="#v = :v",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={":v": {"N": str(version - 1)}},
            )

        def writer_b() -> None:
            assert a_written.wait(10), "writer A never wrote"
            write(3, "deleting")

        threads = [threading.Thread(target=write, args=(2, "failed"), name="writer-a"), threading.Thread(target=writer_b, name="writer-b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        written = [r.request_id for r in stage.trace.of(DdbRecord) if r.op == "PutItem" and r.ok]
        assert written == ["v1", "v2", "v3"]
        seen = [(r.from_, r.to) for r in stage.trace.of(StatusRecord) if r.tenant == code]
        assert seen == [(None, "ready"), ("ready", "failed"), ("failed", "deleting")]


# ------------------------------------------------------------------ the served API
STRESS_CODES = [f"storm-{i}" for i in range(6)]


@pytest.fixture
def served() -> Iterator[tuple[EmbeddedBackend, Any]]:
    from fake_tfc.server import free_port
    from sim.engines.embedded.serve import serve

    env = EmbeddedBackend(EmbeddedConfig(stall_seconds=60, wait_seconds=30)).start()
    try:
        with serve(env, aws_port=free_port(), api_port=free_port(), tfc_port=free_port()) as endpoints:
            env.clock.start_pacer(time_scale=600)  # a 30 s Wait takes 50 ms
            yield env, endpoints
    finally:
        env.stop()


def wait_for(predicate: Callable[[], bool], *, timeout: float) -> bool:
    """A condition polled against a real-time deadline (simulated time flows on its own)."""
    import time

    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        if predicate():
            return True
        pause.wait(0.1)
    return predicate()


def test_a_storm_of_concurrent_requests_on_few_tenants_loses_nothing_and_accepts_one_flow_at_a_time(served):
    """Hundreds of requests from many threads, all on six tenants, through the served REST
    API: each 202 is one flow (its own request id) and every flow ends, with exactly one
    lifecycle event; nothing is accepted twice, nothing answers 5xx."""
    import random

    import httpx

    from tests.lifecycle_events import Lifecycle

    env, ep = served
    lifecycle = Lifecycle(env)
    accepted: dict[str, tuple[str, str]] = {}  # request id -> (method, tenant)
    statuses: list[int] = []
    lock = threading.Lock()

    def client(i: int) -> None:
        rng = random.Random(i)
        with httpx.Client(base_url=ep.api, timeout=30, auth=httpx_auth()) as http:
            for _ in range(REQUESTS_PER_CLIENT):
                code = rng.choice(STRESS_CODES)
                kind = rng.choice(["POST", "POST", "PATCH", "PATCH", "PATCH", "DELETE", "GET"])
                if kind == "POST":
                    r = http.post("/tenants", json={"tenant_code": code, "variables": {"n": str(i)}, "decommission_date": "2099-01-01"})
                elif kind == "PATCH":
                    r = http.patch(f"/tenants/{code}", json={"variables": {"n": str(i)}})
                elif kind == "DELETE":
                    r = http.delete(f"/tenants/{code}")
                else:
                    r = http.get(f"/tenants/{code}")
                with lock:
                    statuses.append(r.status_code)
                    if r.status_code == 202:
                        rid = r.json()["request_id"]
                        assert rid not in accepted, f"request id {rid} answered 202 twice"
                        accepted[rid] = (kind, code)

    results = race(CLIENTS, client)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len(statuses) == CLIENTS * REQUESTS_PER_CLIENT
    assert not [s for s in statuses if s >= 500], sorted(set(statuses))
    assert set(statuses) <= {200, 202, 404, 409}, sorted(set(statuses))

    def ended() -> set[str]:
        return {e["request_id"] for e in lifecycle.events()}

    assert wait_for(lambda: set(accepted) <= ended(), timeout=120), (
        f"{len(set(accepted) - ended())} of {len(accepted)} accepted requests never ended"
    )
    events = lifecycle.events()
    per_request: dict[str, int] = {}
    for e in events:
        per_request[e["request_id"]] = per_request.get(e["request_id"], 0) + 1
    assert set(per_request) == set(accepted), "a lifecycle event for a request that was not accepted"
    assert env.queue_messages("dlq") == [] and env.queue_messages("flow_dlq") == []
    # One flow at a time per tenant: the accepted requests of a tenant alternate with the
    # ends of their flows, which the events' order per tenant shows.
    assert all(n == 1 for n in per_request.values()), {k: n for k, n in per_request.items() if n != 1}
    assert len(accepted) >= len(STRESS_CODES), "the storm accepted almost nothing: it tested nothing"


CLIENTS, REQUESTS_PER_CLIENT = 16, 20


def test_conditional_writes_through_the_served_aws_endpoint_have_one_winner(served, fast_switching):
    """The AWS endpoint (moto's server, its own threads) shares the in-process state: a
    conditional write racing there, or against the control plane, has one winner too."""
    import boto3

    env, ep = served
    clients = [
        boto3.session.Session().client("dynamodb", endpoint_url=ep.aws, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        for _ in range(12)
    ]
    for round_ in range(8):
        key = f"served-{round_}"

        def create(i: int) -> str:
            clients[i].put_item(
                TableName=env.stack.table, Item={"tenant_code": {"S": key}}, ConditionExpression="attribute_not_exists(tenant_code)"
            )
            return "won"

        results = race(len(clients), create)
        assert results.count("won") == 1, results
