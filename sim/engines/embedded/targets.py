"""What EventBridge does when it hands an event to a rule target, as pure functions.

Shaping the target input (``Input``, ``InputPath``,
``InputTransformer``), the retry policy and its backoff, the dead-letter message, and
the error classification of a Step Functions target. No I/O, no moto state: the
embedded backend's delivery loop calls these, because moto 5.2.5 does none of it
correctly (AWS's EventBridge documentation on input transformation, retry policies and
dead-letter queues is what each function follows; its tests cite it). Pattern
matching is in :mod:`sim.engines.embedded.patterns`.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "ERROR_CODES",
    "ErrorCode",
    "ExhaustedRetryCondition",
    "RetryPolicy",
    "TargetInputError",
    "TargetValidationError",
    "classify_start_execution_error",
    "dlq_message",
    "next_retry",
    "render_target_input",
    "retry_delay",
    "validate_target",
]


class ErrorCode(StrEnum):
    """``ERROR_CODE`` values of a DLQ message, as listed on the AWS eb-rule-dlq page."""

    CONNECTION_FAILURE = "CONNECTION_FAILURE"
    CROSS_ACCOUNT_INGESTION_FAILED = "CROSS_ACCOUNT_INGESTION_FAILED"
    CROSS_REGION_INGESTION_FAILED = "CROSS_REGION_INGESTION_FAILED"
    ERROR_FROM_TARGET = "ERROR_FROM_TARGET"
    EVENTS_IN_BATCH_REQUEST_REJECTED = "EVENTS_IN_BATCH_REQUEST_REJECTED"
    FAILED_TO_ASSUME_ROLE = "FAILED_TO_ASSUME_ROLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    INVALID_JSON = "INVALID_JSON"
    INVALID_PARAMETER = "INVALID_PARAMETER"
    NO_PERMISSIONS = "NO_PERMISSIONS"
    NO_RESOURCE = "NO_RESOURCE"
    RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
    RESOURCE_LIMIT_EXCEEDED = "RESOURCE_LIMIT_EXCEEDED"
    RESOURCE_MODIFICATION_COLLISION = "RESOURCE_MODIFICATION_COLLISION"
    SDK_CLIENT_ERROR = "SDK_CLIENT_ERROR"
    THIRD_ACCOUNT_HOP_DETECTED = "THIRD_ACCOUNT_HOP_DETECTED"
    THIRD_REGION_HOP_DETECTED = "THIRD_REGION_HOP_DETECTED"
    THROTTLING = "THROTTLING"
    TIMEOUT = "TIMEOUT"
    TRANSIENT_ASSUME_ROLE = "TRANSIENT_ASSUME_ROLE"
    UNKNOWN = "UNKNOWN"


ERROR_CODES: frozenset[str] = frozenset(ErrorCode)


class ExhaustedRetryCondition(StrEnum):
    """``EXHAUSTED_RETRY_CONDITION``: which RetryPolicy limit stopped the retries."""

    MAXIMUM_RETRY_ATTEMPTS = "MaximumRetryAttempts"
    MAXIMUM_EVENT_AGE = "MaximumEventAgeInSeconds"


class TargetInputError(Exception):
    """The input for a target could not be built; ``error_code`` is the DLQ ``ERROR_CODE``."""

    def __init__(self, error_code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code


def _dump(value: Any) -> str:
    """Minified JSON, the way EventBridge hands JSON to a target."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- target input

_SHAPING_FIELDS = ("Input", "InputPath", "InputTransformer")
_PATHS_MAP_KEY = re.compile(r"[A-Za-z0-9_\-]+")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_PATH_STEP = re.compile(r"\.(\*|[^.\[\]]+)|\[(\*|\d+)\]")
_MISSING = object()
RESERVED_VARIABLES = (
    "aws.events.rule-arn",
    "aws.events.rule-name",
    "aws.events.event.ingestion-time",
    "aws.events.event",
    "aws.events.event.json",
)


class TargetValidationError(ValueError):
    """What ``PutTargets`` refuses (a ValidationException); the message is AWS's where the
    behaviour was recorded."""


def validate_target(target: dict[str, Any]) -> None:
    """The PutTargets checks on how a target shapes its input and on its RetryPolicy.

    Raises :class:`TargetValidationError` naming the target and the offending field,
    InputPathsMap key or placeholder.
    """
    target_id = target.get("Id", "")
    present = [f for f in _SHAPING_FIELDS if target.get(f) is not None]
    if len(present) > 1:
        # recorded: input_path_and_transformer_together
        raise TargetValidationError(
            f"Only one of Input, InputPath, or InputTransformer must be provided for target {target_id}."
        )
    if target.get("Input") is not None:
        try:
            json.loads(target["Input"])
        except (TypeError, ValueError):
            raise TargetValidationError(f"Input for target {target_id} must be valid JSON text.") from None
    if target.get("InputPath") is not None:
        _validate_path(target_id, "InputPath", target["InputPath"])
    transformer = target.get("InputTransformer")
    if transformer is not None:
        _validate_transformer(target_id, transformer)
    try:
        RetryPolicy.from_target(target)
    except ValueError as exc:
        raise TargetValidationError(str(exc)) from None


