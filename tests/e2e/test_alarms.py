"""The stack's alarms on the embedded backend, end to end: a failure of the control plane
reaches the operators' topic as CloudWatch's notification, within one alarm period, and
the alarm clears when the failures stop."""

from __future__ import annotations

import json
from typing import Any

from fake_tfc import Outcome, RunBehaviour, RunScript
from sim.controlplane.statuses import Action
from sim.engines.embedded.environment import EmbeddedBackend
from sim.engines.embedded.faults import LambdaFault, LambdaFaultKind

from .conftest import create, settle


def operators_inbox(env: EmbeddedBackend) -> str:
    """An SQS queue subscribed to the operators' topic (what a pager integration would be)."""
    sqs, sns = env.client("sqs"), env.client("sns")
    url = sqs.create_queue(QueueName="ops-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=env.stack.operators_topic_arn(), Protocol="sqs", Endpoint=arn)
    return url


def notifications(env: EmbeddedBackend, url: str, alarm: str) -> list[dict[str, Any]]:
    sqs = env.client("sqs")
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            break
        for m in got:
            envelope = json.loads(m["Body"])
            message = json.loads(envelope["Message"])
            if message["AlarmName"] == alarm:
                out.append(envelope | {"Message": message})
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def state(env: EmbeddedBackend, alarm: str) -> str:
    [found] = env.client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    return str(found["StateValue"])


def test_the_stack_alarms_start_insufficient_then_ok_and_notify_the_operators_topic(env: EmbeddedBackend) -> None:
    names = [a.name for a in env.stack.alarms]
    cw = env.client("cloudwatch")
    alarms = cw.describe_alarms(AlarmNames=names)["MetricAlarms"]
    assert {a["StateValue"] for a in alarms} == {"INSUFFICIENT_DATA"}
    assert all(a["AlarmActions"] == a["OKActions"] == [env.stack.operators_topic_arn()] for a in alarms)
    env.advance(60)
    assert {state(env, n) for n in names} == {"OK"}


def test_a_failed_execution_alarms_within_one_period_notifies_operators_and_clears(env: EmbeddedBackend) -> None:
    inbox = operators_inbox(env)
    alarm = env.stack.alarm("create-executions-failed").name
    # Finalize fails for good: the definition sends the state to the flow DLQ and fails the execution.
    env.faults.lambdas.append(LambdaFault("finalize", LambdaFaultKind.ERROR, times=10, error_type="RuntimeError"))
    assert create(env, "acme").status == 202
    sfn = env.client("stepfunctions")
    arn = env.stack.state_machine_arn(Action.CREATE)
    assert env.run_until(lambda: any(e["status"] == "FAILED" for e in sfn.list_executions(stateMachineArn=arn)["executions"]), max_seconds=3600)
    [execution] = sfn.list_executions(stateMachineArn=arn)["executions"]
    stopped = execution["stopDate"].timestamp()
    assert state(env, alarm) == "OK"
    env.advance(60)
    assert state(env, alarm) == "ALARM"
    [fired] = [t for t in env.alarms.history(alarm) if t.new.value == "ALARM"] if env.alarms else []
    assert stopped < fired.at <= stopped + 60  # at the end of the execution's period
    first, note = notifications(env, inbox, alarm)
    assert (first["Message"]["OldStateValue"], first["Message"]["NewStateValue"]) == ("INSUFFICIENT_DATA", "OK")
    assert note["Subject"] == f'ALARM: "{alarm}" in US East (N. Virginia)'
    msg = note["Message"]
    assert (msg["OldStateValue"], msg["NewStateValue"]) == ("OK", "ALARM")
    assert msg["AWSAccountId"] == env.stack.account and msg["Region"] == "US East (N. Virginia)"
    assert msg["AlarmDescription"] == f"an execution of {env.stack.flow(Action.CREATE).state_machine} failed"
    trigger = msg["Trigger"]
    assert (trigger["Namespace"], trigger["MetricName"], trigger["Statistic"], trigger["Period"]) == ("AWS/States", "ExecutionsFailed", "SUM", 60)
    assert trigger["Dimensions"] == [{"value": arn, "name": "StateMachineArn"}]
    assert (trigger["ComparisonOperator"], trigger["Threshold"], trigger["TreatMissingData"]) == ("GreaterThanOrEqualToThreshold", 1.0, "notBreaching")
    # Step Functions' metric is in CloudWatch, at the execution's end
    points = env.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/States", MetricName="ExecutionsFailed", Dimensions=[{"Name": "StateMachineArn", "Value": arn}],
        StartTime=execution["startDate"], EndTime=fired.at, Period=60, Statistics=["Sum"],
    )["Datapoints"]
    assert [p["Sum"] for p in points] == [1.0]
    # The flow DLQ holds the request: its alarm fires too, and stays while the message waits.
    assert state(env, env.stack.alarm("flow-dlq-messages").name) == "ALARM"
    # No failure in the next period: notBreaching brings it back to OK, and says so.
    env.advance(60)
    assert state(env, alarm) == "OK"
    assert [t.new.value for t in env.alarms.history(alarm)] == ["OK", "ALARM", "OK"] if env.alarms else False
    [cleared] = notifications(env, inbox, alarm)
    assert (cleared["Message"]["OldStateValue"], cleared["Message"]["NewStateValue"]) == ("ALARM", "OK")
    assert cleared["Message"]["NewStateReason"] == (
        "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as [NonBreaching]."
    )
    # DescribeAlarmHistory (which moto lacks) lists the changes, newest first, at simulated times
    history = env.client("cloudwatch").describe_alarm_history(AlarmName=alarm, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert [h["HistorySummary"] for h in history] == [
        "Alarm updated from ALARM to OK", "Alarm updated from OK to ALARM", "Alarm updated from INSUFFICIENT_DATA to OK",
    ]
    assert history[1]["Timestamp"].timestamp() == fired.at
    assert json.loads(history[1]["HistoryData"])["newState"]["stateReasonData"]["recentDatapoints"] == [1.0]
    env.advance(3600)
    assert state(env, env.stack.alarm("flow-dlq-messages").name) == "ALARM"


def test_a_dead_lettered_event_fires_the_dlq_alarm(env: EmbeddedBackend) -> None:
    alarm = env.stack.alarm("events-dlq-messages").name
    env.advance(120)
    env.client("stepfunctions").delete_state_machine(stateMachineArn=env.stack.state_machine_arn(Action.CREATE))
    assert create(env, "acme").status == 202
    sqs, url = env.client("sqs"), env.stack.dlq_url()

    def visible() -> int:  # a look that leaves the message where it is (queue_messages takes it)
        return int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])

    assert env.run_until(lambda: visible() == 1, max_seconds=600)
    assert state(env, alarm) == "OK"
    env.advance(60)
    assert state(env, alarm) == "ALARM"
    assert env.alarms is not None
    assert [t.new.value for t in env.alarms.history(alarm)] == ["OK", "ALARM"]
    # the flow DLQ is empty: its alarm stays OK
    assert state(env, env.stack.alarm("flow-dlq-messages").name) == "OK"
    # an operator takes the message: the alarm clears at the next sample
    assert len(env.queue_messages("dlq")) == 1
    env.advance(60)
    assert state(env, alarm) == "OK"


def test_a_failed_flow_fires_the_failed_flows_alarm_not_the_executions_one(env: EmbeddedBackend) -> None:
    env.fake.set_script(RunScript(match="tenant-acme", runs=[RunBehaviour(outcome=Outcome.APPLY_ERROR)]))
    assert create(env, "acme").status == 202
    assert settle(env, "acme")["status"] == "failed"
    env.advance(60)
    assert state(env, env.stack.alarm("failed-flows").name) == "ALARM"
    # the execution itself SUCCEEDED (Finalize recorded the failure)
    assert state(env, env.stack.alarm("create-executions-failed").name) == "OK"
    points = env.client("cloudwatch").get_metric_statistics(
        Namespace="tenant-sim", MetricName="FailedFlows", Dimensions=[{"Name": "Function", "Value": env.stack.function_name("finalize")}],
        StartTime=env.config.start, EndTime=env.clock.now(), Period=3600, Statistics=["Sum"],
    )["Datapoints"]
    assert sum(p["Sum"] for p in points) == 1.0
