"""The control plane's TFC client at the HTTP level, with httpx mocked by respx.

``test_tfc_client.py`` drives the client against the in-process fake (429 with
Retry-After, capped backoff on 5xx, one dropped connection, 422 not retried, outputs
behind a 503). Here each answer is scripted exactly, to pin down what the fake cannot
easily produce: which header wins, odd header values, timeouts, every non-retried 4xx
and the error class it maps to, what is sent on the wire, pagination, and how a lost
``POST /runs`` is recovered without queueing a second run.

Sleeps are never real: the client's ``sleep`` is injected and only recorded.
"""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from fake_tfc import FaultRule, create_app
from fake_tfc.transport import SyncASGITransport
from sim.controlplane.tfc_client import (
    JSONAPI,
    TFCAuthError,
    TFCClient,
    TFCConflict,
    TFCError,
    TFCInvalid,
    TFCNotFound,
    TFCUnavailable,
    VariableSpec,
)
from tests.conftest import ORG, TOKEN

BASE = "https://tfc.test"
SECRET = "s3cr3t.atlasv1.token"
WS_PATH = f"/api/v2/organizations/{ORG}/workspaces/acme"


def ws_doc(ws_id: str = "ws-1") -> dict:
    return {"data": {"id": ws_id, "type": "workspaces", "attributes": {"name": "acme"}}}


def error_doc(status: int, detail: str) -> dict:
    return {"errors": [{"status": str(status), "title": "error", "detail": detail}]}


def run_doc(run_id: str, message: str, status: str = "pending") -> dict:
    return {"id": run_id, "type": "runs", "attributes": {"message": message, "status": status}}


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def tfc(sleeps) -> TFCClient:
    client = TFCClient(BASE, SECRET, ORG, sleep=sleeps.append)
    yield client
    client.close()


@pytest.fixture
def mock():
    with respx.mock(base_url=BASE, assert_all_called=False, assert_all_mocked=True) as router:
        yield router


# ------------------------------------------------------------------ retries
def test_429_then_success_sleeps_exactly_what_retry_after_says(tfc, mock, sleeps):
    route = mock.get(WS_PATH).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "3"}),
            httpx.Response(429, headers={"Retry-After": "0.25"}),
            httpx.Response(200, json=ws_doc()),
        ]
    )
    assert tfc.find_workspace("acme") == "ws-1"
    assert route.call_count == 3
    assert sleeps == [3.0, 0.25]


def test_retry_after_of_zero_is_honoured_not_replaced_by_backoff(tfc, mock, sleeps):
    mock.get(WS_PATH).mock(
        side_effect=[httpx.Response(503, headers={"Retry-After": "0"}), httpx.Response(200, json=ws_doc())]
    )
    assert tfc.find_workspace("acme") == "ws-1"
    assert sleeps == [0.0]


def test_x_ratelimit_reset_is_used_when_there_is_no_retry_after(tfc, mock, sleeps):
    # TFC's own rate limiter answers 429 with X-RateLimit-Reset (seconds, fractional).
    mock.get(WS_PATH).mock(
        side_effect=[httpx.Response(429, headers={"X-RateLimit-Reset": "0.6"}), httpx.Response(200, json=ws_doc())]
    )
    assert tfc.find_workspace("acme") == "ws-1"
    assert sleeps == [0.6]


def test_retry_after_wins_over_x_ratelimit_reset(tfc, mock, sleeps):
    mock.get(WS_PATH).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "2", "X-RateLimit-Reset": "9"}),
            httpx.Response(200, json=ws_doc()),
        ]
    )
    tfc.find_workspace("acme")
    assert sleeps == [2.0]


def test_a_server_wait_longer_than_backoff_cap_is_honoured_in_full(mock, sleeps):
    # backoff_cap bounds the client's own backoff only; the server's word is taken as is.
    tfc = TFCClient(BASE, SECRET, ORG, sleep=sleeps.append, backoff_cap=8.0)
    mock.get(WS_PATH).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "90"}), httpx.Response(200, json=ws_doc())])
    assert tfc.find_workspace("acme") == "ws-1"
    assert sleeps == [90.0]


