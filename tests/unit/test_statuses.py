"""The tenant status machine has one source of truth (``ACTION_ALLOWED_FROM``); the legal
transitions are derived from it, and the property tests' oracle states the rules again on
its own. These tests tie the three together, so a change to one shows in the others."""

from __future__ import annotations

from sim.controlplane.statuses import ACTION_ALLOWED_FROM, IN_PROGRESS, LEGAL_TRANSITIONS, TERMINAL, Action, TenantStatus
from sim.scenarios.oracle import MAY_START

C, U, D = TenantStatus.CREATING, TenantStatus.UPDATING, TenantStatus.DELETING
R, F, X = TenantStatus.READY, TenantStatus.FAILED, TenantStatus.DELETED


def test_the_derived_transitions_are_the_lifecycle_of_the_design():
    # docs/system.md's table: a flow is in progress, ends ready/deleted or failed; failed is
    # retryable through update and deletable; deleted may be created again.
    assert LEGAL_TRANSITIONS == {
        None: {C},
        C: {R, F},
        U: {R, F},
        D: {X, F},
        R: {U, D},
        F: {U, D},
        X: {C},
    }


def test_the_oracle_states_the_same_rules_independently():
    assert MAY_START == ACTION_ALLOWED_FROM
    assert MAY_START is not ACTION_ALLOWED_FROM


def test_in_progress_and_terminal_partition_the_statuses():
    assert IN_PROGRESS | TERMINAL == set(TenantStatus) and not IN_PROGRESS & TERMINAL
    assert {a.in_progress_status for a in Action} == IN_PROGRESS
    assert {a.success_status for a in Action} | {F} == TERMINAL
    assert "creating" in IN_PROGRESS and "ready" in TERMINAL  # plain strings read from rows


def test_event_names_follow_the_action():
    assert [a.detail_type for a in Action] == ["tenant.create", "tenant.update", "tenant.delete"]
    assert [a.success_event for a in Action] == ["tenant.created", "tenant.updated", "tenant.deleted"]
    assert [a.failure_event for a in Action] == ["tenant.create_failed", "tenant.update_failed", "tenant.delete_failed"]
