"""The alarm evaluator against CloudWatch's documented semantics (CloudWatch user guide:
"Evaluating an alarm", "Configuring how CloudWatch alarms treat missing data", "Using
Amazon SNS notifications"), on the simulated clock and moto's CloudWatch and SQS models."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from moto.cloudwatch.models import CloudWatchBackend
from moto.sqs.models import SQSBackend

from sim.engines.embedded.alarms import AlarmEvaluator, AlarmState, TreatMissingData, alarm_history, evaluate, statistic
from sim.engines.embedded.clock import SimClock

ACCOUNT, REGION = "123456789012", "us-east-1"
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a multiple of every period below
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:ops"

A, O, I = AlarmState.ALARM, AlarmState.OK, AlarmState.INSUFFICIENT_DATA
GE = "GreaterThanOrEqualToThreshold"


def judge(window: list[float | None], m: int = 1, treat: TreatMissingData = TreatMissingData.MISSING, current: AlarmState = I) -> AlarmState:
    return evaluate(window, comparison=GE, threshold=1.0, datapoints_to_alarm=m, treat_missing=treat, current=current)


# "M out of N": the alarm goes to ALARM when at least M of the last N datapoints breach.
@pytest.mark.parametrize(
    ("window", "m", "state"),
    [
        ([1.0], 1, A),
        ([0.0], 1, O),
        ([1.0, 0.0, 1.0], 2, A),  # 2 of 3, not consecutive: still ALARM
        ([1.0, 0.0, 0.0], 2, O),
        ([0.0, 1.0, 1.0], 3, O),  # 3 of 3 needs every one
        ([1.0, 1.0, 1.0], 3, A),
    ],
)
def test_m_out_of_n_datapoints_breaching_is_alarm(window: list[float | None], m: int, state: AlarmState) -> None:
    assert judge(window, m) is state


@pytest.mark.parametrize(
    ("op", "value", "breach"),
    [("GreaterThanThreshold", 1.0, False), ("GreaterThanThreshold", 1.5, True), ("LessThanThreshold", 0.0, True), ("LessThanOrEqualToThreshold", 1.0, True)],
)
def test_each_comparison_operator(op: str, value: float, breach: bool) -> None:
    state = evaluate([value], comparison=op, threshold=1.0, datapoints_to_alarm=1, treat_missing=TreatMissingData.MISSING, current=O)
    assert state is (A if breach else O)


# TreatMissingData: "notBreaching – missing data points are treated as good and within the
# threshold; breaching – treated as bad; ignore – the current alarm state is maintained;
# missing – if all data points in the alarm evaluation range are missing, the alarm
# transitions to INSUFFICIENT_DATA".
@pytest.mark.parametrize(
    ("treat", "current", "state"),
    [
        (TreatMissingData.MISSING, A, I),
        (TreatMissingData.MISSING, O, I),
        (TreatMissingData.NOT_BREACHING, A, O),
        (TreatMissingData.BREACHING, O, A),
        (TreatMissingData.IGNORE, A, A),
        (TreatMissingData.IGNORE, O, O),
        (TreatMissingData.IGNORE, I, I),
    ],
)
def test_all_datapoints_missing_per_treat_missing_data(treat: TreatMissingData, current: AlarmState, state: AlarmState) -> None:
    assert judge([None, None, None], m=2, treat=treat, current=current) is state


def test_missing_datapoints_count_as_breaching_towards_m_only_under_breaching() -> None:
    assert judge([None, None, 0.0], m=2, treat=TreatMissingData.BREACHING) is A
    assert judge([None, 1.0, 0.0], m=2, treat=TreatMissingData.BREACHING) is A
    assert judge([None, 1.0, 0.0], m=2, treat=TreatMissingData.NOT_BREACHING) is O
    # missing and ignore judge on the datapoints there are
    assert judge([None, 1.0, 1.0], m=2, treat=TreatMissingData.MISSING) is A
    assert judge([None, None, 0.0], m=2, treat=TreatMissingData.IGNORE, current=A) is O


def test_statistics_over_a_period() -> None:
    points = [(1.0, 1.0, 1.0, 1.0), (3.0, 1.0, 3.0, 3.0), (10.0, 4.0, 1.0, 4.0)]  # the last one a StatisticSet
    assert statistic("Sum", points) == 14.0
    assert statistic("SampleCount", points) == 6.0
    assert statistic("Average", points) == 14.0 / 6.0
    assert statistic("Minimum", points) == 1.0
    assert statistic("Maximum", points) == 4.0
    assert statistic("Sum", []) is None


# ---------------------------------------------------------------- the evaluator on the clock
class Rig:
    def __init__(self) -> None:
        self.clock = SimClock(START)
        self.cw = CloudWatchBackend(REGION, ACCOUNT)
        self.sqs = SQSBackend(REGION, ACCOUNT)
        self.published: list[tuple[str, str, dict[str, Any]]] = []
        self.ev = AlarmEvaluator(self.clock, self.cw, self.sqs, self.publish, account=ACCOUNT, region=REGION)

    def publish(self, arn: str, subject: str, message: str) -> None:
        self.published.append((arn, subject, json.loads(message)))

    def alarm(self, name: str = "failures", *, treat: str = "notBreaching", n: int = 1, m: int = 1, period: int = 60,
              namespace: str = "app", metric: str = "Failures", dims: list[dict[str, str]] | None = None, stat: str = "Sum") -> None:
        self.cw.put_metric_alarm(
            name=name, namespace=namespace, metric_name=metric, metric_data_queries=None, comparison_operator=GE,
            evaluation_periods=n, datapoints_to_alarm=m, period=period, threshold=1.0, statistic=stat, extended_statistic=None,
            description=f"{name} happened", dimensions=dims or [{"Name": "Function", "Value": "f"}], alarm_actions=[TOPIC], ok_actions=[TOPIC],
            insufficient_data_actions=[], unit=None, actions_enabled=True, treat_missing_data=treat,
            evaluate_low_sample_count_percentile=None, threshold_metric_id=None, rule=None, tags=[],
        )

    def fail(self, at: float, value: float = 1.0) -> None:
        """A datum of the app's Failures metric at ``at`` seconds after START."""
        self.ev.record_datum("app", "Failures", {"Function": "f"}, value, START + at)

    def state(self, name: str = "failures") -> str:
        return str(self.cw.alarms[name].state_value)

    def states(self, name: str = "failures") -> list[str]:
        return [t.new.value for t in self.ev.history(name)]


