"""The moto adapter: its seams resolve on the pinned moto, a missing seam is named, one
installation per process, uninstall puts moto back exactly as it was."""

from __future__ import annotations

import importlib
import threading
import time as real_time
from types import SimpleNamespace
from typing import Any

import moto
import pytest

from sim.embedded import moto_adapter
from sim.embedded.moto_adapter import AdapterBusy, InlineThread, MotoSeamMissing, check_seams, install, uninstall


class FakeClock:
    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.spawned: list[tuple[str, Any]] = []

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
    return {name: getattr(owner, attr) for name, (owner, attr, _) in check_seams().items()}


@pytest.fixture(autouse=True)
def _no_adapter_leaks():
    assert moto_adapter._active is None, "an adapter was left installed by an earlier test"
    yield
    uninstall()
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
        module, dotted = moto_adapter._SEAMS[name]
        assert attr == dotted.rsplit(".", 1)[-1]
        assert getattr(owner, attr) is original, name
        assert original is not None, name
        if "." in dotted:  # a class attribute: defined on that class itself, not inherited
            assert attr in vars(owner), f"{name}: {dotted} is inherited, patching it would shadow the parent"
        else:
            assert owner is importlib.import_module(module)


@pytest.mark.parametrize("name", sorted(moto_adapter._SEAMS))
def test_a_missing_seam_is_named(monkeypatch, name):
    owner, attr, _ = check_seams()[name]
    module, dotted = moto_adapter._SEAMS[name]
    # Gone for real: an override removed from the class alone would still resolve to
    # the inherited method (Program.eval -> EvalComponent.eval, LambdaSimpleBackend.invoke
    # -> LambdaBackend.invoke), so take it off every class that defines it.
    for holder in owner.__mro__ if isinstance(owner, type) else (owner,):
        if attr in vars(holder):
            monkeypatch.delattr(holder, attr)
    with pytest.raises(MotoSeamMissing) as info:
        check_seams()
    assert f"{module}.{dotted}" in str(info.value)
    assert moto_adapter.PINNED_MOTO in str(info.value)


def test_a_missing_class_is_named(monkeypatch):
    module = importlib.import_module("moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function")
    monkeypatch.delattr(module, "WaitFunction")
    with pytest.raises(MotoSeamMissing, match=r"WaitFunction\._wait_interval: WaitFunction is gone"):
        check_seams()


def test_a_missing_module_is_named(monkeypatch):
    monkeypatch.setitem(moto_adapter._SEAMS, "wait", ("moto.stepfunctions.no_such_module", "WaitFunction._wait_interval"))
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
    assert moto_adapter._originals == []
    monkeypatch.undo()
    after = _current_values()
    for name in before:
        assert after[name] is before[name], name


# ------------------------------------------------------------ install / uninstall
def test_install_twice_is_refused(layers):
    install(layers.clock, layers.dispatcher, layers.delivery)
    patched = _current_values()
    with pytest.raises(AdapterBusy):
        install(FakeClock(), FakeDispatcher(), FakeDelivery())
    # The refused second install changed nothing and did not replace the first layers.
    assert _current_values() == patched
    assert moto_adapter._layers().clock is layers.clock


def test_uninstall_restores_every_original(layers):
    before = _current_values()
    install(layers.clock, layers.dispatcher, layers.delivery)
    during = _current_values()
    for name in before:
        assert during[name] is not before[name], f"{name} was not patched"
    uninstall()
    after = _current_values()
    for name in before:
        assert after[name] is before[name], f"{name} was not restored"
    uninstall()  # idempotent
    assert _current_values() == before
    # And it can be installed again.
    install(layers.clock, layers.dispatcher, layers.delivery)
    uninstall()
    assert _current_values() == before


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
    install(layers.clock, layers.dispatcher, layers.delivery)

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

    # Tasks run inline.
    assert execute_state.Thread is InlineThread

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

    uninstall()
    assert lambda_eval_utils.boto_client_for is fake_client_for


# ------------------------------------------------------------------- InlineThread
def test_inline_thread_runs_the_target_on_the_calling_thread():
    ran: list[int] = []
    t = InlineThread(target=lambda: ran.append(threading.get_ident()), daemon=True, name="ignored")
    assert ran == []  # nothing runs before start()
    t.start()
    assert ran == [threading.get_ident()]  # ran synchronously, on this thread
    assert t.is_alive() is False
    assert t.join(timeout=0.001) is None
    assert ran == [threading.get_ident()]  # join does not run it again
