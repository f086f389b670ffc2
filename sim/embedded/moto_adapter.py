"""The one bounded adapter between moto and the embedded backend's own layers.

moto gives AWS API shapes, state and a real Amazon States Language interpreter. What
it lacks for this control plane (``aws-semantics.md`` section 3) is added here, by
patching exactly these seams of **moto 5.2.5** and nothing else:

=============================================  ==========================================
moto seam                                      replaced by
=============================================  ==========================================
``WaitFunction._wait_interval``                ``SimClock.sleep`` (Wait on simulated time)
``retrier_decl.time.sleep``                    ``SimClock.sleep`` (Retry intervals)
``ExecutionWorker.start``                      ``SimClock.spawn`` (one scheduler decides)
``Program.eval``                               runs the states on that managed thread
``execute_state.Thread``                       runs each Task inline on that thread too
``lambda_eval_utils.boto_client_for``          a cached client (no per-Task construction)
``ExecutionWorker._get_evaluation_entrypoint``  the parsed definition, cached per text
``json_path.parse``, ``result_path.parse``     cached JSONPath parsers
``LambdaSimpleBackend.invoke``                 the Lambda dispatcher (real handlers)
``events.models.Rule.send_to_targets``         the EventBridge delivery layer
=============================================  ==========================================

:func:`check_seams` fails loudly, naming the seam, if a moto upgrade moves any of them;
a unit test calls it, so an upgrade breaks a test rather than a simulation.
"""

from __future__ import annotations

import functools
import importlib
import threading
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

PINNED_MOTO = "5.2.5"

_SEAMS: dict[str, tuple[str, str]] = {
    "wait": ("moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function", "WaitFunction._wait_interval"),
    "retry": ("moto.stepfunctions.parser.asl.component.common.retry.retrier_decl", "time"),
    "worker": ("moto.stepfunctions.parser.backend.execution_worker", "ExecutionWorker.start"),
    "program": ("moto.stepfunctions.parser.asl.component.program.program", "Program.eval"),
    "task_thread": ("moto.stepfunctions.parser.asl.component.state.exec.execute_state", "Thread"),
    "entrypoint": ("moto.stepfunctions.parser.backend.execution_worker", "ExecutionWorker._get_evaluation_entrypoint"),
    "json_path": ("moto.stepfunctions.parser.asl.utils.json_path", "parse"),
    "result_path": ("moto.stepfunctions.parser.asl.component.common.path.result_path", "parse"),
    "lambda_client": ("moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils", "boto_client_for"),
    "lambda_invoke": ("moto.awslambda_simple.models", "LambdaSimpleBackend.invoke"),
    "rule_delivery": ("moto.events.models", "Rule.send_to_targets"),
}


class MotoSeamMissing(RuntimeError):
    """moto changed under the adapter: the named seam is gone."""


class Clock(Protocol):
    def sleep(self, seconds: float) -> None: ...
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


def check_seams() -> dict[str, Any]:
    """Resolve every seam; raise :class:`MotoSeamMissing` naming the first one missing."""
    import moto

    if moto.__version__ != PINNED_MOTO:
        raise MotoSeamMissing(f"moto {moto.__version__} installed; the adapter is written and tested for {PINNED_MOTO}")
    return {name: _resolve(*where) for name, where in _SEAMS.items()}


@dataclass
class _Layers:
    clock: Clock
    dispatcher: Dispatcher
    delivery: Delivery


_lock = threading.Lock()
_active: _Layers | None = None
_originals: list[tuple[Any, str, Any]] = []


class AdapterBusy(RuntimeError):
    """A second embedded backend in one process: moto's state is process-wide."""


def install(clock: Clock, dispatcher: Dispatcher, delivery: Delivery) -> None:
    """Patch the seams so that they call these layers. One embedded backend per process."""
    global _active
    with _lock:
        if _active is not None:
            raise AdapterBusy("an embedded backend is already running in this process; stop it first")
        seams = check_seams()
        from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
        _active = _Layers(clock, dispatcher, delivery)

        def patch(name: str, value: Any) -> None:
            owner, attr, original = seams[name]
            _originals.append((owner, attr, original))
            setattr(owner, attr, value)

        def wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
            if wait_seconds > 0:
                _layers().clock.sleep(wait_seconds)

        def worker_start(self: Any) -> None:
            name = self._evaluation_details.execution_details.name
            _layers().clock.spawn(self._execution_logic, name=f"sfn-{name}")

        def program_eval(self: Any, env: Any) -> None:
            # moto runs the states on a second thread and joins it with the definition's
            # TimeoutSeconds in real time; here they run on the managed thread itself.
            # (TimeoutSeconds is therefore not enforced; our definition sets none.)
            env.next_state_name = self.start_at.start_at_name
            EvalComponent.eval(self, env)

        def lambda_invoke(self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any) -> bytes:
            fn = self.get_function(function_name, qualifier)
            return _layers().dispatcher.invoke(fn, body, response_headers)

        def send_to_targets(self: Any, original_event: dict[str, Any], transform_input: bool = True) -> None:
            _layers().delivery.deliver(self, original_event)

        patch("wait", wait_interval)
        patch("retry", types.SimpleNamespace(sleep=lambda s: _layers().clock.sleep(s)))
        patch("worker", worker_start)
        patch("program", program_eval)
        patch("task_thread", InlineThread)
        patch("lambda_client", _cached_boto_client(seams["lambda_client"][2]))
        # Speed only: moto re-parses the ASL text (ANTLR) for every execution and builds a
        # JSONPath parser (PLY) for every path it evaluates; both results are immutable.
        parse_definition = functools.lru_cache(maxsize=64)(_parse_definition)
        patch("entrypoint", lambda self: parse_definition(self._evaluation_details.state_machine_details.definition))
        patch("json_path", functools.lru_cache(maxsize=1024)(seams["json_path"][2]))
        patch("result_path", functools.lru_cache(maxsize=1024)(seams["result_path"][2]))
        patch("lambda_invoke", lambda_invoke)
        patch("rule_delivery", send_to_targets)


def uninstall() -> None:
    global _active
    with _lock:
        while _originals:
            owner, attr, original = _originals.pop()
            setattr(owner, attr, original)
        _active = None


def _layers() -> _Layers:
    layers = _active
    if layers is None:
        raise RuntimeError("the embedded backend's moto adapter is not installed")
    return layers


def _parse_definition(definition: str) -> Any:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    return AmazonStateLanguageParser.parse(definition)[0]


class InlineThread:
    """Stands in for ``threading.Thread`` where moto runs a Task on a helper thread and
    waits for it with the state's TimeoutSeconds in real time: the Task runs on the
    calling (managed) thread, so a Task that sleeps parks on the simulated clock.
    Task TimeoutSeconds is therefore not enforced (documented in the README)."""

    def __init__(self, target: Callable[[], Any], daemon: bool = True, **_: Any) -> None:
        self._target = target

    def start(self) -> None:
        self._target()

    def is_alive(self) -> bool:
        return False

    def join(self, timeout: float | None = None) -> None:
        return None


def _cached_boto_client(original: Callable[..., Any]) -> Callable[..., Any]:
    # moto builds a boto3 client for every Task state (~20 ms each); one per service
    # and Region is enough: the client is stateless and thread-safe.
    @functools.lru_cache(maxsize=None)
    def cached(region: str, service: str) -> Any:
        return original(region, service)

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        return cached(region, service)

    return boto_client_for
