"""The execution history of a tenant's flow, read through boto3 on the in-process backend,
carries the simulated times the scenario trace records: the EventBridge delivery that
started it, each Lambda invocation's start and end, the Wait's length."""

from __future__ import annotations

from typing import Any

from sim.engines.embedded.environment import EmbeddedBackend

from .conftest import create, settle


def _at(event: dict[str, Any]) -> float:
    return float(event["timestamp"].timestamp())


def test_history_timestamps_are_the_times_the_trace_records(env: EmbeddedBackend) -> None:
    create(env, "acme")
    assert settle(env, "acme")["status"] == "ready"
    (started,) = [d for d in env.deliveries if d.outcome == "started"]
    sfn = env.client("stepfunctions")
    described = sfn.describe_execution(executionArn=started.detail)
    events = sfn.get_execution_history(executionArn=started.detail)["events"]
    flow = [i for i in env.invocations if i.function != env.stack.function_name("api")]

    # The delivery record (trace kind "delivery") is when the execution started.
    assert described["startDate"].timestamp() == _at(events[0]) == started.at
    # Each Task's scheduling and its result are its invocation's start and end (trace kind
    # "lambda": started, t), in order.
    scheduled = [_at(e) for e in events if e["type"] == "TaskScheduled"]
    done = [_at(e) for e in events if e["type"] in ("TaskSucceeded", "TaskFailed")]
    assert scheduled == [i.started for i in flow]
    assert done == [i.ended for i in flow]
    # Each Wait is exactly the configured interval.
    entered = [_at(e) for e in events if e["type"] == "WaitStateEntered"]
    exited = [_at(e) for e in events if e["type"] == "WaitStateExited"]
    assert entered and [b - a for a, b in zip(entered, exited, strict=True)] == [env.stack.wait_seconds] * len(entered)
    # The execution ends when Finalize returned.
    assert described["stopDate"].timestamp() == _at(events[-1]) == flow[-1].ended
