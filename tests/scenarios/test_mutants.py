"""Deliberately broken control planes must be caught by the invariants: each
mutant runs a scenario that a correct control plane passes, and the run must report
the violation that names what broke. A checker that stops catching them fails here.

The second half keeps each defect issue 10 fixed as a mutant (its old behaviour, patched
in) and shows that the scenario library, the property suite or the test written for the fix
catches it."""

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
    expect_status: 409  # the first update is still applying
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
    # The API's own early refusal (before it writes a sensitive value's secret) goes too.
    monkeypatch.setattr("sim.controlplane.api.allowed", lambda action, code, previous: None)
    result = run_text(CONCURRENT_UPDATE)
    assert any("illegal transition updating -> updating" in v or "began while updating" in v for v in result.violations), result.report


def test_finalize_that_leaks_a_sensitive_output_into_its_event_is_caught(monkeypatch):
    """The no-secrets invariant searches the trace for every sensitive value the fake TFC
    has held (outputs and variables), not only the token: a Finalize that puts the admin
    password in the lifecycle event's reason (which the trace records) is caught."""
    import json

    real = steps.finalize

    class LeakySns:
        def __init__(self, sns, store, secrets):
            self.sns, self.store, self.secrets = sns, store, secrets

        def publish(self, **kwargs):
            msg = json.loads(kwargs["Message"])
            row = self.store.get(msg["tenant_code"])
            if row is not None and row.sensitive_outputs is not None:
                msg["reason"] = f"debug: admin password {self.secrets.outputs(row.sensitive_outputs)['admin_password']}"
            return self.sns.publish(**{**kwargs, "Message": json.dumps(msg)})

    def leaky(deps, payload):
        deps.sns = deps.sns if isinstance(deps.sns, LeakySns) else LeakySns(deps.sns, deps.store, deps.secrets)
        return real(deps, payload)

    monkeypatch.setattr(handlers, "finalize", leaky)
    result = run_text(LIFECYCLE)
    assert any("a secret" in v and "appears in the trace" in v for v in result.violations), result.report


# ---------------------------------------------------------------------------------------
# Issue 12: sensitive values kept secret. Each mutant leaks a sensitive value somewhere the
# run records (not the trace's own records, which keep only a few fields): the
# secrets_stay_secret invariant must name the place.
SENSITIVE = """
name: sensitive
steps:
  - at: 0
    create: {tenant: acme, variables: {tier: gold, db_password: {value: mutant-db-password-1, sensitive: true}}}
  - at: 1h
    update: {tenant: acme, variables: {db_password: {value: mutant-db-password-2, sensitive: true}}}
expect:
  tenants:
    acme: {status: ready}
"""


def _sensitive_violations(result) -> list[str]:
    return [v for v in result.violations if v.startswith("a sensitive value")]


def test_the_sensitive_scenario_passes_unmutated():
    result = run_text(SENSITIVE)
    assert result.passed, result.report


def test_an_api_that_keeps_sensitive_values_in_the_row_is_caught(monkeypatch):
    """The old behaviour: the value itself in the row and the event (and a plain TFC
    variable, so the fake TFC never learns it is sensitive: the scenario says so)."""
    from sim.controlplane import api

    def plaintext(deps, code, request_id, given, previous):
        return {**previous, **{k: v if isinstance(v, str) else v.value for k, v in given.items()}}

    monkeypatch.setattr(api, "_kept", plaintext)
    found = _sensitive_violations(run_text(SENSITIVE))
    assert any("(muta...) is recorded in a tenant row written to DynamoDB" in v for v in found), found
    assert any("recorded in an event put on a bus" in v for v in found), found
    assert any("recorded in the input of tenant-sim-trigger" in v for v in found), found
    assert any("recorded in execution" in v for v in found), found


def test_a_finalize_that_keeps_sensitive_outputs_in_the_row_is_caught(monkeypatch):
    """The old behaviour: every output in the row, shown by GET /tenants/{code}."""
    monkeypatch.setattr(steps, "_keep_outputs", lambda deps, ev, found: ({k: o.value for k, o in found.items()}, None))
    found = _sensitive_violations(run_text(SENSITIVE))
    assert any("(pw-" in v and "recorded in the result of tenant-sim-api" in v for v in found), found
    assert any("(pw-" in v and "a tenant row written to DynamoDB" in v for v in found), found


def test_a_trigger_that_logs_the_value_is_caught(monkeypatch):
    import logging

    real = steps._spec

    def chatty(deps, key, value, read):
        spec = real(deps, key, value, read)
        logging.getLogger("sim.controlplane.steps").warning("writing %s=%s", key, spec.value)
        return spec

    monkeypatch.setattr(steps, "_spec", chatty)
    found = _sensitive_violations(run_text(SENSITIVE))
    assert any("recorded in a log line of sim.controlplane.steps" in v for v in found), found


