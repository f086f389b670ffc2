"""SimClock: the discrete-event clock and the one scheduler of the embedded backend.

Nothing here waits with time.sleep: managed threads are driven by the clock itself, and
the only real-time waits are threading.Event.wait(timeout) on a condition (the pacer)
or the scheduler's own stall timeout.
"""

from __future__ import annotations

import threading
import time

import pytest

from sim.engines.embedded.clock import DeadlineExceeded, SimClock, SimulationStalled

START = 1_000_000.0
#: A broken scheduler fails a test in seconds instead of the default minute.
STALL = 5.0


class Boom(Exception):
    pass


# ------------------------------------------------------------------------ timers
def test_timers_run_in_time_then_sequence_order_and_time_jumps_to_each_deadline():
    clock = SimClock(START, stall_seconds=STALL)
    log: list[tuple[str, float]] = []

    def rec(name: str):
        return lambda: log.append((name, clock.now()))

    clock.call_at(START + 30, rec("a"))
    clock.call_at(START + 10, rec("b"))
    clock.call_at(START + 10, rec("c"))  # same time as b, scheduled later: runs after b
    clock.call_at(START + 20, rec("d"))

    assert clock.pending() == 4
    assert clock.next_deadline() == START + 10

    # One step at a time: each step jumps exactly to the next deadline.
    assert clock.step() is True
    assert log == [("b", START + 10)] and clock.now() == START + 10
    assert clock.step() is True
    assert log[-1] == ("c", START + 10) and clock.now() == START + 10
    assert clock.step() is True
    assert log[-1] == ("d", START + 20) and clock.now() == START + 20
    assert clock.step() is True
    assert log[-1] == ("a", START + 30) and clock.now() == START + 30
    assert clock.step() is False  # nothing left
    assert clock.now() == START + 30
    assert [name for name, _ in log] == ["b", "c", "d", "a"]


def test_call_at_in_the_past_runs_at_the_current_time_not_earlier():
    clock = SimClock(START, stall_seconds=STALL)
    seen: list[float] = []
    handle = clock.call_at(START - 500, lambda: seen.append(clock.now()))
    assert handle.when == START
    assert clock.run_due() == 1
    assert seen == [START]
    assert clock.now() == START


def test_advance_runs_everything_due_and_lands_exactly_on_the_target():
    clock = SimClock(START, stall_seconds=STALL)
    log: list[tuple[str, float]] = []
    clock.call_at(START + 5, lambda: log.append(("five", clock.now())))
    # A timer that schedules another one inside the window: that one runs too.
    clock.call_at(START + 40, lambda: clock.call_later(20, lambda: log.append(("chained", clock.now()))))
    clock.call_at(START + 100, lambda: log.append(("edge", clock.now())))  # exactly at the target: due
    clock.call_at(START + 100.5, lambda: log.append(("late", clock.now())))  # after the target: not due

    assert clock.advance(100) == START + 100
    assert clock.now() == START + 100
    assert log == [("five", START + 5), ("chained", START + 60), ("edge", START + 100)]
    assert clock.pending() == 1 and clock.next_deadline() == START + 100.5

    # Nothing due: time still moves to the target.
    assert clock.advance(0.25) == START + 100.25
    assert log[-1][0] == "edge"
    clock.advance(0.25)
    assert log[-1] == ("late", START + 100.5)


def test_advance_backwards_is_refused():
    clock = SimClock(START, stall_seconds=STALL)
    with pytest.raises(ValueError):
        clock.advance(-1)
    assert clock.now() == START


def test_cancelled_timer_never_runs():
    clock = SimClock(START, stall_seconds=STALL)
    ran: list[str] = []
    keep = clock.call_at(START + 10, lambda: ran.append("kept"))
    gone = clock.call_at(START + 5, lambda: ran.append("cancelled"))
    gone.cancel()
    assert clock.pending() == 1
    assert clock.next_deadline() == keep.when == START + 10
    clock.advance(60)
    assert ran == ["kept"]
    assert clock.pending() == 0 and clock.next_deadline() is None