def _validate_path(target_id: str, field: str, path: Any) -> None:
    """A JSON path as EventBridge takes it: ``$`` then ``.name``, ``[n]`` or ``*`` steps."""
    if not isinstance(path, str) or len(path) > 256:
        raise TargetValidationError(f"{field} for target {target_id} must be a JSON path of at most 256 characters.")
    if not path.startswith("$") or _path_steps(path) is None:
        raise TargetValidationError(f"{field} for target {target_id} is not a valid JSON path: {path}")


def _validate_transformer(target_id: str, transformer: dict[str, Any]) -> None:
    template = transformer.get("InputTemplate")
    if not isinstance(template, str) or not 1 <= len(template) <= 8192:
        raise TargetValidationError(f"InputTemplate for target {target_id} must be 1 to 8192 characters.")
    paths = transformer.get("InputPathsMap") or {}
    if len(paths) > 100:
        raise TargetValidationError(f"InputPathsMap for target {target_id} holds {len(paths)} entries; at most 100 are allowed.")
    for key, path in paths.items():
        if not _PATHS_MAP_KEY.fullmatch(key) or len(key) > 256:
            raise TargetValidationError(
                f"InputPathsMap key {key!r} of target {target_id} must match [A-Za-z0-9_-]+ and be at most 256 characters."
            )
        if key.startswith("AWS"):
            raise TargetValidationError(f"InputPathsMap key {key!r} of target {target_id} must not start with 'AWS'.")
        _validate_path(target_id, f"InputPathsMap value for {key!r}", path)
    declared = set(paths) | set(RESERVED_VARIABLES)
    for name in _PLACEHOLDER.findall(template):
        if name not in declared:
            # recorded: template_undeclared_placeholder
            raise TargetValidationError(f"InputTemplate for target {target_id} contains invalid placeholder {name}.")


def render_target_input(
    target: dict[str, Any], event: dict[str, Any], *, rule_arn: str, rule_name: str, ingestion_time: str
) -> str:
    """The exact body a rule target receives for ``event`` (the full envelope).

    No shaping field: the event as JSON. ``Input``: that constant. ``InputPath``: the
    selected value as JSON. ``InputTransformer``: the template filled in (see
    :func:`_transform`). Raises TargetValidationError for a target PutTargets would
    reject, and TargetInputError when this event cannot be turned into the input.
    """
    validate_target(target)
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath") is not None:
        value = _select(event, target["InputPath"])
        if value is _MISSING:
            # Undocumented by AWS; the sim treats it as a delivery that cannot be built.
            message = f"InputPath {target['InputPath']} selects nothing in the event"
            raise TargetInputError(ErrorCode.INVALID_JSON, message)
        return _dump(value)
    if target.get("InputTransformer") is not None:
        reserved = {
            "aws.events.rule-arn": rule_arn,
            "aws.events.rule-name": rule_name,
            "aws.events.event.ingestion-time": ingestion_time,
            "aws.events.event": _event_without_detail(event, ingestion_time),
            "aws.events.event.json": event,
        }
        return _transform(target["InputTransformer"], event, reserved)
    return _dump(event)


def _event_without_detail(event: dict[str, Any], ingestion_time: str) -> dict[str, Any]:
    """``<aws.events.event>``: the envelope without ``detail``, as AWS delivers it
    (recorded: predefined_variables[...]): ``detail-type`` is named ``detailType`` and
    ``time`` is the ingestion time. The doc says only "without the detail field"."""
    out: dict[str, Any] = {}
    for key, value in event.items():
        if key == "detail":
            continue
        if key == "detail-type":
            out["detailType"] = value
        elif key == "time":
            out["time"] = ingestion_time
        else:
            out[key] = value
    return out


def _path_steps(path: str) -> list[tuple[str | None, str | None]] | None:
    rest, steps = path[1:], list[tuple[str | None, str | None]]()
    while rest:
        step = _PATH_STEP.match(rest)
        if step is None:
            return None
        name, index = step.groups()
        steps.append((name, index))
        rest = rest[step.end():]
    return steps


