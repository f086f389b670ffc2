"""How closely the embedded backend answers as AWS does, case by case.

The oracle is the behaviour recorded against real AWS in
``<repo>/../shared/reference/aws-recorded/`` (its README says what each file holds). Each
case is run through the functions the backend uses (``patterns``, ``targets``) and
through its APIs (boto3 on an in-process :class:`EmbeddedBackend`), and compared with
what AWS did. ``tests/fidelity`` asserts every case; ``make fidelity`` (this module's
``main``) prints the agreement counts per area, or says the recordings are absent.

    python -m sim.engines.embedded.fidelity
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from .patterns import InvalidEventPattern, compile_pattern, event_matches, valid_test_event
from .targets import TargetInputError, TargetValidationError, render_target_input

REPO_ROOT = Path(__file__).resolve().parents[3]
RECORDED_DIR = REPO_ROOT.parent / "shared" / "reference" / "aws-recorded"


def absent_reason() -> str:
    return (
        f"the AWS recordings are absent: {RECORDED_DIR} (a copy of shared/ beside the clone provides them; "
        "a fresh clone has none)"
    )


ABSENT_REASON = absent_reason()
SFN_ROLE = "arn:aws:iam::123456789012:role/fidelity"
ACCOUNT_RECORDED = "111111111111"


def recorded_available() -> bool:
    return (RECORDED_DIR / "event_patterns.json").is_file()


@functools.lru_cache(maxsize=None)
def load(name: str) -> dict[str, Any]:
    """One recordings file (``event_patterns``, ``input_transforms``, ``sfn_choice``, ``sfn_wait``)."""
    recorded: dict[str, Any] = json.loads((RECORDED_DIR / f"{name}.json").read_text())
    return recorded


def cases(name: str) -> list[dict[str, Any]]:
    return list(load(name)["cases"]) if recorded_available() else []


@dataclass(frozen=True)
class Outcome:
    case: str
    expected: Any
    got: Any

    @property
    def agrees(self) -> bool:
        return bool(self.expected == self.got)

    def explain(self) -> str:
        return f"{self.case}: AWS {self.expected!r}, embedded {self.got!r}"


# ============================================================ event patterns, functions


def _raw_pattern(case: dict[str, Any]) -> str:
    return case["pattern_raw"] if "pattern_raw" in case else json.dumps(case["pattern"])


def _raw_event(case: dict[str, Any]) -> str:
    return case["event_raw"] if "event_raw" in case else json.dumps(case["event"])


def _expected_pattern_answer(case: dict[str, Any]) -> str:
    """"match", "no-match", or the error AWS gave ("InvalidEventPatternException: ...")."""
    answer: str = case["aws_error"] if case["expected"] in ("invalid", "invalid-event") else case["expected"]
    return answer


def pattern_case_direct(case: dict[str, Any]) -> Outcome:
    """The matcher called directly: validate the pattern and the event as TestEventPattern
    does, then match."""
    try:
        pattern = compile_pattern(_raw_pattern(case))
    except InvalidEventPattern as exc:
        return Outcome(case["name"], _expected_pattern_answer(case), f"InvalidEventPatternException: {exc}")
    try:
        event = json.loads(_raw_event(case))
    except ValueError:
        event = None
    if not valid_test_event(event):
        return Outcome(case["name"], _expected_pattern_answer(case), "ValidationException: Parameter Event is not valid.")
    got = "match" if event_matches(pattern, event) else "no-match"
    return Outcome(case["name"], _expected_pattern_answer(case), got)


# ============================================================ target input, functions


def _normalise_expected(value: Any) -> Any:
    text = json.dumps(value) if not isinstance(value, str) else value
    text = re.sub(r"<uuid:\d+>", "<uuid>", text).replace("<partition>", "aws").replace("<ingestion-time>", "date")
    return text if isinstance(value, str) else json.loads(text)


def _expected_transform(case: dict[str, Any]) -> Any:
    exp = case["expected"]
    if exp["kind"] == "body":
        return ("body", _normalise_expected(exp["body"]))
    if exp["kind"] == "put-targets-error":
        return ("put-targets-error", exp["error"])
    return ("not-delivered",)


def _as_body(text: str, expected: Any) -> Any:
    """The delivered text in the form the recording keeps: raw text where AWS's body was
    not a JSON object (a string template, a selected string), else parsed JSON."""
    if isinstance(expected, tuple) and len(expected) == 2 and isinstance(expected[1], str):
        return ("body", text)
    try:
        return ("body", json.loads(text))
    except ValueError:
        return ("body", text)


def transform_case_direct(case: dict[str, Any]) -> Outcome:
    expected = _expected_transform(case)
    target = {"Id": "<target-id>", "Arn": "arn:aws:sqs:us-east-1:123456789012:fidelity", **case["target"]}
    try:
        text = render_target_input(
            target, case["event"], rule_arn=case["rule_arn"], rule_name=case["rule_name"], ingestion_time=case["ingestion_time"]
        )
    except TargetValidationError as exc:
        return Outcome(case["name"], expected, ("put-targets-error", f"ValidationException: {exc}"))
    except TargetInputError:
        return Outcome(case["name"], expected, ("not-delivered",))
    return Outcome(case["name"], expected, _as_body(text, expected))


# ============================================================ through the APIs


class ApiHarness:
    """Runs recorded cases through boto3 on a started :class:`EmbeddedBackend`: a bus of its
    own and an SQS queue as the rule target, so what EventBridge delivered can be read."""

    BUS = "fidelity-bus"
    QUEUE = "fidelity-queue"

    def __init__(self, env: Any) -> None:
        self.env = env
        self.events = env.client("events")
        self.sqs = env.client("sqs")
        self.sfn = env.client("stepfunctions")
        self.events.create_event_bus(Name=self.BUS)
        self.queue_url = self.sqs.create_queue(QueueName=self.QUEUE)["QueueUrl"]
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self._n = 0

    def _name(self, kind: str) -> str:
        self._n += 1
        return f"fidelity-{kind}-{self._n}"

    def _drain(self) -> list[str]:
        """Run what is due on the clock, then take every message off the queue."""
        self.env.clock.advance(1)
        bodies: list[str] = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = got.get("Messages", [])
            if not messages:
                return bodies
            for m in messages:
                bodies.append(m["Body"])
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])

    def _delete_rule(self, name: str) -> None:
        ids = [t["Id"] for t in self.events.list_targets_by_rule(Rule=name, EventBusName=self.BUS)["Targets"]]
        if ids:
            self.events.remove_targets(Rule=name, EventBusName=self.BUS, Ids=ids)
        self.events.delete_rule(Name=name, EventBusName=self.BUS)

    # ------------------------------------------------------------ patterns
    def pattern_case(self, case: dict[str, Any]) -> Outcome:
        """PutRule (refused with AWS's message, or accepted), TestEventPattern (its Result or
        error), and, where the pattern only reads fields PutEvents sets, a real delivery."""
        expected = _expected_pattern_answer(case)
        raw_pattern, raw_event = _raw_pattern(case), _raw_event(case)
        answers: list[str] = []
        if case["kind"] == "pattern":
            name = self._name("pattern")
            try:
                self.events.put_rule(Name=name, EventBusName=self.BUS, EventPattern=raw_pattern)
            except ClientError as exc:
                err = exc.response["Error"]
                return Outcome(case["name"], expected, f"{err['Code']}: {err['Message']}")
            try:
                delivered = self._delivered(name, raw_pattern, raw_event)
                if delivered is not None:
                    answers.append("match" if delivered else "no-match")
            finally:
                self._delete_rule(name)
        try:
            result = self.events.test_event_pattern(EventPattern=raw_pattern, Event=raw_event)
            answers.append("match" if result.get("Result") is True else "no-match" if result.get("Result") is False else repr(result))
        except ClientError as exc:
            err = exc.response["Error"]
            answers.append(f"{err['Code']}: {err['Message']}")
        got = answers[0] if len(set(answers)) == 1 else f"disagree: {answers}"
        return Outcome(case["name"], expected, got)

    def _delivered(self, rule: str, raw_pattern: str, raw_event: str) -> bool | None:
        """Whether PutEvents delivered the case's event to the rule's target; None when the
        event cannot be sent through PutEvents as recorded (AWS sets id, account, region and
        time itself, and a Detail must be an object)."""
        try:
            pattern, event = json.loads(raw_pattern), json.loads(raw_event)
        except ValueError:
            return None
        settable = {"source", "detail-type", "detail", "resources"}
        if not isinstance(event, dict) or not isinstance(event.get("detail"), dict) or not set(pattern) <= settable:
            return None
        if not (isinstance(event.get("source"), str) and isinstance(event.get("detail-type"), str)):
            return None
        resources = event.get("resources", [])
        if not (isinstance(resources, list) and all(isinstance(r, str) for r in resources)):
            return None
        self.events.put_targets(Rule=rule, EventBusName=self.BUS, Targets=[{"Id": "q", "Arn": self.queue_arn}])
        entry = {
            "EventBusName": self.BUS,
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]),
            "Resources": resources,
        }
        if self.events.put_events(Entries=[entry])["FailedEntryCount"]:
            return None
        return bool(self._drain())

    # ------------------------------------------------------------ target input
    def transform_case(self, case: dict[str, Any]) -> Outcome:
        """PutRule + PutTargets (the case's shaping) + PutEvents, then what the SQS target got."""
        expected = _expected_transform(case)
        event = case["event"]
        name = self._name("input")
        target_id = f"target-{self._n}"
        pattern = {"source": [event["source"]], "detail-type": [event["detail-type"]]}
        rule_arn = self.events.put_rule(Name=name, EventBusName=self.BUS, EventPattern=json.dumps(pattern))["RuleArn"]
        try:
            try:
                self.events.put_targets(
                    Rule=name, EventBusName=self.BUS, Targets=[{"Id": target_id, "Arn": self.queue_arn, **case["target"]}]
                )
            except ClientError as exc:
                err = exc.response["Error"]
                message = err["Message"].replace(target_id, "<target-id>")
                return Outcome(case["name"], expected, ("put-targets-error", f"{err['Code']}: {message}"))
            sent = self.events.put_events(
                Entries=[
                    {
                        "EventBusName": self.BUS,
                        "Source": event["source"],
                        "DetailType": event["detail-type"],
                        "Detail": json.dumps(event["detail"]),
                        "Resources": event.get("resources", []),
                    }
                ]
            )
            event_id = sent["Entries"][0]["EventId"]
            bodies = self._drain()
        finally:
            self._delete_rule(name)
        if not bodies:
            return Outcome(case["name"], expected, ("not-delivered",))
        text = self._normalise_delivered(bodies[0], event_id=event_id, rule_arn=rule_arn, rule_name=name)
        return Outcome(case["name"], expected, _as_body(text, expected))

    def _normalise_delivered(self, text: str, *, event_id: str, rule_arn: str, rule_name: str) -> str:
        """Replace what differs per run (as the recording did) by the recording's placeholders."""
        region, account = self.env.stack.region, self.env.stack.account
        time = datetime.fromtimestamp(int(self.env.clock.now() - 1), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        recorded_arn = f"arn:aws:events:<region>:{ACCOUNT_RECORDED}:rule/<bus-name>/<rule-name>"
        return (
            text.replace(rule_arn, recorded_arn)
            .replace(rule_name, "<rule-name>")
            .replace(event_id, "<uuid>")
            .replace(time, "date")
            .replace(f'"{region}"', '"<region>"')
            .replace(account, ACCOUNT_RECORDED)
        )

    # ------------------------------------------------------------ Step Functions
    def _run_execution(self, definition: dict[str, Any], payload: Any, *, max_seconds: float = 60) -> tuple[str, dict[str, Any]]:
        name = self._name("sfn")
        arn = self.sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=SFN_ROLE)[
            "stateMachineArn"
        ]
        execution = self.sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(payload))["executionArn"]
        self.env.run_until(
            lambda: self.sfn.describe_execution(executionArn=execution)["status"] != "RUNNING", max_seconds=max_seconds
        )
        return execution, self.sfn.describe_execution(executionArn=execution)

    def choice_case(self, template: dict[str, Any], case: dict[str, Any]) -> Outcome:
        definition = json.loads(json.dumps(template))
        choice = definition["States"]["CheckValues"]["Choices"][0]
        choice.pop("%ComparisonOperatorType%")
        choice[case["operator"]] = case["input"]["Value"] if case["literal_value"] else "$.Value"
        _, described = self._run_execution(definition, case["input"])
        got = json.loads(described["output"]) if described["status"] == "SUCCEEDED" else described["status"]
        return Outcome(case["name"], case["expected_output"], got)

    def wait_case(self, templates: dict[str, Any], case: dict[str, Any]) -> Outcome:
        definition = templates[case["template"]]
        timestamp = None
        if "timestamp" in case:
            at = datetime.fromtimestamp(self.env.clock.now(), tz=timezone.utc) + timedelta(days=case["timestamp"]["days_from_now"])
            timestamp = at.strftime("%Y-%m-%dT%H:%M:%S") + case["timestamp"]["suffix"]
            payload: Any = {"start_at": timestamp}
        else:
            payload = case["input"]
        execution, described = self._run_execution(definition, payload, max_seconds=3600)
        types = [e["type"] for e in self.sfn.get_execution_history(executionArn=execution)["events"]]
        failure = {"error": described.get("error"), "cause": described.get("cause")} if described["status"] == "FAILED" else None
        expected_failure = case["expected_failure"]
        if expected_failure is not None and timestamp is not None:
            expected_failure = {**expected_failure, "cause": expected_failure["cause"].replace("<timestamp>", timestamp)}
        return Outcome(case["name"], (case["expected_event_types"], expected_failure), (types, failure))