# --------------------------------------------------------------- managed threads
def test_managed_thread_sleep_parks_and_resumes_at_now_plus_seconds():
    clock = SimClock(START, stall_seconds=STALL)
    seen: dict[str, float] = {}

    def body() -> None:
        seen["before"] = clock.now()
        clock.sleep(42)
        seen["after"] = clock.now()

    clock.spawn(body, name="sfn-sleeper")
    clock.settle()
    assert seen == {}  # a spawned thread waits for the scheduler; it never runs beside its spawner
    clock.run_due()  # returns once the thread has run and parked on the clock
    assert clock.busy == 0
    assert seen == {"before": START}
    assert clock.pending() == 1 and clock.next_deadline() == START + 42

    clock.advance(41)
    assert "after" not in seen  # not yet due

    clock.advance(100)
    assert seen["after"] == START + 42
    assert clock.now() == START + 141
    assert clock.pending() == 0


def _interleave_once() -> list[tuple[str, float]]:
    clock = SimClock(0.0, stall_seconds=STALL)
    log: list[tuple[str, float]] = []

    def worker(name: str, naps: list[float]):
        def body() -> None:
            for nap in naps:
                clock.sleep(nap)
                log.append((name, clock.now()))

        return body

    # Both start at once (their first sleeps race in real time, but their deadlines differ).
    threads = [clock.spawn(worker("A", [10, 10, 10]), name="sfn-A"), clock.spawn(worker("B", [15, 15]), name="sfn-B")]
    clock.advance(1000)
    for t in threads:
        t.join(timeout=5)
        assert not t.is_alive()
    return log


def test_two_managed_threads_interleave_strictly_in_deadline_order_every_time():
    # A wakes at 10, 20, 30; B at 15, 30. At t=30 both are due: B scheduled its wake-up
    # (at t=15) before A did (at t=20), so B goes first.
    expected = [("A", 10.0), ("B", 15.0), ("A", 20.0), ("B", 30.0), ("A", 30.0)]
    for _ in range(20):
        assert _interleave_once() == expected


# ------------------------------------------------------- deadlines and run_child
def test_a_sleep_reaching_the_threads_deadline_wakes_exactly_there_and_raises():
    """A Lambda's timeout: the handler is cut off at the deadline, not at the end of its nap."""
    clock = SimClock(START, stall_seconds=STALL)
    seen: list[tuple[str, float]] = []

    def body() -> None:
        with clock.deadline(START + 30) as token:
            clock.sleep(10)  # well within
            seen.append(("awake", clock.now()))
            try:
                clock.sleep(100)
            except DeadlineExceeded as exc:
                seen.append(("cut", clock.now()))
                assert exc.token is token and exc.at == START + 30
        clock.sleep(5)  # no deadline any more
        seen.append(("after", clock.now()))

    clock.spawn(body, name="sfn-deadline")
    clock.advance(1000)
    assert seen == [("awake", START + 10), ("cut", START + 30), ("after", START + 35)]


def test_nested_deadlines_the_earliest_fires_with_its_own_token():
    clock = SimClock(START, stall_seconds=STALL)
    caught: list[object] = []
    tokens: dict[str, object] = {}

    def body() -> None:
        with clock.deadline(START + 60) as outer:
            tokens["outer"] = outer
            try:
                with clock.deadline(START + 20) as inner:
                    tokens["inner"] = inner
                    clock.sleep(50)
            except DeadlineExceeded as exc:
                caught.append(exc.token)
            try:
                clock.sleep(50)
            except DeadlineExceeded as exc:
                caught.append(exc.token)

    clock.spawn(body, name="sfn-nested")
    clock.advance(1000)
    assert caught == [tokens["inner"], tokens["outer"]]


def test_run_child_without_a_nap_is_exactly_inline():
    """No other actor runs between the caller and its child: ordering is as if inline."""
    clock = SimClock(START, stall_seconds=STALL)
    log: list[str] = []

    def parent() -> None:
        log.append("parent")
        assert clock.run_child(lambda: log.append("child"), name="c", timeout=5) is True
        log.append("parent again")

    clock.spawn(parent, name="sfn-parent")
    clock.spawn(lambda: log.append("other"), name="sfn-other")  # due now as well, queued after
    clock.run_due()
    assert log == ["parent", "child", "parent again", "other"]
    assert clock.pending() == 0 and clock.busy == 0


