"""Time sources for the fake. Everything time-dependent reads one injected clock.

``WallClock`` is used when the fake is served to people; ``VirtualClock`` when it is
embedded in a simulation, where the caller advances time explicitly and nothing ever
sleeps for simulated time.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timezone
from typing import Protocol

#: Default start of virtual time: fixed so that traces are reproducible.
VIRTUAL_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()


class Clock(Protocol):
    """A source of time in seconds since the Unix epoch."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of this clock's time pass (used for injected latency)."""
        ...


class WallClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class VirtualClock:
    """A clock that moves only when told to. Thread-safe."""

    def __init__(self, start: float = VIRTUAL_EPOCH) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float) -> None:
        with self._lock:
            if when < self._now:
                raise ValueError("a clock cannot go backwards")
            self._now = when

    async def sleep(self, seconds: float) -> None:
        # Injected latency costs simulated time, never real time.
        self.advance(seconds)


def iso(ts: float) -> str:
    """ISO 8601 with milliseconds and a Z, the form TFC uses for ``created-at``."""
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def iso_seconds(ts: float) -> str:
    """ISO 8601 in the ``+00:00`` form TFC uses inside ``status-timestamps``."""
    return datetime.fromtimestamp(int(ts), tz=timezone.utc).isoformat()
