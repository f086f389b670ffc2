"""The control plane's TFC client against the fake, in-process on a virtual clock."""

from __future__ import annotations

import logging

import pytest

from fake_tfc import FaultRule, RunBehaviour, RunScript, create_app
from fake_tfc.inputs import VariableInput
from fake_tfc.statuses import VariableCategory
from fake_tfc.transport import SyncASGITransport
from sim.controlplane.tfc_client import TFCClient, TFCInvalid, TFCUnavailable, VariableSpec
from tests.conftest import ORG, TOKEN


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def tfc(fake, sleeps) -> TFCClient:
    return TFCClient(
        "http://fake-tfc", TOKEN, ORG, transport=SyncASGITransport(create_app(fake)), sleep=sleeps.append
    )


def test_ensure_workspace_creates_once_with_auto_apply(tfc, fake):
    first = tfc.ensure_workspace("acme")
    assert tfc.ensure_workspace("acme") == first
    assert fake.workspaces[first].auto_apply
    assert len(fake.journal.entries(method="POST")) == 1


def test_ensure_workspace_survives_a_create_whose_answer_was_lost(tfc, fake):
    """A gateway error after the create took effect makes the retry meet 422
    "Name has already been taken" (TFC API docs, create a workspace); the client reads it."""
    fake.faults.add(FaultRule(method="POST", path="*/workspaces", status=502, after=True, count=1))
    ws_id = tfc.ensure_workspace("acme")
    assert fake.workspaces[ws_id].name == "acme"
    assert [e.status for e in fake.journal.entries(method="POST")] == [502, 422]


def test_upsert_variables_is_idempotent_and_leaves_other_variables_alone(tfc, fake):
    ws_id = tfc.ensure_workspace("acme")
    fake.create_variable(
        fake.workspaces[ws_id], VariableInput(key="owned_elsewhere", value="keep", category=VariableCategory.ENV)
    )
    specs = [VariableSpec("tenant_code", "acme"), VariableSpec("size", "small")]
    assert tfc.upsert_variables(ws_id, specs) == ["tenant_code", "size"]
    fake.journal.clear()
    assert tfc.upsert_variables(ws_id, specs) == []
    assert fake.journal.entries(method="POST") == [] and fake.journal.entries(method="PATCH") == []
    assert tfc.upsert_variables(ws_id, [VariableSpec("size", "large")]) == ["size"]
    values = {v.key: v.value for v in fake.workspaces[ws_id].variables.values()}
    assert values == {"tenant_code": "acme", "size": "large", "owned_elsewhere": "keep"}


def test_retries_429_honouring_retry_after(tfc, fake, sleeps):
    fake.faults.add(FaultRule(path="*/workspaces/*", status=429, retry_after=7.5, count=2))
    assert tfc.find_workspace("nope") is None
    assert sleeps == [7.5, 7.5]


def test_retries_5xx_with_capped_exponential_backoff_then_gives_up(tfc, fake, sleeps):
    fake.faults.add(FaultRule(path="*/workspaces/*", status=500, count=10))
    with pytest.raises(TFCUnavailable) as err:
        tfc.find_workspace("nope")
    assert err.value.status == 500
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_lost_connections_are_retried(tfc, fake, sleeps):
    fake.faults.add(FaultRule(path="*/workspaces/*", drop=True, count=1))
    assert tfc.find_workspace("nope") is None
    assert len(sleeps) == 1


def test_422_is_not_retried(tfc, fake, sleeps):
    ws_id = tfc.ensure_workspace("acme")
    with pytest.raises(TFCInvalid):
        tfc._request("POST", f"/api/v2/workspaces/{ws_id}/vars", {"data": {"type": "vars", "attributes": {}}})
    assert sleeps == []


