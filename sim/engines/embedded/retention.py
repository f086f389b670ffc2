"""How long the embedded backend keeps what a real one forgets, on the simulated clock.

Step Functions keeps a closed Standard execution (its description and its history) for 90
days; after that DescribeExecution and GetExecutionHistory answer ExecutionDoesNotExist,
ListExecutions no longer lists it, and its name may be used again (Step Functions service
quotas, "Maximum execution history retention time"; StartExecution: "names can be reused 90
days after close"). moto keeps every execution for ever, so a long run would grow without
bound. A sweep every ``sweep_seconds`` of simulated time removes the executions closed longer
ago than ``execution_days``.

The simulator's own logs grow with every call too: ``env.invocations``, ``env.deliveries``
and the fake TFC's journal. With ``log_days`` set, the sweep drops their entries older than
that. A scenario's trace and report are written as the run goes and lose nothing; what
reads the logs directly (tests, ``make bench``) sees only the kept window.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .clock import SimClock

DAY = 86_400.0
#: Step Functions' retention of closed executions.
AWS_EXECUTION_RETENTION_DAYS = 90.0


@dataclass(frozen=True)
class Retention:
    #: Days a closed execution is kept (None: for ever, moto's way).
    execution_days: float | None = AWS_EXECUTION_RETENTION_DAYS
    #: Days the invocation and delivery logs and the fake TFC's journal keep an entry
    #: (None: for ever).
    log_days: float | None = None
    #: Simulated seconds between two sweeps.
    sweep_seconds: float = DAY

    def __post_init__(self) -> None:
        for name in ("execution_days", "log_days"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValueError(f"retention {name} must be a number of days >= 0 or None, not {value!r}")
        if not self.sweep_seconds > 0:
            raise ValueError(f"retention sweep_seconds must be > 0, not {self.sweep_seconds!r}")


@dataclass
class Swept:
    executions: int = 0
    log_entries: int = 0


class RetentionSweeper:
    """``machines``: moto's state machines (each with its ``executions`` list); ``logs``:
    each log with the time of an entry (entries in time order); ``journal_forget``: drops the
    fake TFC's journal entries before a time."""

    def __init__(
        self,
        clock: SimClock,
        retention: Retention,
        machines: Callable[[], Iterable[Any]],
        logs: Callable[[], Iterable[tuple[list[Any], Callable[[Any], float]]]],
        journal_forget: Callable[[float], int],
    ) -> None:
        self._clock = clock
        self.retention = retention
        self._machines = machines
        self._logs = logs
        self._journal_forget = journal_forget
        self.swept = Swept()

    def arm(self) -> None:
        if self.retention.execution_days is not None or self.retention.log_days is not None:
            self._clock.call_later(self.retention.sweep_seconds, self._sweep)

    def _sweep(self) -> None:
        try:
            self.sweep()
        finally:
            self.arm()

    def sweep(self) -> Swept:
        """One pass now; what it removed (also added to :attr:`swept`)."""
        now = self._clock.now()
        removed = Swept()
        if self.retention.execution_days is not None:
            removed.executions = self._expire_executions(now - self.retention.execution_days * DAY)
        if self.retention.log_days is not None:
            before = now - self.retention.log_days * DAY
            for log, time_of in self._logs():
                removed.log_entries += _drop_before(log, time_of, before)
            removed.log_entries += self._journal_forget(before)
        self.swept.executions += removed.executions
        self.swept.log_entries += removed.log_entries
        return removed

    def _expire_executions(self, before: float) -> int:
        limit = datetime.datetime.fromtimestamp(before, tz=datetime.timezone.utc)
        removed = 0
        for machine in list(self._machines()):
            for execution in list(machine.executions):
                stopped = getattr(execution, "stop_date", None)
                if stopped is not None and _aware(stopped) < limit:
                    # One at a time: a StartExecution served on another thread may append meanwhile.
                    machine.executions.remove(execution)
                    removed += 1
        return removed


def _aware(when: datetime.datetime) -> datetime.datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=datetime.timezone.utc)


def _drop_before(log: list[Any], time_of: Callable[[Any], float], before: float) -> int:
    """Drop the leading entries of ``log`` (in time order) older than ``before``."""
    n = 0
    while n < len(log) and time_of(log[n]) < before:
        n += 1
    if n:
        del log[:n]
    return n
