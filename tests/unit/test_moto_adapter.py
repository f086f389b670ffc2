"""The moto adapter: its seams resolve on the pinned moto, a missing seam is named, one
installation per process, uninstall puts moto back exactly as it was."""

from __future__ import annotations

import importlib
import threading
import types
import time as real_time
from types import SimpleNamespace
from typing import Any

import moto
import pytest

from sim.engines.embedded import moto_adapter
from sim.engines.embedded.moto_adapter import (
    AdapterBusy,
    MotoSeamChanged,
    MotoSeamMissing,
    Seam,
    check_seams,
    install,
    signature_of,
)


class FakeClock:
    time_scale: float | None = None

    def __init__(self, now: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.sleeps: list[float] = []
        self.spawned: list[tuple[str, Any]] = []
        self._now = now

    def now(self) -> float:
        return self._now

    def is_managed(self) -> bool:
        return False

    def run_child(self, target: Any, *, name: str, timeout: float | None = None) -> bool:
        target()
        return True

    def event(self) -> Any:
        return ("clock event", self)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def spawn(self, target: Any, name: str) -> threading.Thread:
        self.spawned.append((name, target))
        return threading.current_thread()


class FakeDispatcher:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any, Any]] = []

    def invoke(self, function: Any, body: bytes, response_headers: dict[str, str]) -> bytes:
        self.calls.append((function, body, response_headers))
        return b'"dispatched"'


class FakeDelivery:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any]] = []

    def deliver(self, rule: Any, moto_event: dict[str, Any]) -> None:
        self.calls.append((rule, moto_event))


def _current_values() -> dict[str, Any]:
    """What each seam holds now (patched or not: check_seams would refuse patched shapes);
    for a seam the adapter adds an attribute beside, that attribute (None when absent)."""
    out = {}
    for name, seam in moto_adapter._SEAMS.items():
        owner, attr, value = moto_adapter._resolve(seam.module, seam.attr)
        held = vars(owner).get(attr, value) if isinstance(owner, type) else value  # a classmethod as the class holds it
        out[name] = getattr(owner, moto_adapter._ADDED[name], None) if name in moto_adapter._ADDED else held
    return out


@pytest.fixture(autouse=True)
def _no_adapter_leaks():
    assert moto_adapter._active is None, "an adapter was left installed by an earlier test"
    yield
    if moto_adapter._handle is not None:  # a test that failed before uninstalling
        moto_adapter._handle.uninstall()
    assert moto_adapter._active is None


@pytest.fixture
def layers() -> SimpleNamespace:
    return SimpleNamespace(clock=FakeClock(), dispatcher=FakeDispatcher(), delivery=FakeDelivery())


# -------------------------------------------------------------------- check_seams
def test_installed_moto_is_the_pinned_version():
    assert moto.__version__ == moto_adapter.PINNED_MOTO == "5.2.5"


def test_every_seam_resolves_on_the_installed_moto():
    seams = check_seams()
    assert set(seams) == set(moto_adapter._SEAMS)
    for name, (owner, attr, original) in seams.items():
        module, dotted, signature = moto_adapter._SEAMS[name]
        assert signature_of(original) == signature, name
        assert attr == dotted.rsplit(".", 1)[-1]
        assert getattr(owner, attr) == original, name  # ==: a classmethod is bound anew on each access
        assert original is not None, name
        if "." in dotted:  # a class attribute: defined on that class itself, not inherited
            assert attr in vars(owner), f"{name}: {dotted} is inherited, patching it would shadow the parent"
        else:
            assert owner is importlib.import_module(module)


@pytest.mark.parametrize("name", sorted(moto_adapter._SEAMS))
def test_a_missing_seam_is_named(monkeypatch, name):
    owner, attr, _ = check_seams()[name]
    module, dotted, _ = moto_adapter._SEAMS[name]
    # Gone for real: an override removed from the class alone would still resolve to
    # the inherited method (Program.eval -> EvalComponent.eval, LambdaSimpleBackend.invoke
    # -> LambdaBackend.invoke), so take it off every class that defines it.
    for holder in [h for h in owner.__mro__ if h is not object] if isinstance(owner, type) else (owner,):
        if attr in vars(holder):
            monkeypatch.delattr(holder, attr)
    with pytest.raises(MotoSeamMissing) as info:
        check_seams()
    assert f"{module}.{dotted}" in str(info.value)
    assert moto_adapter.PINNED_MOTO in str(info.value)


