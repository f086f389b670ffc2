"""The one bounded adapter between moto and the embedded backend's own layers.

moto gives AWS API shapes, state and a real Amazon States Language interpreter. What
it lacks for this control plane (EventBridge delivery to Step Functions with retry and DLQ,
Lambda code without Docker, schedules, simulated time) is added here, by
patching exactly these seams of **moto 5.2.5** and nothing else:

=============================================  ==========================================
moto seam                                      replaced by
=============================================  ==========================================
``WaitFunction._wait_interval``                ``SimClock.sleep`` (Wait on simulated time),
                                               failing a delay AWS calls too long
``Timestamp._get_wait_seconds``                a Timestamp Wait measured on the simulated
                                               clock (moto reads the wall clock)
``retrier_decl.time.sleep``                    ``SimClock.sleep`` (Retry intervals)
``ExecutionWorker.start``                      ``SimClock.spawn`` (one scheduler decides)
``Program.eval``                               runs the states in the execution's place
                                               (``SimClock.run_child``), for at most the
                                               definition's TimeoutSeconds (else 1 year),
                                               then ExecutionTimedOut, States.Timeout
``ExecutionState._evaluate_with_timeout``      runs each Task likewise, for at most its
                                               TimeoutSeconds, then TaskTimedOut,
                                               States.Timeout (what the Task started, a
                                               Lambda, runs on)
``CallbackEndpoint.__init__``,                 a callback's and a heartbeat's waits are on
``HeartbeatEndpoint.__init__``,                the simulated clock (``SimClock.event``):
``ActivityTaskStartEndpoint.__init__``         HeartbeatSeconds, .waitForTaskToken
``lambda_eval_utils.boto_client_for``          a cached client (no per-Task construction)
``ExecutionWorker._get_evaluation_entrypoint``  the parsed definition, cached per text
``json_path.parse``, ``result_path.parse``     cached JSONPath parsers
``LambdaSimpleBackend.invoke``                 the Lambda dispatcher (real handlers)
``events.models.Rule.send_to_targets``         the EventBridge delivery layer
``EventPatternParser.parse``                   ``patterns.compile_pattern``: PutRule (and
                                               every other rule or archive pattern) refuses
                                               what AWS refuses, with AWS's message
``EventsBackend.put_targets``                  ``targets.validate_target``: PutTargets
                                               refuses what AWS refuses
``EventsHandler.test_event_pattern``           answers from ``patterns.event_matches`` (moto
                                               answers 200 with no ``Result``)
*Time: what moto reads from the wall clock, read from the simulated clock instead*
``EventManager._get_current_timestamp``        every execution-history event's timestamp
``Execution.__init__``                         an execution's ``startDate``
``..._reflect_execution_status``               its ``stopDate``
``state.datetime``                             ``$$.State.EnteredTime``
``sqs.models.unix_time`` / ``_millis``         SentTimestamp, visibility, delays, retention
``SQSBackend.receive_message``                 a long poll returns at once unless time flows;
                                               messages past retention are deleted first
``events.models.unix_time``                    an event's ``time`` (unless PutEvents gave
                                               one), rules' and buses' creation times
``sns.models.iso_8601_datetime_with_ms``       a notification's ``Timestamp``
``DynamoHandler.call_action``                  one DynamoDB request at a time (atomic
                                               conditional writes, as DynamoDB's are), each
                                               told to the trace inside the lock
*Speed and memory: the same answers, cheaper*
``lambda_eval_utils._invoke_lambda_function``  a Task's invoke reaches the dispatcher
                                               without the HTTP round trip
``AmazonStateLanguageParser.parse``            parsed once per definition text and process
``states.copy``, ``string_expression.copy``    a deep copy that knows JSON values
``BaseJSONSerializer._serialize_type_structure``  DynamoDB AttributeValues written directly
``BaseModel.__new__``                          models tracked weakly (moto kept every item
                                               a Scan copied out, for ever)
``responses.method_names_from_class``          remembered per response class
                                               (:mod:`moto_speed`)
``dynamodb Table.scan``                        a FilterExpression evaluated before an item
                                               is copied out, not after (:mod:`moto_speed`)
``DynamoType.size``                            a string's, number's, boolean's size
                                               written directly (:mod:`moto_speed`)
*Start-up*
``moto.batch`` package ``__init__``            not run (:func:`defer_batch_models`): the
                                               parser needs one enum of ``moto.batch.utils``;
                                               the models load when Batch is first used
``moto.core.utils.create_loader``              one model loader for the process (moto made
                                               one per service model, each listing every
                                               botocore service again), into plain dicts
``AccountSpecificBackend.get_session``         ``botocore_files.boto3_session``, the session
                                               the embedded backend's clients are made from:
                                               botocore's files are read once for both
=============================================  ==========================================

:func:`check_seams` fails loudly, naming the seam, if a moto upgrade moves any of them or
changes how one is called (each seam's ``inspect.signature`` is recorded in ``_SEAMS``); a
unit test calls it, so an upgrade breaks a test rather than a simulation. :func:`install`
returns an :class:`AdapterHandle`, and only that handle uninstalls.
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import json
import re
import threading
import types
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from . import moto_speed
from .botocore_files import boto3_session, read_into_dicts

PINNED_MOTO = "5.2.5"

#: The longest delay a Wait state takes: AWS waited for a timestamp 24,855 days ahead and
#: failed one 24,856 days ahead at once, "Wait state delay is too long" (recorded:
#: sfn_wait.json, test_timestamp_too_far_in_future_boundary); 2**31 seconds lies between.
MAX_WAIT_SECONDS = 2**31 - 1
#: A Standard execution runs at most a year; past that it times out, States.Timeout
#: (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html).
MAX_EXECUTION_SECONDS = 365 * 24 * 3600

#: moto's DynamoDB checks a condition, then writes, with no lock: two conditional writes on
#: one item can both succeed when requests arrive on several threads (``sim up`` serves the
#: REST API and the AWS endpoint on threads of their own). DynamoDB never lets that happen
#: ("conditional writes are ... atomic": the DynamoDB developer guide, "Condition
#: expressions"), so every DynamoDB request runs under this lock, whole.
DYNAMODB_LOCK = threading.RLock()


class Seam(NamedTuple):
    """Where a seam is (module, dotted attribute) and the call shape the adapter relies on
    (``inspect.signature`` without annotations, see :func:`signature_of`)."""

    module: str
    attr: str
    signature: str


_SFN = "moto.stepfunctions.parser"
_SEAMS: dict[str, Seam] = {
    "wait": Seam(f"{_SFN}.asl.component.state.wait.wait_function.wait_function", "WaitFunction._wait_interval", "(self, env, wait_seconds)"),
    "timestamp_wait": Seam(f"{_SFN}.asl.component.state.wait.wait_function.timestamp", "Timestamp._get_wait_seconds", "(self, env)"),
    "retry": Seam(f"{_SFN}.asl.component.common.retry.retrier_decl", "time", "<module time>"),
    "states_copy": Seam(f"{_SFN}.asl.eval.states", "copy", "<module copy>"),
    "expression_copy": Seam(f"{_SFN}.asl.component.common.string.string_expression", "copy", "<module copy>"),
    "worker": Seam(f"{_SFN}.backend.execution_worker", "ExecutionWorker.start", "(self)"),
    "program": Seam(f"{_SFN}.asl.component.program.program", "Program.eval", "(self, env)"),
    "task_timeout": Seam(f"{_SFN}.asl.component.state.exec.execute_state", "ExecutionState._evaluate_with_timeout", "(self, env)"),
    "callback_event": Seam(f"{_SFN}.asl.eval.callback.callback", "CallbackEndpoint.__init__", "(self, callback_id)"),
    "heartbeat_event": Seam(f"{_SFN}.asl.eval.callback.callback", "HeartbeatEndpoint.__init__", "(self, heartbeat_seconds)"),
    "activity_start_event": Seam(f"{_SFN}.asl.eval.callback.callback", "ActivityTaskStartEndpoint.__init__", "(self)"),
    "entrypoint": Seam(f"{_SFN}.backend.execution_worker", "ExecutionWorker._get_evaluation_entrypoint", "(self)"),
    "json_path": Seam(f"{_SFN}.asl.utils.json_path", "parse", "(path, debug=...)"),
    "result_path": Seam(f"{_SFN}.asl.component.common.path.result_path", "parse", "(string)"),
    "lambda_client": Seam(
        f"{_SFN}.asl.component.state.exec.state_task.lambda_eval_utils", "boto_client_for", "(region, service, state_credentials=...)"
    ),
    "sfn_lambda_call": Seam(
        f"{_SFN}.asl.component.state.exec.state_task.lambda_eval_utils", "_invoke_lambda_function", "(parameters, region, state_credentials)"
    ),
    "lambda_invoke": Seam(
        "moto.awslambda_simple.models", "LambdaSimpleBackend.invoke", "(self, function_name, qualifier, body, headers, response_headers)"
    ),
    "rule_delivery": Seam("moto.events.models", "Rule.send_to_targets", "(self, original_event, transform_input=...)"),
    "pattern_parse": Seam("moto.events.models", "EventPatternParser.parse", "(self)"),
    "put_targets": Seam("moto.events.models", "EventsBackend.put_targets", "(self, name, event_bus_arn, targets)"),
    "test_event_pattern": Seam("moto.events.responses", "EventsHandler.test_event_pattern", "(self)"),
    # time
    "history_time": Seam(f"{_SFN}.asl.eval.event.event_manager", "EventManager._get_current_timestamp", "()"),
    "execution_start": Seam(
        f"{_SFN}.backend.execution",
        "Execution.__init__",
        "(self, name, sm_type, role_arn, exec_arn, account_id, region_name, state_machine, start_date, "
        "cloud_watch_logging_session, activity_store, input_data, trace_header=...)",
    ),
    "execution_stop": Seam(f"{_SFN}.backend.execution", "BaseExecutionWorkerCommunication._reflect_execution_status", "(self)"),
    "state_entered_time": Seam(f"{_SFN}.asl.component.state.state", "datetime", "<module datetime>"),
    "sqs_time": Seam("moto.sqs.models", "unix_time", "(dt=...)"),
    "sqs_time_millis": Seam("moto.sqs.models", "unix_time_millis", "(dt=...)"),
    "sqs_receive": Seam(
        "moto.sqs.models",
        "SQSBackend.receive_message",
        "(self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names=...)",
    ),
    "events_time": Seam("moto.events.models", "unix_time", "(dt=...)"),
    "sns_time": Seam("moto.sns.models", "iso_8601_datetime_with_milliseconds", "(value=...)"),
    # concurrency
    "dynamodb_request": Seam("moto.dynamodb.responses", "DynamoHandler.call_action", "(self)"),
    # an API moto lacks: DescribeAlarmHistory sits beside SetAlarmState, whose record it reads
    "alarm_history": Seam("moto.cloudwatch.responses", "CloudWatchResponse.set_alarm_state", "(self)"),
    "asl_parse": Seam(f"{_SFN}.asl.parse.asl_parser", "AmazonStateLanguageParser.parse", "(definition)"),
    # memory
    "model_tracking": Seam("moto.core.common_models", "BaseModel.__new__", "(cls, *args, **kwargs)"),
    # speed
    "json_structure": Seam("moto.core.serialize", "BaseJSONSerializer._serialize_type_structure", "(self, serialized, value, shape, key)"),
    "response_methods": Seam("moto.core.responses", "method_names_from_class", "(clazz)"),
    "attribute_size": Seam("moto.dynamodb.models.dynamo_type", "DynamoType.size", "(self)"),
    "table_scan": Seam(
        "moto.dynamodb.models.table",
        "Table.scan",
        "(self, filters, limit, exclusive_start_key, filter_expression=..., index_name=..., consistent_read=..., projection_expression=..., segments=...)",
    ),
    # start-up
    "model_loader": Seam("moto.core.utils", "create_loader", "()"),
    "regions_session": Seam("moto.core.base_backend", "AccountSpecificBackend.get_session", "()"),
}

#: Seams that locate a class to which the adapter *adds* an attribute (an API moto lacks),
#: and that attribute's name.
_ADDED: dict[str, str] = {"alarm_history": "describe_alarm_history"}
#: What an added attribute "was" before the adapter: uninstalling deletes it again.
_ABSENT = object()


def signature_of(obj: Any) -> str:
    """A seam's call shape: parameter names, kinds and which have defaults (annotations and
    default values left out, so that only a change in how moto calls it shows)."""
    if isinstance(obj, types.ModuleType):
        return f"<module {obj.__name__}>"
    parts: list[str] = []
    star = slash = False
    for p in inspect.signature(obj).parameters.values():
        if p.kind is not p.POSITIONAL_ONLY and slash:
            parts.append("/")
            slash = False
        if p.kind is p.POSITIONAL_ONLY:
            slash = True
        if p.kind is p.VAR_POSITIONAL:
            parts.append(f"*{p.name}")
            star = True
            continue
        if p.kind is p.VAR_KEYWORD:
            parts.append(f"**{p.name}")
            continue
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        parts.append(p.name + ("=..." if p.default is not p.empty else ""))
    if slash:
        parts.append("/")
    return "(" + ", ".join(parts) + ")"


class MotoSeamMissing(RuntimeError):
    """moto changed under the adapter: the named seam is gone."""


class MotoSeamChanged(MotoSeamMissing):
    """moto changed under the adapter: the named seam is there but is called differently."""


class Clock(Protocol):
    time_scale: float | None

    def now(self) -> float: ...
    def is_managed(self) -> bool: ...
    def sleep(self, seconds: float) -> None: ...
    def run_child(self, target: Callable[[], Any], *, name: str, timeout: float | None = None) -> bool: ...
    def event(self) -> Any: ...
    def spawn(self, target: Callable[[], Any], name: str) -> threading.Thread: ...


class Dispatcher(Protocol):
    def invoke(self, function: Any, body: bytes, response_headers: dict[str, str]) -> bytes: ...


class Delivery(Protocol):
    def deliver(self, rule: Any, moto_event: dict[str, Any]) -> None: ...


def _resolve(module: str, attr: str) -> tuple[Any, str, Any]:
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise MotoSeamMissing(f"moto module {module} is gone ({exc}); the adapter is written for moto {PINNED_MOTO}") from exc
    owner: Any = mod
    parts = attr.split(".")
    for part in parts[:-1]:
        owner = getattr(owner, part, None)
        if owner is None:
            raise MotoSeamMissing(f"{module}.{attr}: {part} is gone; the adapter is written for moto {PINNED_MOTO}")
    if not hasattr(owner, parts[-1]):
        raise MotoSeamMissing(f"{module}.{attr} is gone; the adapter is written for moto {PINNED_MOTO}")
    return owner, parts[-1], getattr(owner, parts[-1])


#: ``moto/batch/__init__.py`` as moto 5.2.5 ships it: the one name it exports, from its models.
_BATCH_INIT = "from .models import batch_backends  # noqa: F401\n"


def defer_batch_models() -> None:
    """moto's Step Functions parser imports ``moto.batch.utils`` for one enum, and importing
    the ``moto.batch`` package runs its ``__init__``, which loads ``moto.batch.models`` and with
    it ``moto.ec2`` (about a second of a fresh start, for services this control plane never
    calls). Register the package without running that ``__init__``: its submodules import as
    usual, and ``batch_backends`` (how moto's backend registry reaches it) loads the models on
    first use. Done only while the ``__init__`` is exactly the one-liner of the pinned moto."""
    import importlib.util
    import sys

    if "moto.batch" in sys.modules:
        return
    spec = importlib.util.find_spec("moto.batch")
    if spec is None or spec.origin is None or spec.submodule_search_locations is None:
        return
    with open(spec.origin, encoding="utf-8") as f:
        if f.read() != _BATCH_INIT:
            return  # another moto: let the package import the way it says

    def load_models(name: str) -> Any:
        if name != "batch_backends":
            raise AttributeError(f"module 'moto.batch' has no attribute {name!r}")
        return importlib.import_module("moto.batch.models").batch_backends

    package = types.ModuleType("moto.batch")
    package.__spec__ = spec
    package.__file__ = spec.origin
    package.__path__ = list(spec.submodule_search_locations)
    package.__package__ = "moto.batch"
    package.__getattr__ = load_models  # type: ignore[method-assign]  # PEP 562: a module-level __getattr__
    sys.modules["moto.batch"] = package


def check_seams() -> dict[str, Any]:
    """Resolve every seam and check its call shape; raise :class:`MotoSeamMissing` naming the
    first one missing, or :class:`MotoSeamChanged` naming the first one whose signature is
    not the one recorded here."""
    import moto

    if moto.__version__ != PINNED_MOTO:
        raise MotoSeamMissing(f"moto {moto.__version__} installed; the adapter is written and tested for {PINNED_MOTO}")
    defer_batch_models()
    resolved = {}
    for name, seam in _SEAMS.items():
        resolved[name] = owner_attr_value = _resolve(seam.module, seam.attr)
        found = signature_of(owner_attr_value[2])
        if found != seam.signature:
            raise MotoSeamChanged(
                f"{seam.module}.{seam.attr} changed: the adapter relies on {seam.signature}, moto now has {found}; "
                f"the adapter is written for moto {PINNED_MOTO}"
            )
    return resolved


@dataclass
class _Layers:
    clock: Clock
    dispatcher: Dispatcher
    delivery: Delivery
    #: Called with moto's execution once it has ended (its status and stop date set).
    on_execution_end: Callable[[Any], None] | None = None
    #: Called with each DynamoDB request moto answered, inside DYNAMODB_LOCK: in the order
    #: the writes took effect, whichever thread made them.
    on_dynamodb_request: Callable[[DynamoRequest], None] | None = None


_lock = threading.Lock()
_active: _Layers | None = None
_handle: AdapterHandle | None = None


class AdapterBusy(RuntimeError):
    """A second embedded backend in one process: moto's state is process-wide."""


class AdapterHandle:
    """What :func:`install` returns: the one way to take the adapter off again. Only the
    handle that installed it can uninstall it; a stale or second handle does nothing, so a
    refused second backend's clean-up cannot break the running one."""

    def __init__(self, originals: list[tuple[Any, str, Any]]) -> None:
        self._originals = originals

    @property
    def installed(self) -> bool:
        return _handle is self

    def uninstall(self) -> None:
        """Put every patched seam back as it was. Idempotent."""
        global _active, _handle
        with _lock:
            if _handle is not self:
                return
            while self._originals:
                _restore(*self._originals.pop())
            _active = None
            _handle = None


def install(
    clock: Clock,
    dispatcher: Dispatcher,
    delivery: Delivery,
    on_execution_end: Callable[[Any], None] | None = None,
    on_dynamodb_request: Callable[[DynamoRequest], None] | None = None,
) -> AdapterHandle:
    """Patch the seams so that they call these layers; one embedded backend per process.

    Raises :class:`AdapterBusy` (changing nothing) while another handle is installed, and
    :class:`MotoSeamMissing` / :class:`MotoSeamChanged` (patching nothing) if moto moved.
    """
    global _active, _handle
    with _lock:
        if _active is not None:
            raise AdapterBusy("an embedded backend is already running in this process; stop it first")
        seams = check_seams()
        from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

        originals: list[tuple[Any, str, Any]] = []
        _active = _Layers(clock, dispatcher, delivery, on_execution_end, on_dynamodb_request)
        _handle = handle = AdapterHandle(originals)

        def patch(name: str, value: Any, added: str | None = None) -> None:
            """Patch the seam ``name``; with ``added``, add that attribute beside it instead."""
            owner, attr, original = seams[name]
            if added is not None:
                attr, original = added, vars(owner).get(added, _ABSENT)
            # put back what the class itself held (a staticmethod stays one)
            raw = vars(owner).get(attr, original) if isinstance(owner, type) else original
            originals.append((owner, attr, raw))
            setattr(owner, attr, value)

        try:
            _patch_all(seams, patch, EvalComponent)
        except BaseException:
            _active = None
            _handle = None
            while originals:
                _restore(*originals.pop())
            raise
        return handle


def _describe_alarm_history(self: Any) -> Any:
    """CloudWatch's DescribeAlarmHistory, which moto lacks (see :func:`alarms.alarm_history`)."""
    from moto.core.responses import ActionResult

    from .alarm_rules import alarm_history

    items = alarm_history(
        self.cloudwatch_backend.alarms.values(), name=self._get_param("AlarmName"), kind=self._get_param("HistoryItemType"),
        start=self._get_param("StartDate"), end=self._get_param("EndDate"), max_records=self._get_param("MaxRecords"),
        scan_by=self._get_param("ScanBy"),
    )
    return ActionResult({"AlarmHistoryItems": items})


def _restore(owner: Any, attr: str, original: Any) -> None:
    if original is _ABSENT:
        delattr(owner, attr)
    else:
        setattr(owner, attr, original)


def _patch_all(seams: dict[str, Any], patch: Callable[..., None], EvalComponent: Any) -> None:  # noqa: N803
    """Every patch, in the order of the table above."""

    def wait_interval(self: Any, env: Any, wait_seconds: float) -> None:
        if wait_seconds > MAX_WAIT_SECONDS:
            raise _states_runtime_failure(env, "Wait state delay is too long.")
        if wait_seconds > 0:
            _layers().clock.sleep(wait_seconds)

    def timestamp_wait_seconds(self: Any, env: Any) -> float:
        import datetime

        self.string.eval(env=env)
        text = env.stack.pop()
        at = self._from_timestamp_string(timestamp=text)
        if at is None:
            from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException

            raise FailureEventException(self._create_failure_event(env, text))
        delay: float = at.replace(tzinfo=datetime.timezone.utc).timestamp() - _layers().clock.now()
        return max(0.0, delay)

    def worker_start(self: Any) -> None:
        name = self._evaluation_details.execution_details.name
        _layers().clock.spawn(self._execution_logic, name=f"sfn-{name}")

    def program_eval(self: Any, env: Any) -> None:
        # moto runs the states on a second thread and joins it with the definition's
        # TimeoutSeconds in real time; here the same on the simulated clock.
        env.next_state_name = self.start_at.start_at_name
        timeout = self.timeout_seconds.timeout_seconds if self.timeout_seconds else MAX_EXECUTION_SECONDS
        if _layers().clock.run_child(lambda: EvalComponent.eval(self, env), name="states", timeout=timeout):
            return
        env.set_timed_out()  # the states stop at their next transition
        _execution_timed_out(env)

    def lambda_invoke(self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any) -> bytes:
        fn = self.get_function(function_name, qualifier)
        return _layers().dispatcher.invoke(fn, body, response_headers)

    def send_to_targets(self: Any, original_event: dict[str, Any], transform_input: bool = True) -> None:
        _layers().delivery.deliver(self, original_event)

    patch("wait", wait_interval)
    patch("timestamp_wait", timestamp_wait_seconds)
    patch("retry", types.SimpleNamespace(sleep=lambda s: _layers().clock.sleep(s)))
    patch("worker", worker_start)
    patch("program", program_eval)
    patch("task_timeout", _evaluate_task_with_timeout)
    for seam, attr in (
        ("callback_event", "_notify_event"),
        ("heartbeat_event", "_next_heartbeat_event"),
        ("activity_start_event", "_next_activity_task_start_event"),
    ):
        patch(seam, _with_clock_event(seams[seam][2], attr))
    patch("lambda_client", _cached_boto_client(seams["lambda_client"][2]))
    patch("sfn_lambda_call", _inline_lambda_call(seams["sfn_lambda_call"][2]))
    patch("json_structure", _fast_attribute_values(seams["json_structure"][2]))
    patch("model_tracking", _tracked_weakly)
    patch("response_methods", moto_speed.cached_method_names(seams["response_methods"][2]))
    from moto.dynamodb.models.table import RESULT_SIZE_LIMIT

    patch("table_scan", moto_speed.filtered_scan(seams["table_scan"][2], RESULT_SIZE_LIMIT))
    patch("attribute_size", moto_speed.attribute_size(seams["attribute_size"][2]))
    # Speed only: the interpreter deep-copies every state's input, result and context
    # (JSON values) several times per state; a copier that knows JSON is several times faster.
    json_copy = types.SimpleNamespace(deepcopy=_json_deepcopy, copy=copy.copy)
    patch("states_copy", json_copy)
    patch("expression_copy", json_copy)
    # Speed only: moto re-parses the ASL text (ANTLR) for every execution and builds a
    # JSONPath parser (PLY) for every path it evaluates; both results are immutable. They are
    # kept for the process, not the backend: CreateStateMachine's validation and the first
    # execution parse the same text, and a test process starts many backends.
    patch("asl_parse", staticmethod(_parse_once(seams["asl_parse"][2])))
    patch("entrypoint", lambda self: _parse_definition(self._evaluation_details.state_machine_details.definition))
    patch("json_path", _parse_once(seams["json_path"][2], maxsize=1024))
    patch("result_path", _parse_once(seams["result_path"][2], maxsize=1024))
    patch("lambda_invoke", lambda_invoke)
    patch("rule_delivery", send_to_targets)
    patch("dynamodb_request", _serialized_dynamodb(seams["dynamodb_request"][2]))
    original_put_targets = seams["put_targets"][2]
    patch("pattern_parse", _parse_event_pattern)
    patch("put_targets", lambda self, name, bus, targets: _put_targets(original_put_targets, self, name, bus, targets))
    patch("test_event_pattern", _test_event_pattern)
    patch("alarm_history", _describe_alarm_history, added=_ADDED["alarm_history"])
    patch("model_loader", _one_loader(seams["model_loader"][2]))
    patch("regions_session", classmethod(lambda cls: boto3_session()))
    _patch_time(seams, patch)


def _sim_datetime(tz: Any = None) -> Any:
    import datetime

    return datetime.datetime.fromtimestamp(_layers().clock.now(), tz=tz or datetime.timezone.utc)


def _patch_time(seams: dict[str, Any], patch: Callable[[str, Any], None]) -> None:
    """What moto reads from the wall clock, read from the simulated clock: so that what the
    aws CLI shows (execution dates, history timestamps, SQS attributes) lines up with the
    simulation's trace. freezegun is not used: it patches time for every thread of the
    process, the scheduler's real-time waits and the pacer included."""
    import datetime

    execution_init = seams["execution_start"][2]
    init_signature = inspect.signature(execution_init)

    def execution_start(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = init_signature.bind(self, *args, **kwargs)
        bound.arguments["start_date"] = _sim_datetime()
        execution_init(*bound.args, **bound.kwargs)

    reflect = seams["execution_stop"][2]

    def execution_stop(self: Any) -> None:
        reflect(self)
        self.execution.stop_date = _sim_datetime()
        layers = _active
        if layers is not None and layers.on_execution_end is not None:
            layers.on_execution_end(self.execution)

    unix_time = seams["sqs_time"][2]
    receive = seams["sqs_receive"][2]

    def sim_unix_time(dt: Any = None) -> float:
        return unix_time(dt) if dt is not None else _layers().clock.now()

    instant = [0.0, 0]  # the simulated instant last read, and how many reads it has had

    def sim_unix_time_millis(dt: Any = None) -> float:
        # moto's SQS makes a message visible when now > visible_at, strictly; on the wall
        # clock a moment always passes between two calls, but simulated time stands still, so
        # a VisibilityTimeout of 0 would never end. Each read within one instant is a
        # microsecond later than the one before (deterministic, and reset as time moves).
        if dt is not None:
            return float(unix_time(dt)) * 1000.0
        now = _layers().clock.now()
        with _lock:
            if instant[0] != now:
                instant[0], instant[1] = now, 0
            instant[1] += 1
            return now * 1000.0 + instant[1] * 1e-3

    def receive_message(self: Any, queue_name: str, count: int, wait_seconds_timeout: int, visibility_timeout: int, message_attribute_names: Any = None) -> Any:
        clock = _layers().clock
        # A long poll waits for simulated time to pass: only where it flows (the pacer of
        # `sim up`) and never on an actor the scheduler waits for.
        if not clock.time_scale or clock.is_managed():
            wait_seconds_timeout = 0
        # SQS deletes a message older than the queue's retention period. moto 5.2.5 keeps
        # it, marks it received and stops the receive there, hiding every later message:
        # with retention on the simulated clock (days pass in seconds) that would show.
        queue = self.get_queue(queue_name)
        for message in [m for m in queue._messages if not self.is_message_valid_based_on_retention_period(queue_name, m)]:
            queue._messages.remove(message)
            queue._pending_messages.discard(message)
        return receive(self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names)

    iso_ms = seams["sns_time"][2]

    patch("history_time", staticmethod(_sim_datetime))
    patch("execution_start", execution_start)
    patch("execution_stop", execution_stop)
    patch("state_entered_time", types.SimpleNamespace(datetime=types.SimpleNamespace(now=_sim_datetime), timezone=datetime.timezone))
    patch("sqs_time", sim_unix_time)
    patch("sqs_time_millis", sim_unix_time_millis)
    patch("sqs_receive", receive_message)
    patch("events_time", sim_unix_time)
    patch("sns_time", lambda value=None: iso_ms(value if value is not None else _sim_datetime().replace(tzinfo=None)))


class DynamoRequest(NamedTuple):
    """A DynamoDB request as moto answered it: the operation (``PutItem``), its parameters
    (DynamoDB JSON, as sent), the HTTP status and, when refused, the error code
    (``ConditionalCheckFailedException``)."""

    operation: str
    params: dict[str, Any]
    status: int
    error: str | None


def _serialized_dynamodb(call: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(call)
    def serialized(self: Any) -> Any:
        with DYNAMODB_LOCK:
            result = call(self)
            layers = _active
            if layers is not None and layers.on_dynamodb_request is not None:
                layers.on_dynamodb_request(_dynamo_request(self, result))
            return result

    return serialized


def _dynamo_request(handler: Any, result: Any) -> DynamoRequest:
    status, _headers, body = result
    operation = str(handler.headers.get("X-Amz-Target", "")).rpartition(".")[2]
    error = None
    if int(status) >= 300:
        try:
            error = str(json.loads(body).get("__type", "")).rpartition("#")[2] or None
        except (ValueError, AttributeError):
            error = None
    params = handler.body if isinstance(handler.body, dict) else {}
    return DynamoRequest(operation, params, int(status), error)


def _layers() -> _Layers:
    layers = _active
    if layers is None:
        raise RuntimeError("the embedded backend's moto adapter is not installed")
    return layers


def _evaluate_task_with_timeout(self: Any, env: Any) -> None:
    """moto's ``ExecutionState._evaluate_with_timeout`` with the simulated clock in place of
    a helper thread joined in real time: the Task's work runs in the execution's place for
    at most its TimeoutSeconds. Past that the state fails States.Timeout (moto maps the
    TimeoutError to TaskTimedOut) while the work, e.g. a Lambda invocation, runs on; what
    it would still add to the history is dropped, as Step Functions has stopped listening."""
    import copy

    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError

    self.timeout.eval(env=env)
    timeout_seconds = env.stack.pop()
    frame = env.open_frame()
    frame.states.reset(input_value=env.states.get_input())
    frame.stack = copy.deepcopy(env.stack)
    outputs: list[Any] = []
    errors: list[Exception] = []

    def work() -> None:
        # As moto's helper thread: an error is kept for the state to raise, and one that
        # comes after the state stopped waiting (the Lambda failed late) goes nowhere.
        try:
            self._eval_execution(frame)
            outputs.extend(frame.stack)
        except Exception as exc:
            errors.append(exc)

    finished = _layers().clock.run_child(work, name=f"task-{env.next_state_name}", timeout=timeout_seconds)
    error = errors[0] if finished and errors else None
    if not finished:
        frame.event_manager = _MutedEvents()
    frame.set_ended()
    env.close_frame(frame)
    if error is not None:
        raise error
    if not finished:
        raise EvalTimeoutError()

    env.stack.append(outputs.pop())
    if not self._is_language_query_jsonpath():
        env.states.set_result(env.stack[-1])
    if self.assign_decl:
        self.assign_decl.eval(env=env)
    if self.result_selector:
        self.result_selector.eval(env=env)
    if self.result_path:
        self.result_path.eval(env)
    else:
        env.states.reset(input_value=env.stack.pop())


def _with_clock_event(init: Callable[..., None], attr: str) -> Callable[..., None]:
    """An endpoint's ``__init__``, then its ``threading.Event`` swapped for one on the clock."""

    def clocked_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        setattr(self, attr, _layers().clock.event())

    return clocked_init


class _MutedEvents:
    """An event manager for work Step Functions no longer waits for: it records nothing."""

    def add_event(self, *args: Any, **kwargs: Any) -> int:
        return 0


def _execution_timed_out(env: Any) -> None:
    """ExecutionTimedOut now, and nothing in the history after it (the states still running
    when the time ran out end at their next transition, unheard)."""
    from moto.stepfunctions.parser.api import ExecutionTimedOutEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    manager = env.event_manager
    manager.add_event(
        context=env.event_history_context,
        event_type=HistoryEventType.ExecutionTimedOut,
        # moto declares EventDetails total, yet builds it with one key, as here.
        event_details=EventDetails(executionTimedOutEventDetails=ExecutionTimedOutEventDetails(error="States.Timeout")),  # type: ignore[typeddict-item]
    )
    manager.add_event = _MutedEvents().add_event  # this instance only: the execution is over


def _states_runtime_failure(env: Any, cause: str) -> Exception:
    """The exception moto's interpreter turns into ExecutionFailed States.Runtime."""
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent, FailureEventException
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    runtime = StatesErrorNameType.StatesRuntime
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=runtime),
            event_type=HistoryEventType.ExecutionFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]  # one key, as moto itself builds it
                executionFailedEventDetails=ExecutionFailedEventDetails(error=runtime.to_name(), cause=cause)
            ),
        )
    )


