"""The pytest plugin against a LocalStack-compatible engine: ``--sim-backend localstack``
finds the engine through localstack-client's endpoint configuration (here
``AWS_ENDPOINT_URL``, pointing at the MiniStack this module starts). A test that needs the
simulated clock is skipped there, with its reason."""

from __future__ import annotations

import pytest

from sim.engines.remote.ministack import MiniStack

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.ministack

USER_TESTS = '''
def test_a_tenant_reaches_ready(tenant_sim, sim_api):
    assert sim_api.create("acme", {"tier": "gold"}).status == 202
    assert sim_api.wait_for("acme", "ready", max_seconds=60)["outputs"]["tenant_code"] == "acme"


def test_thirty_days_later(sim_clock):
    sim_clock.advance(30 * 86400)
'''


def test_the_plugin_runs_on_a_localstack_compatible_engine(pytester: pytest.Pytester, ministack: MiniStack, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", ministack.endpoint)
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider -p no:hypothesispytest\n")
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest("--sim-backend", "localstack", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*needs the simulated clock*time is real there*"])