def test_a_new_alarm_starts_in_insufficient_data_and_is_judged_at_the_first_period_boundary() -> None:
    rig = Rig()
    rig.alarm()
    rig.ev.arm()
    assert rig.state() == "INSUFFICIENT_DATA"  # moto would say OK
    rig.clock.advance(59)
    assert rig.state() == "INSUFFICIENT_DATA"  # not before the boundary
    rig.clock.advance(1)
    assert rig.state() == "OK"  # no data, treated as not breaching
    assert rig.states() == ["OK"]
    assert rig.published[0][2]["OldStateValue"] == "INSUFFICIENT_DATA"


def test_a_datapoint_fires_the_alarm_at_the_end_of_its_period_and_notifies_the_topic() -> None:
    rig = Rig()
    rig.alarm()
    rig.ev.arm()
    rig.clock.advance(60)
    rig.clock.advance(10)
    rig.fail(at=70)
    rig.clock.advance(49)
    assert rig.state() == "OK"
    rig.clock.advance(1)  # t=120: the period [60, 120) had one failure
    assert rig.state() == "ALARM"
    arn, subject, msg = rig.published[-1]
    assert arn == TOPIC
    assert subject == 'ALARM: "failures" in US East (N. Virginia)'
    assert msg["AlarmName"] == "failures" and msg["AlarmDescription"] == "failures happened"
    assert msg["AWSAccountId"] == ACCOUNT and msg["Region"] == "US East (N. Virginia)"
    assert (msg["OldStateValue"], msg["NewStateValue"]) == ("OK", "ALARM")
    assert msg["StateChangeTime"] == "2026-01-01T00:02:00.000+0000"
    assert msg["NewStateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [1.0 (01/01/26 00:01:00)]")
    assert msg["Trigger"] == {
        "MetricName": "Failures", "Namespace": "app", "StatisticType": "Statistic", "Statistic": "SUM", "Unit": None,
        "Dimensions": [{"value": "f", "name": "Function"}], "Period": 60, "EvaluationPeriods": 1, "DatapointsToAlarm": 1,
        "ComparisonOperator": GE, "Threshold": 1.0, "TreatMissingData": "notBreaching", "EvaluateLowSampleCountPercentile": "",
    }
    # moto's model holds the state and its time (describe_alarms answers from it)
    assert rig.cw.alarms["failures"].state_updated_timestamp == datetime(2026, 1, 1, 0, 2)


def test_not_breaching_returns_to_ok_after_a_period_without_data() -> None:
    rig = Rig()
    rig.alarm()
    rig.ev.arm()
    rig.fail(at=30)
    rig.clock.advance(60)
    assert rig.state() == "ALARM"
    rig.clock.advance(60)
    assert rig.state() == "OK"
    assert rig.states() == ["ALARM", "OK"]
    assert [m["NewStateValue"] for _, _, m in rig.published] == ["ALARM", "OK"]


def test_missing_goes_to_insufficient_data_once_the_whole_range_is_missing() -> None:
    rig = Rig()
    rig.alarm(treat="missing", n=3, m=1)
    rig.ev.arm()
    rig.fail(at=30)
    rig.clock.advance(60)
    assert rig.state() == "ALARM"
    rig.clock.advance(120)
    assert rig.state() == "ALARM"  # the failure is still one of the last 3 periods
    rig.clock.advance(60)
    assert rig.state() == "INSUFFICIENT_DATA"
    assert rig.states() == ["ALARM", "INSUFFICIENT_DATA"]


