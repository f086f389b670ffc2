"""The Lambda dispatcher: runs the real handlers in-process, on the invoking thread,
with a Lambda-like context, and answers the way the Invoke API does.

* A handler's exception becomes a function error: the ``X-Amz-Function-Error: Unhandled``
  header and an ``{"errorMessage", "errorType", "requestId", "stackTrace"}`` payload
  (what the Python runtime returns), so Step Functions reports ``errorType`` as the
  error name.
* An injected throttle is the Invoke API's own 429 ``TooManyRequestsException``, which
  Step Functions' ``lambda:invoke`` reports as ``Lambda.TooManyRequestsException``.
* The function's timeout holds on the simulated clock: a handler that sleeps past it is
  cut off exactly at the deadline and the Invoke answers what Lambda answers for a
  timeout, a function error ``{"errorType": "Sandbox.Timedout", "errorMessage":
  "RequestId: <id> Error: Task timed out after N.00 seconds"}``, which Step Functions
  reports as the error ``Sandbox.Timedout``.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import threading
import traceback
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from moto.core.exceptions import JsonRESTError

from sim.controlplane.handlers import Platform, use_platform

from .clock import DeadlineExceeded
from .faults import Faults, LambdaFaultKind

#: The errorType Lambda answers for an invocation that ran out of time.
TIMED_OUT = "Sandbox.Timedout"

log = logging.getLogger(__name__)


class TooManyRequestsException(JsonRESTError):
    code = 429

    def __init__(self, function_name: str) -> None:
        super().__init__("TooManyRequestsException", f"Rate Exceeded. (function {function_name}, injected)")


@dataclass
class LambdaContext:
    """The attributes and method of the Python runtime's context object."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    _deadline: float
    _now: Callable[[], float]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._now()) * 1000))


@dataclass(frozen=True)
class Invocation:
    """What the dispatcher tells its observer about each call (for traces and tests)."""

    function: str
    request_id: str
    number: int
    started: float
    ended: float
    error_type: str | None
    throttled: bool
    event: Any = None
    result: Any = None


class LambdaDispatcher:
    def __init__(
        self,
        platform_for: Callable[[dict[str, str]], Platform],
        now: Callable[[], float],
        faults: Faults,
        on_invocation: Callable[[Invocation], None] | None = None,
        deadline: Callable[[float], AbstractContextManager[object]] | None = None,
    ) -> None:
        self._platform_for = platform_for
        self._deadline = deadline or _no_deadline
        self._now = now
        self._faults = faults
        self._on_invocation = on_invocation
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._containers: dict[tuple[str, tuple[tuple[str, str], ...]], Platform] = {}
        self._ids = 0
        self._lock = threading.Lock()

    def resolve(self, handler: str) -> Callable[..., Any]:
        """The function a ``module.attr`` handler string names (imported once)."""
        fn = self._handlers.get(handler)
        if fn is None:
            module, _, attr = handler.rpartition(".")
            fn = getattr(importlib.import_module(module), attr)
            self._handlers[handler] = fn
        return fn

    def _container(self, name: str, environ: dict[str, str]) -> Platform:
        """One warm "container" per function and configuration: what the handler caches
        at cold start survives between invocations, as on Lambda."""
        key = (name, tuple(sorted(environ.items())))
        platform = self._containers.get(key)
        if platform is None:
            # The runtime sets AWS_LAMBDA_FUNCTION_NAME (the metrics' Function dimension).
            platform = self._containers[key] = self._platform_for(dict(environ) | {"AWS_LAMBDA_FUNCTION_NAME": name})
        return platform

    def warm_container(self, name: str) -> Platform | None:
        """Function ``name``'s warm container, once it has been invoked (what a benchmark
        calls the handler with directly, to compare with a Task state)."""
        return next((p for (function, _), p in self._containers.items() if function == name), None)

    def _request_id(self) -> str:
        with self._lock:
            self._ids += 1
            return str(uuid.UUID(int=self._ids, version=4))

    def invoke(self, function: Any, body: bytes | str | None, response_headers: dict[str, str]) -> bytes:
        name = function.function_name
        number, fault = self._faults.lambda_fault(name)
        request_id = self._request_id()
        started = self._now()
        if fault is not None and fault.kind is LambdaFaultKind.THROTTLE:
            self._report(Invocation(name, request_id, number, started, started, None, True, None, None))
            raise TooManyRequestsException(name)
        raw = body.decode() if isinstance(body, bytes) else (body or "")
        event = json.loads(raw) if raw.strip() else {}
        context = LambdaContext(
            function_name=name,
            function_version="$LATEST",
            invoked_function_arn=function.function_arn,
            memory_limit_in_mb=int(function.memory_size),
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{name}",
            log_stream_name=f"embedded/{request_id}",
            _deadline=started + float(function.timeout),
            _now=self._now,
        )
        error_type: str | None = None
        result: Any = None
        try:
            if fault is not None:
                raise _InjectedError(fault.error_type, fault.message)
            handler = self.resolve(function.handler)
            with self._deadline(context._deadline) as token:
                try:
                    with use_platform(self._container(name, function.environment_vars)):
                        result = handler(event, context)
                except DeadlineExceeded as exc:
                    if exc.token is not token:
                        raise
                    raise _TimedOut(request_id, float(function.timeout)) from None
            payload = json.dumps(result).encode()
        except _TimedOut as exc:
            error_type = TIMED_OUT
            log.info("lambda %s (%s) timed out after %s s", name, request_id, function.timeout)
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = json.dumps({"errorType": TIMED_OUT, "errorMessage": str(exc)}).encode()
        except Exception as exc:
            error_type = exc.error_type if isinstance(exc, _InjectedError) else type(exc).__name__
            log.info("lambda %s (%s) raised %s: %s", name, request_id, error_type, exc)
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = json.dumps(
                {
                    "errorMessage": str(exc),
                    "errorType": error_type,
                    "requestId": request_id,
                    "stackTrace": traceback.format_tb(exc.__traceback__)[-5:],
                }
            ).encode()
        self._report(Invocation(name, request_id, number, started, self._now(), error_type, False, event, result))
        return payload

    def _report(self, inv: Invocation) -> None:
        if self._on_invocation is not None:
            self._on_invocation(inv)


@contextlib.contextmanager
def _no_deadline(at: float) -> Any:
    yield None


class _TimedOut(Exception):
    def __init__(self, request_id: str, timeout: float) -> None:
        super().__init__(f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds")


class _InjectedError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