@pytest.mark.parametrize("name", sorted(moto_adapter._SEAMS))
def test_a_seam_called_differently_is_named(monkeypatch, name):
    """An upgrade that keeps a seam's name but changes its parameters fails loudly too."""
    owner, attr, original = check_seams()[name]
    module, dotted, recorded = moto_adapter._SEAMS[name]

    def changed(self, env, surprise):  # noqa: ANN001, ANN202
        return None

    monkeypatch.setattr(owner, attr, types.ModuleType("surprise") if isinstance(original, types.ModuleType) else changed)
    with pytest.raises(MotoSeamChanged) as info:
        check_seams()
    message = str(info.value)
    assert f"{module}.{dotted} changed" in message
    assert recorded in message
    assert moto_adapter.PINNED_MOTO in message


def test_signature_of_keeps_names_kinds_and_defaults_only():
    def f(a: int, /, b: str = "x", *args: Any, c: int, d: int = 1, **kw: Any) -> None: ...

    def g(a, *, b): ...  # noqa: ANN001, ANN202

    assert signature_of(f) == "(a, /, b=..., *args, c, d=..., **kw)"
    assert signature_of(g) == "(a, *, b)"
    assert signature_of(real_time) == "<module time>"


def test_a_missing_class_is_named(monkeypatch):
    module = importlib.import_module("moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function")
    monkeypatch.delattr(module, "WaitFunction")
    with pytest.raises(MotoSeamMissing, match=r"WaitFunction\._wait_interval: WaitFunction is gone"):
        check_seams()


def test_a_missing_module_is_named(monkeypatch):
    monkeypatch.setitem(
        moto_adapter._SEAMS, "wait", Seam("moto.stepfunctions.no_such_module", "WaitFunction._wait_interval", "(self, env, wait_seconds)")
    )
    with pytest.raises(MotoSeamMissing, match=r"moto module moto\.stepfunctions\.no_such_module is gone"):
        check_seams()


def test_another_moto_version_is_refused(monkeypatch):
    monkeypatch.setattr(moto, "__version__", "5.3.0")
    with pytest.raises(MotoSeamMissing, match=r"moto 5\.3\.0 installed.*5\.2\.5"):
        check_seams()


def test_install_with_a_missing_seam_patches_nothing(monkeypatch, layers):
    from moto.events.models import Rule

    before = _current_values()
    monkeypatch.delattr(Rule, "send_to_targets")  # the last seam: all the others resolve
    with pytest.raises(MotoSeamMissing, match=r"Rule\.send_to_targets"):
        install(layers.clock, layers.dispatcher, layers.delivery)
    assert moto_adapter._active is None
    assert moto_adapter._handle is None
    monkeypatch.undo()
    after = _current_values()
    for name in before:
        assert after[name] is before[name], name


# ------------------------------------------------------------ install / uninstall
def test_install_twice_is_refused(layers):
    handle = install(layers.clock, layers.dispatcher, layers.delivery)
    patched = _current_values()
    with pytest.raises(AdapterBusy):
        install(FakeClock(), FakeDispatcher(), FakeDelivery())
    # The refused second install changed nothing and did not replace the first layers.
    assert _current_values() == patched
    assert moto_adapter._layers().clock is layers.clock
    assert handle.installed


def test_uninstall_restores_every_original(layers):
    before = _current_values()
    handle = install(layers.clock, layers.dispatcher, layers.delivery)
    during = _current_values()
    for name in before:
        assert during[name] is not before[name], f"{name} was not patched"
    handle.uninstall()
    after = _current_values()
    for name in before:
        assert after[name] is before[name], f"{name} was not restored"
    handle.uninstall()  # idempotent
    assert _current_values() == before
    # And it can be installed again.
    install(layers.clock, layers.dispatcher, layers.delivery).uninstall()
    assert _current_values() == before


def test_only_the_installing_handle_uninstalls(layers):
    """A stale handle (an earlier backend's, uninstalled twice) cannot take a later
    backend's adapter away: before, any clean-up uninstalled globally."""
    first = install(layers.clock, layers.dispatcher, layers.delivery)
    first.uninstall()
    second = install(FakeClock(), FakeDispatcher(), FakeDelivery())
    patched = _current_values()
    first.uninstall()
    assert second.installed and not first.installed
    assert _current_values() == patched
    second.uninstall()
    assert moto_adapter._active is None


