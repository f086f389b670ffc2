"""EventBridge target delivery semantics (sim.engines.embedded.targets), checked against the
examples on the AWS documentation pages cited in each test."""

from __future__ import annotations

import json
import random

import boto3
import pytest
from moto import mock_aws

from sim.engines.embedded.patterns import event_matches
from sim.engines.embedded.targets import (
    ERROR_CODES,
    ErrorCode,
    ExhaustedRetryCondition,
    RetryPolicy,
    TargetInputError,
    TargetValidationError,
    classify_start_execution_error,
    dlq_message,
    next_retry,
    render_target_input,
    retry_delay,
)

TRANSFORM_DOC = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html"
TRANSFORMER_API = "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_InputTransformer.html"
PUT_TARGETS_API = "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutTargets.html"
OPERATORS_DOC = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html"
ARRAYS_DOC = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-arrays.html"
NULLS_DOC = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-null-values.html"
SCHEDULE_DOC = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-rule-schedule.html"
RETRY_DOC = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html"
RETRY_API = "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_RetryPolicy.html"
DLQ_DOC = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html"
START_EXECUTION_API = "https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html"

# The example Amazon EC2 event of TRANSFORM_DOC, "Input transform examples".
EC2_EVENT: dict = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2015-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "detail": {"instance-id": "i-0123456789", "state": "RUNNING"},
}
PATHS = {"instance": "$.detail.instance-id", "state": "$.detail.state"}
RULE_ARN = "arn:aws:events:us-east-2:123456789012:rule/example"  # the doc's reserved-variables output
RULE_NAME = "example"
INGESTION_TIME = "2015-11-11T21:29:55Z"
SFN_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:tenant-lifecycle"


def _render(template: str, paths: dict[str, str] = PATHS, event: dict = EC2_EVENT) -> str:
    target = {"Id": "t", "Arn": SFN_ARN, "InputTransformer": {"InputPathsMap": paths, "InputTemplate": template}}
    return render_target_input(target, event, rule_arn=RULE_ARN, rule_name=RULE_NAME, ingestion_time=INGESTION_TIME)


def _plain(target_fields: dict, event: dict = EC2_EVENT) -> str:
    target = {"Id": "t", "Arn": SFN_ARN, **target_fields}
    return render_target_input(target, event, rule_arn=RULE_ARN, rule_name=RULE_NAME, ingestion_time=INGESTION_TIME)


# --------------------------------------------------------------------------- input transformer


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param('"instance <instance> is in <state>"', '"instance i-0123456789 is in RUNNING"', id="simple-string"),
        pytest.param(
            '"instance \\"<instance>\\" is in <state>"',
            '"instance \\"i-0123456789\\" is in RUNNING"',
            id="string-with-escaped-quotes",  # the console behaviour the doc shows
        ),
        pytest.param(
            '{\n  "instance" : <instance>,\n  "state": <state>\n}',
            '{"instance":"i-0123456789","state":"RUNNING"}',
            id="simple-json",
        ),
        pytest.param(
            '{\n "instance" : <instance>,\n "state": "<state>",\n'
            ' "instanceStatus": "instance \\"<instance>\\" is in <state>"\n}',
            '{"instance":"i-0123456789","state":"RUNNING","instanceStatus":"instance \\"i-0123456789\\" is in RUNNING"}',
            id="json-with-strings-and-variables",
        ),
        pytest.param(
            '{\n  "instance" : <instance>,\n  "state": [ 9, <state>, true ],\n  "Transformed" : "Yes"\n}',
            '{"instance":"i-0123456789","state":[9,"RUNNING",true],"Transformed":"Yes"}',
            id="json-with-a-mix-of-variables-and-static-information",
        ),
        pytest.param('"<aws.events.rule-name> triggered"', '"example triggered"', id="reserved-variable-in-a-string"),
    ],
)
def test_input_transform_examples_render_as_the_doc_shows_minified(template: str, expected: str) -> None:
    """TRANSFORM_DOC, "Input transform examples" table, each row with the EC2 example event.
    The doc prints outputs pretty; "The JSON that is passed to the target is minified"."""
    assert _render(template) == expected