def test_run_child_that_finishes_in_time_hands_back_at_its_end():
    clock = SimClock(START, stall_seconds=STALL)
    log: list[tuple[str, float]] = []

    def child() -> None:
        clock.sleep(7)
        log.append(("child done", clock.now()))

    def parent() -> None:
        assert clock.run_child(child, name="c", timeout=10) is True
        log.append(("parent resumes", clock.now()))

    clock.spawn(parent, name="sfn-parent")
    clock.advance(100)
    assert log == [("child done", START + 7), ("parent resumes", START + 7)]
    assert clock.pending() == 0  # the parent's deadline was dropped


def test_run_child_past_its_timeout_returns_false_and_the_child_runs_on():
    """A Task's TimeoutSeconds: Step Functions stops waiting, the Lambda does not stop."""
    clock = SimClock(START, stall_seconds=STALL)
    log: list[tuple[str, float]] = []

    def child() -> None:
        clock.sleep(7)
        log.append(("child done", clock.now()))

    def parent() -> None:
        assert clock.run_child(child, name="c", timeout=3) is False
        log.append(("parent gives up", clock.now()))
        clock.sleep(1)
        log.append(("parent goes on", clock.now()))

    clock.spawn(parent, name="sfn-parent")
    clock.advance(100)
    assert log == [("parent gives up", START + 3), ("parent goes on", START + 4), ("child done", START + 7)]
    assert clock.busy == 0 and clock.pending() == 0


def test_run_child_reraises_the_childs_error_in_the_caller():
    clock = SimClock(START, stall_seconds=STALL)
    caught: list[str] = []

    def child() -> None:
        clock.sleep(2)
        raise Boom("in the child")

    def parent() -> None:
        try:
            clock.run_child(child, name="c", timeout=10)
        except Boom as exc:
            caught.append(str(exc))

    clock.spawn(parent, name="sfn-parent")
    clock.advance(100)
    assert caught == ["in the child"]


def test_run_child_off_the_scheduler_runs_inline():
    clock = SimClock(START, stall_seconds=STALL)
    ran: list[int] = []
    assert clock.run_child(lambda: ran.append(threading.get_ident()), name="c", timeout=1) is True
    assert ran == [threading.get_ident()]


def test_a_sim_event_wait_ends_when_set_or_at_its_timeout_in_simulated_time():
    """Callbacks and heartbeats: moto's threading.Event waits, moved onto the clock."""
    clock = SimClock(START, stall_seconds=STALL)
    event = clock.event()
    log: list[tuple[str, bool, float]] = []

    def waiter(name: str, timeout: float) -> None:
        log.append((name, event.wait(timeout), clock.now()))

    clock.spawn(lambda: waiter("early", 5), name="sfn-early")
    clock.spawn(lambda: waiter("late", 50), name="sfn-late")
    clock.run_due()
    clock.advance(10)  # "early" times out at +5; "late" still waits
    clock.call_at(START + 20, event.set)  # set by another actor at +20
    clock.advance(100)
    assert log == [("early", False, START + 5), ("late", True, START + 20)]
    assert event.wait(1) is True  # already set: no wait
    assert clock.busy == 0 and clock.pending() == 0


# ---------------------------------------------------------------------- run_until
def test_run_until_stops_as_soon_as_the_predicate_holds():
    clock = SimClock(START, stall_seconds=STALL)
    state = {"done": False, "later": False}
    clock.call_at(START + 50, lambda: state.update(done=True))
    clock.call_at(START + 60, lambda: state.update(later=True))

    assert clock.run_until(lambda: state["done"], max_seconds=1000) is True
    assert clock.now() == START + 50
    assert state["later"] is False  # it did not run past the moment the predicate held
    assert clock.pending() == 1


def test_run_until_with_a_predicate_already_true_does_not_move_time():
    clock = SimClock(START, stall_seconds=STALL)
    clock.call_at(START + 1, lambda: None)
    assert clock.run_until(lambda: True, max_seconds=1000) is True
    assert clock.now() == START


