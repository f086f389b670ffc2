"""Requests per second for ``GET /api/v2/runs/:id``: served on loopback (uvicorn in
its own process, load from this one) and in-process through ``httpx.ASGITransport``."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time

import httpx

from fake_tfc import FakeTFC, VirtualClock, create_app
from fake_tfc.server import free_port
from fake_tfc.transport import SyncASGITransport

from .loadgen import load

TOKEN = "bench-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/vnd.api+json"}
SERVED_GOAL = 1500
IN_PROCESS_GOAL = 5000


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return p50 * 1000, p99 * 1000


def _make_run(client: httpx.Client) -> str:
    ws = client.post(
        "/api/v2/organizations/example-org/workspaces",
        json={"data": {"type": "workspaces", "attributes": {"name": "bench", "auto-apply": True}}},
    ).json()["data"]["id"]
    run = client.post(
        "/api/v2/runs",
        json={"data": {"type": "runs", "relationships": {"workspace": {"data": {"type": "workspaces", "id": ws}}}}},
    )
    return run.json()["data"]["id"]


def _wait_ready(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v2/ping", headers=HEADERS, timeout=0.5).status_code == 204:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"fake TFC at {url} did not start")


def bench_served(seconds: float, connections: int) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_tfc", "--port", str(port), "--token", TOKEN, "--no-rate-limit"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ready(url, time.monotonic() + 20)
        with httpx.Client(base_url=url, headers=HEADERS) as client:
            run_id = _make_run(client)
        latencies, errors, elapsed = asyncio.run(
            load("127.0.0.1", port, f"/api/v2/runs/{run_id}", TOKEN, seconds=seconds, connections=connections)
        )
    finally:
        proc.terminate()
        proc.wait(10)
    p50, p99 = _percentiles(latencies)
    return {"rps": len(latencies) / elapsed, "p50_ms": p50, "p99_ms": p99, "errors": errors, "n": len(latencies)}


def bench_in_process(seconds: float) -> dict:
    fake = FakeTFC(VirtualClock(), tokens=[TOKEN])
    app = create_app(fake)

    async def run() -> tuple[list[float], float]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fake", headers=HEADERS) as c:
            ws = (await c.post(
                "/api/v2/organizations/example-org/workspaces",
                json={"data": {"type": "workspaces", "attributes": {"name": "bench", "auto-apply": True}}},
            )).json()["data"]["id"]
            run_id = (await c.post(
                "/api/v2/runs",
                json={"data": {"type": "runs", "relationships": {"workspace": {"data": {"type": "workspaces", "id": ws}}}}},
            )).json()["data"]["id"]
            latencies: list[float] = []
            start = time.perf_counter()
            deadline = start + seconds
            path = f"/api/v2/runs/{run_id}"
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                r = await c.get(path)
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    raise RuntimeError(f"unexpected {r.status_code}")
            return latencies, time.perf_counter() - start

    latencies, elapsed = asyncio.run(run())
    p50, p99 = _percentiles(latencies)
    return {"rps": len(latencies) / elapsed, "p50_ms": p50, "p99_ms": p99, "errors": 0, "n": len(latencies)}


def bench_app_only(seconds: float) -> dict:
    """The fake's own cost per request: the ASGI app called directly, no HTTP client."""
    fake = FakeTFC(VirtualClock(), tokens=[TOKEN])
    app = create_app(fake)
    with httpx.Client(transport=SyncASGITransport(app), base_url="http://fake", headers=HEADERS) as client:
        run_id = _make_run(client)
    path = f"/api/v2/runs/{run_id}"
    scope = {
        "type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
        "headers": [(b"authorization", f"Bearer {TOKEN}".encode())], "http_version": "1.1",
        "scheme": "http", "server": ("fake", 80), "client": ("bench", 1), "root_path": "",
    }
    statuses: list[int] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def run() -> tuple[list[float], float]:
        latencies: list[float] = []
        start = time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            await app(dict(scope), receive, send)
            latencies.append(time.perf_counter() - t0)
        return latencies, time.perf_counter() - start

    latencies, elapsed = asyncio.run(run())
    p50, p99 = _percentiles(latencies)
    errors = sum(1 for s in statuses if s != 200)
    return {"rps": len(latencies) / elapsed, "p50_ms": p50, "p99_ms": p99, "errors": errors, "n": len(latencies)}


def main() -> int:
    seconds = float(os.environ.get("BENCH_SECONDS", "5"))
    connections = int(os.environ.get("BENCH_CONNECTIONS", "8"))
    print(f"fake TFC: GET /api/v2/runs/:id for {seconds:.0f} s each")
    rows = [
        ("served (uvicorn, loopback)", bench_served(seconds, connections), SERVED_GOAL),
        ("in-process (ASGITransport)", bench_in_process(seconds), IN_PROCESS_GOAL),
        ("app only (ASGI call, no client)", bench_app_only(seconds), IN_PROCESS_GOAL),
    ]
    print(f"  {'mode':<34}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'goal':>8}{'ratio':>8}  errors")
    for name, r, goal in rows:
        print(
            f"  {name:<34}{r['rps']:>10.0f}{r['p50_ms']:>10.3f}{r['p99_ms']:>10.3f}{goal:>8}"
            f"{r['rps'] / goal:>7.2f}x  {r['errors']}"
        )
    return 0
