"""The pytest plugin as a user's project sees it: an inner pytest run (``pytester``, in
process) of small test files, with the plugin loaded through its ``pytest11`` entry point."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

# Imported here, at collection, on purpose: pytester restores sys.modules after each inner
# run, and moto imported afresh inside one would be a second copy the next run re-patches.
import sim.engines.embedded.environment  # noqa: F401

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "### Use it from your own test suite (pytest plugin)"
RUNNER = "sim.scenarios.runner"


def readme_example() -> str:
    """The first Python block of the README's plugin section: the test runs exactly what
    the README shows."""
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, f"README.md has no {SECTION!r} section"
    block = re.search(r"```python\n(.*?)```", text.split(SECTION, 1)[1], re.S)
    assert block, f"no python block under {SECTION!r} in README.md"
    return block.group(1)


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    # Hypothesis's plugin re-imports hypothesis in every inner run (~1 s each); not needed here.
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider -p no:hypothesispytest --strict-markers\n")
    return pytester


def test_the_readme_example_passes(inner):
    inner.makepyfile(test_example=readme_example())
    inner.runpytest().assert_outcomes(passed=1)


def test_an_unknown_backend_is_a_usage_error_naming_the_choices(inner):
    inner.makepyfile("def test_nothing(): pass")
    result = inner.runpytest("--sim-backend", "nonsense")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sim-backend*invalid choice*'nonsense'*choose from*'embedded'*"])


def test_the_seed_option_reaches_the_backend(inner):
    inner.makepyfile("def test_seed(tenant_sim): assert tenant_sim.config.seed == 7")
    inner.runpytest("--sim-seed", "7").assert_outcomes(passed=1)


def test_the_backend_is_stopped_after_a_failing_test(inner):
    # A backend left running would make the next one refuse to start (one per process).
    inner.makepyfile(
        """
        def test_fails(sim_api):
            sim_api.create("acme")
            assert False, "on purpose"

        def test_next_gets_a_fresh_backend(sim_api):
            assert sim_api.get("acme").status == 404
        """
    )
    inner.runpytest().assert_outcomes(passed=1, failed=1)


def test_sim_otlp_writes_each_tests_spans_as_otlp_json(inner):
    inner.makepyfile(
        """
        def test_create(sim_api):
            sim_api.create("acme")
            assert sim_api.wait_for("acme", "ready")["status"] == "ready"
        """
    )
    inner.runpytest("--sim-otlp", "spans").assert_outcomes(passed=1)
    [written] = list((inner.path / "spans").glob("*.otlp.json"))
    assert "test_create" in written.name
    import json

    spans = [s for rs in json.loads(written.read_text())["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    assert {"Trigger", "Check", "Finalize"} <= {s["name"] for s in spans}
    assert len({s["traceId"] for s in spans if s["name"] in ("Trigger", "Finalize")}) == 1  # one create, one trace


def test_sim_otlp_on_another_backend_fails_saying_why(inner):
    inner.makepyfile("def test_x(tenant_sim): pass")
    result = inner.runpytest("--sim-otlp", "spans", "--sim-backend", "localstack")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*--sim-otlp records the embedded backend's spans only*"])


# ------------------------------------------------------------------ scenario marker
SCENARIO_TEST = """
import pytest

@pytest.mark.scenario("scenarios/create.yaml")
def test_scenario():
    pass