def _parse_event_pattern(self: Any) -> dict[str, Any]:
    from moto.events.exceptions import InvalidEventPatternException

    from .patterns import InvalidEventPattern, compile_pattern

    if not self.pattern:
        return {}
    try:
        return compile_pattern(self.pattern)
    except InvalidEventPattern as exc:
        raise InvalidEventPatternException(reason=exc.reason) from None


def _put_targets(original: Callable[..., Any], backend: Any, name: str, bus: str | None, targets: list[dict[str, Any]]) -> Any:
    from moto.events.exceptions import ValidationException

    from .targets import TargetValidationError, validate_target

    for target in targets:
        try:
            validate_target(target)
        except TargetValidationError as exc:
            raise ValidationException(str(exc)) from None
    return original(backend, name, bus, targets)


def _test_event_pattern(self: Any) -> str:
    import json

    from moto.events.exceptions import InvalidEventPatternException, ValidationException

    from .patterns import InvalidEventPattern, compile_pattern, event_matches, valid_test_event

    try:
        pattern = compile_pattern(self._get_param("EventPattern") or "")
    except InvalidEventPattern as exc:
        raise InvalidEventPatternException(reason=exc.reason) from None
    try:
        event = json.loads(self._get_param("Event") or "")
    except ValueError:
        event = None
    if not valid_test_event(event):
        raise ValidationException("Parameter Event is not valid.")
    return json.dumps({"Result": event_matches(pattern, event)})