def test_ignore_keeps_the_alarm_in_alarm_without_data() -> None:
    rig = Rig()
    rig.alarm(treat="ignore")
    rig.ev.arm()
    rig.fail(at=30)
    rig.clock.advance(3600)
    assert rig.state() == "ALARM"
    assert rig.states() == ["ALARM"]


def test_breaching_alarms_on_silence() -> None:
    rig = Rig()
    rig.alarm(treat="breaching")
    rig.ev.arm()
    rig.clock.advance(60)
    assert rig.state() == "ALARM"


def test_m_out_of_n_on_the_clock() -> None:
    rig = Rig()
    rig.alarm(treat="notBreaching", n=3, m=2)
    rig.ev.arm()
    rig.fail(at=10)
    rig.clock.advance(60)
    assert rig.state() == "OK"  # 1 of 3
    rig.fail(at=130)  # the period [120, 180)
    rig.clock.advance(120)
    assert rig.state() == "ALARM"  # [1, -, 1]: 2 of 3
    rig.clock.advance(120)
    assert rig.state() == "OK"


def test_a_message_visible_on_a_queue_fires_a_maximum_alarm_on_its_sample() -> None:
    rig = Rig()
    rig.sqs.create_queue("dlq")
    rig.alarm("dlq", namespace="AWS/SQS", metric="ApproximateNumberOfMessagesVisible", dims=[{"Name": "QueueName", "Value": "dlq"}], stat="Maximum")
    rig.ev.arm()
    rig.clock.advance(600)
    assert rig.state("dlq") == "OK"
    rig.sqs.send_message("dlq", "lost event")
    rig.clock.advance(60)
    assert rig.state("dlq") == "ALARM"
    # the samples are in CloudWatch like any other metric data
    samples = [d for d in rig.cw.metric_data if d.name == "ApproximateNumberOfMessagesVisible"]
    assert [d.value for d in samples][-1] == 1.0


def test_a_quiet_year_costs_a_few_evaluations_and_a_late_failure_still_fires() -> None:
    rig = Rig()
    rig.alarm()
    rig.ev.arm()
    rig.clock.advance(365 * 86400)
    assert rig.ev.evaluations <= 2
    rig.fail(at=365 * 86400 + 5)
    rig.clock.advance(60)
    assert rig.state() == "ALARM"
    assert rig.ev.history("failures")[-1].at == START + 365 * 86400 + 60


def test_an_alarm_created_later_is_picked_up() -> None:
    rig = Rig()
    rig.ev.arm()
    rig.clock.advance(3600)
    rig.alarm()
    rig.fail(at=3600)
    rig.clock.advance(60)
    assert rig.state() == "ALARM"
    # created at the 3600 boundary, after its evaluation: first judged at the next one
    assert rig.states() == ["ALARM"]
    assert [t.at - START for t in rig.ev.history("failures")] == [3660]


def test_the_history_lists_each_change_newest_first_from_moto_s_record() -> None:
    rig = Rig()
    rig.alarm()
    rig.ev.arm()
    rig.fail(at=70)
    rig.clock.advance(180)
    items = alarm_history(rig.cw.alarms.values(), name="failures")
    assert [i["HistorySummary"] for i in items] == [
        "Alarm updated from ALARM to OK", "Alarm updated from OK to ALARM", "Alarm updated from INSUFFICIENT_DATA to OK",
    ]
    assert [i["Timestamp"] for i in items] == [datetime(2026, 1, 1, 0, 3), datetime(2026, 1, 1, 0, 2), datetime(2026, 1, 1, 0, 1)]
    data = json.loads(items[1]["HistoryData"])
    assert data["oldState"]["stateValue"] == "OK" and data["newState"]["stateValue"] == "ALARM"
    oldest_first = alarm_history(rig.cw.alarms.values(), scan_by="TimestampAscending", start="2026-01-01T00:01:30Z")
    assert [i["HistorySummary"] for i in oldest_first] == ["Alarm updated from OK to ALARM", "Alarm updated from ALARM to OK"]
    assert alarm_history(rig.cw.alarms.values(), kind="Action") == []


def test_alarms_it_cannot_judge_are_left_as_moto_holds_them() -> None:
    rig = Rig()
    rig.cw.put_metric_alarm(
        name="p99", namespace="app", metric_name="Latency", comparison_operator=GE, evaluation_periods=1, period=60, threshold=1.0,
        statistic=None, extended_statistic="p99", description="", dimensions=[], alarm_actions=[TOPIC],  # type: ignore[arg-type]
    )
    rig.alarm()
    rig.ev.arm()
    rig.fail(at=10)
    rig.clock.advance(60)
    assert rig.state() == "ALARM"  # the others are judged as usual
    assert rig.state("p99") == "OK"  # moto's own initial state: a percentile is not judged here
    assert rig.ev.history("p99") == []
