"""The run state machine, driven through the FakeTFC domain with a virtual clock.
Sequences follow TFC's run states documentation."""

from __future__ import annotations

import pytest

from fake_tfc import FakeTFC, Outcome, RunBehaviour, RunScript, RunStatus
from fake_tfc.errors import TransitionNotAllowed
from fake_tfc.inputs import RunInput, VariableInput, WorkspaceInput
from fake_tfc.statuses import LEGAL_TRANSITIONS, PhaseStatus, VariableCategory

S = RunStatus


def _workspace(fake: FakeTFC, name: str = "ws1", auto_apply: bool = True):
    token = fake.token("test-token")
    ws = fake.create_workspace(token, "example-org", WorkspaceInput(name=name, settings={"auto-apply": auto_apply}))
    fake.create_variable(ws, VariableInput(key="tenant_code", value=name, category=VariableCategory.TERRAFORM))
    return token, ws


def _run(fake: FakeTFC, ws, **kw):
    return fake.create_run(fake.token("test-token"), RunInput(workspace_id=ws.id, **kw))


def _finish(fake, clock, run, limit: float = 3600):
    waited = 0.0
    while not run.terminal and waited < limit:
        clock.advance(1)
        waited += 1
        fake.settle(fake.workspaces[run.workspace_id])
    return [s for s, _ in run.history]


def test_auto_apply_run_walks_the_documented_sequence(fake, clock):
    _, ws = _workspace(fake)
    run = _run(fake, ws)
    assert run.status == S.PENDING  # the create response shows pending (D-RUN sample)
    assert _finish(fake, clock, run) == [
        S.PENDING, S.PLAN_QUEUED, S.PLANNING, S.PLANNED, S.CONFIRMED, S.APPLY_QUEUED, S.APPLYING, S.APPLIED,
    ]


def test_cost_estimation_and_policy_check_add_their_stages(fake, clock):
    fake.set_script(RunScript(cost_estimation=True, policy_check=True))
    _, ws = _workspace(fake)
    seq = _finish(fake, clock, _run(fake, ws))
    assert seq[3:8] == [S.PLANNED, S.COST_ESTIMATING, S.COST_ESTIMATED, S.POLICY_CHECKING, S.POLICY_CHECKED]
    assert seq[-1] == S.APPLIED


def test_timestamps_are_the_simulated_times_the_statuses_were_entered(fake, clock):
    fake.set_script(RunScript(durations={"pending": 0, "plan_queued": 10, "planning": 20, "apply_queued": 5, "applying": 30}))
    _, ws = _workspace(fake)
    run = _run(fake, ws)
    t0 = run.created_at
    clock.advance(1000)  # one late look sees exact stage times, not the look's time
    fake.settle(ws)
    at = {s: t - t0 for s, t in run.history}
    assert at[S.PLAN_QUEUED] == 0 and at[S.PLANNING] == 10 and at[S.PLANNED] == 30
    assert at[S.APPLYING] == 35 and at[S.APPLIED] == 65
    assert run.timestamps["applied-at"] == t0 + 65


def test_every_machine_move_is_legal_for_every_outcome(fake, clock):
    for i, outcome in enumerate(Outcome):
        fake.set_script(RunScript(match=f"o{i}", runs=[RunBehaviour(outcome=outcome)], cost_estimation=True))
        _, ws = _workspace(fake, f"o{i}")
        seq = _finish(fake, clock, _run(fake, ws), limit=100)
        for a, b in zip(seq, seq[1:]):
            assert b in LEGAL_TRANSITIONS[a], (outcome, a, b)


def test_run_stuck_forever_never_moves_on(fake, clock):
    fake.set_script(RunScript(runs=[RunBehaviour(stuck_in=S.PLAN_QUEUED)]))
    _, ws = _workspace(fake)
    run = _run(fake, ws)
    clock.advance(10 * 86400)
    fake.settle(ws)
    assert run.status == S.PLAN_QUEUED


def test_run_stuck_for_a_while_then_continues(fake, clock):
    fake.set_script(RunScript(runs=[RunBehaviour(stuck_in=S.APPLYING, stuck_for=600)]))
    _, ws = _workspace(fake)
    run = _run(fake, ws)
    clock.advance(300)
    fake.settle(ws)
    assert run.status == S.APPLYING
    clock.advance(400)
    fake.settle(ws)
    assert run.status == S.APPLIED


def test_stuck_run_ignores_cancel_but_force_cancel_ends_it_after_cool_off(fake, clock):
    fake.set_script(RunScript(runs=[RunBehaviour(stuck_in=S.PLANNING)]))
    token, ws = _workspace(fake)
    run = _run(fake, ws)
    clock.advance(5)
    fake.settle(ws)
    fake.run_action(token, run.id, "cancel")
    with pytest.raises(TransitionNotAllowed):
        fake.run_action(token, run.id, "force-cancel")  # cool-off not yet passed
    clock.advance(11)
    fake.settle(ws)
    assert run.status == S.PLANNING
    fake.run_action(token, run.id, "force-cancel")
    assert run.status == S.CANCELED  # pytfe 1.5.0 does not know force_canceled
    assert ws.locked_by is None


def test_unknown_statuses_are_opt_in(fake, clock):
    fake.set_script(RunScript(runs=[RunBehaviour(stuck_in=S.PLANNING)], unknown_statuses=True))
    token, ws = _workspace(fake)
    run = _run(fake, ws)
    queued = _run(fake, ws)
    assert queued.shown_status() == S.PLAN_QUEUEABLE
    clock.advance(5)
    fake.run_action(token, run.id, "cancel")
    clock.advance(11)
    fake.run_action(token, run.id, "force-cancel")
    assert run.status == S.FORCE_CANCELED