def test_reserved_variables_in_json_fill_rule_arn_rule_name_and_the_event_without_detail() -> None:
    """TRANSFORM_DOC, "Including reserved variables in JSON"; aws.events.event is "the original
    event payload as JSON (without the detail field)" (Predefined variables). Recorded on AWS
    (input_transforms.json, predefined_variables[{"originalEvent": <aws.events.event>, ...}]):
    its ``detail-type`` is named ``detailType`` and its ``time`` is the ingestion time; the
    recording wins over this test's earlier reading of the doc."""
    template = (
        '{\n  "instance" : <instance>,\n  "state": <state>,\n  "ruleArn" : <aws.events.rule-arn>,\n'
        '  "ruleName" : <aws.events.rule-name>,\n  "originalEvent" : <aws.events.event>\n}'
    )
    out = json.loads(_render(template))
    original = {k: v for k, v in EC2_EVENT.items() if k not in ("detail", "detail-type", "time")}
    original.update({"detailType": EC2_EVENT["detail-type"], "time": INGESTION_TIME})
    assert out == {
        "instance": "i-0123456789",
        "state": "RUNNING",
        "ruleArn": RULE_ARN,
        "ruleName": "example",
        "originalEvent": original,
    }


def test_event_json_is_the_full_event_and_ingestion_time_is_an_iso_8601_string() -> None:
    """TRANSFORM_DOC, Predefined variables: aws.events.event.json is "the full original event
    payload as JSON (with the detail field)"; aws.events.event.ingestion-time "is an ISO 8601
    timestamp" (moto 5.2.5 gives epoch floats)."""
    out = json.loads(_render('{"event": <aws.events.event.json>, "at": "<aws.events.event.ingestion-time>"}'))
    assert out == {"event": EC2_EVENT, "at": INGESTION_TIME}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param("<instance> is in state <state>", '"i-0123456789 is in state RUNNING"', id="plain-string"),
        pytest.param(
            '<instance> is in state "<state>"', '"i-0123456789 is in state \\"RUNNING\\""', id="quoted-variable"
        ),
        pytest.param(
            '{"myInstance": <instance>,"myStatus": "<instance> is in state \\"<state>\\""}',
            '{"myInstance":"i-0123456789","myStatus":"i-0123456789 is in state \\"RUNNING\\""}',
            id="json-with-variables-in-quotes-or-out",
        ),
    ],
)
def test_api_reference_templates_plain_strings_are_delivered_as_json_strings(template: str, expected: str) -> None:
    """TRANSFORMER_API, InputTemplate: the three examples ("<instance> is in state <status>",
    the escaped-quotes one, and valid JSON "with varibles in quotes or out"), here with the
    EC2 example event and its instance/state InputPathsMap. The API form of a plain string
    template carries no quotes of its own; the target receives it as a JSON string."""
    assert _render(template) == expected
    assert isinstance(json.loads(_render(template)), (str, dict))


def test_extracted_values_are_not_escaped_so_a_quote_inside_a_quoted_variable_breaks_the_json() -> None:
    """TRANSFORM_DOC, Common issues: "EventBridge doesn't escape values extracted by Input
    Path". In a JSON value position the value is written as JSON and stays valid."""
    event = {**EC2_EVENT, "detail": {"instance-id": 'i-"quoted"', "state": "RUNNING"}}
    with pytest.raises(TargetInputError) as caught:
        _render('{"status": "instance <instance> is in <state>"}', event=event)
    assert caught.value.error_code == ErrorCode.INVALID_JSON
    assert json.loads(_render('{"instance": <instance>}', event=event)) == {"instance": 'i-"quoted"'}


def test_a_path_missing_from_the_event_creates_no_variable_and_nothing_appears_in_the_output() -> None:
    """TRANSFORM_DOC, Common issues: "If you specify a variable to match a JSON path that
    doesn't exist in the event, that variable isn't created and won't appear in the output."
    Quoted, it leaves an empty string. Unquoted in a JSON value, AWS delivers an empty string
    there (recorded: input_transforms.json, "template_json missing path (unquoted
    placeholder)"); this test used to expect invalid JSON, and the recording wins."""
    paths = {**PATHS, "missing": "$.detail.no-such-field"}
    assert json.loads(_render('{"m": "<missing>", "s": <state>}', paths)) == {"m": "", "s": "RUNNING"}
    assert _render("<instance> was <missing>.", paths) == '"i-0123456789 was ."'
    assert json.loads(_render('{"m": <missing>}', paths)) == {"m": ""}