def test_patched_seams_call_the_installed_layers(layers, monkeypatch):
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.events.models import Rule
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    made: list[tuple[str, str]] = []

    def fake_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        made.append((region, service))
        return SimpleNamespace(region=region, service=service)

    # install() wraps whatever boto_client_for is there, so it wraps this counting fake.
    monkeypatch.setattr(lambda_eval_utils, "boto_client_for", fake_client_for)
    handle = install(layers.clock, layers.dispatcher, layers.delivery)

    # Wait and Retry sleep on the clock (a zero Wait does not sleep at all).
    WaitFunction._wait_interval(None, None, 0)
    WaitFunction._wait_interval(None, None, 120)
    assert retrier_decl.time is not real_time  # patched: the sleep below is simulated
    retrier_decl.time.sleep(3)
    assert layers.clock.sleeps == [120, 3]

    # An execution starts as a managed thread named after it.
    logic = object()
    worker = SimpleNamespace(
        _evaluation_details=SimpleNamespace(execution_details=SimpleNamespace(name="exec-1")), _execution_logic=logic
    )
    ExecutionWorker.start(worker)
    assert layers.clock.spawned == [("sfn-exec-1", logic)]

    # Tasks and programs run on the clock (run_child), not on helper threads.
    assert execute_state.ExecutionState._evaluate_with_timeout is moto_adapter._evaluate_task_with_timeout

    # Lambda invocations go to the dispatcher with the function moto resolved.
    fn = SimpleNamespace(function_name="f")
    backend = SimpleNamespace(get_function=lambda name, qualifier: fn if (name, qualifier) == ("f", None) else None)
    headers: dict[str, str] = {}
    assert LambdaSimpleBackend.invoke(backend, "f", None, b"{}", {}, headers) == b'"dispatched"'
    assert layers.dispatcher.calls == [(fn, b"{}", headers)]

    # Rule delivery goes to the delivery layer.
    rule, event = SimpleNamespace(name="r"), {"detail": {}}
    Rule.send_to_targets(rule, event)
    assert layers.delivery.calls == [(rule, event)]

    # One boto client per (region, service).
    a = lambda_eval_utils.boto_client_for("eu-west-1", "lambda", None)
    b = lambda_eval_utils.boto_client_for("eu-west-1", "lambda")
    c = lambda_eval_utils.boto_client_for("eu-west-1", "sqs")
    assert a is b and a is not c
    assert made == [("eu-west-1", "lambda"), ("eu-west-1", "sqs")]

    handle.uninstall()
    assert lambda_eval_utils.boto_client_for is fake_client_for


# ------------------------------------------------- seams where AWS validates or keeps time
def _fake_env() -> SimpleNamespace:
    return SimpleNamespace(next_state_name="W", event_history_context=SimpleNamespace(source_event_id=2), stack=[])


def test_seam_pattern_parse_refuses_what_put_rule_refuses(layers):
    """EventPatternParser.parse (every rule and archive pattern): AWS's reason, recorded
    (event_patterns.json, invalid_json_pattern[["not", "a", "dict", "but valid json"]]);
    moto 5.2.5 raised AttributeError there."""
    from moto.events.exceptions import InvalidEventPatternException
    from moto.events.models import EventPatternParser

    install(layers.clock, layers.dispatcher, layers.delivery)
    assert EventPatternParser(None).parse() == {}
    assert EventPatternParser('{"a.b": [1]}').parse() == {"a.b": [1]}
    with pytest.raises(InvalidEventPatternException) as caught:
        EventPatternParser('["not", "a", "dict", "but valid json"]').parse()
    assert "Event pattern is not valid. Reason: Filter is not an object" in caught.value.description


def test_seam_put_targets_refuses_before_moto_stores_anything(layers):
    """EventsBackend.put_targets: recorded (input_transforms.json,
    input_path_and_transformer_together) ValidationException; moto 5.2.5 stored the target."""
    from moto.events.exceptions import ValidationException
    from moto.events.models import EventsBackend

    install(layers.clock, layers.dispatcher, layers.delivery)
    target = {"Id": "t", "Arn": "arn:aws:sqs:us-east-1:123456789012:q", "InputPath": "$.detail", "Input": "{}"}
    with pytest.raises(ValidationException) as caught:
        EventsBackend.put_targets(object(), "rule", None, [target])  # never reaches the backend
    assert "Only one of Input, InputPath, or InputTransformer must be provided for target t." in caught.value.description