"""


def fake_runner(monkeypatch: pytest.MonkeyPatch, passed: bool, calls: list) -> None:
    def run_file(path, seed):
        calls.append((path, seed))
        return types.SimpleNamespace(passed=passed, report="tenant acme: expected ready, got failed")

    monkeypatch.setitem(sys.modules, RUNNER, types.SimpleNamespace(run_file=run_file))


def test_a_scenario_test_is_skipped_while_there_is_no_runner(inner, monkeypatch):
    monkeypatch.setitem(sys.modules, RUNNER, None)  # import fails, whatever is on disk
    inner.makepyfile(SCENARIO_TEST)
    result = inner.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*scenario runner not available*"])


def scenario_file(inner: pytest.Pytester, text: str = "name: x\nsteps:\n  - get: acme\n") -> None:
    (inner.path / "scenarios").mkdir(exist_ok=True)
    (inner.path / "scenarios" / "create.yaml").write_text(text)


def test_a_passing_scenario_passes_with_the_path_from_the_rootdir_and_the_seed(inner, monkeypatch):
    calls: list = []
    fake_runner(monkeypatch, True, calls)
    scenario_file(inner)
    inner.makepyfile(SCENARIO_TEST)
    inner.runpytest("--sim-seed", "3").assert_outcomes(passed=1)
    assert calls == [(inner.path / "scenarios" / "create.yaml", 3)]


def test_a_missing_scenario_file_fails_naming_the_path_and_the_rootdir(inner, monkeypatch):
    fake_runner(monkeypatch, True, [])
    inner.makepyfile(SCENARIO_TEST)
    result = inner.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*scenario('scenarios/create.yaml'): no such file {inner.path}/scenarios/create.yaml (the path is relative to the rootdir, {inner.path})*"])


def test_an_invalid_scenario_file_fails_naming_the_line_and_the_field(inner):
    scenario_file(inner, "name: x\nsteps:\n  - at: soon\n    get: acme\n")
    inner.makepyfile(SCENARIO_TEST)
    result = inner.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*invalid scenario*", "*create.yaml:3: steps.0.at: 'soon' is not a duration*"])


def test_a_failing_scenario_fails_with_its_report(inner, monkeypatch):
    fake_runner(monkeypatch, False, [])
    scenario_file(inner)
    inner.makepyfile(SCENARIO_TEST)
    result = inner.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*tenant acme: expected ready, got failed*"])


def test_a_runner_that_fails_to_import_is_an_error_not_a_skip(inner, monkeypatch):
    def missing_dependency(name: str):
        raise ModuleNotFoundError("No module named 'jsonschema'", name="jsonschema")

    broken = types.ModuleType(RUNNER)
    broken.__getattr__ = missing_dependency  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, RUNNER, broken)
    scenario_file(inner)
    inner.makepyfile(SCENARIO_TEST)
    result = inner.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*No module named 'jsonschema'*"])


# ------------------------------------------------------------------ connected to sim up
CONNECTED_TEST = """
def test_a_tenant_on_the_served_backend(sim_api, sim_clock):
    before = sim_clock.now()
    assert sim_api.create("connected").status == 202
    assert sim_clock.now() == before  # the served clock is paused: only the test moves it
    row = sim_api.wait_for("connected", "ready", max_seconds=3600)
    assert row["outputs"]["endpoint"] == "https://connected.tenants.example.test"
    assert sim_clock.now() - before >= 120  # a Wait, in simulated time
"""


def test_the_fixtures_can_drive_a_running_sim_up_through_its_control_api(inner):
    import json
    import signal
    import subprocess

    from fake_tfc.server import free_port

    ports = [str(free_port()) for _ in range(3)]
    cmd = [sys.executable, "-m", "sim", "up", "--virtual-clock", "--log-format", "json",
           "--aws-port", ports[0], "--api-port", ports[1], "--tfc-port", ports[2]]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        up = json.loads(proc.stdout.readline())  # the first line, once every server listens
        assert up["kind"] == "up"
        inner.makepyfile(CONNECTED_TEST)
        inner.runpytest("--sim-connect", up["control"]).assert_outcomes(passed=1)
        inner.makepyfile(test_tfc="def test_tfc(sim_tfc): pass")
        result = inner.runpytest("--sim-connect", up["control"], "-rs", "test_tfc.py")
        result.assert_outcomes(skipped=1)
        result.stdout.fnmatch_lines(["*connected to sim up*/_fake/*"])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_connecting_to_nothing_says_how_to_start_sim_up(inner):
    from fake_tfc.server import free_port

    inner.makepyfile("def test_x(sim_api): pass")
    result = inner.runpytest("--sim-connect", f"http://127.0.0.1:{free_port()}/_sim")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no sim up control API at http://127.0.0.1:*start one with: python -m sim up --virtual-clock*"])
