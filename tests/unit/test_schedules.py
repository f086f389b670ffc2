"""Schedule.next_after: EventBridge rate() and cron() expressions on UTC.

Cron fields and the day-of-week numbering follow
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html
(six fields: minutes hours day-of-month month day-of-week year; day-of-week is 1-7 with
1 = SUN ... 7 = SAT).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from sim.engines.embedded.schedules import Schedule, UnsupportedSchedule


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def at(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=timezone.utc)


def nxt(expr: str, *when: int) -> datetime:
    return at(Schedule(expr).next_after(ts(*when)))


# ------------------------------------------------------------------------- rate()
@pytest.mark.parametrize(
    "expr, start, expected",
    [
        ("rate(1 day)", (2024, 1, 1, 10, 0), (2024, 1, 2, 0, 0)),
        ("rate(1 day)", (2024, 1, 1, 0, 0), (2024, 1, 2, 0, 0)),  # strictly after
        ("rate(1 days)", (2024, 2, 28, 23, 59), (2024, 2, 29, 0, 0)),
        ("rate(5 minutes)", (2024, 1, 1, 10, 2, 30), (2024, 1, 1, 10, 5)),
        ("rate(5 minutes)", (2024, 1, 1, 10, 5), (2024, 1, 1, 10, 10)),  # strictly after
        ("rate(5 minutes)", (2024, 1, 1, 23, 58), (2024, 1, 2, 0, 0)),
        ("rate(1 minute)", (2024, 1, 1, 10, 0, 1), (2024, 1, 1, 10, 1)),
        ("rate(2 hours)", (2024, 1, 1, 3, 0), (2024, 1, 1, 4, 0)),
        ("rate(2 hours)", (2024, 1, 1, 4, 0), (2024, 1, 1, 6, 0)),  # strictly after
        ("rate(2 hours)", (2024, 1, 1, 23, 0), (2024, 1, 2, 0, 0)),
        ("rate(1 hour)", (2024, 1, 1, 3, 59, 59), (2024, 1, 1, 4, 0)),
    ],
)
def test_rate(expr, start, expected):
    assert nxt(expr, *start) == datetime(*expected, tzinfo=timezone.utc)


def test_rate_fires_strictly_after_a_fractional_timestamp():
    s = Schedule("rate(5 minutes)")
    edge = ts(2024, 1, 1, 10, 5)
    assert s.next_after(edge - 0.1) == edge
    assert s.next_after(edge + 0.1) == edge + 300


def test_rate_successive_firings_are_one_period_apart():
    s = Schedule("rate(2 hours)")
    t = ts(2024, 3, 10, 1, 17)
    fires = []
    for _ in range(5):
        t = s.next_after(t)
        fires.append(t)
    assert [b - a for a, b in zip(fires, fires[1:])] == [7200.0] * 4


# ------------------------------------------------------------------------- cron()
def test_daily_cron_at_0300_utc():
    daily = "cron(0 3 * * ? *)"
    assert nxt(daily, 2024, 1, 1, 2, 59) == datetime(2024, 1, 1, 3, 0, tzinfo=timezone.utc)
    assert nxt(daily, 2024, 1, 1, 3, 0) == datetime(2024, 1, 2, 3, 0, tzinfo=timezone.utc)  # exactly 03:00 -> tomorrow
    assert nxt(daily, 2024, 1, 1, 3, 0, 30) == datetime(2024, 1, 2, 3, 0, tzinfo=timezone.utc)
    assert nxt(daily, 2024, 1, 1, 2, 59, 59) == datetime(2024, 1, 1, 3, 0, tzinfo=timezone.utc)
    assert nxt(daily, 2023, 12, 31, 12, 0) == datetime(2024, 1, 1, 3, 0, tzinfo=timezone.utc)


def test_weekly_cron_on_mondays():
    # EventBridge day-of-week: 1 = Sunday, so 2 = Monday. 2024-01-01 was a Monday.
    monday = "cron(30 12 ? * 2 *)"
    assert nxt(monday, 2024, 1, 1, 12, 29) == datetime(2024, 1, 1, 12, 30, tzinfo=timezone.utc)
    assert nxt(monday, 2024, 1, 1, 12, 30) == datetime(2024, 1, 8, 12, 30, tzinfo=timezone.utc)
    assert nxt(monday, 2024, 1, 2, 0, 0) == datetime(2024, 1, 8, 12, 30, tzinfo=timezone.utc)
    assert nxt(monday, 2023, 12, 31, 23, 0) == datetime(2024, 1, 1, 12, 30, tzinfo=timezone.utc)  # from a Sunday
    result = nxt(monday, 2024, 6, 13, 8, 0)
    assert result.strftime("%A") == "Monday"
    assert result == datetime(2024, 6, 17, 12, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "dow, day_name",
    [(1, "Sunday"), (2, "Monday"), (3, "Tuesday"), (4, "Wednesday"), (5, "Thursday"), (6, "Friday"), (7, "Saturday")],
)
def test_every_eventbridge_day_of_week_number(dow, day_name):
    # Start on Wednesday 2024-01-03 00:00; the next matching day is at most 7 days on.
    result = nxt(f"cron(0 9 ? * {dow} *)", 2024, 1, 3, 0, 0)
    assert result.strftime("%A") == day_name
    assert (result.hour, result.minute) == (9, 0)
    assert 0 <= (result - datetime(2024, 1, 3, tzinfo=timezone.utc)).days < 7


def test_monthly_cron_on_the_first():
    first = "cron(0 0 1 * ? *)"
    assert nxt(first, 2024, 1, 15, 8, 0) == datetime(2024, 2, 1, tzinfo=timezone.utc)
    assert nxt(first, 2024, 2, 1, 0, 0) == datetime(2024, 3, 1, tzinfo=timezone.utc)  # strictly after
    assert nxt(first, 2024, 12, 31, 23, 59) == datetime(2025, 1, 1, tzinfo=timezone.utc)


def test_cron_with_month_and_year():
    assert nxt("cron(15 10 4 7 ? 2025)", 2024, 1, 1, 0, 0) == datetime(2025, 7, 4, 10, 15, tzinfo=timezone.utc)
    assert nxt("cron(0 0 29 2 ? *)", 2024, 3, 1, 0, 0) == datetime(2028, 2, 29, tzinfo=timezone.utc)


def test_cron_with_wildcard_minutes_fires_every_minute_of_the_hour():
    s = Schedule("cron(* 3 * * ? *)")
    assert at(s.next_after(ts(2024, 1, 1, 3, 7, 10))) == datetime(2024, 1, 1, 3, 8, tzinfo=timezone.utc)
    assert at(s.next_after(ts(2024, 1, 1, 3, 59))) == datetime(2024, 1, 2, 3, 0, tzinfo=timezone.utc)


# ----------------------------------------------------------------------- refused
@pytest.mark.parametrize(
    "expr",
    [
        "cron(0/15 * * * ? *)",  # step
        "cron(0 9 ? * MON-FRI *)",  # range (and names)
        "cron(0 1,2 * * ? *)",  # list
        "cron(0 9 ? * 2-6 *)",  # numeric range
        "cron(0 9 ? * MON *)",  # day name
        "cron(0 9 L * ? *)",  # last day of month
        "cron(0 9 ? * 3#2 *)",  # nth weekday
    ],
)
def test_lists_ranges_steps_and_names_are_refused(expr):
    with pytest.raises(UnsupportedSchedule, match="not supported"):
        Schedule(expr).next_after(ts(2024, 1, 1))


@pytest.mark.parametrize(
    "expr",
    [
        "every day",
        "",
        "rate(5 seconds)",
        "rate(five minutes)",
        "rate(-5 minutes)",
        "rate(5)",
        "cron 0 3 * * ? *",
        "at(2024-01-01T00:00:00)",
    ],
)
def test_bad_syntax_is_refused(expr):
    with pytest.raises(UnsupportedSchedule):
        Schedule(expr).next_after(ts(2024, 1, 1))


def test_zero_rate_is_refused():
    with pytest.raises(UnsupportedSchedule, match="positive"):
        Schedule("rate(0 minutes)").next_after(ts(2024, 1, 1))


@pytest.mark.parametrize("expr", ["cron(0 3 * * ?)", "cron(0 3 * * ? * *)", "cron()"])
def test_cron_needs_exactly_six_fields(expr):
    with pytest.raises(UnsupportedSchedule, match="6 fields"):
        Schedule(expr).next_after(ts(2024, 1, 1))


def test_a_cron_that_never_matches_is_refused_rather_than_looping_forever():
    with pytest.raises(UnsupportedSchedule, match="never fires"):
        Schedule("cron(0 0 31 2 ? *)").next_after(ts(2024, 1, 1))  # February 31st


def test_unsupported_schedule_is_a_value_error():
    assert issubclass(UnsupportedSchedule, ValueError)
