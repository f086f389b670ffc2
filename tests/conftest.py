"""Shared fixtures: a fake on a virtual clock with an in-process client, and a fake
served by uvicorn on a loopback port for clients (pytfe) that open their own sockets.
And how the suite is spread over processes (pytest-xdist, ``-n auto --dist loadfile``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fake_tfc import FakeTFC, RunScript, VirtualClock, WallClock, create_app
from fake_tfc.server import serve_in_thread
from fake_tfc.transport import SyncASGITransport

TOKEN = "test-token"
ORG = "example-org"
JSONAPI = "application/vnd.api+json"


# The MiniStack files (marker ``ministack``) run in real time: about a third of the suite's
# summed test time, but some 85% of it waiting on the engine's Waits, Retry intervals and
# cold starts, with the CPU idle. One worker more than there are cores lets that waiting
# overlap with the CPU-bound files; and those real-time files are handed out early, one in
# every ``workers`` units of work, so that about one worker at a time waits while the
# others keep the cores busy (xdist would otherwise hand them out last, by their few tests,
# and the run would end waiting on them). A file's tests still run in one process, in
# their order; only the order of whole files changes, and only under xdist.


@pytest.hookimpl(optionalhook=True)  # xdist's hook: no error when it is not installed
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    waiting = os.environ.get("TENANT_SIM_SKIP_MINISTACK") not in ("1", "true")  # the MiniStack tests run
    return cores + 1 if waiting else cores


def _real_time(items: list[pytest.Item]) -> bool:
    return any(item.get_closest_marker("ministack") is not None for item in items)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        return
    files: dict[Path, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.path, []).append(item)
    real_time = [f for f in files.values() if _real_time(f)]
    cpu_bound = [f for f in files.values() if not _real_time(f)]
    step = max(2, int(workerinput["workercount"]))
    ordered: list[list[pytest.Item]] = []
    while real_time or cpu_bound:
        if real_time:
            ordered.append(real_time.pop(0))
        ordered += cpu_bound[: step - 1]
        del cpu_bound[: step - 1]
    items[:] = [item for f in ordered for item in f]


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def fake(clock: VirtualClock) -> FakeTFC:
    return FakeTFC(clock, tokens=[TOKEN], organizations=[ORG])


@pytest.fixture
def client(fake: FakeTFC) -> Iterator[httpx.Client]:
    """A synchronous httpx client talking to ``fake`` in-process, authenticated."""
    transport = SyncASGITransport(create_app(fake))
    with httpx.Client(
        transport=transport,
        base_url="http://fake-tfc",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": JSONAPI, "Accept": JSONAPI},
    ) as c:
        yield c


#: Stage durations short enough for wall-clock tests against the served fake.
FAST = RunScript(
    durations={
        "pending": 0.0,
        "plan_queued": 0.02,
        "planning": 0.02,
        "cost_estimating": 0.02,
        "policy_checking": 0.02,
        "apply_queued": 0.02,
        "applying": 0.02,
        "cancel": 0.02,
    },
    output_delay=0.05,
)


@pytest.fixture
def served_fake() -> FakeTFC:
    fake = FakeTFC(WallClock(), tokens=[TOKEN], organizations=[ORG])
    fake.set_script(FAST)
    return fake


@pytest.fixture
def served_url(served_fake: FakeTFC) -> Iterator[str]:
    """Base URL of ``served_fake`` on a free loopback port, rate limit on (as served)."""
    with serve_in_thread(create_app(served_fake, rate_limit=True)) as url:
        yield url