def test_outputs_wait_out_the_503_and_reveal_sensitive_values(tfc, fake, clock, sleeps):
    fake.set_script(RunScript(output_delay=6, then=RunBehaviour()))
    ws_id = tfc.ensure_workspace("acme")
    tfc.upsert_variables(ws_id, [VariableSpec("tenant_code", "acme")])
    run_id = tfc.start_run(ws_id, destroy=False, message="test")
    clock.advance(12)  # applied, outputs still being processed
    assert tfc.run(run_id).succeeded
    tfc._sleep = lambda s: (sleeps.append(s), clock.advance(s))
    outputs = tfc.outputs(ws_id)
    assert outputs["tenant_code"] == "acme" and outputs["admin_password"].startswith("pw-")
    assert 503 in [e.status for e in fake.journal.entries(path="*/current-state-version-outputs")]


def test_the_token_never_appears_in_logs_errors_or_reprs(tfc, fake, caplog):
    caplog.set_level(logging.DEBUG)
    fake.faults.add(FaultRule(status=503, count=100))
    with pytest.raises(TFCUnavailable) as err:
        tfc.ensure_workspace("acme")
    assert TOKEN not in str(err.value)
    assert TOKEN not in repr(tfc)
    assert TOKEN not in caplog.text
    assert "retry" in caplog.text  # the log does speak about the retries


# ------------------------------------------------------------ abandoning a run
def _stuck_run(fake, clock, tfc, name: str, stuck_in: str) -> str:
    from fake_tfc import RunBehaviour, RunScript

    fake.set_script(RunScript(match=name, runs=[RunBehaviour(stuck_in=stuck_in)]))
    ws = tfc.ensure_workspace(name)
    run_id = tfc.start_run(ws, destroy=False, message="m")
    clock.advance(30)
    assert tfc.run(run_id).status == stuck_in
    return run_id


def test_abandon_cancels_a_queued_run_at_once(fake, clock):
    """TFC run actions: a run in plan_queued is cancelable and stops at once."""
    tfc = TFCClient("http://fake-tfc", TOKEN, ORG, transport=SyncASGITransport(create_app(fake)), sleep=clock.advance, now=clock.now)
    run_id = _stuck_run(fake, clock, tfc, "queued", "plan_queued")
    said = tfc.abandon(run_id, "giving up")
    assert tfc.run(run_id).status == "canceled" and "cancel requested" in said and "canceled" in said


def test_abandon_force_cancels_a_run_that_ignores_its_cancel_after_the_cool_off(fake, clock):
    """A run stuck in applying ignores cancel; force-cancel becomes possible at
    force-cancel-available-at, which the client waits for (on its clock) when it fits."""
    t0 = clock.now()
    tfc = TFCClient("http://fake-tfc", TOKEN, ORG, transport=SyncASGITransport(create_app(fake)), sleep=clock.advance, now=clock.now, time_left=lambda: 60.0)
    run_id = _stuck_run(fake, clock, tfc, "applying", "applying")
    said = tfc.abandon(run_id, "giving up")
    assert tfc.run(run_id).status == "canceled"
    assert "force-canceled" in said and clock.now() - t0 >= 30 + 10
    actions = [e.path.rsplit("/", 1)[-1] for e in fake.journal.entries(method="POST", path="*/actions/*")]
    assert actions == ["cancel", "force-cancel"]


def test_abandon_does_not_wait_past_the_time_left_and_says_so(fake, clock):
    tfc = TFCClient("http://fake-tfc", TOKEN, ORG, transport=SyncASGITransport(create_app(fake)), sleep=clock.advance, now=clock.now, time_left=lambda: 5.0)
    run_id = _stuck_run(fake, clock, tfc, "late", "applying")
    said = tfc.abandon(run_id, "giving up")
    assert "later than this function can wait" in said and tfc.run(run_id).status == "applying"


def test_abandon_leaves_a_finished_run_alone(fake, clock):
    tfc = TFCClient("http://fake-tfc", TOKEN, ORG, transport=SyncASGITransport(create_app(fake)), sleep=clock.advance, now=clock.now)
    ws = tfc.ensure_workspace("done")
    run_id = tfc.start_run(ws, destroy=False, message="m")
    clock.advance(600)
    assert tfc.abandon(run_id, "x") == f"run {run_id} already applied"
    assert fake.journal.entries(method="POST", path="*/actions/*") == []
