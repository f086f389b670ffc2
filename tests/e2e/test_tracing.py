"""Tracing (README "Tracing"): one trace from the API request through PutEvents and the
execution to every Task, AWS call and TFC request, carried by the W3C ``traceparent`` in
the event and the execution input; spans on the simulated clock; no secret in a span;
nothing changed when tracing is off."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from fake_tfc import RunScript
from sim.controlplane.statuses import Action
from sim.engines.embedded.environment import DEFAULT_TOKEN, EmbeddedBackend, EmbeddedConfig
from sim.tracing import RecordedSpan, otlp_json

from .conftest import create, settle

#: A run that applies for 300 s: the flow checks it three times, 120 s apart.
SLOW_APPLY = RunScript(match="*", durations={"applying": 300.0})
WAIT_NS = 120 * 10**9


class RecordingTransport(httpx.BaseTransport):
    """The fake TFC's transport, keeping each request's headers."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path, dict(request.headers)))
        return self.inner.handle_request(request)


def _record_tfc(env: EmbeddedBackend) -> RecordingTransport:
    # Before the first Trigger: the TFC client takes the transport when it is built.
    recording = RecordingTransport(env._tfc_transport)
    env._tfc_transport = recording  # type: ignore[assignment]
    return recording


@pytest.fixture
def traced() -> Iterator[EmbeddedBackend]:
    with EmbeddedBackend(EmbeddedConfig(stall_seconds=30, tracing=True)) as backend:
        yield backend


def _create_trace(env: EmbeddedBackend) -> tuple[RecordedSpan, list[RecordedSpan]]:
    """The POST's span and every span of its trace."""
    assert env.spans is not None
    posts = [s for s in env.spans.finished() if s.name == "POST /{proxy+}"]
    assert len(posts) == 1
    return posts[0], env.spans.traces()[posts[0].trace_id]


def _named(spans: list[RecordedSpan], name: str) -> list[RecordedSpan]:
    return [s for s in spans if s.name == name]


def _execution_input(env: EmbeddedBackend) -> dict:
    sfn = env.client("stepfunctions")
    [execution] = sfn.list_executions(stateMachineArn=env.stack.state_machine_arn(Action.CREATE))["executions"]
    return json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])


def test_one_create_is_one_trace_from_the_api_request_to_the_lifecycle_event(traced):
    env = traced
    env.fake.set_script(SLOW_APPLY)
    create(env, "acme")
    assert settle(env, "acme")["status"] == "ready"
    api, spans = _create_trace(env)

    assert api.parent is None  # the request's span is the root
    by_id = {s.span_id: s for s in spans}
    assert all(s.parent_span_id in by_id for s in spans if s is not api)  # every parent in the same trace
    [put] = _named(spans, "EventBridge.PutEvents")
    [trigger] = _named(spans, "Trigger")
    checks = _named(spans, "Check")
    [finalize] = _named(spans, "Finalize")
    [publish] = _named(spans, "SNS.Publish")
    assert put.parent_span_id == api.span_id
    # Each Task joins the request's span through the carried context, not through a span
    # that happened to be current when the execution ran.
    for task in (trigger, *checks, finalize):
        assert task.parent_span_id == api.span_id
    assert publish.parent_span_id == finalize.span_id
    assert len(checks) == len([i for i in env.invocations if i.function == env.stack.function_name("check")]) == 3
    assert {s.parent_span_id for s in _named(spans, "TFC GET")} <= {trigger.span_id, *(c.span_id for c in checks), finalize.span_id}
    assert _named(spans, "TFC POST") and all(s.parent_span_id == trigger.span_id for s in _named(spans, "TFC POST"))

    # Simulated time: the request at the scenario's start, each Check a Wait after the last.
    start_ns = round(env.config.start * 1e6) * 1000
    assert api.start == put.start == trigger.start == start_ns
    starts = [trigger.start, *(c.start for c in checks)]
    assert all(later - earlier >= WAIT_NS for earlier, later in zip(starts, starts[1:]))
    assert finalize.start >= checks[-1].end and publish.end <= finalize.end
    assert all(s.end is not None and s.end >= s.start for s in spans)

    # The context travelled in the event's detail and, from there, in the execution input.
    execution = _execution_input(env)
    traceparent = f"00-{api.trace_id}-{api.span_id}-01"
    assert execution["detail"]["traceparent"] == execution["traceparent"] == traceparent


def test_tfc_requests_carry_a_traceparent_naming_the_trace_and_their_own_span(traced):
    env = traced
    tfc = _record_tfc(env)
    create(env, "acme")
    settle(env, "acme")
    api, spans = _create_trace(env)
    tfc_spans = {s.span_id for s in spans if s.name.startswith("TFC ")}
    assert tfc.requests and len(tfc.requests) == len(tfc_spans)
    for method, path, headers in tfc.requests:
        version, trace_id, span_id, flags = headers["traceparent"].split("-")
        assert (version, trace_id, flags) == ("00", api.trace_id, "01"), (method, path)
        assert span_id in tfc_spans


def test_no_secret_reaches_a_span(traced):
    env = traced
    create(env, "acme", {"password": "hunter2-secret-value"})
    settle(env, "acme")
    text = json.dumps(otlp_json(env.spans.finished()))
    assert DEFAULT_TOKEN not in text
    assert "Bearer" not in text and "authorization" not in text.lower()
    assert "hunter2-secret-value" not in text  # variables' values are not attributes either


def test_without_tracing_nothing_is_carried_and_nothing_is_recorded(env):
    tfc = _record_tfc(env)
    create(env, "acme")
    settle(env, "acme")
    assert env.spans is None
    execution = _execution_input(env)
    assert "traceparent" not in execution["detail"]  # the event is what it was before tracing
    assert execution["traceparent"] == ""  # the input transformer's value for a missing path
    assert tfc.requests and not any("traceparent" in headers for _, _, headers in tfc.requests)
