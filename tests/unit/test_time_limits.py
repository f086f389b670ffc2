"""Time limits kept on the simulated clock, as AWS keeps them: a Lambda's timeout, a Task's
and a state machine's TimeoutSeconds, the year an execution may run, the longest Wait; and
the dates the APIs show (execution start and stop, every history event, SQS attributes,
an event's time) read from the simulated clock. Nothing here sleeps: each test drives
the clock."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from sim.controlplane import handlers
from sim.engines.embedded.environment import EmbeddedBackend, EmbeddedConfig
from sim.engines.embedded.moto_adapter import MAX_EXECUTION_SECONDS, MAX_WAIT_SECONDS

LAMBDA_TIMEOUT_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html"
TASK_DOC = "https://docs.aws.amazon.com/step-functions/latest/dg/state-task.html"
ERRORS_DOC = "https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html"
STRUCTURE_DOC = "https://docs.aws.amazon.com/step-functions/latest/dg/statemachine-structure.html"
QUOTAS_DOC = "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html"
SQS_VISIBILITY_DOC = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html"
SQS_RETENTION_DOC = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html"
PUT_EVENTS_API = "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsRequestEntry.html"

FUNCTION_TIMEOUT = 10


def sleepy_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Sleeps on the simulated clock (as the control plane's TFC client does between retries)."""
    handlers._current().sleep(event["sleep"])
    if event.get("fail"):
        raise RuntimeError("failed after its nap")
    return {"slept": event["sleep"], "left_ms": context.get_remaining_time_in_millis()}


@pytest.fixture(scope="module")
def env() -> Iterator[EmbeddedBackend]:
    with EmbeddedBackend(EmbeddedConfig(stall_seconds=30)) as backend:
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as z:
            z.writestr("placeholder.py", "")
        backend.client("lambda").create_function(
            FunctionName="sleepy",
            Runtime="python3.12",
            Role=backend.stack.role_arn(backend.stack.lambda_role),
            Handler=f"{__name__}.sleepy_handler",
            Code={"ZipFile": code.getvalue()},
            Timeout=FUNCTION_TIMEOUT,
        )
        yield backend


def _task(env: EmbeddedBackend, **fields: Any) -> dict[str, Any]:
    arn = env.client("lambda").get_function(FunctionName="sleepy")["Configuration"]["FunctionArn"]
    return {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": arn, "Payload.$": "$"}, **fields}


class Run:
    """One execution, driven to its end on the simulated clock."""

    _n = 0

    def __init__(self, env: EmbeddedBackend, definition: dict[str, Any], payload: Any, *, max_seconds: float = 3600, poll: bool = True) -> None:
        Run._n += 1
        sfn = env.client("stepfunctions")
        name = f"limits-{Run._n}"
        arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=env.stack.role_arn(env.stack.states_role))[
            "stateMachineArn"
        ]
        self.started = env.clock.now()
        self.first_invocation = len(env.invocations)
        self.arn = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(payload))["executionArn"]
        if poll:
            env.run_until(lambda: sfn.describe_execution(executionArn=self.arn)["status"] != "RUNNING", max_seconds=max_seconds)
        else:  # a long run: asking after every timer that fires costs more than the run
            env.advance(max_seconds)
        self.ended = env.clock.now()
        self.described = sfn.describe_execution(executionArn=self.arn)
        self.history = sfn.get_execution_history(executionArn=self.arn)["events"]
        self.env = env

    def types(self) -> list[str]:
        return [e["type"] for e in self.history]

    def event(self, kind: str) -> dict[str, Any]:
        return next(e for e in self.history if e["type"] == kind)

    def at(self, kind: str) -> float:
        """Seconds after the start at which the history records ``kind``."""
        return self.event(kind)["timestamp"].timestamp() - self.started

    def invocations(self) -> list[Any]:
        return [i for i in self.env.invocations[self.first_invocation :] if i.function == "sleepy"]


# ---------------------------------------------------------------------------- Lambda