@pytest.mark.parametrize("retry_after", ["1e9", "86400", "51"])
def test_no_wait_outlasts_the_time_the_function_has_left(mock, sleeps, retry_after):
    """A Lambda has only its timeout (``context.get_remaining_time_in_millis()``). A wait that,
    with one more request (the client's timeout), does not fit in the time left is not
    slept: the client fails at once with TFCUnavailable (the transient error the state
    machine retries), carrying the server's wait. AWS: "Lambda ... stops the invocation at
    the timeout"; RFC 9110 section 10.2.3: Retry-After is the server's wish, not a promise."""
    tfc = TFCClient(BASE, SECRET, ORG, sleep=sleeps.append, timeout=10.0, time_left=lambda: 60.0)
    mock.get(WS_PATH).mock(side_effect=[httpx.Response(429, headers={"Retry-After": retry_after}), httpx.Response(200, json=ws_doc())])
    with pytest.raises(TFCUnavailable, match="60s left") as err:
        tfc.find_workspace("acme")
    assert sleeps == [] and err.value.status == 429 and err.value.retry_after == float(retry_after)


def test_a_wait_that_fits_in_the_time_left_is_slept(mock, sleeps):
    tfc = TFCClient(BASE, SECRET, ORG, sleep=sleeps.append, timeout=10.0, time_left=lambda: 60.0)
    mock.get(WS_PATH).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "50"}), httpx.Response(200, json=ws_doc())])
    assert tfc.find_workspace("acme") == "ws-1" and sleeps == [50.0]


def test_a_lost_post_runs_answer_is_not_waited_for_past_the_time_left(mock, sleeps):
    tfc = TFCClient(BASE, SECRET, ORG, sleep=sleeps.append, timeout=10.0, time_left=lambda: 5.0)
    mock.post("/api/v2/runs").mock(return_value=httpx.Response(503, headers={"Retry-After": "1"}))
    with pytest.raises(TFCUnavailable, match="left"):
        tfc.start_run("ws-1", destroy=False, message="req-1")
    assert sleeps == []


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # An HTTP-date Retry-After (RFC 9110 allows it) is not parsed: backoff is used.
        # (Current behaviour, pinned so a change is deliberate; TFC itself sends seconds.)
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.5),
        # ...unless X-RateLimit-Reset is there and numeric.
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT", "X-RateLimit-Reset": "1.5"}, 1.5),
        # A negative wait is clamped to zero, never passed to sleep().
        ({"Retry-After": "-4"}, 0.0),
        # "inf" and "nan" parse as floats but are no waits: backoff is used.
        ({"Retry-After": "inf"}, 0.5),
        ({"Retry-After": "nan"}, 0.5),
    ],
    ids=["http-date-falls-back-to-backoff", "http-date-then-ratelimit-reset", "negative-clamped", "inf", "nan"],
)
def test_odd_retry_after_values(tfc, mock, sleeps, headers, expected):
    mock.get(WS_PATH).mock(side_effect=[httpx.Response(503, headers=headers), httpx.Response(200, json=ws_doc())])
    assert tfc.find_workspace("acme") == "ws-1"
    assert sleeps == [expected]


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_every_retryable_status_is_retried_with_exponential_backoff(tfc, mock, sleeps, status):
    route = mock.get(WS_PATH).mock(
        side_effect=[httpx.Response(status), httpx.Response(status), httpx.Response(200, json=ws_doc())]
    )
    assert tfc.find_workspace("acme") == "ws-1"
    assert route.call_count == 3
    assert sleeps == [0.5, 1.0]


def test_retries_run_out_after_max_retries_with_tfcunavailable_carrying_status_and_retry_after(mock, sleeps):
    tfc = TFCClient(BASE, SECRET, ORG, sleep=sleeps.append, max_retries=3, backoff_base=0.1)
    route = mock.get(WS_PATH).mock(
        return_value=httpx.Response(503, headers={"Retry-After": "4"}, json=error_doc(503, "outputs are being processed"))
    )
    with pytest.raises(TFCUnavailable) as err:
        tfc.find_workspace("acme")
    assert route.call_count == 4  # the first try and 3 retries
    assert sleeps == [4.0, 4.0, 4.0]
    assert isinstance(err.value, TFCError)
    assert err.value.status == 503
    assert err.value.retry_after == 4.0
    assert "HTTP 503: outputs are being processed" in str(err.value)
    assert "after 4 tries" in str(err.value)


def test_max_retries_zero_means_a_single_try(mock, sleeps):
    tfc = TFCClient(BASE, SECRET, ORG, sleep=sleeps.append, max_retries=0)
    route = mock.get(WS_PATH).mock(return_value=httpx.Response(502))
    with pytest.raises(TFCUnavailable) as err:
        tfc.find_workspace("acme")
    assert route.call_count == 1 and sleeps == []
    assert err.value.status == 502
    assert err.value.retry_after is None