def _select(document: Any, path: str) -> Any:
    """A value by EventBridge's JSON path subset, or _MISSING.

    Dot steps (names may hold dashes and slashes), ``[n]``, and ``*`` / ``[*]``
    wildcards, which collect every match into a list.
    """
    steps = _path_steps(path) if path.startswith("$") else None
    if steps is None:
        return _MISSING
    nodes, fanned = [document], False
    for name, index in steps:
        selected: list[Any] = []
        for node in nodes:
            if "*" in (name, index):
                fanned = True
                selected.extend(node.values() if isinstance(node, dict) else node if isinstance(node, list) else [])
            elif name is not None and isinstance(node, dict) and name in node:
                selected.append(node[name])
            elif index is not None and isinstance(node, list) and int(index) < len(node):
                selected.append(node[int(index)])
        nodes = selected
    if fanned:
        return nodes if nodes else _MISSING
    return nodes[0] if nodes else _MISSING


def _transform(transformer: dict[str, Any], event: dict[str, Any], reserved: dict[str, Any]) -> str:
    """Fill an InputTemplate as AWS does (eb-transform-target-input, and the cases
    recorded on AWS in ``input_transforms.json``).

    * In a JSON value position a variable is inserted as JSON, so a string gets quotes
      (the doc's "Simple JSON" example: ``"instance" : <instance>`` gives ``"i-0123456789"``).
      A path missing from the event gives ``""`` there (recorded: "template_json missing
      path (unquoted placeholder)").
    * Inside a quoted string of a JSON template a variable is inserted as is: strings
      unescaped ("EventBridge doesn't escape values extracted by Input Path"), other
      values as JSON text, which breaks the JSON (recorded: nested_keys_not_valid, never
      delivered).
    * A template that is a JSON object (or array, or a lone placeholder) is delivered
      minified; if it is not valid JSON once filled in, TargetInputError INVALID_JSON.
    * A template that is a quoted string is delivered as filled in, quotes included (the
      console form). There, objects and lists are written without any quotes:
      ``{acc_id:0a787ecb-4015,sf_id:baz}``, ``[ACTIVE,INACTIVE]`` (recorded: nested_keys).
      Any other text is filled in likewise and delivered as a JSON string.
    * A missing path gives nothing inside a string.
    """
    paths: dict[str, str] = transformer.get("InputPathsMap") or {}
    values = {name: v for name, path in paths.items() if (v := _select(event, path)) is not _MISSING}
    values.update(reserved)
    declared = set(paths) | set(reserved)
    template: str = transformer["InputTemplate"]
    stripped = template.strip()
    lone_placeholder = _PLACEHOLDER.fullmatch(stripped) is not None and stripped[1:-1] in declared
    if stripped.startswith(("{", "[")) or lone_placeholder:
        filled = _fill(template, values, declared, json_template=True)
        try:
            return _dump(json.loads(filled))
        except json.JSONDecodeError as exc:
            message = f"InputTemplate does not render to valid JSON: {exc}"
            raise TargetInputError(ErrorCode.INVALID_JSON, message) from None
    if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
        return _fill(stripped, values, declared, json_template=True, string_template=True)
    return _dump(_fill(template, values, declared, json_template=False, string_template=True))


def _fill(
    template: str, values: dict[str, Any], declared: set[str], *, json_template: bool, string_template: bool = False
) -> str:
    out: list[str] = []
    in_string = not json_template
    i = 0
    while i < len(template):
        char = template[i]
        placeholder = _PLACEHOLDER.match(template, i) if char == "<" else None
        if placeholder is not None and placeholder.group(1) in declared:
            name = placeholder.group(1)
            if name in values:
                value = values[name]
                if in_string:
                    out.append(_unquoted(value) if string_template else value if isinstance(value, str) else _dump(value))
                else:
                    out.append(_dump(value))
            elif not in_string:
                out.append('""')
            i = placeholder.end()
            continue
        if json_template and char == "\\" and in_string:
            out.append(template[i : i + 2])
            i += 2
            continue
        if json_template and char == '"':
            in_string = not in_string
        out.append(char)
        i += 1
    return "".join(out)


