"""``python -m sim up`` watched and driven: the control API beside ``/_fake/`` (the clock, faults
a scenario can inject plus PutEvents failures, the report so far), the console's lines and
table, a port already taken, and Ctrl-C / SIGTERM stopping every server."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from fake_tfc.server import free_port
from sim.engines.embedded.environment import EmbeddedBackend, EmbeddedConfig
from sim.engines.embedded.serve import serve
from sim.engines.rest_api import rest_api_app
from sim.live.control import control_app
from sim.live.run import LiveRun
from sim.engines.iam_auth import httpx_auth

CREATE = {"variables": {"tier": "gold"}, "decommission_date": "2027-01-01"}


def eventually(predicate, *, timeout: float, interval: float = 0.05) -> bool:
    """A condition with a real-time deadline (the clock runs on its own when resumed)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        if predicate():
            return True
        pause.wait(interval)
    return predicate()


@pytest.fixture
def up() -> Iterator[tuple[LiveRun, httpx.Client, httpx.Client]]:
    """What ``sim up --virtual-clock`` serves, in-process on free ports: (run, REST API, control)."""
    env = EmbeddedBackend(EmbeddedConfig(stall_seconds=30)).start()
    try:
        live = LiveRun(env, time_scale=600, paused=True)
        apps = {"tfc_app": control_app(live, env.tfc_app), "api_app": rest_api_app(env, live.api_seen)}
        with serve(env, aws_port=free_port(), api_port=free_port(), tfc_port=free_port(), **apps) as ep:
            live.start()
            with httpx.Client(base_url=ep.api, timeout=30, auth=httpx_auth()) as api, httpx.Client(base_url=ep.tfc, timeout=60) as control:
                yield live, api, control
    finally:
        env.stop()


def test_a_paused_clock_moves_only_when_told(up):
    live, api, control = up
    assert control.get("/_sim/clock").json() | {"now": 0, "time": ""} == {"now": 0, "time": "", "elapsed": 0.0, "paused": True, "time_scale": 600}
    assert api.post("/tenants", json={"tenant_code": "acme", **CREATE}).status_code == 202
    assert api.get("/tenants/acme").json()["status"] == "creating"
    assert control.post("/_sim/clock/advance", json={"seconds": 600}).json()["elapsed"] == 600
    assert api.get("/tenants/acme").json()["status"] == "ready"
    rows = control.get("/_sim/tenants").json()
    assert rows["acme"]["status"] == "ready" and rows["acme"]["last_event"] == "tenant.created"
    lines = [(line.kind, line.text) for line in live.board.take_lines()]
    assert ("api", "POST /tenants (acme) -> 202 creating") in lines
    assert ("flow_end", "acme: create ended ready after 2 min") in lines


def test_resume_pause_and_scale(up):
    live, _, control = up
    assert control.post("/_sim/clock/scale", json={"time_scale": 3000}).json()["time_scale"] == 3000
    assert control.post("/_sim/clock/resume").json()["paused"] is False
    assert eventually(lambda: control.get("/_sim/clock").json()["elapsed"] > 60, timeout=20)
    stopped_at = control.post("/_sim/clock/pause").json()["elapsed"]
    assert control.get("/_sim/clock").json()["elapsed"] == stopped_at  # nothing moves it now
    refused = control.post("/_sim/clock/scale", json={"time_scale": 0})
    assert refused.status_code == 422 and refused.json()["field"] == "time_scale"