def test_objects_arrays_and_indexed_paths_are_inserted_as_json() -> None:
    """TRANSFORM_DOC, Note on supported JSON path syntax (dot notation, dashes, array indices,
    wildcards) and Common issues: "do not quote variables holding objects or arrays"."""
    event = {**EC2_EVENT, "detail": {"tenant_code": "acme", "items": [{"n": 1}, {"n": 2}]}}
    paths = {
        "detail": "$.detail",
        "resources": "$.resources",
        "first": "$.detail.items[0]",
        "all_n": "$.detail.items[*].n",
        "type": "$.detail-type",
        "code": "$.detail.tenant_code",
    }
    template = '{"d": <detail>, "r": <resources>, "f": <first>, "n": <all_n>, "t": <type>, "c": "<code>"}'
    assert json.loads(_render(template, paths, event)) == {
        "d": event["detail"],
        "r": EC2_EVENT["resources"],
        "f": {"n": 1},
        "n": [1, 2],
        "t": "EC2 Instance State-change Notification",
        "c": "acme",
    }


def test_a_placeholder_that_is_no_variable_is_refused_at_put_targets() -> None:
    """TRANSFORMER_API: placeholders are the InputPathsMap keys (and the reserved variables of
    TRANSFORM_DOC). AWS refuses any other <name> at PutTargets (recorded: input_transforms.json,
    template_undeclared_placeholder); this test used to leave it as text, and the recording
    wins. Angle brackets that do not form a <name> stay text."""
    with pytest.raises(TargetValidationError, match=r"^InputTemplate for target t contains invalid placeholder b\.$"):
        _render('{"html": "<b><state></b>"}')
    assert json.loads(_render('{"cmp": "1 < 2 and 3 > 2: <state>"}')) == {"cmp": "1 < 2 and 3 > 2: RUNNING"}


def test_no_shaping_field_delivers_the_whole_event_input_a_constant_and_input_path_a_selection() -> None:
    """PUT_TARGETS_API: "If none of the following arguments are specified for a target, then the
    entire event is passed to the target in JSON format"; "If Input is specified in the form of
    valid JSON, then the matched event is overridden with this constant"; "If InputPath is
    specified in the form of JSONPath (for example, $.detail), then only the part of the event
    specified in the path is passed to the target"."""
    assert json.loads(_plain({})) == EC2_EVENT
    assert _plain({"Input": '{"fixed": true}'}) == '{"fixed": true}'
    assert json.loads(_plain({"InputPath": "$.detail"})) == EC2_EVENT["detail"]
    assert _plain({"InputPath": "$.detail.state"}) == '"RUNNING"'
    with pytest.raises(TargetInputError):
        _plain({"InputPath": "$.detail.nothing"})


@pytest.mark.parametrize(
    "fields",
    [
        {"Input": "{}", "InputPath": "$.detail"},
        {"Input": "{}", "InputTransformer": {"InputTemplate": '"x"'}},
        {"InputPath": "$.detail", "InputTransformer": {"InputTemplate": '"x"'}},
    ],
    ids=["Input+InputPath", "Input+InputTransformer", "InputPath+InputTransformer"],
)
def test_input_input_path_and_input_transformer_are_mutually_exclusive(fields: dict) -> None:
    """PUT_TARGETS_API: "Input, InputPath, and InputTransformer are mutually exclusive and
    optional parameters of a target"; AWS's message is recorded (input_transforms.json,
    input_path_and_transformer_together)."""
    with pytest.raises(TargetValidationError) as caught:
        _plain(fields)
    assert str(caught.value) == "Only one of Input, InputPath, or InputTransformer must be provided for target t."