#: Per moto function, its replacement whose results are kept for the process (not per
#: install: a test process starts many backends, and each would begin again).
_FOR_THE_PROCESS: dict[Callable[..., Any], Callable[..., Any]] = {}


def _for_the_process(original: Callable[..., Any], remembering: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Callable[..., Any]:
    kept = _FOR_THE_PROCESS.get(original)
    if kept is None:
        kept = _FOR_THE_PROCESS[original] = remembering(original)
    return kept


def _parse_once(parse: Callable[..., Any], maxsize: int = 64) -> Callable[..., Any]:
    """A moto parser's result, remembered per text for the process: the ASL parse (ANTLR,
    ~0.1 s a definition) and the JSONPath parsers (each parse builds a PLY parser, ~5 ms).
    Their results are immutable: executions share them."""
    return _for_the_process(parse, functools.lru_cache(maxsize=maxsize))


def _one_loader(create: Callable[[], Any]) -> Callable[[], Any]:
    """moto makes a new model loader for each service model it reads, and each new loader
    lists botocore's ~400 service folders again (~17 ms a service at start-up); one loader
    for the process lists them once. It reads the same files into the same models (into
    plain dicts, as the embedded backend's own session does)."""
    return _for_the_process(create, lambda make: functools.cache(lambda: read_into_dicts(make())))


def _parse_definition(definition: str) -> Any:
    """The parsed program (through the patched, remembered parse)."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    return AmazonStateLanguageParser.parse(definition)[0]


#: Speed only: moto's JSON serializer walks the AttributeValue shape member by member for
#: every attribute of every item answered (a quarter of a month of churn went there).
#: An AttributeValue of the usual kinds is written directly instead, as the walk would
#: write it; anything else (binary, malformed) still takes the walk. Compared by a test.
FAST_ATTRIBUTE_VALUES = True


def _attribute_value_json(value: Any) -> dict[str, Any] | None:
    """The JSON moto's serializer writes for one DynamoDB AttributeValue, or None when it
    is not one this shortcut writes the same way."""
    if type(value) is not dict or len(value) != 1:
        return None
    (kind, v), = value.items()
    if kind in ("S", "N"):
        return {kind: v} if type(v) is str else None
    if kind in ("NULL", "BOOL"):
        return {kind: v} if type(v) is bool else None
    if kind in ("SS", "NS"):
        return {kind: list(v)} if type(v) is list and all(type(x) is str for x in v) else None
    if kind == "M":
        if type(v) is not dict:
            return None
        members = {name: _attribute_value_json(x) for name, x in v.items()}
        return None if any(m is None for m in members.values()) else {kind: members}
    if kind == "L":
        if type(v) is not list:
            return None
        items = [_attribute_value_json(x) for x in v]
        return None if any(i is None for i in items) else {kind: items}
    return None


def _fast_attribute_values(original: Callable[..., Any]) -> Callable[..., Any]:
    def serialize_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if FAST_ATTRIBUTE_VALUES and key and shape.name == "AttributeValue":
            fast = _attribute_value_json(value)
            if fast is not None:
                self._default_serialize(serialized, fast, shape, key)
                return
        original(self, serialized, value, shape, key)

    return serialize_structure


class LiveInstances:
    """moto's ``instances_tracked`` (what its dashboard lists, what S3 disposes of at a reset)
    holding its models weakly: moto keeps every model object it ever made there, every
    DynamoDB item a Scan copied out included, so a long run grew by every scan (the daily
    runs scan the tenant table). Only live ones are listed."""

    _COMPACT_EVERY = 4096

    def __init__(self) -> None:
        self._refs: list[Any] = []
        self._appended = 0

    def append(self, instance: Any) -> None:
        try:
            ref: Any = weakref.ref(instance)
        except TypeError:  # a model without weak reference support is kept, as moto keeps it
            ref = lambda instance=instance: instance  # noqa: E731
        self._refs.append(ref)
        self._appended += 1
        if self._appended % self._COMPACT_EVERY == 0:
            self._refs[:] = [r for r in self._refs if r() is not None]

    def __iter__(self) -> Iterator[Any]:
        return iter([obj for obj in (r() for r in list(self._refs)) if obj is not None])


def _tracked_weakly(cls: Any, *args: Any, **kwargs: Any) -> Any:
    from moto.core.common_models import BaseModel

    instance = super(BaseModel, cls).__new__(cls)
    tracked = cls.__dict__.get("instances_tracked")
    if not isinstance(tracked, LiveInstances):  # moto's list (a fresh one after each reset)
        tracked = LiveInstances()
        cls.instances_tracked = tracked
    tracked.append(instance)
    return instance


_ATOMS = (str, int, float, bool, type(None))


def _json_deepcopy(value: Any, memo: Any = None) -> Any:
    """``copy.deepcopy`` for JSON values (dicts, lists, strings, numbers, booleans, null);
    anything else is handed to ``copy.deepcopy``."""
    kind = type(value)
    if kind is dict:
        return {k: _json_deepcopy(v) for k, v in value.items()}
    if kind is list:
        return [_json_deepcopy(v) for v in value]
    if kind in _ATOMS:
        return value
    return copy.deepcopy(value, memo)


#: Speed only: a Task's ``lambda:invoke`` reaches the dispatcher without the HTTP round trip
#: (botocore serializing, moto routing a fake request), with the same answer. Off: every
#: invoke takes moto's boto3 path (the equivalence test compares the two).
INLINE_LAMBDA_CALLS = True
_FUNCTION_ARN = re.compile(r"arn:aws:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:[A-Za-z0-9_-]+")


def _inline_lambda_call(original: Callable[..., Any]) -> Callable[..., Any]:
    """moto's ``_invoke_lambda_function`` for the common case (a function ARN, a
    request-response call, at most a Payload and a Qualifier), as its boto3 round trip
    would answer it: the response's ``StatusCode``, ``FunctionError``, ``ExecutedVersion``
    and parsed ``Payload``; a throttle as the ``ClientError`` botocore raises (Step Functions
    names it ``Lambda.TooManyRequestsException``). One request id is drawn from moto's
    random source when the handler has run, as the round trip's answer draws one, so ids
    later in the run stay the same.
    Anything else (an unknown function included, for its exact error) takes the round trip."""
    import io

    from botocore.exceptions import ClientError
    from moto.awslambda_simple.models import lambda_simple_backends
    from moto.core.exceptions import JsonRESTError
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils import _from_payload
    from moto.utilities.aws_headers import gen_amzn_requestid_long

    def invoke(parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
        arn = _FUNCTION_ARN.fullmatch(str(parameters.get("FunctionName", "")))
        payload_in = parameters.get("Payload", b"")
        if not INLINE_LAMBDA_CALLS or arn is None or set(parameters) - {"FunctionName", "Payload", "Qualifier"} or not isinstance(payload_in, bytes):
            return dict(original(parameters, region, state_credentials))
        backend = lambda_simple_backends[arn["account"]][arn["region"]]
        try:
            fn = backend.get_function(parameters["FunctionName"], parameters.get("Qualifier"))
        except Exception:  # noqa: BLE001 - the round trip answers it, with moto's exact error
            return dict(original(parameters, region, state_credentials))
        headers: dict[str, str] = {}
        try:
            payload = _layers().dispatcher.invoke(fn, payload_in, headers)
        except JsonRESTError as exc:
            error = {"Code": exc.error_type, "Message": exc.message}
            metadata = {"RequestId": gen_amzn_requestid_long(), "HTTPStatusCode": exc.code}
            raise ClientError({"Error": error, "ResponseMetadata": metadata}, "Invoke") from None
        gen_amzn_requestid_long()  # drawn as the round trip's answer draws it, after the handler ran
        response: dict[str, Any] = {"StatusCode": 200}
        if "x-amz-function-error" in headers:
            response["FunctionError"] = headers["x-amz-function-error"]
        if "x-amz-executed-version" in headers:
            response["ExecutedVersion"] = headers["x-amz-executed-version"]
        response["Payload"] = _from_payload(io.BytesIO(payload))
        return response

    return invoke


def _cached_boto_client(original: Callable[..., Any]) -> Callable[..., Any]:
    # moto builds a boto3 client for every Task state (~20 ms each); one per service
    # and Region is enough: the client is stateless and thread-safe.
    @functools.lru_cache(maxsize=None)
    def cached(region: str, service: str) -> Any:
        return original(region, service)

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        return cached(region, service)

    return boto_client_for