def test_a_lambda_that_outlives_its_timeout_ends_at_the_deadline_as_sandbox_timedout(env: EmbeddedBackend) -> None:
    """LAMBDA_TIMEOUT_DOC: Lambda stops the function at its timeout. The Invoke answers a
    function error {"errorType": "Sandbox.Timedout", "errorMessage": "RequestId: <id> Error:
    Task timed out after 10.00 seconds"}, which a lambda:invoke Task reports as the error
    Sandbox.Timedout (ERRORS_DOC; States.TaskFailed and States.ALL match it)."""
    run = Run(env, {"StartAt": "T", "States": {"T": _task(env, End=True)}}, {"sleep": 25})
    (invocation,) = run.invocations()
    assert invocation.error_type == "Sandbox.Timedout"
    assert invocation.ended - invocation.started == FUNCTION_TIMEOUT  # exactly at the deadline
    failed = run.event("TaskFailed")["taskFailedEventDetails"]
    assert failed["error"] == "Sandbox.Timedout"
    assert json.loads(failed["cause"]) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {invocation.request_id} Error: Task timed out after 10.00 seconds",
    }
    assert run.described["status"] == "FAILED" and run.described["error"] == "Sandbox.Timedout"
    assert run.at("TaskFailed") == FUNCTION_TIMEOUT


def test_a_lambda_within_its_timeout_sees_its_remaining_time_on_the_simulated_clock(env: EmbeddedBackend) -> None:
    run = Run(env, {"StartAt": "T", "States": {"T": _task(env, End=True)}}, {"sleep": 4})
    assert run.described["status"] == "SUCCEEDED"
    assert json.loads(run.described["output"])["Payload"] == {"slept": 4, "left_ms": (FUNCTION_TIMEOUT - 4) * 1000}


# ------------------------------------------------------------------------------ Task


def test_a_task_past_its_timeout_seconds_fails_states_timeout_and_the_lambda_runs_on(env: EmbeddedBackend) -> None:
    """TASK_DOC, TimeoutSeconds: "If the task runs longer than the specified seconds, this
    state fails with a States.Timeout error". Step Functions stops waiting; the Lambda it
    invoked is not stopped (it finishes at +5 s, and nothing it returns reaches the history)."""
    run = Run(env, {"StartAt": "T", "States": {"T": _task(env, TimeoutSeconds=3, End=True)}}, {"sleep": 5})
    assert run.types() == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskTimedOut", "ExecutionFailed"]
    assert run.event("TaskTimedOut")["taskTimedOutEventDetails"]["error"] == "States.Timeout"
    assert run.at("TaskTimedOut") == 3
    assert run.described["error"] == "States.Timeout"
    env.advance(10)
    (invocation,) = run.invocations()
    assert (invocation.ended - invocation.started, invocation.error_type) == (5, None)
    assert "TaskSucceeded" not in [e["type"] for e in env.client("stepfunctions").get_execution_history(executionArn=run.arn)["events"]]


def test_a_lambda_that_fails_after_its_task_timed_out_changes_nothing(env: EmbeddedBackend) -> None:
    """The late failure is the Lambda's own (its invocation records it); Step Functions has
    stopped listening, so the execution's outcome and history stay as they were."""
    run = Run(env, {"StartAt": "T", "States": {"T": _task(env, TimeoutSeconds=2, End=True)}}, {"sleep": 5, "fail": True})
    env.advance(10)  # the clock runs on past the Lambda's failure without raising it
    (invocation,) = run.invocations()
    assert invocation.error_type == "RuntimeError"
    history = env.client("stepfunctions").get_execution_history(executionArn=run.arn)["events"]
    assert [e["type"] for e in history][-2:] == ["TaskTimedOut", "ExecutionFailed"]


def test_states_all_catches_a_task_timeout_and_states_task_failed_does_not(env: EmbeddedBackend) -> None:
    """ERRORS_DOC: "States.TaskFailed: A wildcard that matches any known error name except for
    States.Timeout"; States.ALL matches it."""
    fallback = {"Type": "Pass", "End": True}
    caught = Run(
        env,
        {"StartAt": "T", "States": {"T": _task(env, TimeoutSeconds=2, End=True, Catch=[{"ErrorEquals": ["States.ALL"], "Next": "F"}]), "F": fallback}},
        {"sleep": 5},
    )
    assert caught.described["status"] == "SUCCEEDED"
    missed = Run(
        env,
        {"StartAt": "T", "States": {"T": _task(env, TimeoutSeconds=2, End=True, Catch=[{"ErrorEquals": ["States.TaskFailed"], "Next": "F"}]), "F": fallback}},
        {"sleep": 5},
    )
    assert (missed.described["status"], missed.described["error"]) == ("FAILED", "States.Timeout")


# ------------------------------------------------------------------------- execution


