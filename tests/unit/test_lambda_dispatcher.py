"""The Lambda dispatcher: real handlers in-process, answering as the Invoke API does.

Function errors follow the Python runtime
(https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html): the payload is
``{"errorMessage", "errorType", "requestId", "stackTrace"}`` and the Invoke response
carries ``X-Amz-Function-Error: Unhandled``. A throttle is the Invoke API's own HTTP 429
``TooManyRequestsException``.
"""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from moto.core.exceptions import JsonRESTError

from sim.controlplane import handlers
from sim.engines.embedded.faults import Faults, LambdaFault, LambdaFaultKind
from sim.engines.embedded.lambdas import Invocation, LambdaDispatcher, TooManyRequestsException

START = 1_000.0


# ----------------------------------------------------------- handlers under test
# Resolved by dotted path through this module's own name, so they are the functions
# defined here whatever import mode pytest uses. They keep no module state: what they
# see is reported through their return value or the platform they are given.
class TenantNotFound(Exception):
    pass


def echo_handler(event: Any, context: Any) -> Any:
    return {"event": event, "request_id": context.aws_request_id, "function_name": context.function_name}


def failing_handler(event: Any, context: Any) -> Any:
    raise TenantNotFound(f"no tenant {event.get('code')!r}")


def platform_handler(event: Any, context: Any) -> Any:
    platform = handlers._current()
    platform.seen.append(context)
    return {"environ": dict(platform.environ)}


def failing_platform_handler(event: Any, context: Any) -> Any:
    handlers._current().seen.append(context)
    raise RuntimeError("after looking at the platform")


def slow_handler(event: Any, context: Any) -> Any:
    platform = handlers._current()
    before = context.get_remaining_time_in_millis()
    platform.sleep(event["sleep"])
    return [before, context.get_remaining_time_in_millis()]


# ------------------------------------------------------------------------ fakes
class FakeNow:
    def __init__(self, t: float = START) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakePlatform:
    def __init__(self, environ: dict[str, str], now: FakeNow) -> None:
        self.environ = environ
        self.seen: list[Any] = []
        self._now = now

    def client(self, service: str) -> Any:
        raise AssertionError("not used")

    def tfc_transport(self) -> Any:
        return None

    def sleep(self, seconds: float) -> None:
        self._now.t += seconds

    def now(self) -> float:
        return self._now.t


def function(handler: str, name: str = "tenant-sim-echo", timeout: int = 30, env: dict[str, str] | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        function_name=name,
        function_arn=f"arn:aws:lambda:eu-west-1:123456789012:function:{name}",
        handler=f"{__name__}.{handler}",
        timeout=timeout,
        memory_size=256,
        environment_vars=env if env is not None else {"TABLE": "tenants", "STAGE": "test"},
    )


class Rig:
    def __init__(self, *faults: LambdaFault) -> None:
        self.now = FakeNow()
        self.faults = Faults(lambdas=list(faults))
        self.platforms: list[FakePlatform] = []
        self.invocations: list[Invocation] = []
        self.dispatcher = LambdaDispatcher(self._platform_for, self.now, self.faults, self.invocations.append)

    def _platform_for(self, env: dict[str, str]) -> FakePlatform:
        p = FakePlatform(env, self.now)
        self.platforms.append(p)
        return p

    def invoke(self, fn: SimpleNamespace, body: Any = b"{}") -> tuple[Any, dict[str, str]]:
        headers: dict[str, str] = {}
        raw = self.dispatcher.invoke(fn, body, headers)
        assert isinstance(raw, bytes)
        return json.loads(raw), headers


# ------------------------------------------------------------------ return value
def test_return_value_is_json_encoded_and_no_error_header_is_set():
    rig = Rig()
    fn = function("echo_handler")
    headers: dict[str, str] = {}
    raw = rig.dispatcher.invoke(fn, json.dumps({"code": "acme", "n": [1, 2]}).encode(), headers)
    payload = json.loads(raw)
    assert payload["event"] == {"code": "acme", "n": [1, 2]}
    assert payload["function_name"] == "tenant-sim-echo"
    assert headers == {}
    assert rig.invocations[-1].error_type is None and rig.invocations[-1].throttled is False