def test_seam_test_event_pattern_answers_result(layers):
    """EventsHandler.test_event_pattern: moto 5.2.5 answered 200 with no body."""
    import json

    from moto.events.responses import EventsHandler

    install(layers.clock, layers.dispatcher, layers.delivery)
    event = {"id": "1", "account": "1", "source": "s", "time": "t", "region": "r", "detail-type": "d"}
    params = {"EventPattern": '{"source": ["s"]}', "Event": json.dumps(event)}
    handler = SimpleNamespace(_get_param=params.get)
    assert json.loads(EventsHandler.test_event_pattern(handler)) == {"Result": True}


def test_seam_callback_endpoints_wait_on_the_clock(layers):
    """CallbackEndpoint/HeartbeatEndpoint/ActivityTaskStartEndpoint.__init__: their
    threading.Events (real-time waits that would stall the scheduler) become the clock's."""
    from moto.stepfunctions.parser.asl.eval.callback.callback import (
        ActivityTaskStartEndpoint,
        CallbackEndpoint,
        HeartbeatEndpoint,
    )

    install(layers.clock, layers.dispatcher, layers.delivery)
    assert CallbackEndpoint("id")._notify_event == ("clock event", layers.clock)
    assert HeartbeatEndpoint(10)._next_heartbeat_event == ("clock event", layers.clock)
    assert ActivityTaskStartEndpoint()._next_activity_task_start_event == ("clock event", layers.clock)


def test_seam_wait_fails_a_delay_aws_calls_too_long(layers):
    """WaitFunction._wait_interval: recorded (sfn_wait.json, test_timestamp_too_far_in_future_
    boundary[24856]) States.Runtime "Wait state delay is too long", without waiting."""
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    install(layers.clock, layers.dispatcher, layers.delivery)
    WaitFunction._wait_interval(None, _fake_env(), moto_adapter.MAX_WAIT_SECONDS)
    with pytest.raises(FailureEventException) as caught:
        WaitFunction._wait_interval(None, _fake_env(), moto_adapter.MAX_WAIT_SECONDS + 1)
    assert caught.value.extract_error_cause_pair() == ("States.Runtime", "Wait state delay is too long.")
    assert layers.clock.sleeps == [moto_adapter.MAX_WAIT_SECONDS]


def test_seam_timestamp_wait_measures_on_the_simulated_clock(layers):
    """Timestamp._get_wait_seconds: moto compared with datetime.now() (the wall clock, local
    time); a Timestamp Wait ends when the simulated clock reaches it."""
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp import Timestamp

    install(layers.clock, layers.dispatcher, layers.delivery)
    env = _fake_env()
    wait = SimpleNamespace(
        string=SimpleNamespace(eval=lambda env: env.stack.append("2026-01-01T00:02:00.000Z")),
        _from_timestamp_string=Timestamp._from_timestamp_string,
    )
    assert Timestamp._get_wait_seconds(wait, env) == 120.0
    layers.clock._now += 600  # already past: no wait
    env.stack.clear()
    assert Timestamp._get_wait_seconds(wait, env) == 0.0


def test_attribute_values_written_directly_are_what_moto_s_serializer_writes(monkeypatch):
    """The serializer shortcut (speed only) writes every DynamoDB answer byte for byte as
    moto's shape walk does: strings, numbers, sets, nested maps and lists, null, booleans,
    empty ones, non-ASCII; binary values still take the walk."""
    from sim.engines.embedded.environment import EmbeddedBackend

    item = {
        "tenant_code": {"S": "serialize"},
        "n": {"N": "-12.50"},
        "empty": {"S": ""},
        "text": {"S": "Grüße \u2603 \"quoted\" \\ back"},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2.5"]},
        "nothing": {"NULL": True},
        "yes": {"BOOL": True},
        "no": {"BOOL": False},
        "m": {"M": {"inner": {"L": [{"S": "x"}, {"N": "1"}, {"M": {}}, {"L": []}]}, "deep": {"M": {"z": {"BOOL": False}}}}},
        "blob": {"B": b"\x00\xffbinary"},
        "blobs": {"BS": [b"a", b"b"]},
    }
    with EmbeddedBackend() as env:
        db = env.client("dynamodb")
        table = env.stack.table
        db.put_item(TableName=table, Item=item)
        db.put_item(TableName=table, Item={"tenant_code": {"S": "other"}, "l": {"L": [{"SS": ["q"]}]}})
        bodies: list[bytes] = []

        def keep(http_response: Any, **_: Any) -> None:
            bodies.append(http_response.content)

        db.meta.events.register("after-call.dynamodb.*", keep)
        answers = {}
        for fast in (False, True):
            monkeypatch.setattr(moto_adapter, "FAST_ATTRIBUTE_VALUES", fast)
            bodies.clear()
            db.get_item(TableName=table, Key={"tenant_code": {"S": "serialize"}})
            db.scan(TableName=table)
            db.query(TableName=table, KeyConditionExpression="tenant_code = :c", ExpressionAttributeValues={":c": {"S": "other"}})
            db.put_item(TableName=table, Item=item, ReturnValues="ALL_OLD")
            answers[fast] = list(bodies)
        assert answers[True] == answers[False]
        assert b'"BOOL": false' in answers[True][0] and b'"B": "AP9iaW5hcnk="' in answers[True][0]