# ============================================================ counts


AREAS = (
    "event patterns, the matcher called directly",
    "event patterns, through PutRule / TestEventPattern / PutEvents",
    "target input, the functions called directly",
    "target input, through PutTargets / PutEvents",
    "Step Functions Choice",
    "Step Functions Wait",
)


def run_all(env: Any) -> Iterator[tuple[str, list[Outcome]]]:
    """Every recorded case, per area (``env``: a started EmbeddedBackend)."""
    harness = ApiHarness(env)
    patterns, transforms = cases("event_patterns"), cases("input_transforms")
    direct_patterns = [c for c in patterns if c["kind"] == "pattern"]
    yield AREAS[0], [pattern_case_direct(c) for c in direct_patterns]
    yield AREAS[1], [harness.pattern_case(c) for c in patterns]
    yield AREAS[2], [transform_case_direct(c) for c in transforms]
    yield AREAS[3], [harness.transform_case(c) for c in transforms]
    choice = load("sfn_choice")
    yield AREAS[4], [harness.choice_case(choice["template"], c) for c in choice["cases"]]
    wait = load("sfn_wait")
    yield AREAS[5], [harness.wait_case(wait["templates"], c) for c in wait["cases"]]


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    verbose = "-v" in (argv if argv is not None else sys.argv[1:])
    if not recorded_available():
        out(f"fidelity: {absent_reason()}")
        return 0
    import logging

    from .environment import EmbeddedBackend

    logging.disable(logging.CRITICAL)
    out(f"Agreement with behaviour recorded on AWS ({RECORDED_DIR}):")
    failures = 0
    with EmbeddedBackend() as env:
        for area, outcomes in run_all(env):
            agree = sum(o.agrees for o in outcomes)
            failures += len(outcomes) - agree
            out(f"  {area:<66} {agree:>4} of {len(outcomes):<4}")
            for o in outcomes:
                if verbose and not o.agrees:
                    out(f"      differs: {o.explain()}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