# ---------------------------------------------------------------------------------------
# Issue 10: each defect fixed is kept here as a mutant (its old behaviour), and the scenario
# library, the property suite or the test written for it must catch it.
from pathlib import Path  # noqa: E402

from sim.scenarios.runner import run_file  # noqa: E402

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"


def caught_by_scenario(name: str) -> str:
    result = run_file(LIBRARY / f"{name}.yaml")
    assert not result.passed, f"the mutant passed {name}"
    return result.report


def test_mutant_1_non_atomic_conditional_writes_is_caught(monkeypatch):
    """moto's check-then-write without the lock: the forced-switching race test sees two
    winners of one conditional write."""
    import contextlib

    from sim.engines.embedded import moto_adapter
    from tests.e2e import test_concurrency

    import time

    from moto.dynamodb.models import table as moto_table

    monkeypatch.setattr(moto_adapter, "DYNAMODB_LOCK", contextlib.nullcontext())
    real = moto_table.get_filter_expression

    class Slow:
        """The condition holds a moment after it is checked (as a loaded machine may), so
        that the race without the lock shows on every run, not on a lucky one."""

        def __init__(self, op):
            self.op = op

        def expr(self, item):
            verdict = self.op.expr(item)
            time.sleep(0.002)
            return verdict

    monkeypatch.setattr(moto_table, "get_filter_expression", lambda *a, **k: Slow(real(*a, **k)))
    with pytest.raises(AssertionError, match="winners"):
        gen = test_concurrency.fast_switching.__wrapped__()
        next(gen)
        try:
            test_concurrency.test_of_many_conditional_writes_racing_on_one_item_exactly_one_wins(None)
        finally:
            next(gen, None)


def test_mutant_4_unfenced_rollback_is_caught(monkeypatch):
    """The API rolls back whatever happened meanwhile and Trigger does not claim: 503 while
    the flow provisions (put-events-answer-lost-while-flow-starts)."""
    from sim.controlplane import tenants

    def old_restore(self, record, previous):
        if previous is None:
            self._db.delete_item(TableName=self._table, Key={"tenant_code": {"S": record.tenant_code}})
        else:
            self._db.put_item(TableName=self._table, Item=tenants._to_item(previous))
        return True

    def old_claim(self, code, request_id, execution):
        row = self.get(code)
        if row is None or row.request_id != request_id:
            raise tenants.FlowSuperseded("gone", "request_id")
        return row

    monkeypatch.setattr(tenants.TenantStore, "restore", old_restore)
    monkeypatch.setattr(tenants.TenantStore, "claim", old_claim)
    assert "expected status 202, got 503" in caught_by_scenario("put-events-answer-lost-while-flow-starts")


def _api_property_deps():
    from tests.property import test_api_inputs

    return test_api_inputs, test_api_inputs.deps.__wrapped__()


def test_mutant_5_re_match_with_dollar_is_caught(monkeypatch):
    """``re.match`` with ``$`` lets a trailing newline through: the API property test (and
    the machine's boundary rule) find a 202 for a code that is not one."""
    import re

    from sim.controlplane import models

    old = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*$")
    monkeypatch.setattr(models, "TENANT_CODE", type("OldPattern", (), {"fullmatch": staticmethod(old.match), "pattern": old.pattern})())
    module, gen = _api_property_deps()
    deps = next(gen)
    try:
        with pytest.raises(AssertionError):
            module.test_a_code_is_accepted_only_when_the_whole_of_it_follows_the_rules(deps)
    finally:
        next(gen, None)


def test_mutant_9_lenient_dates_and_limits_are_caught(monkeypatch):
    """``date.fromisoformat`` takes ``20990101``, ``isdigit`` takes ``٣``: the API property
    tests find a 202 or a 200 for input that must be refused (or a 502)."""
    from datetime import date as _date

    from sim.controlplane import api, models

    monkeypatch.setattr(models, "parse_date", lambda v: _date.fromisoformat(v) if isinstance(v, str) else (_ for _ in ()).throw(ValueError("x")))
    monkeypatch.setattr(api, "LIMIT", type("Old", (), {"fullmatch": staticmethod(lambda raw: raw.isdigit())})())
    module, gen = _api_property_deps()
    deps = next(gen)
    try:
        with pytest.raises(Exception):
            module.test_any_listing_query_gets_one_of_the_apis_answers(deps)
    finally:
        next(gen, None)


def test_mutant_6_uncapped_retry_after_is_caught(monkeypatch):
    from sim.controlplane.tfc_client import TFCClient

    monkeypatch.setattr(TFCClient, "_pause", lambda self, wait, what, status, attempt: self._sleep(wait))
    report = caught_by_scenario("retry-after-a-day")
    assert "tenants.acme.status: expected ready" in report