def test_a_state_machine_past_its_timeout_seconds_times_out(env: EmbeddedBackend) -> None:
    """STRUCTURE_DOC, TimeoutSeconds: "The maximum number of seconds an execution of the state
    machine can run. If it runs longer than the specified time, the execution fails with a
    States.Timeout Error name" (status TIMED_OUT, an ExecutionTimedOut event)."""
    run = Run(env, {"StartAt": "T", "TimeoutSeconds": 4, "States": {"T": _task(env, End=True)}}, {"sleep": 6})
    assert run.described["status"] == "TIMED_OUT"
    assert run.types()[-1] == "ExecutionTimedOut"
    assert run.event("ExecutionTimedOut")["executionTimedOutEventDetails"] == {"error": "States.Timeout"}
    assert run.at("ExecutionTimedOut") == 4
    env.advance(10)  # the Task's Lambda finishes later; the history stays closed
    assert env.client("stepfunctions").get_execution_history(executionArn=run.arn)["events"] == run.history


def test_an_execution_runs_at_most_a_year(env: EmbeddedBackend) -> None:
    """QUOTAS_DOC: "Maximum execution time: 1 year. If an execution runs for more than the
    1-year maximum, it will fail with a States.Timeout error". A two-year Wait is valid (below
    the longest delay) but the execution times out at one year."""
    two_years = 2 * 365 * 86400
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.s", "End": True}}}
    events = env.client("events")
    # The stack's daily and six-hourly schedules would run a year of Lambdas: off meanwhile.
    rules = [env.stack.decommission_rule, env.stack.reconcile_rule]
    for rule in rules:
        events.disable_rule(Name=rule)
    try:
        run = Run(env, definition, {"s": two_years}, max_seconds=MAX_EXECUTION_SECONDS + 60, poll=False)
    finally:
        for rule in rules:
            events.enable_rule(Name=rule)
    assert run.described["status"] == "TIMED_OUT"
    assert run.at("ExecutionTimedOut") == MAX_EXECUTION_SECONDS


def test_a_wait_longer_than_aws_takes_fails_at_once(env: EmbeddedBackend) -> None:
    """Recorded on AWS (sfn_wait.json, test_timestamp_too_far_in_future_boundary): a delay of
    24,856 days fails at once, States.Runtime "Wait state delay is too long"; 24,855 days is
    taken. The same limit holds for SecondsPath."""
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.s", "End": True}}}
    run = Run(env, definition, {"s": MAX_WAIT_SECONDS + 1})
    assert run.types() == ["ExecutionStarted", "WaitStateEntered", "ExecutionFailed"]
    assert run.described["error"] == "States.Runtime"
    assert run.described["cause"].endswith("Wait state delay is too long.")
    assert run.ended == run.started


# ------------------------------------------------------------------ callbacks