def test_run_until_gives_up_at_max_seconds_and_leaves_the_clock_there():
    clock = SimClock(START, stall_seconds=STALL)
    fired: list[float] = []
    clock.call_at(START + 30, lambda: fired.append(clock.now()))
    clock.call_at(START + 5000, lambda: fired.append(clock.now()))  # beyond the deadline

    assert clock.run_until(lambda: False, max_seconds=1000) is False
    assert clock.now() == START + 1000
    assert fired == [START + 30]
    assert clock.pending() == 1


# ------------------------------------------------------------------------- errors
def test_exception_in_a_managed_thread_is_reraised_by_settle():
    clock = SimClock(START, stall_seconds=STALL)

    def body() -> None:
        raise Boom("in the thread")

    clock.spawn(body, name="sfn-boom")
    with pytest.raises(Boom, match="in the thread"):
        clock.run_due()
    # Re-raised once, not kept around.
    clock.settle()
    assert clock.drain_errors() == []


def test_exception_after_a_managed_sleep_is_reraised_by_the_driver():
    clock = SimClock(START, stall_seconds=STALL)

    def body() -> None:
        clock.sleep(5)
        raise Boom("after sleeping")

    clock.spawn(body, name="sfn-boom-later")
    clock.settle()  # parked: nothing raised yet
    with pytest.raises(Boom, match="after sleeping"):
        clock.advance(10)
    assert clock.now() == START + 5


def test_exception_in_a_timer_is_reraised_by_step():
    clock = SimClock(START, stall_seconds=STALL)
    after: list[str] = []

    def boom() -> None:
        raise Boom("in the timer")

    clock.call_later(3, boom)
    clock.call_later(4, lambda: after.append("next"))
    with pytest.raises(Boom, match="in the timer"):
        clock.step()
    assert clock.now() == START + 3
    # The clock keeps working after the error surfaced.
    assert clock.step() is True
    assert after == ["next"]
    assert clock.drain_errors() == []


def test_a_thread_blocked_on_something_else_makes_settle_raise_stalled():
    clock = SimClock(START, stall_seconds=0.5)
    gate = threading.Event()
    # A safety timeout so the thread can never outlive the test, even if it fails.
    thread = clock.spawn(lambda: gate.wait(10), name="sfn-blocked")
    try:
        t0 = time.monotonic()
        with pytest.raises(SimulationStalled, match="1 managed thread"):
            clock.run_due()
        elapsed = time.monotonic() - t0
        assert 0.4 <= elapsed < 5, elapsed
    finally:
        gate.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    clock.settle()  # the thread ended: quiescent again
    assert clock.busy == 0


# -------------------------------------------------------------------------- pacer
def test_pacer_moves_time_and_fires_timers_until_stopped():
    clock = SimClock(START, stall_seconds=STALL)
    fired = threading.Event()
    fired_on: list[str] = []

    def on_time() -> None:
        fired_on.append(threading.current_thread().name)
        fired.set()

    clock.call_at(START + 60, on_time)
    with pytest.raises(ValueError):
        clock.start_pacer(0)
    clock.start_pacer(10_000)
    try:
        assert clock.time_scale == 10_000
        assert fired.wait(5), "the pacer never reached the timer"
        assert clock.now() >= START + 60
        assert fired_on == ["sim-clock-pacer"]  # run on the driving (pacer) thread
        pacer = next(t for t in threading.enumerate() if t.name == "sim-clock-pacer")
    finally:
        clock.stop_pacer()

    assert not pacer.is_alive()
    stopped_at = clock.now()
    # With the pacer running, 0.2 s real would be ~2000 s simulated; stopped, a timer a
    # second ahead never fires and the clock stays put.
    never = threading.Event()
    clock.call_at(stopped_at + 1, never.set)
    assert not never.wait(0.2)
    assert clock.now() == stopped_at


def test_pacer_keeps_time_flowing_after_a_timer_raises_and_keeps_the_error():
    clock = SimClock(start=0.0, stall_seconds=5)
    fired = threading.Event()

    def boom() -> None:
        raise RuntimeError("timer failed")

    clock.call_at(10, boom)
    clock.call_at(60, fired.set)
    clock.start_pacer(10_000)
    try:
        assert fired.wait(5), "the pacer stopped at the failing timer"
    finally:
        clock.stop_pacer()
    errors = clock.drain_errors()
    assert [str(e) for e in errors] == ["timer failed"]
    assert clock.drain_errors() == []
