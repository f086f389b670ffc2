"""Limits and bad files (issue 10 item 10): every input has a bound, a bad one gets a clear
error naming it (and exit code 2 from the command line), never a traceback, a hang or
hundreds of MB of memory."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest

from fake_tfc import FakeTFC, VirtualClock, create_app
from fake_tfc.gateway import MAX_BODY_BYTES
from fake_tfc.transport import SyncASGITransport
from sim.commands.replay import run as replay_command
from sim.commands.run import run as run_command
from sim.engines.gateway import MAX_PAYLOAD_BYTES
from sim.scenarios.loader import ScenarioError, parse_scenario
from tests.conftest import ORG, TOKEN


# ------------------------------------------------------------------ the REST API
def test_a_request_over_api_gateways_10_mb_quota_is_413_and_never_reaches_the_function():
    """API Gateway quotas: a REST API's payload is at most 10 MB (not adjustable)."""
    from sim.engines.rest_api import rest_api_app

    class NoFunction:
        def invoke_api(self, event):  # the function must not be invoked
            raise AssertionError("invoked")

    app = rest_api_app(NoFunction())  # type: ignore[arg-type]
    big = b'{"tenant_code": "acme", "pad": "' + b"x" * MAX_PAYLOAD_BYTES + b'"}'

    async def post() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
            return await http.post("/tenants", content=big)

    resp = asyncio.run(post())
    assert resp.status_code == 413 and resp.json() == {"message": "Request Too Long"}


def test_the_in_process_api_applies_the_same_quota():
    from sim.engines.base import BackendBase
    from sim.engines.gateway import proxy_event

    class NoFunction(BackendBase):
        def client(self, service):
            raise AssertionError("invoked")

    event = proxy_event("POST", "/tenants", raw_body="x" * (MAX_PAYLOAD_BYTES + 1))
    assert NoFunction().invoke_api(event).status == 413


# ------------------------------------------------------------------ the fake TFC
@pytest.fixture
def admin(fake):
    with httpx.Client(transport=SyncASGITransport(create_app(fake)), base_url="http://f") as c:
        yield c


@pytest.mark.parametrize(
    "body, status",
    [
        (b'{"latency": Infinity}', 400),  # not JSON (the stdlib would take it)
        (b'{"latency": NaN}', 400),
        (b'{"latency": 1e9}', 422),
        (b'{"status": 429, "retry_after": 1e300}', 422),
        (b'{"latency": 1e400}', 400),  # orjson: a number out of range
        (b"[" * 100_000 + b"]" * 100_000, 400),
    ],
    ids=["infinity", "nan", "latency-1e9", "retry-after-1e300", "overflow", "deep"],
)
def test_admin_fault_rules_are_strict_json_with_bounded_values(fake, admin, body, status):
    resp = admin.post("/_fake/faults", content=body)
    assert resp.status_code == status, resp.text
    assert "error" in resp.json() and fake.faults.rules() == []


def test_admin_clock_advance_is_bounded(admin):
    assert admin.post("/_fake/clock/advance", json={"seconds": 10 * 366 * 86400}).status_code == 422
    assert admin.post("/_fake/clock/advance", content=b'{"seconds": Infinity}').status_code == 400


