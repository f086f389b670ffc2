"""The importer's pure pieces: fitting stage boundaries to what Check saw, naming the
exception behind MiniStack's generic error, Finalize's reasons without ids, the scrubber,
reading several JSON documents from one file."""

from __future__ import annotations

import pytest

from sim.incidents.current import stable_reason
from sim.incidents.documents import split_json
from sim.incidents.errors import IncidentInputError
from sim.incidents.history import handler_error_behind, retry_interval
from sim.incidents.runs import fit
from sim.incidents.scrub import Scrubber


def test_fit_keeps_boundaries_that_agree_with_the_polls() -> None:
    # applying begins at 6, the run ends at 10; polls at 120 (ended) agree
    assert fit([1.0, 2.0, 5.0, 6.0, 10.0], [(120.0, 5)], "run") == ([1.0, 2.0, 5.0, 6.0, 10.0], [])


def test_fit_moves_a_boundary_just_enough_for_each_poll_to_see_what_production_saw() -> None:
    # TFC stamped the end at 1 s (to the second), but the poll at 1 s still saw applying
    bounds, moved = fit([0.0, 0.0, 0.0, 0.0, 1.0], [(1.0, 4), (2.0, 5)], "run")
    assert moved == [5] and 1.0 < bounds[-1] <= 2.0
    # ...and applying had begun by then even though stamped later
    bounds, moved = fit([0.0, 0.0, 3.0, 4.0, 9.0], [(1.0, 4), (2.0, 5)], "run")
    assert bounds[3] <= 1.0 < bounds[4] <= 2.0 and 4 in moved and 5 in moved


def test_fit_refuses_polls_that_go_backwards() -> None:
    with pytest.raises(IncidentInputError, match="the statuses Check saw go backwards"):
        fit([1.0, 2.0], [(1.0, 2), (2.0, 1)], "run run-x")


def test_the_exception_behind_ministacks_generic_name() -> None:
    cause = '{"errorMessage": "GET /api/v2/workspaces/ws-1/current-state-version-outputs: HTTP 401: unauthorized", "errorType": "Runtime.HandlerError"}'
    assert handler_error_behind("Runtime.HandlerError", cause) == "TFCAuthError"
    assert handler_error_behind("Runtime.HandlerError", '{"errorMessage": "GET /x: HTTP 503: busy (after 6 tries)"}') == "TFCUnavailable"
    assert handler_error_behind("Runtime.HandlerError", '{"errorMessage": "KeyError: run_id"}') is None
    assert handler_error_behind("TFCAuthError", cause) is None  # named already


def test_retry_intervals_are_todays_definitions() -> None:
    from collections import Counter

    used: Counter[int] = Counter()
    assert [retry_interval("Check", "Lambda.TooManyRequestsException", used) for _ in range(7)] == [2, 4, 8, 16, 32, 64, None]
    used = Counter()
    assert [retry_interval("Finalize", "RuntimeError", used) for _ in range(4)] == [5, 10, 20, None]
    assert retry_interval("Check", "RuntimeError", Counter()) is None  # caught, not retried


def test_finalize_reasons_without_ids() -> None:
    assert stable_reason("poll budget exhausted: run run-abc still plan_queued after 4 polls") == "still plan_queued after 4 polls"
    assert stable_reason("run run-abc ended errored") == "ended errored"
    assert stable_reason("task error: RuntimeError: boom") == "task error: RuntimeError"
    assert stable_reason(None) is None


def test_the_scrubber_names_what_it_replaced_never_the_value() -> None:
    s = Scrubber()
    out = s.variables({"tier": "gold", "api_token": "abc", "x": "AKIAIOSFODNN7EXAMPLE"}, "request r")
    assert out["tier"] == "gold" and out["api_token"] != "abc" and "AKIA" not in out["x"]
    assert s.text("arn:aws:states:us-east-1:123456789012:execution:x") == "arn:aws:states:us-east-1:<account>:execution:x"
    summary = " ".join(s.summary())
    assert "'api_token'" in summary and "'x'" in summary and "abc" not in summary and "AKIA" not in summary


def test_several_documents_in_one_file() -> None:
    assert split_json('{"a": 1}\n{"b": 2}', "f") == [{"a": 1}, {"b": 2}]
    assert split_json('[{"a": 1}, {"b": 2}]', "f") == [{"a": 1}, {"b": 2}]
    events = '[{"id": 1, "type": "ExecutionStarted", "timestamp": 0}]'
    assert split_json(events, "f") == [[{"id": 1, "type": "ExecutionStarted", "timestamp": 0}]]  # one page, not documents
