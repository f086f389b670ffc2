"""CloudWatch's metric alarm semantics as plain functions and values, apart from any clock
or store: the states, the "M out of N" rule with ``TreatMissingData``, the statistics, the
``NewStateReason`` text, the notification JSON an SNS action receives, and the
``DescribeAlarmHistory`` items. :mod:`.alarms` runs them on the simulated clock.

(CloudWatch user guide: "Using Amazon CloudWatch alarms", "Evaluating an alarm",
"Configuring how CloudWatch alarms treat missing data", "Using Amazon SNS notifications".)
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any


class AlarmState(StrEnum):
    OK = "OK"
    ALARM = "ALARM"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


class TreatMissingData(StrEnum):
    MISSING = "missing"
    IGNORE = "ignore"
    BREACHING = "breaching"
    NOT_BREACHING = "notBreaching"


_COMPARE: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}

#: The comparisons and statistics judged here (not the anomaly-detection bands, not percentiles).
COMPARISONS = tuple(_COMPARE)
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")

#: What a notification's ``Region`` says (CloudWatch writes the Region's name, not its code).
REGION_NAMES = {"us-east-1": "US East (N. Virginia)", "us-east-2": "US East (Ohio)", "us-west-2": "US West (Oregon)", "eu-west-1": "EU (Ireland)"}


def breaches(value: float, comparison: str, threshold: float) -> bool:
    compare, _ = _COMPARE[comparison]
    return compare(value, threshold)


def evaluate(
    window: Sequence[float | None], *, comparison: str, threshold: float, datapoints_to_alarm: int,
    treat_missing: TreatMissingData, current: AlarmState,
) -> AlarmState:
    """The state the ``window`` of datapoints (the N most recent, None where missing) gives.

    ALARM when at least ``datapoints_to_alarm`` breach (missing ones counted as breaching
    under ``breaching``, as good under ``notBreaching``, left out otherwise); with nothing
    known, INSUFFICIENT_DATA under ``missing`` and the current state under ``ignore``;
    OK otherwise."""
    bad = present = 0
    for value in window:
        if value is None:
            if treat_missing is TreatMissingData.BREACHING:
                bad += 1
                present += 1
            elif treat_missing is TreatMissingData.NOT_BREACHING:
                present += 1
            continue
        present += 1
        bad += breaches(value, comparison, threshold)
    if bad >= datapoints_to_alarm:
        return AlarmState.ALARM
    if present == 0:
        return current if treat_missing is TreatMissingData.IGNORE else AlarmState.INSUFFICIENT_DATA
    return AlarmState.OK


def statistic(stat: str, values: Sequence[tuple[float, float, float, float]]) -> float | None:
    """``stat`` over ``values`` as (sum, sample count, minimum, maximum) each; None if none."""
    if not values:
        return None
    total = sum(v[0] for v in values)
    count = sum(v[1] for v in values)
    if stat == "Sum":
        return total
    if stat == "SampleCount":
        return count
    if stat == "Average":
        return total / count if count else None
    if stat == "Minimum":
        return min(v[2] for v in values)
    if stat == "Maximum":
        return max(v[3] for v in values)
    raise ValueError(f"statistic {stat!r} is not supported here (Sum, SampleCount, Average, Minimum, Maximum)")


MetricKey = tuple[str, str, frozenset[tuple[str, str]]]


@dataclass(frozen=True)
class AlarmSpec:
    """What the evaluator reads of one metric alarm (moto's model, or a test's)."""

    name: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    comparison: str
    threshold: float
    treat_missing: TreatMissingData = TreatMissingData.MISSING
    description: str = ""
    arn: str = ""
    alarm_actions: tuple[str, ...] = ()
    ok_actions: tuple[str, ...] = ()
    insufficient_data_actions: tuple[str, ...] = ()
    actions_enabled: bool = True

    @property
    def key(self) -> MetricKey:
        return (self.namespace, self.metric, frozenset(self.dimensions))

    def actions(self, state: AlarmState) -> tuple[str, ...]:
        if not self.actions_enabled:
            return ()
        return {AlarmState.ALARM: self.alarm_actions, AlarmState.OK: self.ok_actions}.get(state, self.insufficient_data_actions)

    @classmethod
    def of_moto(cls, alarm: Any) -> AlarmSpec:
        return cls(
            name=alarm.name, namespace=alarm.namespace, metric=alarm.metric_name,
            dimensions=tuple(sorted((d.name, d.value) for d in alarm.dimensions)),
            statistic=alarm.statistic, period=int(alarm.period), evaluation_periods=int(alarm.evaluation_periods),
            datapoints_to_alarm=int(alarm.datapoints_to_alarm or alarm.evaluation_periods),
            comparison=alarm.comparison_operator, threshold=float(alarm.threshold),
            treat_missing=TreatMissingData(alarm.treat_missing_data or "missing"), description=alarm.description or "",
            arn=alarm.alarm_arn, alarm_actions=tuple(alarm.alarm_actions or ()), ok_actions=tuple(alarm.ok_actions or ()),
            insufficient_data_actions=tuple(alarm.insufficient_data_actions or ()), actions_enabled=bool(alarm.actions_enabled),
        )


@dataclass(frozen=True)
class Transition:
    """One state change of one alarm, at simulated time ``at`` (the period boundary)."""

    alarm: str
    old: AlarmState
    new: AlarmState
    reason: str
    at: float


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def naive_utc(ts: float) -> datetime:
    """UTC without a zone: how moto's CloudWatch holds its times (it compares them with its own)."""
    return utc(ts).replace(tzinfo=None)


def epoch_seconds(value: Any) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    return float(value)


def cloudwatch_time(ts: float) -> str:
    """CloudWatch's notification time format: ``2026-01-01T00:01:00.000+0000``."""
    return utc(ts).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}+0000"


