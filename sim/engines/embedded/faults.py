"""Faults the embedded backend injects on demand: Lambda throttles and errors on a given
function and invocation, StartExecution refused for a state machine, and the control
plane's own AWS calls refused or their answers lost. Each rule fires for the next
``times`` matching calls (or on chosen invocation numbers)."""

from __future__ import annotations

import fnmatch
import threading
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum


class LambdaFaultKind(str, Enum):
    THROTTLE = "throttle"  # the Invoke API answers 429 TooManyRequestsException
    ERROR = "error"  # the handler "raises": an Unhandled function error with this errorType


@dataclass
class LambdaFault:
    function: str  # short name, full name or glob ("*trigger")
    kind: LambdaFaultKind
    times: int = 1
    on_invocations: frozenset[int] | None = None  # 1-based numbers of this function's invocations
    error_type: str = "InjectedError"
    message: str = "injected by tenant-sim"
    fired: int = 0

    def matches(self, function_name: str, invocation: int) -> bool:
        if not (fnmatch.fnmatchcase(function_name, self.function) or function_name.endswith(f"-{self.function}")):
            return False
        if self.on_invocations is not None:
            return invocation in self.on_invocations
        return self.fired < self.times


@dataclass
class StartExecutionFault:
    state_machine: str  # name or glob
    error_code: str = "ExecutionLimitExceeded"
    message: str = "injected by tenant-sim"
    times: int = 1  # -1: every call
    fired: int = 0

    def matches(self, state_machine_name: str) -> bool:
        return fnmatch.fnmatchcase(state_machine_name, self.state_machine) and (self.times < 0 or self.fired < self.times)


class AwsFaultEffect(str, Enum):
    #: The call takes effect and its answer is lost: the caller sees no answer (a read
    #: timeout), as when a connection drops after the request was processed.
    LOST = "lost"
    #: The call is refused before it takes effect: HTTP 503 ``ServiceUnavailable``.
    REFUSED = "refused"


@dataclass
class AwsCallFault:
    """A fault on an AWS call a control-plane function makes (not the simulator's own)."""

    service: str  # botocore's service name: dynamodb, events, sns, secretsmanager, stepfunctions, sqs; or a glob
    operation: str = "*"  # the API operation (PutEvents, PutItem, GetItem ...), or a glob
    effect: AwsFaultEffect = AwsFaultEffect.LOST
    times: int = 1  # -1: every call
    #: Simulated seconds the call takes before it answers (or its answer is lost).
    latency: float = 0.0
    fired: int = 0

    def matches(self, service: str, operation: str) -> bool:
        return (
            fnmatch.fnmatchcase(service, self.service)
            and fnmatch.fnmatchcase(operation, self.operation)
            and (self.times < 0 or self.fired < self.times)
        )


@dataclass
class Faults:
    lambdas: list[LambdaFault] = field(default_factory=list)
    start_execution: list[StartExecutionFault] = field(default_factory=list)
    aws_calls: list[AwsCallFault] = field(default_factory=list)
    invocations: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def clear(self) -> None:
        with self._lock:
            self.lambdas.clear()
            self.start_execution.clear()
            self.aws_calls.clear()

    def aws_call_fault(self, service: str, operation: str) -> AwsCallFault | None:
        """The fault to apply to this control-plane AWS call, if any (counted as fired)."""
        with self._lock:
            for fault in self.aws_calls:
                if fault.matches(service, operation):
                    fault.fired += 1
                    return fault
            return None

    def lambda_fault(self, function_name: str) -> tuple[int, LambdaFault | None]:
        """Count this invocation and return the fault to apply to it, if any."""
        with self._lock:
            self.invocations[function_name] += 1
            n = self.invocations[function_name]
            for fault in self.lambdas:
                if fault.matches(function_name, n):
                    fault.fired += 1
                    return n, fault
            return n, None

    def start_execution_fault(self, state_machine_name: str) -> StartExecutionFault | None:
        with self._lock:
            for fault in self.start_execution:
                if fault.matches(state_machine_name):
                    fault.fired += 1
                    return fault
            return None
