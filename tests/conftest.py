"""Shared fixtures: a fake on a virtual clock with an in-process client, and a fake
served by uvicorn on a loopback port for clients (pytfe) that open their own sockets."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from fake_tfc import FakeTFC, RunScript, VirtualClock, WallClock, create_app
from fake_tfc.server import serve_in_thread
from fake_tfc.transport import SyncASGITransport

TOKEN = "test-token"
ORG = "example-org"
JSONAPI = "application/vnd.api+json"


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