@pytest.mark.parametrize("body", [b'{"a": 1}', '{"a": 1}'])
def test_body_may_be_bytes_or_text(body):
    payload, _ = Rig().invoke(function("echo_handler"), body)
    assert payload["event"] == {"a": 1}


@pytest.mark.parametrize("body", [None, b"", "", b"  "])
def test_an_empty_body_is_an_empty_event(body):
    payload, _ = Rig().invoke(function("echo_handler"), body)
    assert payload["event"] == {}


def test_each_invocation_gets_its_own_request_id():
    rig = Rig()
    ids = [rig.invoke(function("echo_handler"))[0]["request_id"] for _ in range(3)]
    assert len(set(ids)) == 3
    for rid in ids:
        uuid.UUID(rid)
    assert [inv.request_id for inv in rig.invocations] == ids
    assert [inv.number for inv in rig.invocations] == [1, 2, 3]


# ---------------------------------------------------------------------- errors
def test_handler_exception_becomes_an_unhandled_function_error():
    rig = Rig()
    payload, headers = rig.invoke(function("failing_handler"), b'{"code": "ghost"}')
    assert headers == {"x-amz-function-error": "Unhandled"}
    assert set(payload) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert payload["errorType"] == "TenantNotFound"  # the class name, as the Python runtime reports
    assert payload["errorMessage"] == "no tenant 'ghost'"
    assert payload["requestId"] == rig.invocations[-1].request_id
    assert isinstance(payload["stackTrace"], list) and payload["stackTrace"]
    assert all(isinstance(line, str) for line in payload["stackTrace"])
    assert "failing_handler" in payload["stackTrace"][-1]  # innermost frame last
    assert rig.invocations[-1].error_type == "TenantNotFound"
    assert rig.invocations[-1].throttled is False


def test_injected_error_fault_is_a_function_error_with_the_chosen_type():
    rig = Rig(LambdaFault("tenant-sim-echo", LambdaFaultKind.ERROR, error_type="TFCUnavailable", message="tfc down"))
    fn = function("platform_handler")
    payload, headers = rig.invoke(fn)
    assert headers == {"x-amz-function-error": "Unhandled"}
    assert payload["errorType"] == "TFCUnavailable"
    assert payload["errorMessage"] == "tfc down"
    assert rig.platforms == []  # the handler never ran
    payload, headers = rig.invoke(fn)  # times=1: the next call is clean
    assert headers == {} and "environ" in payload


# -------------------------------------------------------------------- throttles
def _throttled(rig: Rig, fn: SimpleNamespace) -> bool:
    headers: dict[str, str] = {}
    try:
        rig.dispatcher.invoke(fn, b"{}", headers)
    except TooManyRequestsException as exc:
        assert isinstance(exc, JsonRESTError)
        assert exc.code == 429
        assert exc.error_type == "TooManyRequestsException"
        assert json.loads(exc.description)["__type"] == "TooManyRequestsException"
        assert headers == {}
        return True
    return False


def test_throttle_fault_raises_429_for_exactly_times_invocations_then_the_handler_runs():
    rig = Rig(LambdaFault("echo", LambdaFaultKind.THROTTLE, times=2))  # short name matches tenant-sim-echo
    fn = function("platform_handler")
    assert [_throttled(rig, fn) for _ in range(4)] == [True, True, False, False]
    assert sum(len(p.seen) for p in rig.platforms) == 2  # the handler ran only for the 3rd and 4th calls
    assert [(i.number, i.throttled) for i in rig.invocations] == [(1, True), (2, True), (3, False), (4, False)]


def test_throttle_on_chosen_invocations_only_hits_those():
    rig = Rig(LambdaFault("tenant-sim-echo", LambdaFaultKind.THROTTLE, on_invocations=frozenset({2})))
    fn = function("echo_handler")
    assert [_throttled(rig, fn) for _ in range(4)] == [False, True, False, False]


def test_throttle_for_another_function_does_not_apply():
    rig = Rig(LambdaFault("tenant-sim-other", LambdaFaultKind.THROTTLE, times=5))
    assert _throttled(rig, function("echo_handler")) is False


