"""Fault rules, the rate limit, the journal and the /_fake admin API."""

from __future__ import annotations

import httpx
import pytest

from fake_tfc import FakeTFC, FaultRule, create_app
from fake_tfc.faults import FaultEngine
from fake_tfc.transport import SyncASGITransport
from tests.conftest import ORG, TOKEN


def _ws_body(name: str) -> dict:
    return {"data": {"type": "workspaces", "attributes": {"name": name}}}


def _fired(engine: FaultEngine, workspace: str, n: int) -> list[bool]:
    return [engine.match("GET", "/api/v2/runs/x", workspace) is not None for _ in range(n)]


def test_probabilistic_faults_for_a_workspace_do_not_depend_on_other_workspaces_traffic():
    rule = FaultRule(name="flaky", status=503, probability=0.3)
    alone, busy = FaultEngine(seed=7), FaultEngine(seed=7)
    alone.add(rule)
    busy.add(rule)
    seen_alone = _fired(alone, "a", 50)
    seen_busy = []
    for _ in range(50):
        _fired(busy, "b", 3)  # interleaved traffic from another workspace
        seen_busy += _fired(busy, "a", 1)
    assert seen_alone == seen_busy
    assert 0 < sum(seen_alone) < 50


def test_another_seed_gives_another_fault_pattern():
    patterns = []
    for seed in (1, 2):
        engine = FaultEngine(seed=seed)
        engine.add(FaultRule(status=503, probability=0.5))
        patterns.append(_fired(engine, "a", 40))
    assert patterns[0] != patterns[1]


def test_count_faults_fire_for_the_next_n_matching_calls_only():
    engine = FaultEngine()
    engine.add(FaultRule(method="POST", path="/api/v2/runs", status=502, count=2))
    assert engine.match("GET", "/api/v2/runs", None) is None
    assert [engine.match("POST", "/api/v2/runs", None) is not None for _ in range(3)] == [True, True, False]


def test_fault_rule_needs_an_effect():
    with pytest.raises(ValueError, match="at least one"):
        FaultRule(path="*")


def test_rate_limit_answers_429_with_both_client_families_headers(clock):
    fake = FakeTFC(clock, tokens=[TOKEN])
    app = create_app(fake, rate_limit=True)
    with httpx.Client(transport=SyncASGITransport(app), base_url="http://f", headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        statuses = [c.get("/api/v2/ping").status_code for _ in range(30)]
        limited = c.get("/api/v2/ping")
        assert statuses == [204] * 30  # 30 requests per second per token (D-INDEX)
        assert limited.status_code == 429
        assert limited.json()["errors"][0]["title"] == "Too many requests"
        assert float(limited.headers["Retry-After"]) == pytest.approx(1.0)
        assert limited.headers["X-RateLimit-Limit"] == "30"
        assert "X-RateLimit-Reset" in limited.headers
        clock.advance(1.0)
        assert c.get("/api/v2/ping").status_code == 204


def test_an_after_fault_loses_the_answer_but_the_request_takes_effect(fake, client):
    fake.faults.add(FaultRule(method="POST", path="*/workspaces", status=502, after=True, count=1))
    r = client.post(f"/api/v2/organizations/{ORG}/workspaces", json=_ws_body("lost"))
    assert r.status_code == 502
    assert client.get(f"/api/v2/organizations/{ORG}/workspaces/lost").status_code == 200
    again = client.post(f"/api/v2/organizations/{ORG}/workspaces", json=_ws_body("lost"))
    assert again.status_code == 422  # the retry meets its own earlier create


def test_a_dropped_connection_is_a_transport_error_in_process(fake, client):
    fake.faults.add(FaultRule(path="/api/v2/ping", drop=True, count=1))
    with pytest.raises(httpx.TransportError):
        client.get("/api/v2/ping")
    assert client.get("/api/v2/ping").status_code == 204
    assert [e.status for e in fake.journal.entries(path="/api/v2/ping")] == [0, 204]


def test_latency_costs_simulated_time_on_a_virtual_clock(fake, client, clock):
    fake.faults.add(FaultRule(path="/api/v2/ping", latency=30, count=1))
    before = clock.now()
    assert client.get("/api/v2/ping", timeout=60).status_code == 204
    assert clock.now() - before == 30


def test_latency_beyond_the_clients_read_timeout_times_the_client_out_on_the_simulated_clock(fake, client, clock):
    # httpx raises ReadTimeout when no answer comes within its read timeout; in-process the
    # latency passes on the simulated clock, so the timeout is kept there too.
    fake.faults.add(FaultRule(name="slow", path="/api/v2/ping", latency=300, count=1))
    before = clock.now()
    with pytest.raises(httpx.ReadTimeout):
        client.get("/api/v2/ping", timeout=10)
    assert clock.now() - before == 10
    assert client.get("/api/v2/ping", timeout=10).status_code == 204
    assert [(e.status, e.fault) for e in fake.journal.entries(path="/api/v2/ping")] == [(0, "slow"), (204, None)]


def test_journal_records_workspace_status_and_fault(fake, client):
    fake.faults.add(FaultRule(name="gw", path="*/workspaces/*", workspace="j*", status=504, count=1))
    client.post(f"/api/v2/organizations/{ORG}/workspaces", json=_ws_body("jw"))
    client.get(f"/api/v2/organizations/{ORG}/workspaces/jw")
    client.get(f"/api/v2/organizations/{ORG}/workspaces/jw")
    entries = fake.journal.entries(workspace="jw")
    assert [(e.method, e.status, e.fault) for e in entries] == [
        ("POST", 201, None), ("GET", 504, "gw"), ("GET", 200, None),
    ]


def test_admin_api_scripts_faults_clock_journal_and_reset(fake, clock):
    app = create_app(fake)
    with httpx.Client(transport=SyncASGITransport(app), base_url="http://f") as admin:
        bad = admin.post("/_fake/scripts", json={"runs": [{"outcome": "explode"}]})
        assert bad.status_code == 422 and "runs.0.outcome" in bad.json()["field"]
        assert admin.post("/_fake/scripts", json={"match": "x*", "runs": [{"outcome": "plan_error"}]}).status_code == 201
        assert admin.get("/_fake/scripts").json()[0]["match"] == "x*"
        assert admin.post("/_fake/faults", json={"name": "f", "status": 503, "count": 1}).status_code == 201
        assert admin.post("/_fake/faults", json={"name": "f", "status": 503}).status_code == 409
        assert admin.post("/_fake/faults", json="not json{").status_code in (400, 422)
        t0 = admin.get("/_fake/clock").json()["now"]
        assert admin.post("/_fake/clock/advance", json={"seconds": 90}).json()["now"] == t0 + 90
        assert admin.post("/_fake/clock/advance", json={"seconds": -1}).status_code == 422
        admin.get("/api/v2/ping", headers={"Authorization": f"Bearer {TOKEN}"})
        assert len(admin.get("/_fake/journal").json()) == 1
        assert admin.post("/_fake/reset").status_code == 204
        assert admin.get("/_fake/journal").json() == [] and admin.get("/_fake/faults").json() == []
        assert admin.post("/_fake/tokens", json={"token": "t2", "organizations": ["o2"]}).status_code == 201
        assert admin.post("/_fake/organizations", json={"name": "o2"}).status_code == 201
    assert fake.token("t2").can_see("o2") and not fake.token("t2").can_see(ORG)


def test_advancing_a_wall_clock_is_refused():
    from fake_tfc import WallClock

    app = create_app(FakeTFC(WallClock()))
    with httpx.Client(transport=SyncASGITransport(app), base_url="http://f") as admin:
        r = admin.post("/_fake/clock/advance", json={"seconds": 1})
        assert r.status_code == 409 and "virtual" in r.json()["error"]


def test_cli_defaults_and_bad_port():
    from fake_tfc.__main__ import parse_args

    args = parse_args([])
    assert (args.host, args.port, args.orgs, args.tokens) == ("127.0.0.1", 8484, None, None)
    args = parse_args(["--org", "a", "--org", "b", "--token", "x", "--token", "y"])
    assert args.orgs == ["a", "b"] and args.tokens == ["x", "y"]
    with pytest.raises(SystemExit):
        parse_args(["--port", "70000"])


# ------------------------------------------------------------ who may use /_fake
async def _call(app, host: str, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"f"), (b"content-type", b"application/json")], "client": (host, 50000), "server": ("f", 80),
    }
    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


