"""Schedule rules fire on the simulated clock (moto stores them and never fires them).

Supports the EventBridge expressions ``rate(N minute|minutes|hour|hours|day|days)`` and
``cron(minutes hours day-of-month month day-of-week year)`` with numbers, ``*`` and
``?`` in each field (lists, ranges and steps are refused with a clear error rather
than guessed). All times are UTC, as for EventBridge rules.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .clock import SimClock
from .delivery import EventDelivery, scheduled_event


class UnsupportedSchedule(ValueError):
    pass


_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\(([^)]*)\)$")
_UNIT = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


@dataclass(frozen=True)
class Schedule:
    expression: str

    def next_after(self, ts: float) -> float:
        """The first firing strictly after ``ts`` (seconds since the epoch, UTC)."""
        m = _RATE.match(self.expression)
        if m:
            period = int(m.group(1)) * _UNIT[m.group(2)]
            if period <= 0:
                raise UnsupportedSchedule(f"{self.expression}: the rate must be positive")
            return (int(ts) // period + 1) * period
        m = _CRON.match(self.expression)
        if not m:
            raise UnsupportedSchedule(f"{self.expression!r} is neither rate(...) nor cron(...)")
        fields = m.group(1).split()
        if len(fields) != 6:
            raise UnsupportedSchedule(f"{self.expression}: cron needs 6 fields (minutes hours day-of-month month day-of-week year)")
        minute, hour, dom, month, dow, year = (_field(f, self.expression) for f in fields)
        t = datetime.fromtimestamp(int(ts) // 60 * 60, tz=timezone.utc) + timedelta(minutes=1)
        for _ in range(366 * 24 * 60 * 2):
            if (
                (minute is None or t.minute == minute)
                and (hour is None or t.hour == hour)
                and (dom is None or t.day == dom)
                and (month is None or t.month == month)
                and (dow is None or (t.isoweekday() % 7) + 1 == dow)  # EventBridge: 1 = Sunday
                and (year is None or t.year == year)
            ):
                return t.timestamp()
            t += timedelta(minutes=1) if minute is None else (timedelta(hours=1) if t.minute == minute else timedelta(minutes=1))
        raise UnsupportedSchedule(f"{self.expression} never fires in the next two years")


def _field(text: str, expr: str) -> int | None:
    if text in ("*", "?"):
        return None
    if text.isdigit():
        return int(text)
    raise UnsupportedSchedule(f"{expr}: field {text!r} is not supported here (use a number, * or ?)")


class ScheduleRunner:
    """Fires every ENABLED schedule rule of the default bus on the simulated clock."""

    def __init__(self, clock: SimClock, delivery: EventDelivery, events_backend: Any, region: str, account: str) -> None:
        self._clock = clock
        self._delivery = delivery
        self._backend = events_backend
        self._region = region
        self._account = account
        self._armed: set[str] = set()
        self._fired = 0

    def arm(self) -> None:
        """Arm a timer for each schedule rule not yet armed (call after a deploy)."""
        bus = self._backend.event_buses.get("default")
        if bus is None:
            return
        for rule in list(bus.rules.values()):
            if rule.scheduled_expression and rule.arn not in self._armed:
                self._armed.add(rule.arn)
                self._arm_rule(rule.name, Schedule(rule.scheduled_expression))

    def _arm_rule(self, name: str, schedule: Schedule) -> None:
        when = schedule.next_after(self._clock.now())
        self._clock.call_at(when, lambda: self._fire(name, schedule, when))

    def _fire(self, name: str, schedule: Schedule, when: float) -> None:
        bus = self._backend.event_buses.get("default")
        rule = bus.rules.get(name) if bus else None
        if rule is None:  # deleted: stop firing
            return
        if rule.state == "ENABLED":
            self._fired += 1
            event_id = str(uuid.UUID(int=(int(when) << 20) + self._fired, version=4))
            event = scheduled_event(rule.arn, self._region, self._account, when, event_id)
            self._delivery.deliver_event(rule.arn, rule.name, list(rule.targets), event)
        self._arm_rule(name, schedule)
