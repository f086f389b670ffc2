"""The simulated clock, and the one scheduler that decides who runs next.

Everything time-dependent in the embedded backend reads this clock: Step Functions
Wait and Retry, EventBridge retry backoff, the fake TFC's run stages, the daily
schedule. Nothing sleeps in real time for simulated time.

Work happens on two kinds of actors:

* **managed threads** (one per Step Functions execution), started with :meth:`spawn`.
  When one calls :meth:`sleep` it parks until the clock reaches its deadline.
* **timers** (:meth:`call_at`), run on the driving thread.

The scheduler only moves on when the system is *quiescent*: no managed thread is
running. It then wakes exactly one actor, the earliest (time, sequence) entry, and
waits for quiescence again. Execution is therefore sequential, and the order is fixed
by simulated time and the order things were scheduled in.

Two ways to drive it: a test or scenario calls :meth:`advance` / :meth:`run_until`
(simulated time jumps straight to the next deadline), or :meth:`start_pacer` runs a
background thread that keeps simulated time flowing at ``time_scale`` simulated seconds
per real second (``python -m sim up``).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fake_tfc.clock import VIRTUAL_EPOCH

#: Real seconds the scheduler waits for a running actor to park before calling it stuck.
DEFAULT_STALL_SECONDS = 60.0


class SimulationStalled(RuntimeError):
    """A managed thread kept running (or blocked on something other than the clock)."""


@dataclass(order=True)
class _Entry:
    when: float
    seq: int
    wake: threading.Event | None = field(compare=False, default=None)
    managed: bool = field(compare=False, default=False)
    fn: Callable[[], Any] | None = field(compare=False, default=None)
    cancelled: bool = field(compare=False, default=False)


class TimerHandle:
    def __init__(self, entry: _Entry) -> None:
        self._entry = entry

    @property
    def when(self) -> float:
        return self._entry.when

    def cancel(self) -> None:
        self._entry.cancelled = True


class SimClock:
    """A discrete-event clock in seconds since the Unix epoch. Thread-safe."""

    def __init__(self, start: float = VIRTUAL_EPOCH, *, stall_seconds: float = DEFAULT_STALL_SECONDS) -> None:
        self._now = float(start)
        self._cv = threading.Condition()
        self._queue: list[_Entry] = []
        self._seq = itertools.count()
        self._busy = 0
        self._local = threading.local()
        self._stall = stall_seconds
        self._drive = threading.RLock()  # one driver at a time (test thread or pacer)
        self._errors: list[BaseException] = []
        self._pacer: threading.Thread | None = None
        self._pacer_stop = threading.Event()
        self._pacer_errors: list[BaseException] = []
        self.time_scale: float | None = None

    # ------------------------------------------------------------------ reading
    def now(self) -> float:
        return self._now

    @property
    def busy(self) -> int:
        return self._busy

    def pending(self) -> int:
        with self._cv:
            return sum(1 for e in self._queue if not e.cancelled)

    def next_deadline(self) -> float | None:
        with self._cv:
            live = [e.when for e in self._queue if not e.cancelled]
        return min(live) if live else None

    def drain_errors(self) -> list[BaseException]:
        """Take the exceptions raised by managed threads or timers and not yet re-raised."""
        errors = self._pacer_errors + self._errors
        self._pacer_errors, self._errors = [], []
        return errors

    # ------------------------------------------------------------ managed work
    def spawn(self, target: Callable[[], Any], name: str) -> threading.Thread:
        """Start a managed thread. It does not run at once: it is queued like a sleeper
        due now, so the scheduler decides when it runs (never alongside its spawner)."""
        wake = threading.Event()

        def body() -> None:
            self._local.managed = True
            wake.wait()
            try:
                target()
            except BaseException as exc:  # surfaced to the driver, not lost in a daemon thread
                self._errors.append(exc)
            finally:
                with self._cv:
                    self._busy -= 1
                    self._cv.notify_all()

        with self._cv:
            heapq.heappush(self._queue, _Entry(self._now, next(self._seq), wake=wake, managed=True))
            self._cv.notify_all()
        thread = threading.Thread(target=body, name=name, daemon=True)
        thread.start()
        return thread

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass for the calling thread."""
        seconds = max(0.0, float(seconds))
        managed = getattr(self._local, "managed", False)
        wake = threading.Event()
        with self._cv:
            entry = _Entry(self._now + seconds, next(self._seq), wake=wake, managed=managed)
            heapq.heappush(self._queue, entry)
            if managed:
                self._busy -= 1
            self._cv.notify_all()
        wake.wait()

    async def async_sleep(self, seconds: float) -> None:
        # Injected latency inside the fake TFC: simulated time, never real time. The ASGI
        # app runs on the caller's thread, so this parks that thread like sleep() does.
        self.sleep(seconds)

    def call_at(self, when: float, fn: Callable[[], Any]) -> TimerHandle:
        """Run ``fn`` on the driving thread when the clock reaches ``when``."""
        with self._cv:
            entry = _Entry(max(when, self._now), next(self._seq), fn=fn)
            heapq.heappush(self._queue, entry)
            self._cv.notify_all()
        return TimerHandle(entry)

    def call_soon(self, fn: Callable[[], Any]) -> TimerHandle:
        return self.call_at(self._now, fn)

    def call_later(self, delay: float, fn: Callable[[], Any]) -> TimerHandle:
        return self.call_at(self._now + max(0.0, delay), fn)

    # ----------------------------------------------------------------- driving
    def settle(self) -> None:
        """Wait (in real time) until no managed thread is running."""
        with self._cv:
            if not self._cv.wait_for(lambda: self._busy <= 0, timeout=self._stall):
                names = sorted(t.name for t in threading.enumerate() if t.name.startswith("sfn-"))
                raise SimulationStalled(
                    f"{self._busy} managed thread(s) still running after {self._stall:g}s real time "
                    f"at simulated {self._now:.3f}; live executions: {names[:10]}"
                )
        self._raise_errors()

    def step(self, until: float | None = None) -> bool:
        """Wake the single earliest actor due at or before ``until`` (any, if None).
        Returns False when nothing is due."""
        with self._drive:
            self.settle()
            with self._cv:
                while self._queue and self._queue[0].cancelled:
                    heapq.heappop(self._queue)
                if not self._queue or (until is not None and self._queue[0].when > until):
                    return False
                entry = heapq.heappop(self._queue)
                if entry.when > self._now:
                    self._now = entry.when
                if entry.wake is not None:
                    if entry.managed:
                        self._busy += 1
                    entry.wake.set()
            if entry.fn is not None:
                try:
                    entry.fn()
                except BaseException as exc:
                    self._errors.append(exc)
            self.settle()
            return True

    def run_due(self) -> int:
        """Run everything due now (time does not move)."""
        n = 0
        while self.step(until=self._now):
            n += 1
        return n

    def advance(self, seconds: float) -> float:
        """Move simulated time forward by ``seconds``, running everything that falls due."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        return self.advance_to(self._now + seconds)

    def advance_to(self, when: float) -> float:
        with self._drive:
            while self.step(until=when):
                pass
            with self._cv:
                if when > self._now:
                    self._now = when
            return self._now

    def run_until(self, predicate: Callable[[], bool], *, max_seconds: float) -> bool:
        """Step until ``predicate()`` holds or ``max_seconds`` of simulated time pass.
        Time only jumps to the next deadline, so an idle system costs nothing."""
        deadline = self._now + max_seconds
        with self._drive:
            self.run_due()
            while not predicate():
                if not self.step(until=deadline):
                    if predicate():
                        return True
                    self.advance_to(deadline)
                    return predicate()
            return True

    def _raise_errors(self) -> None:
        if self._errors:
            err = self._errors[0]
            self._errors.clear()
            raise err

    # ------------------------------------------------------------------ pacing
    def start_pacer(self, time_scale: float) -> None:
        """Let simulated time flow at ``time_scale`` simulated seconds per real second."""
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = time_scale
        self._pacer_stop.clear()
        self._pacer = threading.Thread(target=self._pace, name="sim-clock-pacer", daemon=True)
        self._pacer.start()

    def stop_pacer(self) -> None:
        self._pacer_stop.set()
        with self._cv:
            self._cv.notify_all()
        if self._pacer is not None:
            self._pacer.join(timeout=5)
            self._pacer = None

    def _pace(self) -> None:
        assert self.time_scale is not None
        tick = 0.05
        last = time.monotonic()
        while not self._pacer_stop.is_set():
            self._pacer_stop.wait(tick)
            real = time.monotonic()
            target = self._now + (real - last) * self.time_scale
            last = real
            try:
                self.advance_to(target)
            except Exception as exc:  # keep serving; the error is kept for whoever asks
                self._pacer_errors.append(exc)
