"""``sim_api`` (:class:`sim.testing.api_client.TenantApi`) through the plugin's own fixtures, as
this project's test run has them (the plugin is installed with the package)."""

from __future__ import annotations

import pytest

from fake_tfc import Outcome, RunBehaviour, RunScript
from sim.testing.api_client import FAR_DECOMMISSION_DATE
from sim.controlplane.statuses import TenantStatus


def test_create_get_update_delete_answer_as_the_rest_api_does(sim_api):
    created = sim_api.create("acme", {"tier": "gold"})
    assert (created.status, created.body["status"]) == (202, "creating")
    assert sim_api.get("acme").body["decommission_date"] == FAR_DECOMMISSION_DATE
    assert sim_api.update("acme", variables={"tier": "silver"}).status == 409  # a flow is in progress
    sim_api.wait_for("acme", TenantStatus.READY)
    assert sim_api.update("acme", decommission_date="2030-01-01").body["status"] == "updating"
    sim_api.wait_for("acme", "ready")
    assert sim_api.delete("acme").body["status"] == "deleting"
    assert sim_api.wait_for("acme", "deleted")["status"] == "deleted"
    assert sim_api.get("nobody").status == 404


def test_create_update_delete_take_an_idempotency_key_and_a_retry_is_replayed(sim_api):
    first = sim_api.create("acme", {"tier": "gold"}, idempotency_key="c-1")
    again = sim_api.create("acme", {"tier": "gold"}, idempotency_key="c-1")
    assert (again.status, again.body) == (first.status, first.body) and again.headers["Idempotent-Replayed"] == "true"
    assert sim_api.create("acme", {"tier": "silver"}, idempotency_key="c-1").status == 422
    sim_api.wait_for("acme", "ready")
    updated = sim_api.update("acme", idempotency_key="u-1", variables={"tier": "silver"})
    assert sim_api.update("acme", idempotency_key="u-1", variables={"tier": "silver"}).body == updated.body
    sim_api.wait_for("acme", "ready")
    deleting = sim_api.delete("acme", idempotency_key="d-1")
    assert sim_api.delete("acme", idempotency_key="d-1").body["request_id"] == deleting.body["request_id"]
    assert sim_api.wait_for("acme", "deleted")["request_id"] == deleting.body["request_id"]


def test_list_pages_with_limit_and_cursor(sim_api):
    for code in ("alpha", "bravo", "charlie"):
        assert sim_api.create(code).status == 202
    first = sim_api.list(limit=2).body
    second = sim_api.list(limit=2, cursor=first["next"]).body
    codes = [t["tenant_code"] for t in first["tenants"] + second["tenants"]]
    assert sorted(codes) == ["alpha", "bravo", "charlie"]
    assert second["next"] is None
    assert sim_api.list(limit=0).status == 400


def test_wait_for_names_the_status_the_tenant_was_left_in(sim_api, sim_tfc):
    sim_tfc.set_script(RunScript(match="*", runs=[RunBehaviour(outcome=Outcome.APPLY_ERROR)]))
    sim_api.create("acme")
    with pytest.raises(AssertionError, match=r"tenant 'acme' still 'failed' \(last_error: 'run run-\w+ ended errored'\) after 3600 simulated seconds, not 'ready'"):
        sim_api.wait_for("acme", "ready", max_seconds=3600)
    with pytest.raises(AssertionError, match=r"tenant 'nobody' has no row .* after 60 simulated seconds, not 'ready'"):
        sim_api.wait_for("nobody", "ready", max_seconds=60)


def test_wait_for_refuses_a_status_that_does_not_exist(sim_api, sim_clock):
    before = sim_clock.now()
    with pytest.raises(ValueError, match=r"unknown status 'active': a tenant is creating, updating, deleting, ready, failed, deleted"):
        sim_api.wait_for("acme", "active")
    assert sim_clock.now() == before  # refused at once, not after waiting


def test_the_clock_is_frozen_unless_driven(sim_clock, sim_api):
    before = sim_clock.now()
    sim_api.create("acme")
    assert sim_clock.now() == before
    sim_clock.advance(60)
    assert sim_clock.now() == before + 60


def test_sim_api_signs_as_the_operator_and_can_call_as_the_reader_or_unsigned(sim_api):
    """The stack's method auth is AWS_IAM: ``sim_api`` signs as the operator by default;
    ``as_principal`` calls as the reader (who may only read, never the secrets) or unsigned."""
    assert sim_api.create("acme", {"tier": "gold"}).status == 202
    reader = sim_api.as_principal("reader")
    assert reader.get("acme").body["status"] == "creating"
    assert reader.list().status == 200
    refused = reader.create("globex")
    assert refused.status == 403 and "assumed-role/tenant-sim-reader/reader is not authorized" in refused.body["message"]
    assert reader.delete("acme").status == 403
    sim_api.wait_for("acme", "ready")
    assert reader.secrets("acme").status == 403
    assert sim_api.secrets("acme").status == 200
    assert sim_api.as_principal(None).get("acme").body == {"message": "Missing Authentication Token"}
    assert sim_api.get("globex").status == 404  # the reader's refused create changed nothing
