"""pytest plugin (entry point ``pytest11``): the simulated environment as fixtures, and a
``scenario`` marker. Active in any project that installs ``tenant-sim[aws]``.

Fixtures: ``tenant_sim`` (the running backend, one per test), ``sim_api``
(:class:`~sim.api_client.TenantApi`), ``sim_tfc`` (the fake TFC) and ``sim_clock`` (the
simulated clock). Options: ``--sim-backend``, ``--sim-seed``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from sim.api_client import TenantApi

if TYPE_CHECKING:
    from fake_tfc import FakeTFC
    from sim.embedded.clock import SimClock
    from sim.embedded.environment import EmbeddedBackend
    from sim.remote.backend import RemoteBackend


def _embedded(seed: int) -> EmbeddedBackend:
    # Imported here: loading the plugin must stay cheap and must not need moto.
    from sim.embedded.environment import EmbeddedBackend, EmbeddedConfig

    return EmbeddedBackend(EmbeddedConfig(seed=seed))


def _ministack(seed: int) -> RemoteBackend:
    from sim.remote.backend import MiniStackBackend

    return MiniStackBackend()


def _localstack(seed: int) -> RemoteBackend:
    # An engine already running where localstack-client looks (AWS_ENDPOINT_URL, LOCALSTACK_HOST).
    from sim.remote.backend import RemoteBackend

    return RemoteBackend()


#: ``--sim-backend`` choices. On the remote engines time is real: ``sim_clock`` skips.
BACKENDS: dict[str, Callable[[int], EmbeddedBackend | RemoteBackend]] = {
    "embedded": _embedded,
    "ministack": _ministack,
    "localstack": _localstack,
}
SCENARIO_RUNNER = "sim.scenarios.runner"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tenant-sim")
    group.addoption("--sim-backend", choices=sorted(BACKENDS), default="embedded", help="where the tenant_sim fixture runs the control plane (default: embedded)")
    group.addoption("--sim-seed", type=int, default=0, help="seed of the simulated environment and of scenario runs (default: 0)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "scenario(path): run a scenario file (relative to the rootdir) with --sim-seed; fail with its report"
    )


@pytest.fixture
def tenant_sim(request: pytest.FixtureRequest) -> Iterator[EmbeddedBackend]:
    """The running environment: started for the test, stopped after it, pass or fail
    (one per process: moto's state is process-wide)."""
    with BACKENDS[request.config.getoption("sim_backend")](request.config.getoption("sim_seed")) as env:
        yield env


@pytest.fixture
def sim_api(tenant_sim: EmbeddedBackend) -> TenantApi:
    """The control plane's REST API: create, get, update, delete, list, wait_for."""
    return TenantApi(tenant_sim)


@pytest.fixture
def sim_tfc(tenant_sim: EmbeddedBackend) -> FakeTFC:
    """The fake TFC the Lambdas drive: ``set_script``, ``faults``, ``journal``."""
    return tenant_sim.fake


@pytest.fixture
def sim_clock(tenant_sim: EmbeddedBackend) -> SimClock:
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
    result = run_file(item.config.rootpath / marker.args[0], item.config.getoption("sim_seed"))
    if not result.passed:
        pytest.fail(result.report, pytrace=False)
