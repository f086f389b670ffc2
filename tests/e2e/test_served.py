"""``python -m sim up`` as a user meets it: the REST API over HTTP, the AWS endpoint for
boto3 and localstack-client, the fake TFC, with simulated time flowing (pacer).
Free loopback ports, so a running LocalStack or tenant-sim does not get in the way."""

from __future__ import annotations

import threading
import time

import boto3
import httpx
import localstack_client.session
import pytest

from fake_tfc.server import free_port
from sim.controlplane.statuses import Action
from sim.engines.embedded.environment import EmbeddedBackend, EmbeddedConfig
from sim.engines.embedded.serve import serve
from sim.engines.iam_auth import httpx_auth


def wait_for(predicate, *, timeout: float, interval: float = 0.05) -> bool:
    """Poll a condition with a real-time deadline (the clock runs on its own here)."""
    deadline = time.monotonic() + timeout
    done = threading.Event()
    while time.monotonic() < deadline:
        if predicate():
            return True
        done.wait(interval)
    return predicate()


@pytest.fixture
def served():
    env = EmbeddedBackend(EmbeddedConfig(stall_seconds=30)).start()
    ports = {"aws_port": free_port(), "api_port": free_port(), "tfc_port": free_port()}
    try:
        with serve(env, **ports) as endpoints:
            env.clock.start_pacer(time_scale=2000)  # a 120 s Wait takes 60 ms
            yield env, endpoints, ports
    finally:
        env.stop()


def test_curl_style_create_then_get_reaches_ready_with_outputs(served):
    env, ep, _ = served
    with httpx.Client(base_url=ep.api, timeout=10, auth=httpx_auth()) as http:
        resp = http.post("/tenants", json={"tenant_code": "acme", "variables": {"tier": "gold"}, "decommission_date": "2027-01-01"})
        assert resp.status_code == 202 and resp.json()["status"] == "creating"
        assert wait_for(lambda: http.get("/tenants/acme").json()["status"] == "ready", timeout=30)
        body = http.get("/tenants/acme").json()
        assert body["outputs"]["endpoint"] == "https://acme.tenants.example.test"
        bad = http.post("/tenants", content=b"{not json")
        assert bad.status_code == 400 and bad.json()["field"] == "body"


def test_the_aws_endpoint_shows_the_three_state_machines_to_boto3(served):
    env, ep, _ = served
    sfn = boto3.client("stepfunctions", endpoint_url=ep.aws, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    names = sorted(m["name"] for m in sfn.list_state_machines()["stateMachines"])
    assert names == sorted(f.state_machine for f in env.stack.flows)


def test_localstack_client_reaches_it_through_its_endpoint_configuration(served, monkeypatch):
    env, ep, ports = served
    monkeypatch.setenv("LOCALSTACK_HOST", f"127.0.0.1:{ports['aws_port']}")
    session = localstack_client.session.Session(region_name="us-east-1")
    ddb = session.client("dynamodb")
    assert env.stack.table in ddb.list_tables()["TableNames"]


def test_an_event_put_from_outside_reaches_the_state_machine(served):
    # The bus is reachable through the endpoint too: an event put by another process is
    # delivered by our EventBridge layer (moto alone would answer 500).
    env, ep, _ = served
    events = boto3.client("events", endpoint_url=ep.aws, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    resp = events.put_events(Entries=[{"Source": "someone.else", "DetailType": "tenant.create", "Detail": "{}", "EventBusName": env.stack.flow(Action.CREATE).bus}])
    assert resp["FailedEntryCount"] == 0
    # Source does not match the rule's pattern: nothing starts, nothing is dead-lettered.
    assert wait_for(lambda: env.clock.now() > env.config.start + 5, timeout=5)
    assert env.deliveries == []


def test_execution_history_at_the_aws_endpoint_shows_simulated_time(served):
    """What `aws --endpoint-url ... stepfunctions get-execution-history` shows against
    `sim up` lines up with the simulation: the execution starts when EventBridge started it
    on the simulated clock, and its 120 s Wait spans 120 simulated seconds (at 2000x that
    is 60 ms of real time; the wall clock would show about that)."""
    env, ep, _ = served
    with httpx.Client(base_url=ep.api, timeout=10, auth=httpx_auth()) as http:
        http.post("/tenants", json={"tenant_code": "hist", "variables": {"tier": "gold"}, "decommission_date": "2027-01-01"})
        assert wait_for(lambda: http.get("/tenants/hist").json()["status"] == "ready", timeout=30)
    started = next(d for d in env.deliveries if d.outcome == "started")
    sfn = boto3.client("stepfunctions", endpoint_url=ep.aws, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    described = sfn.describe_execution(executionArn=started.detail)
    # (time flows here, so simulated instants have fractions; the API shows milliseconds)
    assert described["startDate"].timestamp() == pytest.approx(started.at, abs=1e-3)
    events = sfn.get_execution_history(executionArn=started.detail)["events"]
    stamps = [e["timestamp"].timestamp() for e in events]
    assert stamps == sorted(stamps)
    assert env.config.start <= stamps[0] and stamps[-1] <= env.clock.now() + 1e-3
    entered = next(e for e in events if e["type"] == "WaitStateEntered")["timestamp"]
    exited = next(e for e in events if e["type"] == "WaitStateExited")["timestamp"]
    assert (exited - entered).total_seconds() == pytest.approx(env.stack.wait_seconds, abs=2e-3)
    assert described["stopDate"].timestamp() == pytest.approx(stamps[-1], abs=1e-3)


def test_a_moto_reset_on_the_aws_endpoint_is_announced_and_the_api_answers_502_json():
    """moto's ``POST /moto-api/reset`` wipes every backend, the running simulation's too.
    It is announced (not silent), and the REST API then answers as API Gateway does when it
    cannot invoke its function: 502 with a JSON body, never a plain-text 500."""
    notices: list[str] = []
    env = EmbeddedBackend(EmbeddedConfig(stall_seconds=30)).start()
    try:
        with serve(env, aws_port=free_port(), api_port=free_port(), tfc_port=free_port(), notify=notices.append) as ep:
            with httpx.Client(timeout=10) as http:
                assert http.get(f"{ep.api}/tenants", auth=httpx_auth()).status_code == 200
                assert http.post(f"{ep.aws}/moto-api/reset").status_code == 200
                assert len(notices) == 1 and "WIPED" in notices[0] and "/moto-api/reset" in notices[0], f"the reset was not announced: {notices}"
                after = http.get(f"{ep.api}/tenants", auth=httpx_auth())
                assert after.status_code == 502, f"answered {after.status_code} {after.text[:80]!r}, not API Gateway's 502"
                assert after.json() == {"message": "Internal server error"}
                assert after.headers["content-type"].startswith("application/json")
    finally:
        env.stop()
