"""Deliberately broken control planes must be caught by the invariants (issue 4): each
mutant runs a scenario that a correct control plane passes, and the run must report
the violation that names what broke. A checker that stops catching them fails here."""

from __future__ import annotations

from datetime import date

import pytest

from sim.controlplane import handlers, steps
from sim.controlplane.api import ApiDeps, delete
from sim.controlplane.decommission import DecommissionReport
from sim.controlplane.errors import ControlPlaneError
from sim.controlplane.tenants import TenantStore
from sim.scenarios.runner import run_text

LIFECYCLE = """
name: lifecycle
steps:
  - at: 0
    create: {tenant: acme}
  - at: 1h
    update: {tenant: acme, variables: {tier: silver}}
  - at: 2h
    delete: acme
expect:
  tenants:
    acme: {status: deleted, transitions: [creating, ready, updating, ready, deleting, deleted]}
"""

# Due on the second day; an update is in flight at that day's 03:00 run.
DECOMMISSION_MID_FLOW = """
name: decommission-mid-flow
settings: {run_for: 3d}
tenants:
  old:
    tfc:
      runs: [{outcome: success}, {outcome: success, durations: {applying: 7200}}]
steps:
  - at: 0
    create: {tenant: old, decommission_date: "2026-01-02"}
  - at: 1d2h50m
    update: {tenant: old, variables: {tier: bronze}}
expect:
  tenants:
    old: {status: deleted, transitions: [creating, ready, updating, ready, deleting, deleted]}
"""

CONCURRENT_UPDATE = """
name: concurrent-update
tenants:
  acme: {tfc: {then: {outcome: success, durations: {applying: 600}}}}
steps:
  - at: 0
    create: {tenant: acme}
  - at: 1h
    update: {tenant: acme, variables: {tier: silver}}
  - at: 1h1m
    update: {tenant: acme, variables: {tier: gold}}
"""


@pytest.mark.parametrize("text", [LIFECYCLE, DECOMMISSION_MID_FLOW, CONCURRENT_UPDATE], ids=["lifecycle", "decommission", "concurrent"])
def test_the_unbroken_control_plane_passes(text):
    result = run_text(text)
    assert result.passed, result.report


def test_finalize_that_forgets_the_lifecycle_event_is_caught(monkeypatch):
    real = steps.finalize

    def forgetful(deps, payload):
        deps.settings = deps.settings.__class__(**{**deps.settings.__dict__, "topic_arn": ""})  # publishes nothing
        return real(deps, payload)

    monkeypatch.setattr(handlers, "finalize", forgetful)
    result = run_text(LIFECYCLE)
    assert any("lifecycle events, expected 1" in v for v in result.violations), result.report


def test_decommission_that_ignores_mid_flow_is_caught(monkeypatch):
    def careless(deps: ApiDeps, today: date) -> DecommissionReport:
        report = DecommissionReport()
        for tenant in deps.store.due_for_decommission(today):
            try:
                delete(deps, tenant.tenant_code, actor="system")
            except ControlPlaneError as err:
                report.errors[tenant.tenant_code] = err.message
            else:
                report.deleting.append(tenant.tenant_code)
        return report

    monkeypatch.setattr(handlers, "decommission", careless)
    result = run_text(DECOMMISSION_MID_FLOW)
    assert any("was mid-flow" in v and "tried to delete it" in v for v in result.violations), result.report


def test_an_api_that_skips_the_conditional_write_is_caught(monkeypatch):
    def unconditional(self: TenantStore, record, previous) -> None:
        self._db.put_item(TableName=self._table, Item=__import__("sim.controlplane.tenants", fromlist=["_to_item"])._to_item(record))

    monkeypatch.setattr(TenantStore, "begin", unconditional)
    result = run_text(CONCURRENT_UPDATE)
    assert any("illegal transition updating -> updating" in v or "began while updating" in v for v in result.violations), result.report
