"""MiniStack started by the suite itself (its own virtual environment, a free loopback
port), the stack deployed onto it with the real Lambda zip, and a fake TFC on loopback.

``TENANT_SIM_SKIP_MINISTACK=1`` skips these tests (with that reason); when MiniStack cannot
be installed or started they are skipped with the reason, unless
``TENANT_SIM_REQUIRE_MINISTACK=1``, which turns that into an error (for a CI that must
run them). ``-m "not ministack"`` deselects them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sim.engines.features import feature
from sim.engines.remote.backend import RemoteBackend
from sim.engines.remote.ministack import MiniStack, MiniStackUnavailable
from tests.lifecycle_events import Lifecycle

#: Wall-clock seconds measured by the fixtures and tests, printed at the end of the run.
TIMINGS: dict[str, float] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A MiniStack test of a feature ``sim/engines/features.py`` declares unsupported there
    is an expected failure, strict, with the declared reason."""
    for item in items:
        marker = item.get_closest_marker("feature")
        if marker is None or item.get_closest_marker("ministack") is None:
            continue
        declared = feature(marker.args[0])
        cell = declared.cell("ministack")
        if not cell.available:
            item.add_marker(pytest.mark.xfail(strict=True, reason=f"MiniStack: {declared.title}: {cell.text()}"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS:
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in TIMINGS.items())
        terminalreporter.write_line(f"MiniStack timings: {parts}")


@pytest.fixture(scope="module")
def ministack() -> Iterator[MiniStack]:
    if os.environ.get("TENANT_SIM_SKIP_MINISTACK") in ("1", "true"):
        pytest.skip("MiniStack unavailable: TENANT_SIM_SKIP_MINISTACK is set")
    ms = MiniStack()
    try:
        ms.start()
    except MiniStackUnavailable as exc:
        if os.environ.get("TENANT_SIM_REQUIRE_MINISTACK") in ("1", "true"):
            pytest.fail(f"MiniStack unavailable (TENANT_SIM_REQUIRE_MINISTACK is set): {exc}")
        pytest.skip(f"MiniStack unavailable: {exc}")
    TIMINGS["venv"] = ms.timings["venv"]
    TIMINGS["start-up"] = ms.timings["startup"]
    try:
        yield ms
    finally:
        ms.stop()


@pytest.fixture(scope="module")
def env(ministack: MiniStack) -> Iterator[RemoteBackend]:
    backend = RemoteBackend(ministack.endpoint)
    backend.start()
    TIMINGS["zip"] = backend.timings["package"]
    TIMINGS["deploy"] = backend.timings["deploy"]
    try:
        yield backend
    finally:
        backend.stop()


@pytest.fixture(scope="module")
def lifecycle(env: RemoteBackend) -> Lifecycle:
    return Lifecycle(env)


class Stopwatch:
    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> Stopwatch:
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        TIMINGS[self.name] = time.monotonic() - self.t0