def test_faults_a_scenario_can_inject_and_putevents_failures(up):
    live, api, control = up
    # A Lambda error at Trigger (not retried: not a transient error) fails the flow.
    assert control.post("/_sim/faults", json={"lambda": {"function": "trigger", "kind": "error", "error_type": "Boom"}}).status_code == 201
    api.post("/tenants", json={"tenant_code": "acme", **CREATE})
    control.post("/_sim/clock/advance", json={"seconds": 600})
    assert api.get("/tenants/acme").json()["status"] == "failed"
    # PutEvents failing on every attempt: the API answers 503 and writes nothing.
    assert control.post("/_sim/faults", json={"put_events": {"times": 3}}).status_code == 201
    refused = api.post("/tenants", json={"tenant_code": "beta", **CREATE})
    assert refused.status_code == 503 and "not accepted" in refused.json()["error"]
    assert api.get("/tenants/beta").status_code == 404
    # StartExecution refused for every update: EventBridge retries, then dead-letters.
    control.post("/_sim/faults", json={"start_execution": {"action": "update", "times": -1}})
    api.patch("/tenants/acme", json={"variables": {"tier": "silver"}})
    control.post("/_sim/clock/advance", json={"seconds": 2 * 86400})
    lines = live.board.take_lines()
    assert any(line.kind == "dlq" and line.tenant == "acme" for line in lines)
    # ... and the stack's alarms said so on the console: the failed flow, the dead letter
    alarms = [line.text for line in lines if line.kind == "alarm"]
    for alarm in ("tenant-sim-failed-flows", "tenant-sim-events-dlq-messages"):
        assert any(text.startswith(f"alarm {alarm}: ") and text.endswith(" -> ALARM") for text in alarms), alarms
    listed = control.get("/_sim/faults").json()
    assert listed["put_events"][0]["fired"] == 3 and listed["start_execution"][0]["state_machine"].endswith("update")
    assert control.delete("/_sim/faults").status_code == 204
    assert control.get("/_sim/faults").json()["lambda"] == []
    bad = control.post("/_sim/faults", json={"lambda": {"function": "nope", "kind": "throttle"}})
    assert bad.status_code == 422 and bad.json()["field"] == "lambda.function"
    assert control.post("/_sim/faults", content=b"{not json").status_code == 400


def test_the_report_so_far_and_the_fake_tfc_beside_it(up):
    live, api, control = up
    api.post("/tenants", json={"tenant_code": "acme", **CREATE})
    control.post("/_sim/clock/advance", json={"seconds": 600})
    page = control.get("/_sim/report")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'class="lane" data-tenant="acme"' in page.text and live.env.config.tfc_token not in page.text
    assert control.get("/api/v2/ping", headers={"Authorization": f"Bearer {live.env.config.tfc_token}"}).status_code == 204
    assert control.get("/_fake/journal").status_code == 200


# ------------------------------------------------------------------ the command itself
def _command(*extra: str) -> list[str]:
    return [sys.executable, "-m", "sim", "up", "--aws-port", str(free_port()), "--api-port", str(free_port()), "--tfc-port", str(free_port()), *extra]


def test_a_port_in_use_is_named_with_the_flag_that_changes_it():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cmd = _command()
        cmd[cmd.index("--api-port") + 1] = str(port)
        started = time.monotonic()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"port {port} (the REST API) is in use" in done.stdout and "--api-port changes it" in done.stdout
    assert time.monotonic() - started < 20  # at once, not after a server's start-up timeout (here: an interpreter's start)


@pytest.mark.parametrize("flag", ["--execution-retention-days", "--log-retention-days"])
def test_a_negative_retention_is_refused_naming_the_flag(flag):
    done = subprocess.run(_command(flag, "-1"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "must be a number of days >= 0" in done.stdout and flag in done.stdout


def _lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    out: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return out


def _next_json(lines: queue.Queue[str], kind: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        data = json.loads(line)
        if data["kind"] == kind:
            return data
    raise AssertionError(f"no {kind!r} line within {timeout} s")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_json_lines_for_scripts_and_a_signal_stops_every_server(signum):
    proc = subprocess.Popen(_command("--virtual-clock", "--log-format", "json"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = _lines(proc)
        up_line = _next_json(lines, "up")
        with httpx.Client(timeout=30) as http:
            assert http.post(f"{up_line['api']}/tenants", json={"tenant_code": "acme", **CREATE}, auth=httpx_auth()).status_code == 202
            assert _next_json(lines, "api")["text"] == "POST /tenants (acme) -> 202 creating"
            http.post(f"{up_line['control']}/clock/advance", json={"seconds": 600})
            assert _next_json(lines, "flow_end")["status"] == "ready"
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == 0
        assert _next_json(lines, "stopped", timeout=5)
        for url in (up_line["api"], up_line["tfc"], up_line["aws"]):
            with pytest.raises(httpx.ConnectError):
                httpx.get(url, timeout=2)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def test_the_console_table_shows_each_tenants_status_state_time_in_flow_and_last_event(up):
    from rich.console import Console

    from sim.commands.up_embedded import _table

    live, api, control = up
    api.post("/tenants", json={"tenant_code": "acme", **CREATE})
    control.post("/_sim/clock/advance", json={"seconds": 60})
    console = Console(record=True, width=120)
    console.print(_table(live))
    text = console.export_text()
    assert "(+0:01:00, paused)" in text
    [row] = [line for line in text.splitlines() if "acme" in line]
    assert [cell.strip() for cell in row.strip("│ ").split("│")] == ["acme", "creating", "Wait", "60 s", "POST -> 202 +0:00:00"]