def test_moto_keeps_no_copy_of_what_a_read_returned():
    """moto tracks every model object it makes (its dashboard's list), each DynamoDB item a
    Scan copies out included: a long run grew by every scan (the daily runs scan the tenant
    table). Tracked weakly, a thousand scans leave no copy behind, and what is live is still
    listed."""
    import gc

    from moto.dynamodb.models.dynamo_type import Item

    from sim.engines.embedded.environment import EmbeddedBackend

    with EmbeddedBackend() as env:
        db = env.client("dynamodb")
        db.put_item(TableName=env.stack.table, Item={"tenant_code": {"S": "kept"}, "n": {"N": "1"}})
        gc.collect()
        before = sum(1 for o in gc.get_objects() if isinstance(o, Item))
        for _ in range(1000):
            db.scan(TableName=env.stack.table)
        gc.collect()
        after = sum(1 for o in gc.get_objects() if isinstance(o, Item))
        assert after - before < 10, f"{after - before} item copies kept by 1000 scans"
        listed = [i for i in Item.instances_tracked if i.hash_key.value == "kept"]  # type: ignore[attr-defined]
        assert listed, "the live item is no longer listed"


def test_a_definition_is_parsed_once_per_process_and_a_bad_one_refused_every_time():
    """The ASL parse is remembered per definition text (speed: validation and the first
    execution, and every backend of a test process, parse the same text); a definition that
    does not parse is never remembered: CreateStateMachine refuses it each time (a 400
    naming the parse error; moto leaves the error code empty where Step Functions says
    ``InvalidDefinition``)."""
    import json

    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    from sim.engines.embedded.environment import EmbeddedBackend

    good = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    bad = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Passs", "End": True}}})
    with EmbeddedBackend() as env:
        sfn = env.client("stepfunctions")
        role = f"arn:aws:iam::{env.stack.account}:role/r"
        assert AmazonStateLanguageParser.parse(good) is AmazonStateLanguageParser.parse(good)
        arn = sfn.create_state_machine(name="good", roleArn=role, definition=good)["stateMachineArn"]
        ex = sfn.start_execution(stateMachineArn=arn, input='{"a": 1}')["executionArn"]
        assert env.run_until(lambda: sfn.describe_execution(executionArn=ex)["status"] == "SUCCEEDED", max_seconds=60)
        for name in ("bad1", "bad2"):
            with pytest.raises(ClientError) as refused:
                sfn.create_state_machine(name=name, roleArn=role, definition=bad)
            assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
            assert "ASLParserException" in refused.value.response["Error"]["Message"]


def test_a_jsonpath_is_parsed_once_per_process_and_a_bad_one_refused_every_time():
    """moto builds a PLY parser for every JSONPath it evaluates (~5 ms each); the parse is
    remembered per path for the process (a second backend, as every test process starts
    several, parses nothing again), and a path that does not parse fails each time."""
    from jsonpath_ng.ext import parser as jsonpath_parser
    from jsonpath_ng.exceptions import JsonPathParserError
    from moto.stepfunctions.parser.asl.utils import json_path

    from sim.engines.embedded.environment import EmbeddedBackend

    built = []
    original = jsonpath_parser.ExtendedJsonPathParser.parse

    def counted(self: Any, string: str, *args: Any, **kwargs: Any) -> Any:
        built.append(string)
        return original(self, string, *args, **kwargs)

    path = "$.remembered.per_process[0]"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(jsonpath_parser.ExtendedJsonPathParser, "parse", counted)
        for _ in range(2):
            with EmbeddedBackend():
                assert json_path.extract_json(path, {"remembered": {"per_process": [7]}}) == 7
                for _ in range(2):
                    with pytest.raises(JsonPathParserError):
                        json_path.extract_json("$.[unclosed", {})
    assert built.count(path) == 1
    assert built.count("$.[unclosed") == 4