def reason(spec: AlarmSpec, window: Sequence[float | None], old: AlarmState, new: AlarmState, boundary: float) -> str:
    """The ``NewStateReason`` CloudWatch gives for a change to ``new`` judged on ``window`` at ``boundary``."""
    _, words = _COMPARE[spec.comparison]
    n = spec.evaluation_periods
    points = [
        f"{v!r} ({utc(boundary - (n - i) * spec.period).strftime('%d/%m/%y %H:%M:%S')})"
        for i, v in enumerate(window) if v is not None
    ]
    if new is AlarmState.INSUFFICIENT_DATA:
        return f"Insufficient Data: {n} datapoint{'s were' if n > 1 else ' was'} unknown."
    if new is AlarmState.ALARM:
        bad = sum(1 for v in window if v is not None and breaches(v, spec.comparison, spec.threshold))
        missing = sum(1 for v in window if v is None)
        counted = f"{bad} out of the last {n} datapoints [{', '.join(points)}]"
        if spec.treat_missing is TreatMissingData.BREACHING and missing:
            counted += f" and {missing} missing datapoint{'s' if missing > 1 else ''} treated as breaching"
        return (
            f"Threshold Crossed: {counted} {'was' if bad == 1 else 'were'} {words} the threshold ({spec.threshold!r}) "
            f"(minimum {spec.datapoints_to_alarm} datapoint{'s' if spec.datapoints_to_alarm > 1 else ''} "
            f"for {old.value} -> ALARM transition)."
        )
    if not points:  # every datapoint missing, treated as not breaching (or kept under ignore)
        return (
            f"Threshold Crossed: no datapoints were received for {n} period{'s' if n > 1 else ''} and {n} missing "
            f"datapoint{'s were' if n > 1 else ' was'} treated as [NonBreaching]."
        )
    k = len(points)
    return (
        f"Threshold Crossed: {k} datapoint{'s' if k > 1 else ''} [{', '.join(points)}] {'were' if k > 1 else 'was'} "
        f"not {words} the threshold ({spec.threshold!r})."
    )


def notification(spec: AlarmSpec, change: Transition, *, account: str, region: str, configured_at: float) -> dict[str, Any]:
    """The JSON CloudWatch publishes to an alarm's SNS actions."""
    return {
        "AlarmName": spec.name,
        "AlarmDescription": spec.description or None,
        "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": cloudwatch_time(configured_at),
        "NewStateValue": change.new.value,
        "NewStateReason": change.reason,
        "StateChangeTime": cloudwatch_time(change.at),
        "Region": REGION_NAMES.get(region, region),
        "AlarmArn": spec.arn,
        "OldStateValue": change.old.value,
        "OKActions": list(spec.ok_actions),
        "AlarmActions": list(spec.alarm_actions),
        "InsufficientDataActions": list(spec.insufficient_data_actions),
        "Trigger": {
            "MetricName": spec.metric,
            "Namespace": spec.namespace,
            "StatisticType": "Statistic",
            "Statistic": spec.statistic.upper(),
            "Unit": None,
            "Dimensions": [{"value": v, "name": k} for k, v in spec.dimensions],
            "Period": spec.period,
            "EvaluationPeriods": spec.evaluation_periods,
            "DatapointsToAlarm": spec.datapoints_to_alarm,
            "ComparisonOperator": spec.comparison,
            "Threshold": spec.threshold,
            "TreatMissingData": spec.treat_missing.value,
            "EvaluateLowSampleCountPercentile": "",
        },
    }


def _when(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=None) if value.tzinfo is None else value.astimezone(timezone.utc).replace(tzinfo=None)
    return _when(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


def alarm_history(
    alarms: Any, *, name: str | None = None, kind: str | None = None, start: Any = None, end: Any = None,
    max_records: Any = None, scan_by: str | None = None,
) -> list[dict[str, Any]]:
    """DescribeAlarmHistory's ``StateUpdate`` items, from moto's own record of each alarm:
    its SetAlarmState keeps the state each change replaced (``alarm.history``), the current
    one is on the alarm. Newest first unless ``scan_by`` is ``TimestampAscending``;
    ``ConfigurationUpdate`` and ``Action`` items are not kept (none are listed), nor pages."""
    if kind not in (None, "", "StateUpdate"):
        return []
    lo, hi = _when(start), _when(end)
    items: list[dict[str, Any]] = []
    for alarm in alarms:
        if name and alarm.name != name:
            continue
        now = ("StateUpdate", alarm.state_reason, alarm.state_reason_data, alarm.state_value, alarm.state_updated_timestamp)
        states = [h for h in alarm.history if h and h[0] == "StateUpdate"] + [now]
        for old, new in zip(states, states[1:]):
            at = _when(new[4])
            if at is None or (lo is not None and at < lo) or (hi is not None and at > hi):
                continue
            new_state: dict[str, Any] = {"stateValue": new[3], "stateReason": new[1]}
            if new[2] and new[2] != "{}":
                new_state["stateReasonData"] = json.loads(new[2])
            items.append({
                "AlarmName": alarm.name,
                "AlarmType": "CompositeAlarm" if getattr(alarm, "rule", None) else "MetricAlarm",
                "Timestamp": at,
                "HistoryItemType": "StateUpdate",
                "HistorySummary": f"Alarm updated from {old[3]} to {new[3]}",
                "HistoryData": json.dumps({"version": "1.0", "oldState": {"stateValue": old[3], "stateReason": old[1]}, "newState": new_state}),
            })
    items.sort(key=lambda i: i["Timestamp"], reverse=scan_by != "TimestampAscending")
    return items[: int(max_records)] if max_records else items