# ---------------------------------------------------------------------- context
def test_context_attributes_and_remaining_time_on_the_given_clock():
    rig = Rig()
    fn = function("platform_handler", name="tenant-sim-api", timeout=30)
    rig.invoke(fn)
    (context,) = rig.platforms[0].seen
    assert context.function_name == "tenant-sim-api"
    assert context.invoked_function_arn == fn.function_arn
    assert context.memory_limit_in_mb == 256
    assert context.aws_request_id == rig.invocations[-1].request_id
    assert context.log_group_name == "/aws/lambda/tenant-sim-api"
    assert context.get_remaining_time_in_millis() == 30_000
    rig.now.t = START + 12.25
    assert context.get_remaining_time_in_millis() == 17_750
    rig.now.t = START + 31
    assert context.get_remaining_time_in_millis() == 0  # never negative


def test_remaining_time_counts_down_while_the_handler_runs():
    rig = Rig()
    payload, headers = rig.invoke(function("slow_handler", timeout=60), b'{"sleep": 10}')
    assert headers == {}
    assert payload == [60_000, 50_000]
    assert (rig.invocations[-1].started, rig.invocations[-1].ended) == (START, START + 10)


# --------------------------------------------------------------------- platform
def test_the_handler_sees_the_platform_built_for_its_environment():
    rig = Rig()
    env = {"TABLE": "tenants-x", "TFC_ORG": "acme"}
    fn = function("platform_handler", env=env)
    payload, _ = rig.invoke(fn)
    (platform,) = rig.platforms
    # The function's environment, plus what the Lambda runtime sets (the function's name,
    # which the metrics' Function dimension reads).
    runtime_env = env | {"AWS_LAMBDA_FUNCTION_NAME": "tenant-sim-echo"}
    assert platform.environ == runtime_env
    assert platform.environ is not fn.environment_vars  # a copy: the handler cannot edit moto's function
    assert len(platform.seen) == 1  # handlers._current() inside the handler was this platform
    assert payload == {"environ": runtime_env}
    # Outside the invocation the default platform is back.
    assert handlers._current() is handlers._default


def test_the_platform_is_reset_after_a_handler_error():
    rig = Rig()
    _, headers = rig.invoke(function("failing_platform_handler"))
    assert headers == {"x-amz-function-error": "Unhandled"}
    (platform,) = rig.platforms
    assert len(platform.seen) == 1  # the failing handler did see the platform
    assert handlers._current() is handlers._default


def test_a_warm_container_per_function_and_configuration():
    # One platform per (function, environment), as a warm Lambda container: what a
    # handler caches at cold start survives between its invocations.
    rig = Rig()
    rig.invoke(function("platform_handler", name="tenant-sim-api"))
    rig.invoke(function("platform_handler", name="tenant-sim-api"))
    assert len(rig.platforms) == 1 and len(rig.platforms[0].seen) == 2
    rig.invoke(function("platform_handler", name="tenant-sim-steps"))  # another function
    rig.invoke(function("platform_handler", name="tenant-sim-api", env={"TABLE": "other"}))  # reconfigured
    assert len(rig.platforms) == 3
    assert [p.environ for p in rig.platforms[1:]] == [
        {"TABLE": "tenants", "STAGE": "test", "AWS_LAMBDA_FUNCTION_NAME": "tenant-sim-steps"},
        {"TABLE": "other", "AWS_LAMBDA_FUNCTION_NAME": "tenant-sim-api"},
    ]
    assert [len(p.seen) for p in rig.platforms] == [2, 1, 1]
    # Each handler saw its own function's platform.
    assert [c.function_name for p in rig.platforms for c in p.seen] == [
        "tenant-sim-api", "tenant-sim-api", "tenant-sim-steps", "tenant-sim-api"
    ]


def test_an_outer_platform_is_restored_after_the_invocation():
    rig = Rig()
    outer = FakePlatform({"OUTER": "1"}, rig.now)
    with handlers.use_platform(outer):
        rig.invoke(function("platform_handler"))
        assert handlers._current() is outer
    assert outer.seen == []
    assert len(rig.platforms[0].seen) == 1
