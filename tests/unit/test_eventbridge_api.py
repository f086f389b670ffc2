"""EventBridge's API on the embedded backend validates where AWS validates (the moto seams
``EventPatternParser.parse``, ``EventsBackend.put_targets`` and
``EventsHandler.test_event_pattern`` in moto_adapter), and a bad rule or target never
breaks delivery to the others. These run without ``../shared``; tests/fidelity runs every
recorded case."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sim.engines.embedded.environment import EmbeddedBackend, EmbeddedConfig

RECORDED = "../shared/reference/aws-recorded"
PUT_TARGETS_API = "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutTargets.html"
TRANSFORMER_API = "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_InputTransformer.html"
BUS = "api-bus"
SOURCE = "tenant-sim.test"


@pytest.fixture(scope="module")
def env() -> Iterator[EmbeddedBackend]:
    with EmbeddedBackend(EmbeddedConfig(stall_seconds=30)) as backend:
        backend.client("events").create_event_bus(Name=BUS)
        yield backend


@pytest.fixture
def queue(env: EmbeddedBackend, request: pytest.FixtureRequest) -> tuple[str, str]:
    sqs = env.client("sqs")
    url = sqs.create_queue(QueueName=f"q-{request.node.name[:60].replace('[', '-').replace(']', '')}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


def _bodies(env: EmbeddedBackend, url: str) -> list[str]:
    env.clock.advance(1)
    got = env.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [m["Body"] for m in got]


def _put(env: EmbeddedBackend, detail: dict[str, Any]) -> dict[str, Any]:
    entry = {"EventBusName": BUS, "Source": SOURCE, "DetailType": "t", "Detail": json.dumps(detail)}
    return env.client("events").put_events(Entries=[entry])


# ------------------------------------------------------------------------------ PutRule


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ('{"detail": {"c-count": [{"numeric": [">", 0, ">", 0]}]}}', "Bad numeric range operator: >"),  # content_numeric_EXC
        ('{"d": [{"anything-but": {"prefix": ""}}]}', "Null prefix/suffix not allowed"),  # content_anything_prefix_empty_EXC
        ('{"a": [{"wildcard": "arn:aws:events:us-east-1:**:event-bus/*"}]}', "Consecutive wildcard characters at pos 26"),
        ('["not", "a", "dict", "but valid json"]', "Filter is not an object"),  # crashed moto (AttributeError)
        ('{"string": "my-value"}', '"string" must be an object or an array'),  # string_nolist_EXC
    ],
)
def test_put_rule_refuses_a_pattern_aws_refuses_with_its_message(env: EmbeddedBackend, pattern: str, reason: str) -> None:
    """Recorded on AWS (event_patterns.json, the cases named in the comments): PutRule answers
    InvalidEventPatternException "Event pattern is not valid. Reason: ..."; moto 5.2.5
    accepted these (and raised AttributeError on a list)."""
    with pytest.raises(ClientError) as caught:
        env.client("events").put_rule(Name="bad", EventBusName=BUS, EventPattern=pattern)
    assert _error(caught) == ("InvalidEventPatternException", f"Event pattern is not valid. Reason: {reason}")
    rules = env.client("events").list_rules(EventBusName=BUS)["Rules"]
    assert "bad" not in [r["Name"] for r in rules]


def test_a_bad_rule_stored_behind_put_rules_back_breaks_no_other_rule(env: EmbeddedBackend, queue: tuple[str, str]) -> None:
    """Before: after one rule AWS refuses, every PutEvents to the bus failed (500 over HTTP).
    A rule whose pattern is invalid (here forced into moto's state directly, since PutRule
    now refuses it) is skipped; the good rule on the bus still gets the event."""
    from moto.events.models import events_backends

    events = env.client("events")
    url, arn = queue
    events.put_rule(Name="good", EventBusName=BUS, EventPattern=json.dumps({"source": [SOURCE]}))
    events.put_targets(Rule="good", EventBusName=BUS, Targets=[{"Id": "q", "Arn": arn}])
    events.put_rule(Name="broken", EventBusName=BUS, EventPattern=json.dumps({"source": [SOURCE]}))
    backend = events_backends[env.stack.account][env.stack.region]
    backend.event_buses[BUS].rules["broken"].event_pattern._pattern = {"n": [{"numeric": [">", 0, ">", 0]}]}
    try:
        resp = _put(env, {"x": 1})
        assert resp["FailedEntryCount"] == 0
        bodies = _bodies(env, url)
        assert [json.loads(b)["detail"] for b in bodies] == [{"x": 1}]
    finally:
        for name in ("good", "broken"):
            ids = [t["Id"] for t in events.list_targets_by_rule(Rule=name, EventBusName=BUS)["Targets"]]
            if ids:
                events.remove_targets(Rule=name, EventBusName=BUS, Ids=ids)
            events.delete_rule(Name=name, EventBusName=BUS)


# ---------------------------------------------------------------------------- PutTargets


@pytest.mark.parametrize(
    ("shaping", "message"),
    [
        pytest.param(
            {"InputPath": "$.detail", "InputTransformer": {"InputTemplate": '{"a": <a>}', "InputPathsMap": {"a": "$.detail.a"}}},
            "Only one of Input, InputPath, or InputTransformer must be provided for target t1.",
            id="input-path-with-transformer",  # recorded: input_path_and_transformer_together
        ),
        pytest.param(
            {"InputTransformer": {"InputTemplate": '"not defined <notdefinedkey>"', "InputPathsMap": {"a": "$.detail.a"}}},
            "InputTemplate for target t1 contains invalid placeholder notdefinedkey.",
            id="undeclared-placeholder",  # recorded: template_undeclared_placeholder
        ),
        pytest.param(
            {"InputTransformer": {"InputTemplate": '{"a": <a>}', "InputPathsMap": {"a": "detail.a"}}},
            "InputPathsMap value for 'a' for target t1 is not a valid JSON path: detail.a",
            id="path-without-dollar",  # TRANSFORMER_API: values are JSON paths
        ),
        pytest.param({"InputPath": "$..detail"}, "InputPath for target t1 is not a valid JSON path: $..detail", id="bad-input-path"),
        pytest.param({"Input": "{not json"}, "Input for target t1 must be valid JSON text.", id="input-not-json"),
    ],
)
def test_put_targets_refuses_what_aws_refuses(env: EmbeddedBackend, queue: tuple[str, str], shaping: dict[str, Any], message: str) -> None:
    """PUT_TARGETS_API and the recorded cases named per param: a ValidationException, and the
    target is not stored (moto 5.2.5 stored it, and delivery then failed)."""
    events = env.client("events")
    events.put_rule(Name="shaped", EventBusName=BUS, EventPattern=json.dumps({"source": [SOURCE]}))
    try:
        with pytest.raises(ClientError) as caught:
            events.put_targets(Rule="shaped", EventBusName=BUS, Targets=[{"Id": "t1", "Arn": queue[1], **shaping}])
        assert _error(caught) == ("ValidationException", message)
        assert events.list_targets_by_rule(Rule="shaped", EventBusName=BUS)["Targets"] == []
    finally:
        events.delete_rule(Name="shaped", EventBusName=BUS)


def test_a_bad_target_stored_behind_put_targets_back_is_dead_lettered_not_raised(env: EmbeddedBackend, queue: tuple[str, str]) -> None:
    """Before: a target with both InputPath and InputTransformer was accepted and then raised
    out of the clock at delivery, nothing delivered and nothing dead-lettered. One forced
    into moto's state now goes to its DLQ (INVALID_PARAMETER) and the clock runs on."""
    from moto.events.models import events_backends

    events, sqs = env.client("events"), env.client("sqs")
    url, arn = queue
    dlq_url = sqs.create_queue(QueueName="bad-target-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="forced", EventBusName=BUS, EventPattern=json.dumps({"source": [SOURCE]}))
    rule = events_backends[env.stack.account][env.stack.region].event_buses[BUS].rules["forced"]
    rule.targets.append(
        {
            "Id": "both",
            "Arn": arn,
            "InputPath": "$.detail",
            "InputTransformer": {"InputTemplate": '{"a": <a>}', "InputPathsMap": {"a": "$.detail.a"}},
            "DeadLetterConfig": {"Arn": dlq_arn},
        }
    )
    try:
        _put(env, {"a": 1})
        assert _bodies(env, url) == []
        dead = sqs.receive_message(QueueUrl=dlq_url, MessageAttributeNames=["All"])["Messages"]
        assert dead[0]["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "INVALID_PARAMETER"
    finally:
        rule.targets.clear()
        events.delete_rule(Name="forced", EventBusName=BUS)


# ------------------------------------------------------------------------ TestEventPattern

EVENT = {
    "id": "1",
    "source": "test-source",
    "detail-type": "test-detail-type",
    "account": "123456789012",
    "region": "us-east-2",
    "time": "2022-07-13T13:48:01Z",
    "detail": {"state": {"status": "running"}},
}


def test_test_event_pattern_answers_from_the_same_matcher(env: EmbeddedBackend) -> None:
    """Recorded (event_patterns.json, dot_joining_pattern and its _NEG): a dotted key is a
    path. moto 5.2.5 answered 200 with no Result for every call."""
    events = env.client("events")
    hit = events.test_event_pattern(EventPattern=json.dumps({"detail": {"state.status": ["running"]}}), Event=json.dumps(EVENT))
    miss = events.test_event_pattern(
        EventPattern=json.dumps({"detail": {"state.status": {"status": ["running"]}}}), Event=json.dumps(EVENT)
    )
    assert (hit["Result"], miss["Result"]) == (True, False)


@pytest.mark.parametrize("event", ["plain string", '["plain string"]', '{"testEvent": "value"}'])
def test_test_event_pattern_refuses_an_event_without_the_envelope(env: EmbeddedBackend, event: str) -> None:
    """Recorded (event_patterns.json, event_plain_string, event_array,
    event_missing_envelope_fields): ValidationException "Parameter Event is not valid."."""
    with pytest.raises(ClientError) as caught:
        env.client("events").test_event_pattern(EventPattern='{"body": {"test2": [{"numeric": [">", 100]}]}}', Event=event)
    assert _error(caught) == ("ValidationException", "Parameter Event is not valid.")


def test_test_event_pattern_refuses_an_invalid_pattern_with_aws_message(env: EmbeddedBackend) -> None:
    """Recorded (event_patterns.json, invalid_json_pattern[{'bad': 'quotation'}]): AWS's
    parser's own words."""
    with pytest.raises(ClientError) as caught:
        env.client("events").test_event_pattern(EventPattern="{'bad': 'quotation'}", Event=json.dumps(EVENT))
    assert _error(caught) == (
        "InvalidEventPatternException",
        "Event pattern is not valid. Reason: Unexpected character (''' (code 39)): was expecting double-quote to start field name",
    )