def test_mutant_8_a_malformed_row_breaking_scans_is_caught(monkeypatch):
    from sim.controlplane import tenants

    monkeypatch.setattr(tenants.TenantStore, "_records", lambda self, items, skipped=None: [tenants._from_item(i) for i in items])
    report = caught_by_scenario("malformed-row-skipped")
    assert "expected status 200, got 502" in report and "acme.status: expected deleted" in report


def test_mutant_10_a_journal_keeping_query_secrets_is_caught(monkeypatch):
    from fake_tfc import gateway
    from tests.unit import test_limits

    monkeypatch.setattr(gateway, "redact_query", lambda q: q)
    from fake_tfc import FakeTFC, VirtualClock
    from tests.conftest import ORG, TOKEN

    with pytest.raises(AssertionError):
        test_limits.test_the_journal_never_keeps_a_secret_sent_in_the_query(FakeTFC(VirtualClock(), tokens=[TOKEN], organizations=[ORG]))


def test_mutant_11_an_admin_api_open_to_anyone_is_caught(monkeypatch):
    from fake_tfc import FakeTFC, VirtualClock, gateway
    from tests.conftest import ORG, TOKEN
    from tests.unit import test_faults_and_admin

    monkeypatch.setattr(gateway, "is_loopback", lambda host: True)
    fake = FakeTFC(VirtualClock(), tokens=[TOKEN], organizations=[ORG])
    with pytest.raises(AssertionError):
        test_faults_and_admin.test_the_admin_api_refuses_clients_beyond_loopback(fake, "10.1.2.3", "POST", "/_fake/tokens", b'{"token": "minted"}')


def test_mutant_12_an_abandoned_run_left_running_is_caught(monkeypatch):
    monkeypatch.setattr(steps, "_abandon", lambda deps, run_id, comment: "left running")
    assert "bravo.status: expected ready" in caught_by_scenario("abandoned-run-is-stopped")


def test_mutant_13_no_reconciler_and_no_redrive_are_caught(monkeypatch):
    from sim.controlplane import operations

    monkeypatch.setattr(handlers, "reconcile", lambda deps: operations.ReconcileReport())
    assert "acme.status: expected ready" in caught_by_scenario("reconciler-ends-a-dead-lettered-request")
    monkeypatch.setattr(handlers, "redrive", lambda deps, queues, limit: operations.RedriveReport())
    assert "acme.status: expected ready" in caught_by_scenario("redrive-after-the-fault-is-gone")


def test_mutant_3_a_silent_reset_and_a_plain_500_are_caught(monkeypatch):
    """moto's reset unannounced, and a failed invoke surfacing as Starlette's plain-text 500."""
    from sim.engines import base
    from sim.engines.embedded import serve as serve_module
    from tests.e2e import test_served

    def old_invoke(self, event):
        import json as _json

        resp = self.client("lambda").invoke(FunctionName=self.stack.function_name("api"), Payload=_json.dumps(event).encode())
        return base.proxy_response(resp["Payload"].read(), resp.get("FunctionError"))

    with monkeypatch.context() as m:  # the reset unannounced
        m.setattr(serve_module, "ResetWatch", lambda app, notify: app)
        with pytest.raises(AssertionError, match="not announced"):
            test_served.test_a_moto_reset_on_the_aws_endpoint_is_announced_and_the_api_answers_502_json()
    with monkeypatch.context() as m:  # the failed invoke a plain-text 500
        m.setattr(base.BackendBase, "invoke_api", old_invoke)
        with pytest.raises(AssertionError, match="not API Gateway's 502"):
            test_served.test_a_moto_reset_on_the_aws_endpoint_is_announced_and_the_api_answers_502_json()


def test_mutant_7_a_burst_client_without_jitter_nor_a_429_budget_is_caught(monkeypatch):
    """The old client: every wait exactly Retry-After (no jitter) and 429s sharing the five
    retries of 5xx answers: a burst under TFC's rate limit fails some tenants."""
    from sim.controlplane.tfc_client import TFCClient
    from tests.e2e import test_rate_limited_burst

    real_init = TFCClient.__init__

    def old_init(self, *args, **kwargs):
        kwargs.update(rng=None, max_throttled_retries=0)
        real_init(self, *args, **kwargs)

    real_request = TFCClient._request

    def old_request(self, method, path, body=None, params=None, retries=None):
        # 429s retried like 5xx, within the same five retries (retries=0 for POST /runs).
        self.max_throttled_retries = self.max_retries if retries is None else retries
        return real_request(self, method, path, body, params, retries)

    monkeypatch.setattr(TFCClient, "__init__", old_init)
    monkeypatch.setattr(TFCClient, "_request", old_request)
    monkeypatch.setattr(test_rate_limited_burst, "BURST", MUTANT_BURST)
    with pytest.raises(AssertionError, match="failed"):
        test_rate_limited_burst.test_a_burst_of_creates_under_tfcs_rate_limit_all_end_ready()


#: Large enough that the old client fails some tenants under the rate limit, small enough for CI.
MUTANT_BURST = 120
