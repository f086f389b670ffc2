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

Two more primitives give time limits their meaning on this clock:

* :meth:`deadline` puts a limit on the calling thread: a :meth:`sleep` that would reach it
  wakes exactly at the limit and raises :class:`DeadlineExceeded` (a Lambda's timeout:
  the handler is cut off there, as Lambda does).
* :meth:`run_child` runs work on a child thread *in the caller's place* (no other actor
  runs in between, so ordering is as if inline) and waits for it at most ``timeout``
  simulated seconds; past that the caller goes on and the child keeps running as an actor
  of its own (a Task's or an execution's TimeoutSeconds: Step Functions stops waiting, the
  Lambda it invoked does not stop).

Two ways to drive it: a test or scenario calls :meth:`advance` / :meth:`run_until`
(simulated time jumps straight to the next deadline), or :meth:`start_pacer` runs a
background thread that keeps simulated time flowing at ``time_scale`` simulated seconds
per real second (``python -m sim up``).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fake_tfc.clock import VIRTUAL_EPOCH

#: Real seconds the scheduler waits for a running actor to park before calling it stuck.
DEFAULT_STALL_SECONDS = 60.0


class SimulationStalled(RuntimeError):
    """A managed thread kept running (or blocked on something other than the clock)."""


class DeadlineExceeded(BaseException):
    """Raised out of :meth:`SimClock.sleep` when the thread's :meth:`SimClock.deadline` is
    reached. A BaseException, so that handler code's ``except Exception`` cannot swallow
    it; ``token`` says which deadline (they nest)."""

    def __init__(self, token: object, at: float) -> None:
        super().__init__(f"deadline reached at simulated {at:.3f}")
        self.token = token
        self.at = at


class SimEvent:
    """``threading.Event`` on the simulated clock, for moto's callback endpoints
    (``.waitForTaskToken``, heartbeats): :meth:`wait` with a timeout parks a managed thread
    until the event is set or the timeout passes in simulated time; :meth:`set` (from any
    thread: a test's SendTaskSuccess, a Lambda's SendTaskHeartbeat) queues each waiter to run
    now, in scheduling order, like any other actor."""

    def __init__(self, clock: SimClock) -> None:
        self._clock = clock
        self._flag = False
        self._waiters: list[tuple[threading.Event, _Entry | None]] = []

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        clock = self._clock
        with clock._cv:
            self._flag = True
            waiters, self._waiters = self._waiters, []
            for wake, entry in waiters:
                self._wake_now(wake, entry)
            clock._cv.notify_all()

    def _wake_now(self, wake: threading.Event, entry: _Entry | None) -> None:
        # under the clock's lock: the waiter runs next at the current time, in order
        clock = self._clock
        if entry is not None:
            entry.cancelled = True
        heapq.heappush(clock._queue, _Entry(clock._now, next(clock._seq), wake=wake, managed=True))

    def clear(self) -> None:
        self._flag = False

    def wait(self, timeout: float | None = None) -> bool:
        clock = self._clock
        if self._flag:
            return True
        if not clock.is_managed():  # off the scheduler: nothing to park; answer now
            return self._flag
        wake = threading.Event()

        def register(entry: _Entry | None) -> None:
            if self._flag:  # set between the check above and now
                self._wake_now(wake, entry)
            else:
                self._waiters.append((wake, entry))

        until = None if timeout is None else clock._now + max(0.0, float(timeout))
        clock._park(until, wake, register)
        with clock._cv:
            self._waiters = [w for w in self._waiters if w[0] is not wake]
        return self._flag


