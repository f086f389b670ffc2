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
import sim.embedded.environment  # noqa: F401

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


def test_a_passing_scenario_passes_with_the_path_from_the_rootdir_and_the_seed(inner, monkeypatch):
    calls: list = []
    fake_runner(monkeypatch, True, calls)
    inner.makepyfile(SCENARIO_TEST)
    inner.runpytest("--sim-seed", "3").assert_outcomes(passed=1)
    assert calls == [(inner.path / "scenarios" / "create.yaml", 3)]


def test_a_failing_scenario_fails_with_its_report(inner, monkeypatch):
    fake_runner(monkeypatch, False, [])
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
    inner.makepyfile(SCENARIO_TEST)
    result = inner.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*No module named 'jsonschema'*"])
