"""``expect.alarms``: what a scenario may say of the stack's CloudWatch alarms, and how a run
is judged on it."""

from __future__ import annotations

import pytest

from sim.scenarios.expectations import expectation_checks
from sim.scenarios.loader import ScenarioError, parse_scenario
from sim.scenarios.needs import required
from sim.scenarios.observe import Observed
from sim.scenarios.runner import run_text

HEAD = "name: x\nsteps:\n  - create: {tenant: acme}\nexpect:\n  alarms:\n"


def test_an_unknown_alarm_is_refused_listing_the_stacks_alarms() -> None:
    with pytest.raises(ScenarioError, match=r"x.yaml:\d+: expect.alarms: 'create-failed': no such alarm; the stack's alarms are events-dlq-messages, "):
        parse_scenario(HEAD + "    create-failed: {state: ALARM}\n", "x.yaml")


def test_an_unknown_state_is_refused() -> None:
    with pytest.raises(ScenarioError, match=r"expect.alarms.failed-flows.state"):
        parse_scenario(HEAD + "    failed-flows: {state: FIRING}\n", "x.yaml")


def test_an_alarm_is_named_in_full_or_by_its_suffix_and_needs_the_alarms_feature() -> None:
    sc = parse_scenario(HEAD + "    failed-flows: {state: OK}\n    tenant-sim-flow-dlq-messages: {states: []}\n", "x.yaml")
    assert required(sc) >= {"alarms"}


def judged(expect: str, alarms: dict[str, list[str]]) -> list[tuple[str, bool, str]]:
    sc = parse_scenario(HEAD + expect, "x.yaml")
    return [(c.field, c.passed, c.message) for c in expectation_checks(sc, Observed(alarms=alarms))]


def test_states_are_the_changes_after_settling_and_state_the_last_one() -> None:
    fired_and_cleared = {"tenant-sim-failed-flows": ["ALARM", "OK"]}
    assert judged("    failed-flows: {state: OK, states: [ALARM, OK]}\n", fired_and_cleared) == [
        ("alarms.failed-flows.state", True, "alarms.failed-flows.state: expected OK, got OK"),
        ("alarms.failed-flows.states", True, "alarms.failed-flows.states: expected ALARM -> OK, got ALARM -> OK"),
    ]
    [(_, passed, message)] = judged("    failed-flows: {states: [ALARM]}\n", fired_and_cleared)
    assert not passed and message == "alarms.failed-flows.states: expected ALARM, got ALARM -> OK"
    # an alarm with no change after settling stayed OK
    assert judged("    failed-flows: {state: OK, states: []}\n", {}) == [
        ("alarms.failed-flows.state", True, "alarms.failed-flows.state: expected OK, got OK"),
        ("alarms.failed-flows.states", True, "alarms.failed-flows.states: expected (none), got (none)"),
    ]
    [(_, passed, _)] = judged("    failed-flows: {state: ALARM}\n", {})
    assert not passed


def test_a_run_is_judged_on_its_alarms() -> None:
    text = (
        "name: x\nsettings: {run_for: 10m}\n"
        "tenants:\n  acme:\n    tfc:\n      runs: [{outcome: apply_error}]\n"
        "steps:\n  - create: {tenant: acme}\n"
        "expect:\n  alarms:\n    failed-flows: {state: ALARM}\n"
    )
    result = run_text(text)
    assert not result.passed
    assert "alarms.failed-flows.state: expected ALARM, got OK" in "\n".join(result.failures)
    assert run_text(text.replace("{state: ALARM}", "{state: OK, states: [ALARM, OK]}")).passed