@pytest.mark.parametrize("host", ["10.1.2.3", "192.168.0.9", "2001:db8::1", "::ffff:10.0.0.1"])
@pytest.mark.parametrize(
    "method, path, body",
    [("POST", "/_fake/tokens", b'{"token": "minted"}'), ("POST", "/_fake/reset", b""), ("GET", "/_fake/journal", b""), ("POST", "/_fake/faults", b'{"status": 503}')],
)
def test_the_admin_api_refuses_clients_beyond_loopback(fake, host, method, path, body):
    """Anyone who reaches /_fake can mint a token, reveal sensitive outputs or reset the
    fake: only loopback clients may, unless the fake is started to allow others."""
    import asyncio

    status, answer = asyncio.run(_call(create_app(fake), host, method, path, body))
    assert status == 403 and b"loopback" in answer
    assert fake.token("minted") is None and fake.faults.rules() == []


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_clients_may_use_the_admin_api(fake, host):
    import asyncio

    status, _ = asyncio.run(_call(create_app(fake), host, "POST", "/_fake/tokens", b'{"token": "minted"}'))
    assert status == 201 and fake.token("minted") is not None


def test_the_admin_api_answers_others_only_when_explicitly_allowed(fake):
    import asyncio

    status, _ = asyncio.run(_call(create_app(fake, admin_from_anywhere=True), "10.1.2.3", "POST", "/_fake/tokens", b'{"token": "minted"}'))
    assert status == 201
    from fake_tfc.__main__ import parse_args

    assert parse_args(["--admin-from-anywhere"]).admin_from_anywhere and not parse_args([]).admin_from_anywhere


def test_binding_beyond_loopback_is_warned_about():
    from fake_tfc.server import exposure_warning

    assert exposure_warning("127.0.0.1") is None and exposure_warning("::1") is None
    assert "beyond loopback" in (exposure_warning("0.0.0.0") or "")
    assert "beyond loopback" in (exposure_warning("::") or "")


def test_the_api_itself_still_answers_any_client(fake):
    import asyncio

    status, _ = asyncio.run(_call(create_app(fake), "10.1.2.3", "GET", "/api/v2/ping"))
    assert status == 401  # no token: TFC's own answer, not the admin guard's
