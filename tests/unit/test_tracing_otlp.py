"""``python -m sim run FILE --otlp OUT`` and the span recorder behind it (README "Tracing"):
OTLP/JSON as the protocol defines it, the same file for the same scenario and seed, spans
on the simulated clock; and the control plane's tracing is a no-op when nothing is configured."""

from __future__ import annotations

import json
from pathlib import Path

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.trace import SpanKind

from sim.__main__ import main
from sim.controlplane.models import TenantEvent
from sim.controlplane.statuses import Action
from sim.controlplane.tracing import Tracing, carried, current_traceparent, extract
from sim.tracing import SpanRecorder, otlp_json

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "library" / "quick-lifecycle-any-engine.yaml"


def test_otlp_is_written_as_the_protocol_defines_it_and_is_the_same_for_the_same_seed(tmp_path):
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    assert main(["run", str(SCENARIO), "--otlp", str(first)]) == 0
    assert main(["run", str(SCENARIO), "--otlp", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()

    text = first.read_text(encoding="utf-8")
    json_format.Parse(text, ExportTraceServiceRequest())  # field names, types, enums: the proto's
    doc = json.loads(text)
    [resource] = doc["resourceSpans"]
    assert {"key": "service.name", "value": {"stringValue": "tenant-sim"}} in resource["resource"]["attributes"]
    spans = [s for scope in resource["scopeSpans"] for s in scope["spans"]]
    assert spans
    by_trace: dict[str, set[str]] = {}
    for s in spans:
        assert len(s["traceId"]) == 32 and int(s["traceId"], 16)  # hex, not base64
        assert len(s["spanId"]) == 16 and int(s["spanId"], 16)
        assert s["startTimeUnixNano"].isdigit() and s["endTimeUnixNano"].isdigit()  # 64-bit: strings
        assert int(s["endTimeUnixNano"]) >= int(s["startTimeUnixNano"])
        assert s["kind"] in (1, 2, 3)
        assert all(len(a["value"]) == 1 for a in s["attributes"])  # one AnyValue each
        by_trace.setdefault(s["traceId"], set()).add(s["spanId"])
    for s in spans:
        if "parentSpanId" in s:
            assert s["parentSpanId"] in by_trace[s["traceId"]]
    names = {s["name"] for s in spans}
    assert {"Trigger", "Check", "Finalize", "EventBridge.PutEvents", "SNS.Publish"} <= names
    # Simulated time: the scenario starts on 2026-01-01 (the default start), not today.
    assert min(int(s["startTimeUnixNano"]) for s in spans) == 1767225600 * 10**9


def test_otlp_is_refused_on_an_engine_it_cannot_record(tmp_path, capsys):
    assert main(["run", str(SCENARIO), "--backend", "ministack", "--otlp", str(tmp_path / "o.json")]) == 2
    assert "embedded backend only" in capsys.readouterr().out
    assert not (tmp_path / "o.json").exists()


def test_the_recorder_stamps_spans_with_its_clock_and_seeded_ids():
    clock = [1000.0]

    def spans(seed: int) -> list[tuple[str, str, str | None, int, int]]:
        clock[0] = 1000.0
        recorder = SpanRecorder(lambda: clock[0], seed)
        tracer = recorder.get_tracer("t")
        with tracer.start_as_current_span("outer", kind=SpanKind.SERVER):
            clock[0] += 120.5
            with tracer.start_as_current_span("inner"):
                clock[0] += 0.25
        return [(s.trace_id, s.span_id, s.parent_span_id, s.start, s.end or 0) for s in recorder.finished()]

    outer, inner = spans(1)
    assert (outer[3], outer[4]) == (1000 * 10**9, 1120_750_000_000)
    assert (inner[3], inner[4]) == (1120_500_000_000, 1120_750_000_000)
    assert inner[0] == outer[0] and inner[2] == outer[1]
    assert spans(1) == [outer, inner]
    assert spans(2)[0][0] != outer[0]


def test_the_otlp_json_of_a_span_names_its_kind_status_and_values():
    recorder = SpanRecorder(lambda: 1.0, 0)
    with recorder.get_tracer("scope").start_as_current_span("s", kind=SpanKind.CLIENT, attributes={"n": 3, "b": True, "f": 0.5, "l": ["a"]}):
        pass
    [span] = otlp_json(recorder.finished())["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert span["kind"] == 3 and "parentSpanId" not in span
    assert span["attributes"] == [
        {"key": "b", "value": {"boolValue": True}},
        {"key": "f", "value": {"doubleValue": 0.5}},
        {"key": "l", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}},
        {"key": "n", "value": {"intValue": "3"}},
    ]


def test_with_no_provider_configured_tracing_is_a_no_op_and_the_event_is_unchanged():
    tracing = Tracing()  # OpenTelemetry's global provider: nothing configured
    with tracing.invocation("trigger", None, None):
        assert current_traceparent() is None
    event = TenantEvent(tenant_code="acme", action=Action.CREATE, request_id="r", actor="api", requested_at="t", traceparent=current_traceparent())
    assert "traceparent" not in json.loads(event.model_dump_json(exclude_none=True))


def test_a_task_reads_the_context_its_input_carries():
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert carried({"traceparent": tp, "detail": {}}) == tp
    assert carried({"traceparent": "", "detail": {"traceparent": tp}}) == tp
    assert carried({"traceparent": ""}) is None and carried({"run_id": "r"}) is None
    from opentelemetry import trace

    assert format(trace.get_current_span(extract(tp)).get_span_context().span_id, "016x") == "b7ad6b7169203331"
    assert not trace.get_current_span(extract("garbage")).get_span_context().is_valid


def test_the_otlp_http_exporter_posts_each_ended_span_once_to_v1_traces():
    import httpx

    from sim.tracing import OtlpHttpExporter

    posted: list[httpx.Request] = []
    answers = iter([200, 503])

    def collector(request: httpx.Request) -> httpx.Response:
        posted.append(request)
        return httpx.Response(next(answers))

    recorder = SpanRecorder(lambda: 1.0, 0)
    tracer = recorder.get_tracer("scope")
    errors: list[str] = []
    exporter = OtlpHttpExporter(recorder, "http://collector:4318/", client=httpx.Client(transport=httpx.MockTransport(collector)), on_error=errors.append)
    open_span = tracer.start_span("still open")
    with tracer.start_as_current_span("ended"):
        pass
    exporter.flush()
    exporter.flush()  # nothing new: nothing sent
    assert [str(r.url) for r in posted] == ["http://collector:4318/v1/traces"]
    assert posted[0].headers["content-type"] == "application/json"
    body = ExportTraceServiceRequest()
    json_format.Parse(posted[0].content, body)
    assert [s.name for s in body.resource_spans[0].scope_spans[0].spans] == ["ended"]
    open_span.end()
    exporter.stop()  # the last flush: the collector refuses it
    assert len(posted) == 2 and json.loads(posted[1].content)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"] == "still open"
    assert (exporter.sent, exporter.failed) == (1, 1)
    assert len(errors) == 1 and "HTTP 503" in errors[0]


class _Meta:
    method_to_api_mapping = {"publish": "Publish"}
    region_name = "us-east-1"

    class service_model:
        service_id = "SNS"


class _FailingSns:
    """A boto3 client's shape, whose one call raises what it is given."""

    meta = _Meta()

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def publish(self, **kwargs):
        raise self.exc


def test_an_aws_call_that_fails_raises_its_own_error_through_the_span_naming_only_its_code():
    import pytest
    from botocore.exceptions import ClientError, ReadTimeoutError

    recorder = SpanRecorder(lambda: 1.0, 0)
    tracing = Tracing(recorder)
    refused = ClientError({"Error": {"Code": "Throttling", "Message": "secret-ish detail"}, "ResponseMetadata": {"HTTPStatusCode": 400}}, "Publish")
    lost = ReadTimeoutError(endpoint_url="https://sns.us-east-1.amazonaws.com/")  # its ``response`` is None
    for exc in (refused, lost):
        with pytest.raises(type(exc)) as raised:
            tracing.client(_FailingSns(exc)).publish(TopicArn="t", Message="m")
        assert raised.value is exc
    first, second = recorder.finished()
    assert first.name == second.name == "SNS.Publish"
    assert first.attributes["aws.error.code"] == "Throttling" and first.attributes["error.type"] == "ClientError"
    assert "aws.error.code" not in second.attributes and second.attributes["error.type"] == "ReadTimeoutError"
    assert "secret-ish detail" not in json.dumps(otlp_json(recorder.finished()))