def test_a_request_body_over_the_fakes_limit_is_413_and_changes_nothing(fake):
    with httpx.Client(transport=SyncASGITransport(create_app(fake)), base_url="http://f", headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        resp = c.post(f"/api/v2/organizations/{ORG}/workspaces", content=b"x" * (MAX_BODY_BYTES + 1))
    assert resp.status_code == 413 and resp.json()["errors"][0]["status"] == "413"
    assert fake.workspaces == {}


def test_the_journal_never_keeps_a_secret_sent_in_the_query(fake):
    with httpx.Client(transport=SyncASGITransport(create_app(fake)), base_url="http://f") as c:
        c.get("/api/v2/ping", params={"token": "s3cret-token-value", "page[size]": "5", "access_key": "AKIAXXXX"})
        journal = c.get("/_fake/journal").text
    assert "s3cret-token-value" not in journal and "AKIAXXXX" not in journal
    [entry] = fake.journal.entries()
    assert entry.query == "token=REDACTED&page%5Bsize%5D=5&access_key=REDACTED"


def test_wrong_tokens_are_rate_limited_per_client_too():
    """TFC's limit is per token; a client guessing tokens has none, so it is limited by its
    address: beyond 30 a second it gets 429 with Retry-After like anyone else."""
    fake = FakeTFC(VirtualClock(), tokens=[TOKEN], organizations=[ORG])
    with httpx.Client(transport=SyncASGITransport(create_app(fake, rate_limit=True)), base_url="http://f") as c:
        codes = [c.get("/api/v2/ping", headers={"Authorization": f"Bearer guess-{i}"}).status_code for i in range(40)]
    assert codes[:30] == [401] * 30 and set(codes[30:]) == {429}


# ------------------------------------------------------------------ scenario files
BILLION_LAUGHS = "\n".join(
    ["name: laughs", "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    + ["steps: [{get: acme}]"]
)


def test_a_scenario_with_aliases_is_refused_at_once_naming_the_line():
    started = time.perf_counter()
    with pytest.raises(ScenarioError, match=r"laughs.yaml:3: not valid YAML: aliases \(\*name\) are not allowed"):
        parse_scenario(BILLION_LAUGHS, "laughs.yaml")
    assert time.perf_counter() - started < 5  # refused before anything is expanded


@pytest.mark.parametrize(
    "text, message",
    [
        ("name: x\nsteps: [{get: acme}]\nsettings: {run_for: .inf}\n", "at most"),
        ("name: x\nsteps: [{at: 1.0e+400, get: acme}]\n", "at most"),
        ("name: x\nsteps: [{get: acme}]\ntenants: {acme: {tfc: {output_delay: .nan}}}\n", "output_delay"),
        ("name: x\nsteps: [{fault: {tfc: {status: 429, retry_after: 1e300}}}]\n", "retry_after"),
        ("name: x\nsteps: [{fault: {tfc: {latency: .inf}}}]\n", "latency"),
        ("name: x\n" + "a: " + "[" * 50_000 + "]" * 50_000 + "\nsteps: [{get: acme}]\n", "nested too deeply"),
        ("name: x\nsteps: [{get: acme}]\nsettings: {wait_seconds: 1000000000000}\n", "wait_seconds"),
    ],
    ids=["run-for-inf", "at-1e400", "nan", "retry-after", "latency-inf", "deep", "wait"],
)
def test_unbounded_values_in_a_scenario_are_refused(text, message):
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(text, "x.yaml")


def test_sim_run_exits_2_for_a_bad_file(tmp_path, capsys):
    bad = tmp_path / "laughs.yaml"
    bad.write_text(BILLION_LAUGHS)
    assert run_command(argparse.Namespace(files=[str(bad)], seed=None, trace=None, backend="embedded")) == 2
    assert "aliases" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content",
    [
        "",
        "not json\n",
        '{"kind": "header", "version": 1}\n',
        '{"kind": "header", "version": 1, "text": 5, "seed": 0, "scenario": "x"}\n',
        '{"kind": "header", "version": 1, "text": "name: x", "seed": "zero", "scenario": "x"}\n',
        json.dumps({"kind": "header", "version": 1, "text": BILLION_LAUGHS, "seed": 0, "scenario": "x"}) + "\n",
        json.dumps({"kind": "header", "version": 1, "text": "name: [unclosed", "seed": 0, "scenario": "x"}) + "\n",
        "[" * 100_000 + "\n",
        '["a list"]\n',
    ],
    ids=["empty", "not-json", "no-text", "text-not-str", "seed-not-int", "laughs", "bad-yaml", "deep", "not-object"],
)
def test_sim_replay_of_a_crafted_trace_exits_2_with_a_clear_message(tmp_path, capsys, content):
    trace = tmp_path / "crafted.jsonl"
    trace.write_text(content)
    assert replay_command(argparse.Namespace(trace=str(trace))) == 2
    out = capsys.readouterr().out
    assert "Traceback" not in out and ("cannot read the trace" in out or "not valid" in out)
