"""CloudWatch metric alarms evaluated on the simulated clock (moto stores alarms and never
evaluates them: an alarm sits in the state it was created in).

CloudWatch evaluates a metric alarm once per period: it takes the alarm's statistic of its
metric over the period just ended (one *datapoint*, missing when the metric has no data
then), looks at the ``EvaluationPeriods`` most recent datapoints, and goes to ALARM when at
least ``DatapointsToAlarm`` of them breach the threshold ("M out of N"). Missing datapoints
are treated as ``TreatMissingData`` says: ``breaching`` and ``notBreaching`` count them as
bad or good, ``ignore`` keeps the current state when nothing is known, ``missing`` (the
default) goes to INSUFFICIENT_DATA when every datapoint of the range is missing. A new alarm
starts in INSUFFICIENT_DATA. On each state change the alarm's actions for the new state
(``AlarmActions``, ``OKActions``, ``InsufficientDataActions``) are notified: an SNS topic
receives a JSON document naming the alarm, both states, the reason and the trigger.
(CloudWatch user guide: "Using Amazon CloudWatch alarms", "Evaluating an alarm",
"Configuring how CloudWatch alarms treat missing data", "Alarm events and EventBridge".)

Here:

* :mod:`.alarm_rules` holds that rule as a pure function of the datapoints (:func:`evaluate`),
  with the reason text, the notification JSON and the history items;
* :class:`AlarmEvaluator` runs it for every alarm in moto's CloudWatch backend at each
  period boundary of the simulated clock (periods are aligned on the epoch), updates the
  alarm's state in moto (``describe_alarms`` answers it), keeps the history of transitions
  and publishes the notifications;
* :func:`~.alarm_rules.alarm_history` answers ``DescribeAlarmHistory`` (moto lacks it; the
  adapter adds it) from moto's own record of each alarm's states;
* datapoints come from what moto's CloudWatch holds (``PutMetricData``, and what the backend
  publishes as the services would: Step Functions' ``Executions*`` when an execution ends)
  and, for SQS's ``ApproximateNumberOf*`` metrics, from sampling the queue at the boundary
  (moto publishes no SQS metrics); each sample is also put into moto's store.

To cost nothing over long quiet stretches (a Wait of a year), the evaluator stops its
timer when no alarm could change without new input (its datapoints all alike and the state
already what they give, every sampled queue empty), and the clock's :attr:`before_step`
hook wakes it as soon as something changed (new metric data, a message in a queue, a new
alarm). A skipped evaluation would have pushed the same datapoint and given the same state.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .alarm_rules import (
    COMPARISONS,
    REGION_NAMES,
    STATISTICS,
    AlarmSpec,
    AlarmState,
    MetricKey,
    Transition,
    TreatMissingData,
    alarm_history,
    breaches,
    evaluate,
    notification,
    reason,
    statistic,
)
from .alarm_rules import cloudwatch_time, epoch_seconds, naive_utc
from .clock import SimClock, TimerHandle


#: The SQS metrics sampled from the queue at each boundary, and how to read each from moto's queue.
SQS_NAMESPACE = "AWS/SQS"
_SQS_SAMPLES: dict[str, Callable[[Any], int]] = {
    "ApproximateNumberOfMessagesVisible": lambda q: q.approximate_number_of_messages,
    "ApproximateNumberOfMessagesNotVisible": lambda q: q.approximate_number_of_messages_not_visible,
    "ApproximateNumberOfMessagesDelayed": lambda q: q.approximate_number_of_messages_delayed,
}

#: Step Functions' execution metrics, per terminal status (namespace AWS/States, dimension StateMachineArn).
STATES_NAMESPACE = "AWS/States"
EXECUTION_METRICS = {
    "SUCCEEDED": "ExecutionsSucceeded",
    "FAILED": "ExecutionsFailed",
    "TIMED_OUT": "ExecutionsTimedOut",
    "ABORTED": "ExecutionsAborted",
}


@dataclass
class _Tracked:
    spec: AlarmSpec
    source: Any
    window: deque[float | None]
    state: AlarmState = AlarmState.INSUFFICIENT_DATA


class MetricIndex:
    """moto's stored metric data by metric, read incrementally (moto appends to one list)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._seen = 0
        self._series: dict[MetricKey, list[tuple[float, tuple[float, float, float, float]]]] = {}

    def refresh(self) -> None:
        data = self._store.metric_data
        for datum in data[self._seen:]:
            key = (datum.namespace, datum.name, frozenset((d.name, d.value) for d in datum.dimensions))
            if hasattr(datum, "value"):
                v = float(datum.value)
                point = (v, 1.0, v, v)
            else:
                point = (float(datum.sum_stat), float(datum.sample_count), float(datum.min_stat), float(datum.max_stat))
            series = self._series.setdefault(key, [])
            series.append((epoch_seconds(datum.timestamp), point))
            if len(series) > 1 and series[-2][0] > series[-1][0]:
                series.sort(key=lambda p: p[0])
        self._seen = len(data)

    def latest(self, key: MetricKey) -> float:
        """The timestamp of the newest datum of ``key`` (-inf if none)."""
        series = self._series.get(key)
        return series[-1][0] if series else -math.inf

    def between(self, key: MetricKey, start: float, end: float) -> list[tuple[float, float, float, float]]:
        """Every datum of ``key`` with start <= timestamp < end."""
        return [p for ts, p in self._series.get(key, ()) if start <= ts < end]


