"""pytest plugin (entry point ``pytest11``): the simulated environment as fixtures, and a
``scenario`` marker. Active in any project that installs ``tenant-sim[aws]``.

Fixtures: ``tenant_sim`` (the running backend, one per test), ``sim_api``
(:class:`~sim.testing.api_client.TenantApi`), ``sim_tfc`` (the fake TFC) and ``sim_clock`` (the
simulated clock). Options: ``--sim-backend``, ``--sim-seed``, ``--sim-otlp`` (each test's
spans as OTLP/JSON), ``--sim-connect``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sim.engines.registry import NAMES, engine
from sim.testing.api_client import TenantApi

if TYPE_CHECKING:
    from fake_tfc import FakeTFC
    from sim.engines.base import Backend
    from sim.engines.embedded.clock import SimClock


SCENARIO_RUNNER = "sim.scenarios.runner"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tenant-sim")
    group.addoption("--sim-backend", choices=NAMES, default="embedded", help="where the tenant_sim fixture runs the control plane (default: embedded)")
    group.addoption("--sim-seed", type=int, default=0, help="seed of the simulated environment and of scenario runs (default: 0)")
    group.addoption(
        "--sim-otlp", default=None, metavar="DIR",
        help="record the control plane's spans (embedded backend) and write each test's as DIR/<test>.otlp.json (OTLP/JSON, simulated time)",
    )
    group.addoption(
        "--sim-connect", default=None, metavar="URL",
        help="use a running `python -m sim up` (its control API, e.g. http://127.0.0.1:8484/_sim) instead of starting a backend per test",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "scenario(path): run a scenario file (relative to the rootdir) with --sim-seed; fail with its report"
    )


@pytest.fixture
def tenant_sim(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The running environment (an ``EmbeddedBackend`` by default, a ``RemoteBackend`` on
    the real engines): started for the test, stopped after it, pass or fail (one per
    process: moto's state is process-wide)."""
    url = request.config.getoption("sim_connect")
    if url:
        from sim.testing.served import ServedBackend

        with ServedBackend(url) as served:
            yield served  # type: ignore[misc]  # the Backend protocol's calls a test makes
        return
    otlp = request.config.getoption("sim_otlp")
    backend, seed = request.config.getoption("sim_backend"), request.config.getoption("sim_seed")
    if otlp and backend != "embedded":
        pytest.fail(f"--sim-otlp records the embedded backend's spans only, not {backend}'s (its Lambdas run in the engine's processes)", pytrace=False)
    if otlp:
        from sim.engines.embedded.environment import EmbeddedBackend, EmbeddedConfig

        env: Backend = EmbeddedBackend(EmbeddedConfig(seed=seed, tracing=True))
    else:
        env = engine(backend).create(seed)
    with env:
        yield env
    spans = getattr(env, "spans", None)
    if otlp and spans is not None:
        from sim.tracing import write_otlp

        out = Path(otlp)
        out.mkdir(parents=True, exist_ok=True)
        write_otlp(spans, out / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', request.node.nodeid)}.otlp.json")


@pytest.fixture
def sim_api(tenant_sim: Backend) -> TenantApi:
    """The control plane's REST API: create, get, update, delete, list, wait_for."""
    return TenantApi(tenant_sim)


@pytest.fixture
def sim_tfc(tenant_sim: Backend) -> FakeTFC:
    """The fake TFC the Lambdas drive: ``set_script``, ``faults``, ``journal``."""
    fake = getattr(tenant_sim, "fake", None)
    if fake is None:
        pytest.skip("connected to sim up (--sim-connect): its fake TFC is driven over HTTP, through /_fake/ on its port")
    return fake


@pytest.fixture
def sim_clock(tenant_sim: Backend) -> SimClock:
    """The simulated clock. Frozen unless driven: time moves only through ``advance``,
    ``advance_to``, ``run_until`` or ``sim_api.wait_for``, never with the wall clock."""
    clock = getattr(tenant_sim, "clock", None)
    if clock is None:
        pytest.skip(f"needs the simulated clock, which --sim-backend {type(tenant_sim).__name__} does not have (time is real there)")
    return clock


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    marker = item.get_closest_marker("scenario")
    if marker is None:
        return
    try:
        from sim.scenarios.runner import run_file
    except ImportError as exc:
        if exc.name not in (SCENARIO_RUNNER, SCENARIO_RUNNER.rpartition(".")[0]):
            raise  # the runner is there but broken: say so, do not skip
        pytest.skip("scenario runner not available")
    from sim.scenarios.loader import ScenarioError

    if len(marker.args) != 1 or not isinstance(marker.args[0], str):
        pytest.fail("@pytest.mark.scenario takes one path: a scenario file, relative to the rootdir", pytrace=False)
    path = item.config.rootpath / marker.args[0]
    if not path.is_file():
        pytest.fail(
            f"@pytest.mark.scenario({marker.args[0]!r}): no such file {path} (the path is relative to the rootdir, {item.config.rootpath})",
            pytrace=False,
        )
    try:
        result = run_file(path, item.config.getoption("sim_seed"))
    except ScenarioError as exc:
        pytest.fail(f"@pytest.mark.scenario({marker.args[0]!r}): invalid scenario\n{exc}", pytrace=False)
    if not result.passed:
        pytest.fail(result.report, pytrace=False)