def test_backoff_is_capped(mock, sleeps):
    tfc = TFCClient(BASE, SECRET, ORG, sleep=sleeps.append, max_retries=6, backoff_base=1.0, backoff_cap=5.0)
    mock.get(WS_PATH).mock(return_value=httpx.Response(500))
    with pytest.raises(TFCUnavailable):
        tfc.find_workspace("acme")
    assert sleeps == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


# ----------------------------------------------------- lost connections, timeouts
@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.RemoteProtocolError("server disconnected without sending a response"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_dropped_connection_or_timeout_is_transient_and_retried_with_backoff(tfc, mock, sleeps, exc):
    route = mock.get(WS_PATH).mock(side_effect=[exc, exc, httpx.Response(200, json=ws_doc())])
    assert tfc.find_workspace("acme") == "ws-1"
    assert route.call_count == 3
    assert sleeps == [0.5, 1.0]


def test_connections_that_never_answer_end_in_tfcunavailable_with_status_zero(mock, sleeps):
    tfc = TFCClient(BASE, SECRET, ORG, sleep=sleeps.append, max_retries=2)
    route = mock.get(WS_PATH).mock(side_effect=httpx.ReadTimeout("read timed out"))
    with pytest.raises(TFCUnavailable) as err:
        tfc.find_workspace("acme")
    assert route.call_count == 3
    assert sleeps == [0.5, 1.0]
    assert err.value.status == 0
    assert "no answer after 3 tries (ReadTimeout)" in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__  # raised `from None`


def test_the_configured_timeout_is_applied_to_every_request(mock):
    tfc = TFCClient(BASE, SECRET, ORG, timeout=2.5)
    route = mock.get(WS_PATH).mock(return_value=httpx.Response(200, json=ws_doc()))
    tfc.find_workspace("acme")
    assert route.calls.last.request.extensions["timeout"] == {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}


# ------------------------------------------------------------- not retried
@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, TFCError), (401, TFCAuthError), (403, TFCAuthError), (404, TFCNotFound), (409, TFCConflict), (422, TFCInvalid)],
)
def test_a_4xx_is_not_retried_and_maps_to_its_error_class(tfc, mock, sleeps, status, cls):
    route = mock.get("/api/v2/runs/run-1").mock(return_value=httpx.Response(status, json=error_doc(status, "nope")))
    with pytest.raises(TFCError) as err:
        tfc.run("run-1")
    assert type(err.value) is cls
    assert not isinstance(err.value, TFCUnavailable)
    assert err.value.status == status
    assert f"GET /api/v2/runs/run-1: HTTP {status}: nope" == str(err.value)
    assert route.call_count == 1
    assert sleeps == []


def test_an_error_without_a_json_api_body_reports_the_reason_phrase(tfc, mock):
    mock.get("/api/v2/runs/run-1").mock(return_value=httpx.Response(403, text="<html>denied</html>"))
    with pytest.raises(TFCAuthError, match=r"HTTP 403: Forbidden$"):
        tfc.run("run-1")


def test_find_workspace_turns_404_into_none_without_retrying(tfc, mock, sleeps):
    route = mock.get(WS_PATH).mock(return_value=httpx.Response(404, json=error_doc(404, "not found")))
    assert tfc.find_workspace("acme") is None
    assert route.call_count == 1 and sleeps == []


def test_delete_workspace_treats_404_as_already_deleted_and_other_4xx_as_errors(tfc, mock):
    mock.delete("/api/v2/workspaces/ws-gone").mock(return_value=httpx.Response(404))
    mock.delete("/api/v2/workspaces/ws-locked").mock(return_value=httpx.Response(409, json=error_doc(409, "locked")))
    tfc.delete_workspace("ws-gone")
    with pytest.raises(TFCConflict):
        tfc.delete_workspace("ws-locked")


# ----------------------------------------------------------- on the wire
def test_every_request_and_every_retry_carries_the_bearer_token_and_json_api_headers(tfc, mock):
    route = mock.get(WS_PATH).mock(side_effect=[httpx.Response(500), httpx.Response(200, json=ws_doc())])
    tfc.find_workspace("acme")
    assert route.call_count == 2
    for call in route.calls:
        assert call.request.headers["Authorization"] == f"Bearer {SECRET}"
        assert call.request.headers["Accept"] == JSONAPI


def test_a_post_body_is_sent_as_json_api_not_application_json(tfc, mock):
    # httpx's json= would set application/json; TFC wants application/vnd.api+json.
    mock.get(WS_PATH).mock(return_value=httpx.Response(404))
    create = mock.post(f"/api/v2/organizations/{ORG}/workspaces").mock(return_value=httpx.Response(201, json=ws_doc("ws-9")))
    assert tfc.ensure_workspace("acme") == "ws-9"
    request = create.calls.last.request
    assert request.headers["Content-Type"] == JSONAPI
    assert request.headers["Authorization"] == f"Bearer {SECRET}"
    assert json.loads(request.content) == {"data": {"type": "workspaces", "attributes": {"name": "acme", "auto-apply": True}}}