def _unquoted(value: Any) -> str:
    """A value as AWS writes it into a string template: strings as they are, objects and
    lists as JSON without quotes (recorded: ``{acc_id:0a787ecb-4015,sf_id:baz}``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_unquoted(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_unquoted(v) for v in value) + "]"
    return _dump(value)


# --------------------------------------------------------------------------- DLQ and retries


def dlq_message(
    event: dict[str, Any],
    *,
    rule_arn: str,
    target_arn: str,
    error_code: str,
    error_message: str,
    exhausted_retry_condition: str | None,
    retry_attempts: int,
) -> dict[str, Any]:
    """Keyword arguments for ``sqs.send_message`` (all but QueueUrl) for a dead letter.

    The body is the original event envelope, not the transformed input.
    ``EXHAUSTED_RETRY_CONDITION`` is left out when no retry limit was reached (an error
    that is not retried); AWS does not document that case.
    """
    attributes = {
        "RULE_ARN": rule_arn,
        "TARGET_ARN": target_arn,
        "ERROR_CODE": str(error_code),
        "ERROR_MESSAGE": error_message,
    }
    if exhausted_retry_condition is not None:
        attributes["EXHAUSTED_RETRY_CONDITION"] = ExhaustedRetryCondition(exhausted_retry_condition).value
    attributes["RETRY_ATTEMPTS"] = str(retry_attempts)
    return {
        "MessageBody": _dump(event),
        "MessageAttributes": {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
    }


@dataclass(frozen=True)
class RetryPolicy:
    """A rule target's RetryPolicy; the defaults are EventBridge's (24 hours, 185 retries)."""

    maximum_retry_attempts: int = 185
    maximum_event_age_seconds: int = 86_400

    def __post_init__(self) -> None:
        _check_range("MaximumRetryAttempts", self.maximum_retry_attempts, 0, 185)
        _check_range("MaximumEventAgeInSeconds", self.maximum_event_age_seconds, 60, 86_400)

    @classmethod
    def from_target(cls, target: dict[str, Any]) -> RetryPolicy:
        raw = target.get("RetryPolicy") or {}
        default = cls()
        return cls(
            maximum_retry_attempts=raw.get("MaximumRetryAttempts", default.maximum_retry_attempts),
            maximum_event_age_seconds=raw.get("MaximumEventAgeInSeconds", default.maximum_event_age_seconds),
        )


def _check_range(field: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{field} must be an integer from {low} to {high}, got {value!r}")


def retry_delay(attempt: int, rng: random.Random, *, base: float = 1.0, cap: float = 300.0) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based).

    AWS documents "exponential back off and jitter" but not the schedule. This is capped
    exponential backoff with full jitter: uniform(0, min(cap, base * 2**(attempt - 1))).
    """
    if attempt < 1:
        raise ValueError(f"attempt is 1-based, got {attempt}")
    return rng.uniform(0.0, min(cap, base * 2.0 ** min(attempt - 1, 64)))


def next_retry(
    policy: RetryPolicy, attempts_so_far: int, first_attempt_at: float, now: float, rng: random.Random
) -> float | ExhaustedRetryCondition:
    """When to try again after a retriable failure at ``now``, or why not to.

    ``attempts_so_far`` counts every delivery attempt made, the first one included, so
    ``attempts_so_far - 1`` retries have been used (that is the DLQ's RETRY_ATTEMPTS).
    Retrying stops at whichever limit comes first: the retry count, or an event age
    (measured from ``first_attempt_at``) that the next attempt would exceed.
    """
    if attempts_so_far < 1:
        raise ValueError(f"attempts_so_far counts the first attempt, got {attempts_so_far}")
    if attempts_so_far - 1 >= policy.maximum_retry_attempts:
        return ExhaustedRetryCondition.MAXIMUM_RETRY_ATTEMPTS
    at = now + retry_delay(attempts_so_far, rng)
    if at - first_attempt_at > policy.maximum_event_age_seconds:
        return ExhaustedRetryCondition.MAXIMUM_EVENT_AGE
    return at


# --------------------------------------------------------------------------- Step Functions target

_START_EXECUTION_ERRORS: dict[str, tuple[ErrorCode, bool]] = {
    "StateMachineDoesNotExist": (ErrorCode.NO_RESOURCE, False),
    "StateMachineDeleting": (ErrorCode.NO_RESOURCE, False),
    "KmsAccessDeniedException": (ErrorCode.NO_PERMISSIONS, False),
    "ExecutionLimitExceeded": (ErrorCode.THROTTLING, True),
    "ThrottlingException": (ErrorCode.THROTTLING, True),
    "TooManyRequestsException": (ErrorCode.THROTTLING, True),
    "KmsThrottlingException": (ErrorCode.THROTTLING, True),
    "InvalidExecutionInput": (ErrorCode.INVALID_JSON, False),
    "InvalidName": (ErrorCode.INVALID_PARAMETER, False),
    "InvalidArn": (ErrorCode.INVALID_PARAMETER, False),
    "ValidationException": (ErrorCode.INVALID_PARAMETER, False),
    "ExecutionAlreadyExists": (ErrorCode.RESOURCE_ALREADY_EXISTS, False),
}


def classify_start_execution_error(code: str) -> tuple[str, bool]:
    """(DLQ ERROR_CODE, retriable) for a StartExecution ClientError code.

    The mapping is the sim's reading of AWS's rule (permission errors and missing
    targets are not retried, throttling and service errors are); AWS does not publish
    it per target. Anything unrecognised, 5xx included, is a retriable INTERNAL_ERROR.
    """
    if code.startswith("AccessDenied"):
        return ErrorCode.NO_PERMISSIONS, False
    return _START_EXECUTION_ERRORS.get(code, (ErrorCode.INTERNAL_ERROR, True))