class _Child:
    """Bookkeeping of one :meth:`SimClock.run_child` call (guarded by the clock's lock)."""

    def __init__(self) -> None:
        self.handback: threading.Event | None = threading.Event()  # set: the caller runs again
        self.done = False
        self.error: BaseException | None = None
        self.parent_wake: threading.Event | None = None  # the caller waits for the child
        self.parent_entry: _Entry | None = None  # ... until this deadline
        self.parent_gone = False  # the caller stopped waiting (deadline)


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
        #: Called on the driving thread before each step, while no actor runs: the one
        #: moment a layer that sleeps through quiet spans (the alarm evaluator) can look at
        #: what changed since the last step, before time moves on.
        self.before_step: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ reading
    def now(self) -> float:
        return self._now

    def event(self) -> SimEvent:
        """A ``threading.Event`` whose waits are on this clock."""
        return SimEvent(self)

    def is_managed(self) -> bool:
        """Whether the calling thread is one of the scheduler's actors."""
        return bool(getattr(self._local, "managed", False))

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
        """Let ``seconds`` of simulated time pass for the calling thread; raise
        :class:`DeadlineExceeded`, at the deadline, if the thread has one that comes first."""
        until = self._now + max(0.0, float(seconds))
        limit = self._earliest_deadline()
        if limit is not None and limit[0] <= until:
            self._park(max(limit[0], self._now))
            raise DeadlineExceeded(limit[1], limit[0])
        self._park(until)

    def _park(
        self, until: float | None, wake: threading.Event | None = None, on_entry: Callable[[_Entry | None], None] | None = None
    ) -> None:
        """Park the calling thread until the scheduler wakes it at ``until`` (or, with
        ``until=None``, until someone sets ``wake``). ``on_entry`` is called with the heap
        entry (or None) under the clock's lock, before the thread lets go of its slot. A
        child of :meth:`run_child` parking for the first time hands its running slot back to
        its caller instead."""
        managed = getattr(self._local, "managed", False)
        wake = wake or threading.Event()
        with self._cv:
            entry = None
            if until is not None:
                entry = _Entry(until, next(self._seq), wake=wake, managed=managed)
                heapq.heappush(self._queue, entry)
            if on_entry is not None:
                on_entry(entry)
            child: _Child | None = getattr(self._local, "child", None)
            if child is not None and child.handback is not None:
                handback, child.handback = child.handback, None
                handback.set()  # the caller takes over this thread's slot
            elif managed:
                self._busy -= 1
            self._cv.notify_all()
        wake.wait()

    def _earliest_deadline(self) -> tuple[float, object] | None:
        limits: list[tuple[float, object]] = getattr(self._local, "deadlines", [])
        return min(limits, key=lambda d: d[0]) if limits else None

    @contextlib.contextmanager
    def deadline(self, at: float) -> Iterator[object]:
        """Limit the calling thread to simulated time ``at`` while the block runs; yields
        the token its :class:`DeadlineExceeded` will carry."""
        token = object()
        limits: list[tuple[float, object]] = self._local.__dict__.setdefault("deadlines", [])
        limits.append((at, token))
        try:
            yield token
        finally:
            limits.remove((at, token))

    def run_child(self, target: Callable[[], Any], *, name: str, timeout: float | None = None) -> bool:
        """Run ``target`` on a new managed thread in the calling managed thread's place and
        wait for it, at most ``timeout`` simulated seconds (None: no limit).

        Returns True when it finished in time (its exception, if any, re-raised here), False
        when the time ran out first: the child then runs on as an actor of its own. Called
        on a thread the clock does not manage, ``target`` simply runs inline.
        """
        if not getattr(self._local, "managed", False):
            target()
            return True
        child = _Child()
        handback = child.handback
        assert handback is not None

        def body() -> None:
            self._local.managed = True
            self._local.child = child
            try:
                target()
            except BaseException as exc:
                child.error = exc
            finally:
                self._child_finished(child)

        threading.Thread(target=body, name=f"{threading.current_thread().name}/{name}", daemon=True).start()
        handback.wait()  # the child parked, or finished, without ever parking
        with self._cv:
            finished = child.done
        if not finished:
            wake = threading.Event()
            child.parent_wake = wake
            until = None if timeout is None else self._now + max(0.0, float(timeout))

            def remember(entry: _Entry | None) -> None:
                child.parent_entry = entry

            self._park(until, wake, remember)
            with self._cv:
                finished = child.done
                child.parent_gone = not finished
        if finished and child.error is not None:
            raise child.error
        return finished

    def _child_finished(self, child: _Child) -> None:
        with self._cv:
            child.done = True
            if child.handback is not None:  # never parked: the caller takes its slot back
                handback, child.handback = child.handback, None
                handback.set()
            elif child.parent_wake is not None and not child.parent_gone and not child.parent_wake.is_set():
                # The caller waits: it runs on in this thread's slot, right now, exactly as
                # if the work had been done inline (its deadline entry is dropped).
                if child.parent_entry is not None:
                    child.parent_entry.cancelled = True
                child.parent_wake.set()
            else:
                if child.error is not None and child.parent_gone:
                    self._errors.append(child.error)
                self._busy -= 1
            self._cv.notify_all()

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
            for hook in self.before_step:
                hook()
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
        self.time_scale = None

    def _pace(self) -> None:
        scale = self.time_scale
        assert scale is not None
        tick = 0.05
        last = time.monotonic()
        while not self._pacer_stop.is_set():
            self._pacer_stop.wait(tick)
            real = time.monotonic()
            target = self._now + (real - last) * scale
            last = real
            try:
                self.advance_to(target)
            except Exception as exc:  # keep serving; the error is kept for whoever asks
                self._pacer_errors.append(exc)