def test_the_base_address_keeps_its_path_prefix_and_loses_a_trailing_slash(mock, sleeps):
    tfc = TFCClient(BASE + "/tfe/", SECRET, ORG, sleep=sleeps.append)
    route = mock.get(f"/tfe/api/v2/organizations/{ORG}/workspaces/acme").mock(return_value=httpx.Response(200, json=ws_doc()))
    assert tfc.find_workspace("acme") == "ws-1"
    assert route.call_count == 1


# ------------------------------------------------------------- pagination
def test_outputs_follow_json_api_pagination_and_read_sensitive_values_by_id(tfc, mock):
    path = "/api/v2/workspaces/ws-1/current-state-version-outputs"

    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page[number]"])
        assert request.url.params["page[size]"] == "100"
        items = {
            1: [{"id": "wsout-a", "attributes": {"name": "a", "value": 1, "sensitive": False}}],
            2: [{"id": "wsout-b", "attributes": {"name": "b", "value": None, "sensitive": True}}],
            3: [{"id": "wsout-c", "attributes": {"name": "c", "value": "z", "sensitive": False}}],
        }[number]
        next_page = number + 1 if number < 3 else None
        return httpx.Response(200, json={"data": items, "meta": {"pagination": {"current-page": number, "next-page": next_page}}})

    listing = mock.get(path).mock(side_effect=page)
    secret = mock.get("/api/v2/state-version-outputs/wsout-b").mock(
        return_value=httpx.Response(200, json={"data": {"id": "wsout-b", "attributes": {"value": "hunter2"}}})
    )
    assert tfc.outputs("ws-1") == {"a": 1, "b": "hunter2", "c": "z"}
    assert [c.request.url.params["page[number]"] for c in listing.calls] == ["1", "2", "3"]
    assert secret.call_count == 1


def test_outputs_stop_on_an_empty_page_even_if_next_page_is_set(tfc, mock):
    path = "/api/v2/workspaces/ws-1/current-state-version-outputs"
    listing = mock.get(path).mock(
        side_effect=[
            httpx.Response(200, json={"data": [], "meta": {"pagination": {"next-page": 2}}}),
            # Only reached if the client walked on past the empty page.
            httpx.Response(200, json={"data": [{"id": "wsout-x", "attributes": {"name": "x", "value": 1}}]}),
        ]
    )
    assert tfc.outputs("ws-1") == {}
    assert listing.call_count == 1


def test_outputs_of_a_workspace_without_state_are_empty(tfc, mock, sleeps):
    path = "/api/v2/workspaces/ws-1/current-state-version-outputs"
    listing = mock.get(path).mock(return_value=httpx.Response(404))
    assert tfc.outputs("ws-1") == {}
    assert listing.call_count == 1 and sleeps == []


def test_runs_reads_one_page_of_the_newest_runs(tfc, mock):
    # Not paginated on purpose: start_run only looks among the newest runs for its own.
    route = mock.get("/api/v2/workspaces/ws-1/runs").mock(
        return_value=httpx.Response(200, json={"data": [run_doc("run-2", "m2")], "meta": {"pagination": {"next-page": 2}}})
    )
    assert [r["id"] for r in tfc.runs("ws-1", page_size=7)] == ["run-2"]
    assert route.call_count == 1
    assert route.calls.last.request.url.params["page[size]"] == "7"


# ------------------------------------------------------- POST /runs recovery
def test_a_lost_post_runs_answer_finds_the_run_it_created_instead_of_posting_again(tfc, mock, sleeps):
    post = mock.post("/api/v2/runs").mock(return_value=httpx.Response(502))
    listing = mock.get("/api/v2/workspaces/ws-1/runs").mock(
        return_value=httpx.Response(200, json={"data": [run_doc("run-new", "req-42"), run_doc("run-old", "req-41")]})
    )
    assert tfc.start_run("ws-1", destroy=False, message="req-42") == "run-new"
    assert post.call_count == 1  # no second run queued
    assert listing.call_count == 1
    assert sleeps == [0.5]
    body = json.loads(post.calls.last.request.content)
    assert body["data"]["attributes"] == {"is-destroy": False, "auto-apply": True, "message": "req-42"}
    assert body["data"]["relationships"]["workspace"]["data"]["id"] == "ws-1"