@pytest.mark.parametrize("key", ["AWSvar", "has.dot", "has space", "k" * 257], ids=["AWS-prefix", "dot", "space", "long"])
def test_input_paths_map_keys_are_validated_like_put_targets(key: str) -> None:
    """TRANSFORMER_API, InputPathsMap: "The keys cannot start with 'AWS'"; key pattern
    [A-Za-z0-9\\_\\-]+, key length 1 to 256."""
    with pytest.raises(ValueError) as caught:
        _render("<state>", {key: "$.detail.state"})
    assert repr(key) in str(caught.value)


# --------------------------------------------------------------------------- event patterns


def test_a_schedule_only_rule_matches_no_put_events_event() -> None:
    """SCHEDULE_DOC: a scheduled rule runs on a schedule, not on events. It has no EventPattern,
    and moto 5.2.5 lets such a rule receive every PutEvents event."""
    assert event_matches(None, EC2_EVENT) is False
    assert event_matches("", EC2_EVENT) is False


@pytest.mark.parametrize(
    ("pattern", "event", "matches"),
    [
        ({"Location": ["New York"], "Day": ["Monday"]}, {"Location": "New York", "Day": "Monday"}, True),
        ({"Location": ["New York"], "Day": ["Monday"]}, {"Location": "New York", "Day": "Friday"}, False),
        ({"state": [{"anything-but": "initializing"}]}, {"state": "running"}, True),
        ({"state": [{"anything-but": "initializing"}]}, {"state": "initializing"}, False),
        ({"Region": [{"anything-but": {"prefix": "us-"}}]}, {"Region": "eu-west-1"}, True),
        ({"Region": [{"anything-but": {"prefix": "us-"}}]}, {"Region": "us-east-1"}, False),
        ({"FileName": [{"anything-but": {"suffix": ".png"}}]}, {"FileName": "a.png"}, False),
        ({"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}, {"state": "INITIALIZING"}, False),
        ({"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}, {"FilePath": "/usr/lib/x"}, False),
        ({"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}, {"FilePath": "/usr/bin/x"}, True),
        ({"Region": [{"prefix": "us-"}]}, {"Region": "us-east-1"}, True),
        ({"service": [{"prefix": {"equals-ignore-case": "eventb"}}]}, {"service": "EventBridge"}, True),
        ({"LastName": [""]}, {"LastName": ""}, True),
        ({"Name": ["Alice"]}, {"Name": "alice"}, False),
        ({"Name": [{"equals-ignore-case": "alice"}]}, {"Name": "ALICE"}, True),
        ({"FileName": [{"suffix": ".png"}]}, {"FileName": "photo.png"}, True),
        ({"service": [{"suffix": {"equals-ignore-case": "tbridge"}}]}, {"service": "EventBridge"}, True),
        ({"ProductName": [{"exists": True}]}, {"ProductName": "x"}, True),
        ({"ProductName": [{"exists": False}]}, {"ProductName": "x"}, False),
        ({"Weight": [{"numeric": [">", 0, "<=", 5]}]}, {"Weight": 5}, True),
        ({"Weight": [{"numeric": [">", 0, "<=", 5]}]}, {"Weight": 0}, False),
        ({"SourceIPAddress": [{"cidr": "10.0.0.0/24"}]}, {"SourceIPAddress": "10.0.0.7"}, True),
        ({"SourceIPAddress": [{"cidr": "10.0.0.0/24"}]}, {"SourceIPAddress": "10.0.1.7"}, False),
        ({"UserID": [None]}, {"UserID": None}, True),
        ({"Location": ["New York", "Los Angeles"]}, {"Location": "Los Angeles"}, True),
        ({"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]}, {"Location": "Paris", "Day": "Monday"}, True),
        ({"FileName": [{"wildcard": "*.png"}]}, {"FileName": "dir/a.png"}, True),
        ({"FileName": [{"wildcard": "*.png"}]}, {"FileName": "a.png.txt"}, False),
    ],
)
def test_comparison_operators_table(pattern: dict, event: dict, matches: bool) -> None:
    """OPERATORS_DOC, the summary table of comparison operators: each row's rule syntax, with
    an event that should and (where useful) one that should not match."""
    assert event_matches(pattern, event) is matches


def test_exists_false_matches_when_the_field_is_absent_or_not_a_leaf() -> None:
    """OPERATORS_DOC, Exists matching: {"detail": {"c-count": [{"exists": false}]}} matches an
    event without detail.c-count, and also one where c-count is an object, because exists
    matching "only works on leaf nodes"."""
    pattern = {"detail": {"c-count": [{"exists": False}]}}
    base = {"detail-type": "EC2 Instance State-change Notification", "resources": ["arn:aws:ec2:..."]}
    assert event_matches(pattern, {**base, "detail": {"state": ["initializing", "running"]}})
    assert event_matches(pattern, {**base, "detail": {"state": ["initializing", "running"], "c-count": {"c1": 100}}})
    assert not event_matches(pattern, {**base, "detail": {"c-count": 3}})


def test_complex_example_with_multiple_matching() -> None:
    """OPERATORS_DOC, "Complex example with multiple matching" (prefix, anything-but and numeric)."""
    pattern = {
        "time": [{"prefix": "2017-10-02"}],
        "detail": {
            "state": [{"anything-but": "initializing"}],
            "c-count": [{"numeric": [">", 0, "<=", 5]}],
            "d-count": [{"numeric": ["<", 10]}],
            "x-limit": [{"anything-but": [100, 200, 300]}],
        },
    }
    event = {"time": "2017-10-02T18:43:48Z", "detail": {"state": "running", "c-count": 5, "d-count": 3, "x-limit": 301.8}}
    assert event_matches(pattern, event)
    assert event_matches(json.dumps(pattern), event)
    assert not event_matches(pattern, {**event, "detail": {**event["detail"], "x-limit": 200}})


def test_an_array_in_the_event_matches_if_any_element_matches() -> None:
    """ARRAYS_DOC: "If the value in the event is an array, then the event pattern matches if the
    intersection of the event pattern array and the event array is non-empty" (the resources
    example)."""
    pattern = {
        "resources": [
            "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
            "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
            "arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f",
        ]
    }
    event = {
        "resources": [
            "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:"
            "autoScalingGroupName/ASGTerminate",
            "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
        ]
    }
    assert event_matches(pattern, event)
    assert not event_matches(pattern, {"resources": event["resources"][:1]})


def test_a_nested_pattern_reaches_into_an_array_of_objects_one_element_at_a_time() -> None:
    """ARRAYS_DOC applied to arrays of objects (moto 5.2.5 never matches these): the fields of a
    nested pattern have to match within the same element."""
    pattern = {"detail": {"items": {"sku": ["b"], "qty": [{"numeric": [">", 1]}]}}}
    assert event_matches(pattern, {"detail": {"items": [{"sku": "a", "qty": 5}, {"sku": "b", "qty": 2}]}})
    assert not event_matches(pattern, {"detail": {"items": [{"sku": "a", "qty": 5}, {"sku": "b", "qty": 1}]}})


def test_null_and_empty_string_are_not_interchangeable_and_true_is_not_1() -> None:
    """NULLS_DOC: "Null values and empty strings are not interchangeable in pattern matching",
    with its autoscaling example. JSON types are kept apart likewise: moto 5.2.5 lets [true]
    match 1 and a numeric filter match true."""
    event = {"source": "aws.autoscaling", "detail": {"eventVersion": "", "responseElements": None}}
    assert event_matches({"detail": {"eventVersion": [""]}}, event)
    assert event_matches({"detail": {"responseElements": [None]}}, event)
    assert not event_matches({"detail": {"eventVersion": [None]}}, event)
    assert not event_matches({"detail": {"responseElements": [""]}}, event)
    assert not event_matches({"detail": {"flag": [True]}}, {"detail": {"flag": 1}})
    assert not event_matches({"detail": {"n": [{"numeric": [">", 0]}]}}, {"detail": {"n": True}})


@pytest.mark.parametrize(
    "pattern",
    ['{"source": "aws.ec2"}', '{"source": []}', '{"n": [{"numeric": [">", "x"]}]}', '{"a": [{"nope": 1}]}', "[1]"],
)
def test_an_invalid_pattern_is_rejected(pattern: str) -> None:
    """OPERATORS_DOC: values in a pattern are arrays of values or of operator objects; PutRule
    rejects anything else (InvalidEventPatternException)."""
    with pytest.raises(ValueError):
        event_matches(pattern, EC2_EVENT)


# --------------------------------------------------------------------------- retry policy


def test_retry_policy_defaults_to_24_hours_and_185_attempts() -> None:
    """RETRY_DOC: "By default, EventBridge retries sending the event for 24 hours and up to 185
    times"."""
    assert RetryPolicy.from_target({"Id": "t", "Arn": SFN_ARN}) == RetryPolicy(185, 86_400)
    configured = {"RetryPolicy": {"MaximumRetryAttempts": 4, "MaximumEventAgeInSeconds": 600}}
    assert RetryPolicy.from_target(configured) == RetryPolicy(4, 600)


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        ({"MaximumRetryAttempts": 186}, "MaximumRetryAttempts"),
        ({"MaximumRetryAttempts": -1}, "MaximumRetryAttempts"),
        ({"MaximumEventAgeInSeconds": 59}, "MaximumEventAgeInSeconds"),
        ({"MaximumEventAgeInSeconds": 86_401}, "MaximumEventAgeInSeconds"),
    ],
)
def test_retry_policy_ranges_are_validated(policy: dict, field: str) -> None:
    """RETRY_API: MaximumRetryAttempts is 0 to 185, MaximumEventAgeInSeconds 60 to 86400."""
    with pytest.raises(ValueError, match=field):
        RetryPolicy.from_target({"RetryPolicy": policy})


def test_retry_delay_is_capped_exponential_with_full_jitter_and_reproducible() -> None:
    """RETRY_DOC: "exponential back off and jitter"; the schedule itself is undocumented."""
    rng = random.Random(7)
    delays = [retry_delay(n, rng) for n in range(1, 40)]
    assert all(0.0 <= d <= min(300.0, 2.0 ** (n - 1)) for n, d in zip(range(1, 40), delays, strict=True))
    assert delays == [retry_delay(n, r) for r in [random.Random(7)] for n in range(1, 40)]


def _deliver_until_exhausted(policy: RetryPolicy, seed: int = 1) -> tuple[int, float, ExhaustedRetryCondition]:
    """Fail every attempt; return (attempts made, time of the last one, why it stopped)."""
    rng, first = random.Random(seed), 1_000.0
    attempts, now = 1, first
    while True:
        nxt = next_retry(policy, attempts, first, now, rng)
        if isinstance(nxt, ExhaustedRetryCondition):
            return attempts, now, nxt
        assert nxt >= now
        attempts, now = attempts + 1, nxt


def test_retrying_stops_at_whichever_limit_comes_first() -> None:
    """RETRY_API: MaximumRetryAttempts and MaximumEventAgeInSeconds; retrying stops when either
    is reached, and the DLQ message names it in EXHAUSTED_RETRY_CONDITION (DLQ_DOC)."""
    attempts, _, why = _deliver_until_exhausted(RetryPolicy(maximum_retry_attempts=3))
    assert (attempts, why) == (4, ExhaustedRetryCondition.MAXIMUM_RETRY_ATTEMPTS)

    attempts, last, why = _deliver_until_exhausted(RetryPolicy(maximum_event_age_seconds=60))
    assert why == ExhaustedRetryCondition.MAXIMUM_EVENT_AGE
    assert attempts - 1 < 185 and last - 1_000.0 <= 60

    attempts, _, why = _deliver_until_exhausted(RetryPolicy(maximum_retry_attempts=0))
    assert (attempts, why) == (1, ExhaustedRetryCondition.MAXIMUM_RETRY_ATTEMPTS)


def test_default_policy_makes_185_retries_within_24_hours() -> None:
    """RETRY_DOC: the default is up to 185 retries over 24 hours; with this backoff (capped at
    300 s) the retry count runs out first."""
    attempts, last, why = _deliver_until_exhausted(RetryPolicy())
    assert (attempts, why) == (186, ExhaustedRetryCondition.MAXIMUM_RETRY_ATTEMPTS)
    assert last - 1_000.0 <= 86_400


# --------------------------------------------------------------------------- dead-letter queue


def test_dlq_message_carries_the_original_event_and_the_documented_attributes() -> None:
    """DLQ_DOC: "EventBridge includes event metadata and message attributes in the message,
    including: the Error Code, Error Message, the Exhausted Retry Condition, Rule ARN, Retry
    Attempts, and the Target ARN". The body is the original event, not the transformed input."""
    message = dlq_message(
        EC2_EVENT,
        rule_arn=RULE_ARN,
        target_arn=SFN_ARN,
        error_code="THROTTLING",
        error_message="Rate exceeded",
        exhausted_retry_condition="MaximumRetryAttempts",
        retry_attempts=185,
    )
    assert json.loads(message["MessageBody"]) == EC2_EVENT
    assert message["MessageAttributes"] == {
        "RULE_ARN": {"DataType": "String", "StringValue": RULE_ARN},
        "TARGET_ARN": {"DataType": "String", "StringValue": SFN_ARN},
        "ERROR_CODE": {"DataType": "String", "StringValue": "THROTTLING"},
        "ERROR_MESSAGE": {"DataType": "String", "StringValue": "Rate exceeded"},
        "EXHAUSTED_RETRY_CONDITION": {"DataType": "String", "StringValue": "MaximumRetryAttempts"},
        "RETRY_ATTEMPTS": {"DataType": "String", "StringValue": "185"},
    }


def test_a_dlq_message_for_an_error_that_is_not_retried_has_no_exhausted_condition() -> None:
    """DLQ_DOC: missing permissions or a target that no longer exists are sent "directly to the
    DLQ" without retries; AWS does not say what EXHAUSTED_RETRY_CONDITION holds then, so it is
    left out and RETRY_ATTEMPTS is 0. The kwargs are accepted by SQS as they are."""
    message = dlq_message(
        EC2_EVENT,
        rule_arn=RULE_ARN,
        target_arn=SFN_ARN,
        error_code="NO_RESOURCE",
        error_message="State Machine Does Not Exist",
        exhausted_retry_condition=None,
        retry_attempts=0,
    )
    assert "EXHAUSTED_RETRY_CONDITION" not in message["MessageAttributes"]
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        sqs.send_message(QueueUrl=url, **message)
        got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"][0]
    assert json.loads(got["Body"]) == EC2_EVENT
    assert got["MessageAttributes"]["RETRY_ATTEMPTS"] == {"DataType": "String", "StringValue": "0"}


def test_an_unknown_exhausted_condition_is_refused() -> None:
    """DLQ_DOC / RETRY_API: the only conditions are the two RetryPolicy limits."""
    with pytest.raises(ValueError):
        dlq_message(EC2_EVENT, rule_arn=RULE_ARN, target_arn=SFN_ARN, error_code="UNKNOWN", error_message="x",
                    exhausted_retry_condition="Timeout", retry_attempts=1)


# --------------------------------------------------------------------------- Step Functions errors


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("StateMachineDoesNotExist", ("NO_RESOURCE", False)),
        ("AccessDeniedException", ("NO_PERMISSIONS", False)),
        ("AccessDenied", ("NO_PERMISSIONS", False)),
        ("ExecutionLimitExceeded", ("THROTTLING", True)),
        ("ThrottlingException", ("THROTTLING", True)),
        ("TooManyRequestsException", ("THROTTLING", True)),
        ("InvalidExecutionInput", ("INVALID_JSON", False)),
        ("InvalidName", ("INVALID_PARAMETER", False)),
        ("ValidationException", ("INVALID_PARAMETER", False)),
        ("ServiceUnavailable", ("INTERNAL_ERROR", True)),
        ("SomethingNew", ("INTERNAL_ERROR", True)),
    ],
)
def test_start_execution_errors_map_to_dlq_error_codes(code: str, expected: tuple[str, bool]) -> None:
    """START_EXECUTION_API, Errors, mapped onto DLQ_DOC's rule: permission errors and a target
    that no longer exists go to the DLQ without retries; throttling and service errors are
    retried. Every code produced is one of DLQ_DOC's ERROR_CODE values."""
    got = classify_start_execution_error(code)
    assert got == expected
    assert got[0] in ERROR_CODES
