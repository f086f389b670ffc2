"""The control plane's TFC client and the fake agree on run statuses.

``sim.controlplane.tfc_client`` classifies a run by plain strings; the fake's run machine
(``fake_tfc.statuses``) is the source of truth for which statuses exist and which end a
run. A status renamed or added on one side only would leave the control plane polling a
finished run until its budget runs out, or reading an unknown status as "still running".
"""

from __future__ import annotations

from fake_tfc.statuses import LEGAL_TRANSITIONS, SUCCESS, TERMINAL, RunStatus
from sim.controlplane.tfc_client import FAILURE_RUN_STATUSES, SUCCESS_RUN_STATUSES, RunState

FAKE_STATUSES = {s.value for s in RunStatus}


def test_every_status_the_client_names_is_a_run_status_of_the_fake():
    assert SUCCESS_RUN_STATUSES <= FAKE_STATUSES, SUCCESS_RUN_STATUSES - FAKE_STATUSES
    assert FAILURE_RUN_STATUSES <= FAKE_STATUSES, FAILURE_RUN_STATUSES - FAKE_STATUSES


def test_success_and_failure_are_disjoint():
    assert not SUCCESS_RUN_STATUSES & FAILURE_RUN_STATUSES


def test_success_and_failure_together_are_exactly_the_fakes_terminal_statuses():
    # No status is deliberately left out: policy_soft_failed counts as failure (the
    # control plane never overrides a policy), force_canceled as failure even though
    # pytfe 1.5.0 does not know it.
    assert SUCCESS_RUN_STATUSES | FAILURE_RUN_STATUSES == {s.value for s in TERMINAL}


def test_the_client_and_the_fake_agree_on_which_terminal_statuses_are_success():
    assert SUCCESS_RUN_STATUSES == {s.value for s in SUCCESS}


def test_runstate_calls_finished_exactly_the_statuses_with_no_way_out():
    for status in RunStatus:
        state = RunState(id="run-1", status=status.value)
        assert state.finished == (not LEGAL_TRANSITIONS[status]), status
        assert state.succeeded == (status in SUCCESS), status
        assert not (state.succeeded and state.failed), status