def test_a_post_runs_that_did_not_take_effect_is_posted_again_honouring_retry_after(tfc, mock, sleeps):
    """A 429 is refused before TFC acts (the rate limiter answers it), so POST /runs is sent
    again after Retry-After without looking for the run; a connection error may have
    created it, so the run is looked for (by its message) before the next post."""
    post = mock.post("/api/v2/runs").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "6"}),
            httpx.ConnectError("refused"),
            httpx.Response(201, json={"data": run_doc("run-3", "req-42")}),
        ]
    )
    listing = mock.get("/api/v2/workspaces/ws-1/runs").mock(
        return_value=httpx.Response(200, json={"data": [run_doc("run-old", "req-41")]})
    )
    assert tfc.start_run("ws-1", destroy=True, message="req-42") == "run-3"
    assert post.call_count == 3
    assert listing.call_count == 1  # looked for once: after the connection error
    assert sleeps == [6.0, 0.5]  # Retry-After, then the backoff of start_run's first retry


def test_429s_have_their_own_retry_budget_and_each_wait_is_jittered_above_retry_after(mock, sleeps):
    """Every Lambda shares one token and TFC allows 30 requests/s per token: a burst meets
    many 429s in a row. They are retried beyond max_retries (their own budget), each wait
    at least Retry-After plus a random share of the growing backoff, so that throttled
    callers do not all come back in the same instant."""
    import random

    tfc = TFCClient(BASE, SECRET, ORG, sleep=sleeps.append, rng=random.Random(1), max_retries=2, max_throttled_retries=12)
    answers = [httpx.Response(429, headers={"Retry-After": "1"})] * 10 + [httpx.Response(200, json=ws_doc())]
    mock.get(WS_PATH).mock(side_effect=answers)
    assert tfc.find_workspace("acme") == "ws-1"
    assert len(sleeps) == 10 and all(w >= 1.0 for w in sleeps)
    assert len(set(sleeps)) == 10, "jittered: no two waits alike"
    assert max(sleeps) > 1.0 + 0.5, "the jitter's share grows with the backoff"


def test_429s_beyond_their_budget_end_in_tfcunavailable(mock, sleeps):
    tfc = TFCClient(BASE, SECRET, ORG, sleep=sleeps.append, max_throttled_retries=3)
    mock.get(WS_PATH).mock(return_value=httpx.Response(429, headers={"Retry-After": "1"}))
    with pytest.raises(TFCUnavailable) as err:
        tfc.find_workspace("acme")
    assert err.value.status == 429 and sleeps == [1.0, 1.0, 1.0]


def test_post_runs_gives_up_after_max_retries(mock, sleeps):
    tfc = TFCClient(BASE, SECRET, ORG, sleep=sleeps.append, max_retries=2)
    post = mock.post("/api/v2/runs").mock(return_value=httpx.Response(503))
    mock.get("/api/v2/workspaces/ws-1/runs").mock(return_value=httpx.Response(200, json={"data": []}))
    with pytest.raises(TFCUnavailable) as err:
        tfc.start_run("ws-1", destroy=False, message="req-42")
    assert post.call_count == 3
    assert err.value.status == 503


def test_a_post_runs_rejected_with_a_4xx_is_neither_retried_nor_looked_for(tfc, mock, sleeps):
    post = mock.post("/api/v2/runs").mock(return_value=httpx.Response(409, json=error_doc(409, "workspace locked")))
    listing = mock.get("/api/v2/workspaces/ws-1/runs")
    with pytest.raises(TFCConflict, match="workspace locked"):
        tfc.start_run("ws-1", destroy=False, message="req-42")
    assert post.call_count == 1 and listing.call_count == 0 and sleeps == []


# ------------------------------------------------------------ lost answers
def test_a_variable_create_whose_answer_was_lost_is_not_an_error(fake, sleeps):
    """POST /vars took effect but its answer was lost (502 after the fact); the client's
    retry meets 422 "Key has already been taken" (TFC: a key is unique per category in a
    workspace). The variable exists: the client reads it back and ends with the value
    asked for, instead of failing the tenant."""
    tfc = TFCClient("http://fake-tfc", TOKEN, ORG, transport=SyncASGITransport(create_app(fake)), sleep=sleeps.append)
    ws_id = tfc.ensure_workspace("acme")
    fake.faults.add(FaultRule(method="POST", path="*/vars", status=502, after=True, count=1))
    assert tfc.upsert_variables(ws_id, [VariableSpec("tenant_code", "acme")]) == ["tenant_code"]
    assert {v.key: v.value for v in fake.workspaces[ws_id].variables.values()} == {"tenant_code": "acme"}
