"""Scenarios declare or imply what they need from an engine; on an engine without it a
scenario is reported as skipped with the reason, never silently passed."""

from __future__ import annotations

import argparse

import pytest

from sim.commands.run import run as run_command
from sim.scenarios.loader import parse_scenario
from sim.scenarios.needs import required, unmet

QUICK = """
name: quick
settings: {wait_seconds: 1, run_for: 60}
steps:
  - at: 0
    create: {tenant: acme}
"""


def test_a_scenario_spanning_days_needs_the_simulated_clock_and_is_skipped_on_ministack(capsys):
    args = argparse.Namespace(files=["scenarios/library/decommission-skips-mid-update.yaml"], seed=None, trace=None, backend="ministack")
    assert run_command(args) == 0
    out = capsys.readouterr().out.replace("\n", " ")
    assert "SKIPPED decommission-skips-mid-update on ministack" in out
    assert "needs the simulated clock" in out
    assert "0 passed, 0 failed, 1 skipped" in out


def test_what_a_scenario_does_decides_what_it_needs():
    sc = parse_scenario(
        QUICK + "  - at: 0\n    fault: {lambda: {function: check, kind: throttle}}\n"
        "  - at: 0\n    fault: {start_execution: {action: update}}\n"
    )
    assert required(sc) == {"lambda_faults", "start_execution_faults", "dlq"}
    assert required(parse_scenario(QUICK)) == set()
    assert unmet(parse_scenario(QUICK), "ministack") == []
    assert unmet(sc, "embedded") == []
    assert unmet(sc, "ministack") == [
        "needs EventBridge target retry and DLQs",
        "needs Lambda fault injection (throttles, errors per invocation)",
        "needs StartExecution fault injection",
    ]


def test_declared_needs_count_too():
    sc = parse_scenario(QUICK.replace("name: quick", "name: quick\nneeds: [simulated_clock]"))
    assert unmet(sc, "localstack") == ["needs the simulated clock (its simulated span would take that long in real time)"]
    with pytest.raises(ValueError, match="unknown engine"):
        unmet(sc, "aws-for-real")