class AlarmEvaluator:
    """Evaluates every metric alarm of ``cloudwatch`` (moto's backend) at its period
    boundaries on ``clock``; ``sqs`` (moto's backend) is sampled for the SQS metrics;
    ``publish(topic_arn, subject, message)`` sends a notification."""

    def __init__(
        self, clock: SimClock, cloudwatch: Any, sqs: Any, publish: Callable[[str, str, str], None], *, account: str, region: str,
    ) -> None:
        self._clock = clock
        self._cw = cloudwatch
        self._sqs = sqs
        self._publish = publish
        self._account = account
        self._region = region
        self._index = MetricIndex(cloudwatch)
        self._tracked: dict[str, _Tracked] = {}
        self._timer: TimerHandle | None = None
        self._last = clock.now()
        self._asleep: tuple[Any, ...] | None = None
        #: Every transition so far, in order (what ``DescribeAlarmHistory`` would list).
        self.transitions: list[Transition] = []
        #: Observers (a scenario's trace): called with each :class:`Transition`.
        self.listeners: list[Callable[[Transition], None]] = []
        self.evaluations = 0

    # ------------------------------------------------------------- reading
    def state(self, name: str) -> AlarmState:
        self._track()
        return self._tracked[name].state

    def history(self, name: str) -> list[Transition]:
        return [t for t in self.transitions if t.alarm == name]

    # ------------------------------------------------------------- feeding
    def record_datum(self, namespace: str, metric: str, dimensions: dict[str, str], value: float, at: float, unit: str = "Count") -> None:
        """Put one datapoint into moto's store at simulated time ``at`` (what a service, or
        CloudWatch's extraction of an embedded-metric-format log line, publishes)."""
        self._cw.put_metric_data(
            namespace,
            [{"MetricName": metric, "Value": value, "Unit": unit, "Timestamp": naive_utc(at),
              "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(dimensions.items())]}],
        )

    def execution_ended(self, execution: Any) -> None:
        """Step Functions' metric for an execution that ended (called from the adapter)."""
        name = EXECUTION_METRICS.get(str(getattr(execution.status, "value", execution.status)))
        if name is None:
            return
        stopped = execution.stop_date
        at = epoch_seconds(stopped) if stopped is not None else self._clock.now()
        self.record_datum(STATES_NAMESPACE, name, {"StateMachineArn": execution.state_machine_arn}, 1.0, at)

    # ------------------------------------------------------------- driving
    def arm(self) -> None:
        """Start evaluating (call once the stack's alarms are created)."""
        self._clock.before_step.append(self._before_step)
        self._last = self._clock.now()
        self._track()
        self._schedule(self._last, strictly_after=True)

    def _periods(self) -> set[int]:
        return {t.spec.period for t in self._tracked.values()}

    def _schedule(self, after: float, *, strictly_after: bool) -> None:
        periods = self._periods()
        if not periods:
            self._asleep = self._fingerprint()
            return
        candidates = []
        for p in periods:
            b = math.floor(after / p) * p
            if b < after or (strictly_after and b <= after) or b <= self._last:
                b += p
            candidates.append(b)
        when = float(min(candidates))
        self._asleep = None
        self._timer = self._clock.call_at(when, lambda: self._fire(when))

    def _before_step(self) -> None:
        if self._asleep is not None and self._fingerprint() != self._asleep:
            # Whatever changed did so at the current instant; an evaluation due at this very
            # instant counts as done before it (as the timer, queued earlier, would have run).
            self._track()
            self._schedule(self._clock.now(), strictly_after=True)

    def _fingerprint(self) -> tuple[Any, ...]:
        queues = tuple(len(q._messages) for q in self._sampled_queues())
        return (len(self._cw.metric_data), tuple(map(id, self._cw.alarms.values())), queues)

    def _sampled_queues(self) -> list[Any]:
        out = []
        for t in self._tracked.values():
            q = self._queue_of(t.spec)
            if q is not None:
                out.append(q)
        return out

    def _queue_of(self, spec: AlarmSpec) -> Any:
        if spec.namespace != SQS_NAMESPACE or spec.metric not in _SQS_SAMPLES:
            return None
        dims = dict(spec.dimensions)
        if set(dims) != {"QueueName"}:
            return None
        return self._sqs.queues.get(dims["QueueName"])

    def _track(self) -> None:
        """Pick up alarms created or changed since the last look (a new one starts in
        INSUFFICIENT_DATA; moto creates it in OK)."""
        alarms = self._cw.alarms
        for name in [n for n in self._tracked if n not in alarms]:
            del self._tracked[name]
        for name, alarm in alarms.items():
            if getattr(alarm, "metric_data_queries", None) or getattr(alarm, "rule", None):
                continue  # metric math and composite alarms are not evaluated here
            if alarm.statistic not in STATISTICS or alarm.comparison_operator not in COMPARISONS:
                continue  # nor percentiles (ExtendedStatistic) or anomaly-detection bands
            tracked = self._tracked.get(name)
            if tracked is not None and tracked.source is alarm:
                continue
            spec = AlarmSpec.of_moto(alarm)
            if tracked is None:
                alarm.state_value = AlarmState.INSUFFICIENT_DATA.value
                alarm.state_reason = "Unchecked: Initial alarm creation"
                alarm.state_updated_timestamp = alarm.configuration_updated_timestamp = naive_utc(self._clock.now())
                self._tracked[name] = _Tracked(spec, alarm, deque([None] * spec.evaluation_periods, maxlen=spec.evaluation_periods))
            else:  # PutMetricAlarm again: the new configuration, the state kept
                window = deque(list(tracked.window)[-spec.evaluation_periods:], maxlen=spec.evaluation_periods)
                while len(window) < spec.evaluation_periods:
                    window.appendleft(None)
                tracked.spec, tracked.source, tracked.window = spec, alarm, window

    def _fire(self, boundary: float) -> None:
        self._timer = None
        self._track()
        self._index.refresh()
        self.evaluations += 1
        quiet = True
        sampled: set[MetricKey] = set()
        for name in sorted(self._tracked):
            tracked = self._tracked[name]
            spec = tracked.spec
            if int(boundary) % spec.period:
                quiet = False
                continue
            queue = self._queue_of(spec)
            if spec.namespace == SQS_NAMESPACE and spec.metric in _SQS_SAMPLES:
                value = None if queue is None else float(_SQS_SAMPLES[spec.metric](queue))
                if queue is not None and spec.key not in sampled:  # one sample per metric and boundary
                    sampled.add(spec.key)
                    self.record_datum(SQS_NAMESPACE, spec.metric, dict(spec.dimensions), value or 0.0, boundary - spec.period)
                    self._index.refresh()
                next_value: float | None = value
                if queue is not None and len(queue._messages):
                    quiet = False
            else:
                value = statistic(spec.statistic, self._index.between(spec.key, boundary - spec.period, boundary))
                next_value = None
                if self._index.latest(spec.key) >= boundary:
                    quiet = False  # data for a period still to come (put at this very instant)
            tracked.window.append(value)
            new = evaluate(
                tracked.window, comparison=spec.comparison, threshold=spec.threshold,
                datapoints_to_alarm=spec.datapoints_to_alarm, treat_missing=spec.treat_missing, current=tracked.state,
            )
            if new is not tracked.state:
                self._transition(tracked, new, boundary)
            if any(v != next_value for v in tracked.window):
                quiet = False
        self._last = boundary
        if quiet:
            self._asleep = self._fingerprint()
        else:
            self._schedule(boundary, strictly_after=True)

    # ------------------------------------------------------------- a change
    def _transition(self, tracked: _Tracked, new: AlarmState, boundary: float) -> None:
        spec, old = tracked.spec, tracked.state
        why = reason(spec, tracked.window, old, new, boundary)
        reason_data = {
            "version": "1.0", "queryDate": cloudwatch_time(boundary), "startDate": cloudwatch_time(boundary - spec.evaluation_periods * spec.period),
            "statistic": spec.statistic, "period": spec.period,
            "recentDatapoints": [v for v in tracked.window if v is not None], "threshold": spec.threshold,
        }
        tracked.state = new
        alarm = tracked.source
        alarm.update_state(why, json.dumps(reason_data), new.value)  # moto's SetAlarmState
        alarm.state_updated_timestamp = naive_utc(boundary)
        change = Transition(alarm=spec.name, old=old, new=new, reason=why, at=boundary)
        self.transitions.append(change)
        for listener in self.listeners:
            listener(change)
        actions = spec.actions(new)
        if not actions:
            return
        configured = epoch_seconds(getattr(alarm, "configuration_updated_timestamp", None) or boundary)
        message = json.dumps(notification(spec, change, account=self._account, region=self._region, configured_at=configured))
        region = REGION_NAMES.get(self._region, self._region)
        subject = f'{new.value}: "{spec.name}" in {region}'[:100]
        for arn in actions:
            if arn.startswith("arn:aws:sns:"):
                self._publish(arn, subject, message)

__all__ = [
    "EXECUTION_METRICS", "SQS_NAMESPACE", "STATES_NAMESPACE", "AlarmEvaluator", "AlarmSpec", "AlarmState", "MetricIndex",
    "Transition", "TreatMissingData", "alarm_history", "breaches", "evaluate", "statistic",
]