def _callback_run(env: EmbeddedBackend, name: str, *, heartbeat_at: float | None = None, success_at: float | None = None) -> Run:
    """A .waitForTaskToken Task (the token goes to an SQS queue) with HeartbeatSeconds 10
    and TimeoutSeconds 60; the test plays the worker, on the simulated clock."""
    sqs, sfn = env.client("sqs"), env.client("stepfunctions")
    url = sqs.create_queue(QueueName=f"tokens-{name}")["QueueUrl"]
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": url, "MessageBody": {"token.$": "$$.Task.Token"}},
        "HeartbeatSeconds": 10,
        "TimeoutSeconds": 60,
        "End": True,
    }
    arn = sfn.create_state_machine(name=name, definition=json.dumps({"StartAt": "T", "States": {"T": task}}), roleArn=env.stack.role_arn(env.stack.states_role))[
        "stateMachineArn"
    ]
    t0 = env.clock.now()
    execution = sfn.start_execution(stateMachineArn=arn, name=name, input="{}")["executionArn"]
    env.clock.run_due()
    token = json.loads(sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"])["token"]
    if heartbeat_at is not None:
        env.clock.advance_to(t0 + heartbeat_at)
        sfn.send_task_heartbeat(taskToken=token)
    if success_at is not None:
        env.clock.advance_to(t0 + success_at)
        sfn.send_task_success(taskToken=token, output='{"ok": true}')
    env.run_until(lambda: sfn.describe_execution(executionArn=execution)["status"] != "RUNNING", max_seconds=600)
    run = object.__new__(Run)
    run.env, run.arn, run.started, run.ended = env, execution, t0, env.clock.now()
    run.described = sfn.describe_execution(executionArn=execution)
    run.history = sfn.get_execution_history(executionArn=execution)["events"]
    return run


def test_a_callback_task_without_a_heartbeat_in_time_fails_states_timeout(env: EmbeddedBackend) -> None:
    """TASK_DOC, HeartbeatSeconds: "If more time than the specified seconds elapses between
    heartbeats from the task, this state fails with a States.Timeout error name"."""
    run = _callback_run(env, "no-heartbeat")
    assert (run.described["status"], run.described["error"]) == ("FAILED", "States.Timeout")
    assert run.at("TaskTimedOut") == 10


def test_a_heartbeat_keeps_a_callback_task_alive_until_its_success(env: EmbeddedBackend) -> None:
    """SendTaskHeartbeat at 5 s restarts the 10 s heartbeat window; SendTaskSuccess at 12 s
    ends the Task with its output (API_SendTaskHeartbeat, API_SendTaskSuccess)."""
    run = _callback_run(env, "heartbeat", heartbeat_at=5, success_at=12)
    assert run.described["status"] == "SUCCEEDED" and json.loads(run.described["output"]) == {"ok": True}
    assert run.at("TaskSucceeded") == 12


# ------------------------------------------------------------------------ the dates


def test_execution_dates_and_every_history_timestamp_are_simulated_time(env: EmbeddedBackend) -> None:
    """What `aws stepfunctions describe-execution` / `get-execution-history` show lines up
    with the simulation: a Wait of 120 s spans exactly 120 simulated seconds, a Task's
    scheduling and ending are its Lambda invocation's start and end."""
    definition = {
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Seconds": 120, "Next": "T"}, "T": _task(env, End=True)},
    }
    run = Run(env, definition, {"sleep": 7})
    (invocation,) = run.invocations()
    assert run.described["startDate"].timestamp() == run.started
    assert run.described["stopDate"].timestamp() == run.ended == run.started + 127
    assert run.at("WaitStateEntered") == 0 and run.at("WaitStateExited") == 120
    assert run.event("TaskScheduled")["timestamp"].timestamp() == invocation.started
    assert run.event("TaskSucceeded")["timestamp"].timestamp() == invocation.ended
    stamps = [e["timestamp"].timestamp() for e in run.history]
    assert stamps == sorted(stamps) and stamps[0] == run.started and stamps[-1] == run.ended
    listed = env.client("stepfunctions").list_executions(stateMachineArn=run.described["stateMachineArn"])["executions"][0]
    assert listed["startDate"].timestamp() == run.started


def test_sqs_timestamps_and_visibility_follow_the_simulated_clock(env: EmbeddedBackend) -> None:
    """SQS_VISIBILITY_DOC: a received message stays invisible for the visibility timeout, then
    can be received again; SentTimestamp is the send time (epoch milliseconds)."""
    sqs = env.client("sqs")
    url = sqs.create_queue(QueueName="limits-visibility")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    sent_at = env.clock.now()
    first = sqs.receive_message(QueueUrl=url, VisibilityTimeout=30, AttributeNames=["All"])["Messages"][0]
    assert int(first["Attributes"]["SentTimestamp"]) == int(sent_at * 1000)
    assert int(first["Attributes"]["ApproximateFirstReceiveTimestamp"]) == int(sent_at * 1000)
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20).get("Messages", []) == []  # no long poll: time stands
    env.advance(29)
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    env.advance(2)
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["x"]


def test_a_message_past_the_retention_period_is_gone_and_hides_nothing(env: EmbeddedBackend) -> None:
    """SQS_RETENTION_DOC: messages older than MessageRetentionPeriod are deleted. (moto 5.2.5
    keeps an expired message and stops the receive at it, hiding every later one.)"""
    sqs = env.client("sqs")
    url = sqs.create_queue(QueueName="limits-retention", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="old")
    env.advance(50)
    sqs.send_message(QueueUrl=url, MessageBody="new")
    env.advance(20)
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == ["new"]


def test_an_event_is_delivered_with_its_put_events_time_or_the_simulated_time(env: EmbeddedBackend) -> None:
    """PUT_EVENTS_API, Time: "If no time stamp is provided, the time stamp of the PutEvents
    call is used" (here: simulated)."""
    events, sqs = env.client("events"), env.client("sqs")
    url = sqs.create_queue(QueueName="limits-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="limits-time", EventPattern=json.dumps({"source": ["limits"]}))
    events.put_targets(Rule="limits-time", Targets=[{"Id": "q", "Arn": arn}])
    given = datetime(2025, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
    events.put_events(Entries=[{"Source": "limits", "DetailType": "t", "Detail": "{}", "Time": given}])
    now = datetime.fromtimestamp(int(env.clock.now()), tz=timezone.utc)
    events.put_events(Entries=[{"Source": "limits", "DetailType": "t", "Detail": "{}"}])
    env.advance(1)
    times = sorted(json.loads(m["Body"])["time"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"])
    assert times == sorted([given.strftime("%Y-%m-%dT%H:%M:%SZ"), now.strftime("%Y-%m-%dT%H:%M:%SZ")])
