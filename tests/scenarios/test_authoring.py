"""Scenario authoring: a step the API refuses fails the scenario at that step unless the
step says it expects it (``expect_status``); bad files fail at load time, naming the field."""

from __future__ import annotations

import json

import pytest

from sim.scenarios.loader import ScenarioError, parse_scenario
from sim.scenarios.runner import run_text

DELETE_WHILE_CREATING = """
name: delete-while-creating
settings: {{run_for: 1h}}
steps:
  - at: 0
    create: {{tenant: acme}}
  - at: 60
    delete: acme
{expect_status}
expect:
  tenants:
    acme: {{status: ready}}
"""


def test_an_unexpected_refusal_fails_at_its_step_saying_how_to_expect_it():
    result = run_text(DELETE_WHILE_CREATING.format(expect_status=""))
    assert not result.passed
    [failure] = result.failures
    assert failure.startswith("steps.1.delete acme at t=60: refused 409 (tenant 'acme' is creating; delete is allowed only from")
    assert failure.endswith("if that is expected, add `expect_status: 409` to the step")


def test_a_refusal_the_step_expects_passes():
    result = run_text(DELETE_WHILE_CREATING.format(expect_status="    expect_status: 409"))
    assert result.passed, result.report


def test_a_step_that_expected_another_status_fails_naming_both():
    result = run_text(DELETE_WHILE_CREATING.format(expect_status="    expect_status: 202"))
    assert result.failures == [
        "steps.1.delete acme at t=60: expected status 202, got 409 {'error': \"tenant 'acme' is creating; delete is allowed only from failed, ready\", 'field': 'status'}"
    ]


def test_a_get_of_a_tenant_that_does_not_exist_is_a_refusal_too():
    text = "name: x\nsteps:\n  - get: nobody\n"
    assert run_text(text).failures[0].startswith("steps.0.get nobody at t=0: refused 404")
    assert run_text(text.replace("get: nobody", "get: nobody\n    expect_status: 404")).passed


def test_expect_status_belongs_to_api_steps_only():
    text = "name: x\nsteps:\n  - at: 0\n    clear_faults: true\n    expect_status: 200\n"
    with pytest.raises(ScenarioError, match=r"x.yaml:3: steps.0: expect_status goes with a create, update, delete, get step, not clear_faults"):
        parse_scenario(text, "x.yaml")
    text = "name: x\nsteps:\n  - request: {method: GET, path: /tenants}\n    expect_status: 200\n"
    with pytest.raises(ScenarioError, match=r"request.expect_status"):
        parse_scenario(text, "x.yaml")


def test_every_tenant_named_in_expect_appears_in_the_steps():
    text = """name: typo
steps:
  - create: {tenant: acme}
expect:
  tenants:
    acmee: {status: ready}
  events:
    - {tenant: acme, event: tenant.created}
  tfc_runs: {beta: 1}
"""
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, "typo.yaml")
    message = str(err.value)
    assert message.startswith("typo.yaml:5: expect: ")
    assert "expect.tenants.acmee: tenant 'acmee'" in message and "expect.tfc_runs.beta: tenant 'beta'" in message
    assert "appears in no step (the steps name: acme)" in message
    assert "expect.events" not in message


def test_an_unknown_lifecycle_event_is_refused_listing_the_real_ones():
    text = "name: x\nsteps:\n  - create: {tenant: acme}\nexpect:\n  events:\n    - {tenant: acme, event: tenant.create}\n"
    with pytest.raises(ScenarioError, match=r"x.yaml:6: expect.events.0.event: 'tenant.create' is not a lifecycle event; they are: tenant.created, "):
        parse_scenario(text, "x.yaml")


def test_the_schema_names_the_lifecycle_events_and_the_workspace_naming():
    from sim.scenarios.schema import scenario_schema

    text = json.dumps(scenario_schema())
    assert "tenant.created, tenant.create_failed, tenant.updated, tenant.update_failed, tenant.deleted, tenant.delete_failed" in text
    assert "tenant-<code>" in text