def test_errored_plan_and_errored_apply_are_told_apart_by_phases(fake, clock):
    fake.set_script(RunScript(match="p", runs=[RunBehaviour(outcome=Outcome.PLAN_ERROR)]))
    fake.set_script(RunScript(match="a", runs=[RunBehaviour(outcome=Outcome.APPLY_ERROR)]))
    _, wp = _workspace(fake, "p")
    _, wa = _workspace(fake, "a")
    rp, ra = _run(fake, wp), _run(fake, wa)
    _finish(fake, clock, rp)
    _finish(fake, clock, ra)
    assert rp.status == ra.status == S.ERRORED
    assert (rp.plan.status, rp.apply.status) == (PhaseStatus.ERRORED, PhaseStatus.UNREACHABLE)
    assert (ra.plan.status, ra.apply.status) == (PhaseStatus.FINISHED, PhaseStatus.ERRORED)
    assert "applying-at" not in rp.timestamps and "applying-at" in ra.timestamps
    assert fake.resource_count(wp) == 0 and fake.resource_count(wa) > 0  # partial state


def test_a_rerun_with_unchanged_variables_has_no_changes(fake, clock):
    _, ws = _workspace(fake)
    first = _run(fake, ws)
    _finish(fake, clock, first)
    second = _run(fake, ws)
    _finish(fake, clock, second)
    assert (first.status, second.status) == (S.APPLIED, S.PLANNED_AND_FINISHED)
    var = ws.find_variable("tenant_code", VariableCategory.TERRAFORM)
    fake.update_variable(ws, var.id, VariableInput(value="changed"))
    third = _run(fake, ws)
    _finish(fake, clock, third)
    assert third.status == S.APPLIED


def test_outputs_keep_ids_and_credentials_across_applies(fake, clock):
    _, ws = _workspace(fake)
    _finish(fake, clock, _run(fake, ws))
    before = {o.name: o.value for o in fake.current_state_version(ws).outputs}
    var = ws.find_variable("tenant_code", VariableCategory.TERRAFORM)
    fake.update_variable(ws, var.id, VariableInput(value="renamed"))
    _finish(fake, clock, _run(fake, ws))
    after = {o.name: o.value for o in fake.current_state_version(ws).outputs}
    assert after["tenant_code"] == "renamed" and before["tenant_code"] == "ws1"
    assert after["tenant_id"] == before["tenant_id"]
    assert after["admin_password"] == before["admin_password"]


def test_a_run_is_pinned_to_the_variables_at_its_creation(fake, clock):
    _, ws = _workspace(fake)
    run = _run(fake, ws)
    var = ws.find_variable("tenant_code", VariableCategory.TERRAFORM)
    fake.update_variable(ws, var.id, VariableInput(value="later"))
    _finish(fake, clock, run)
    assert {o.name: o.value for o in fake.current_state_version(ws).outputs}["tenant_code"] == "ws1"


def test_destroy_of_nothing_ends_planned_and_finished(fake, clock):
    _, ws = _workspace(fake)
    run = _run(fake, ws, is_destroy=True)
    _finish(fake, clock, run)
    assert run.status == S.PLANNED_AND_FINISHED  # hcp-terraform-operator#299


def test_per_attempt_behaviour_is_counted_per_workspace(fake, clock):
    fake.set_script(RunScript(match="t-*", runs=[RunBehaviour(outcome=Outcome.PLAN_ERROR)]))
    _, a = _workspace(fake, "t-a")
    _, b = _workspace(fake, "t-b")
    ra1 = _run(fake, a)
    _finish(fake, clock, ra1)
    ra2 = _run(fake, a)
    rb1 = _run(fake, b)
    _finish(fake, clock, ra2)
    _finish(fake, clock, rb1)
    assert (ra1.status, ra2.status, rb1.status) == (S.ERRORED, S.APPLIED, S.ERRORED)


def test_a_workspace_created_again_goes_on_counting_its_attempts(fake, clock):
    # A tenant decommissioned (its workspace deleted) and then created again: the script's
    # first attempt was spent on the old workspace, so the new one's first run takes `then`.
    fake.set_script(RunScript(match="t-*", runs=[RunBehaviour(outcome=Outcome.PLAN_ERROR)]))
    _, old = _workspace(fake, "t-a")
    first = _run(fake, old)
    _finish(fake, clock, first)
    fake.delete_workspace(old)
    _, new = _workspace(fake, "t-a")
    assert new.id != old.id
    second = _run(fake, new)
    _finish(fake, clock, second)
    assert (first.status, second.status) == (S.ERRORED, S.APPLIED)


def test_policy_soft_fail_waits_for_a_decision_and_can_be_discarded(fake, clock):
    fake.set_script(RunScript(runs=[RunBehaviour(outcome=Outcome.POLICY_SOFT_FAIL)]))
    token, ws = _workspace(fake)
    run = _run(fake, ws)
    clock.advance(3600)
    fake.settle(ws)
    assert run.status == S.POLICY_OVERRIDE and ws.locked_by == run.id
    fake.run_action(token, run.id, "discard")
    assert run.status == S.DISCARDED and ws.locked_by is None


def test_script_validation_names_the_bad_field():
    with pytest.raises(ValueError, match="stuck"):
        RunBehaviour(stuck_in=S.APPLIED)
    with pytest.raises(ValueError, match="unknown stage"):
        RunScript(durations={"warp": 1})
