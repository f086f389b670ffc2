"""An execution of one of the control plane's flows, read from its history (the
GetExecutionHistory pages), its describe-execution output, or both; or from the flow DLQ
message its Finalize left.

What is read, and how it is checked:

- the pages are put together by event id (any order; a page given twice is harmless): the
  ids must run from 1 (ExecutionStarted) without a gap to an event that ends the execution,
  and the last page must carry no ``nextToken`` (else: truncated, naming what is missing);
- every event type must be one Step Functions documents (else: unknown event type) and one
  this control plane's definition can produce, in a state the definition has (else: the
  history of another state machine, naming the event and the state);
- the input must be a tenant flow's (``detail``: the bus event; ``flow``: the constants).

Times: only differences between two events of the same history are used (an engine may
stamp histories with the wall clock while the rest of the simulation runs on simulated
time), and only where it matters (how long a successful Finalize took). The replay's own
timing comes from the definition: the Wait's ``wait_seconds`` and the Retry intervals.

Engine divergences handled here: MiniStack writes no ``TaskStarted`` and no
``previousEventId`` (neither is needed), and names every handler error
``Runtime.HandlerError``; the control plane's own TFC errors say which HTTP status they
got, so the exception behind that name is recovered from the message for the notes
(:func:`handler_error_behind`). The name as recorded is what the replay injects, so the
Retry blocks match the attempts the history shows.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import ValidationError

from sim.controlplane.flow import FlowConstants
from sim.controlplane.models import TenantEvent
from sim.stack.wiring import Stack

from .documents import Document, epoch
from .errors import IncidentInputError

#: Every history event type Step Functions documents (HistoryEventType, botocore 1.40).
KNOWN_EVENT_TYPES = frozenset(
    """ActivityFailed ActivityScheduled ActivityScheduleFailed ActivityStarted ActivitySucceeded ActivityTimedOut
    ChoiceStateEntered ChoiceStateExited ExecutionAborted ExecutionFailed ExecutionStarted ExecutionSucceeded
    ExecutionTimedOut FailStateEntered LambdaFunctionFailed LambdaFunctionScheduled LambdaFunctionScheduleFailed
    LambdaFunctionStarted LambdaFunctionStartFailed LambdaFunctionSucceeded LambdaFunctionTimedOut
    MapIterationAborted MapIterationFailed MapIterationStarted MapIterationSucceeded MapStateAborted
    MapStateEntered MapStateExited MapStateFailed MapStateStarted MapStateSucceeded ParallelStateAborted
    ParallelStateEntered ParallelStateExited ParallelStateFailed ParallelStateStarted ParallelStateSucceeded
    PassStateEntered PassStateExited SucceedStateEntered SucceedStateExited TaskFailed TaskScheduled TaskStarted
    TaskStartFailed TaskStateAborted TaskStateEntered TaskStateExited TaskSubmitFailed TaskSubmitted
    TaskSucceeded TaskTimedOut WaitStateAborted WaitStateEntered WaitStateExited MapRunAborted MapRunFailed
    MapRunStarted MapRunSucceeded ExecutionRedriven MapRunRedriven EvaluationFailed""".split()
)
SCHEDULED = frozenset({"TaskScheduled", "LambdaFunctionScheduled"})
SUCCEEDED = frozenset({"TaskSucceeded", "LambdaFunctionSucceeded"})
FAILED = frozenset(
    {
        "TaskFailed", "TaskTimedOut", "TaskStartFailed", "TaskSubmitFailed",
        "LambdaFunctionFailed", "LambdaFunctionTimedOut", "LambdaFunctionStartFailed", "LambdaFunctionScheduleFailed",
    }
)
ENDS = {
    "ExecutionSucceeded": "SUCCEEDED", "ExecutionFailed": "FAILED",
    "ExecutionAborted": "ABORTED", "ExecutionTimedOut": "TIMED_OUT",
}
#: What this control plane's definition can write (Pass, Task, Wait, Choice and Fail states).
PRODUCED = (
    SCHEDULED | SUCCEEDED | FAILED | ENDS.keys()
    | {"ExecutionStarted", "ExecutionRedriven", "EvaluationFailed", "TaskStarted", "TaskSubmitted", "LambdaFunctionStarted", "TaskStateAborted", "WaitStateAborted"}
    | {f"{kind}State{edge}" for kind in ("Pass", "Task", "Wait", "Choice") for edge in ("Entered", "Exited")}
    | {"FailStateEntered"}
)
#: The Task states that invoke a function of the stack, and that function's short name.
FUNCTIONS = {"Trigger": "trigger", "Check": "check", "Finalize": "finalize"}
THROTTLE = "Lambda.TooManyRequestsException"
#: The control plane's TFC errors by HTTP status (``sim.controlplane.tfc_client``).
_TFC_BY_STATUS = {401: "TFCAuthError", 403: "TFCAuthError", 404: "TFCNotFound", 409: "TFCConflict", 422: "TFCInvalid"}


@cache
def definition() -> dict[str, Any]:
    """The definition the replay runs (today's): its state names and Retry blocks."""
    return Stack().definition()


def state_names() -> frozenset[str]:
    return frozenset(definition()["States"])


def retry_interval(state: str, error: str, used: Counter[int]) -> float | None:
    """Seconds before the next attempt after ``error`` in ``state`` under today's
    definition, or None if no Retry covers it any more. ``used`` counts, per retrier
    index, the retries already made in this visit of the state (updated here)."""
    for index, retrier in enumerate(definition()["States"].get(state, {}).get("Retry", [])):
        names = retrier["ErrorEquals"]
        if error in names or "States.ALL" in names or ("States.TaskFailed" in names and error != "States.Timeout"):
            if used[index] >= retrier.get("MaxAttempts", 3):
                return None
            used[index] += 1
            interval: float = retrier.get("IntervalSeconds", 1) * retrier.get("BackoffRate", 2.0) ** (used[index] - 1)
            return interval
    return None


def handler_error_behind(error: str | None, cause: str | None) -> str | None:
    """The exception a handler raised, when the engine reported a generic name
    (MiniStack: ``Runtime.HandlerError``) but the message says which TFC error it was."""
    if error != "Runtime.HandlerError" or not cause:
        return None
    try:
        message = json.loads(cause).get("errorMessage", "")
    except (ValueError, AttributeError):
        message = cause
    m = re.search(r"HTTP (\d{3})", str(message))
    if m:
        status = int(m.group(1))
        if status == 429 or status >= 500:
            return "TFCUnavailable"
        return _TFC_BY_STATUS.get(status, "TFCError")
    if "no answer after" in str(message):
        return "TFCUnavailable"
    return None


@dataclass
class Attempt:
    """One invocation of a Task state's resource (a Lambda function, or SQS for DeadLetter)."""

    state: str
    visit: int  # the nth time the execution entered this state
    n: int  # the attempt within that visit (1-based)
    event_id: int
    scheduled: float | None  # the history's own time (only differences are used)
    ended: float | None = None
    error: str | None = None
    cause: str | None = None
    payload: Any = None  # what the function returned, on success
    #: Seconds after the execution's start at which the replay makes this attempt.
    model_t: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.ended is not None

    @property
    def duration(self) -> float | None:
        return None if self.scheduled is None or self.ended is None else self.ended - self.scheduled


@dataclass
class Execution:
    """One flow's execution, as far as the documents tell."""

    source: str
    name: str | None
    state_machine: str | None
    status: str  # SUCCEEDED, FAILED, ABORTED, TIMED_OUT, RUNNING
    input: dict[str, Any]
    detail: TenantEvent
    flow: FlowConstants
    attempts: list[Attempt] = field(default_factory=list)
    #: The execution's state when it entered Finalize (``poll``, ``run``, ``error``).
    finalize_input: dict[str, Any] | None = None
    #: The last successful Finalize's result, when no history says it attempt by attempt.
    result_status: str | None = None
    dead_lettered: bool = False
    error: str | None = None  # the execution's own error (ExecutionFailed)
    has_history: bool = True
    event_count: int = 0
    #: Observed Wait durations (the history's own clock), for a note.
    waits: list[float] = field(default_factory=list)
    #: Why the attempts are assumed (no history): a note for the scenario.
    assumed: str | None = None
    sources: list[str] = field(default_factory=list)

    @property
    def request_id(self) -> str:
        return self.detail.request_id

    @property
    def tenant(self) -> str:
        return self.detail.tenant_code

    def of(self, state: str) -> list[Attempt]:
        return [a for a in self.attempts if a.state == state]

    @property
    def trigger(self) -> Attempt | None:
        """The Trigger attempt that started (or found) the run."""
        return next((a for a in self.of("Trigger") if a.ok), None)

    @property
    def run_id(self) -> str | None:
        t = self.trigger
        if t is not None and isinstance(t.payload, dict):
            return _str(t.payload.get("run_id"))
        run = (self.finalize_input or {}).get("run")
        return _str(run.get("run_id")) if isinstance(run, dict) else None

    @property
    def workspace_id(self) -> str | None:
        t = self.trigger
        if t is not None and isinstance(t.payload, dict):
            return _str(t.payload.get("workspace_id"))
        run = (self.finalize_input or {}).get("run")
        return _str(run.get("workspace_id")) if isinstance(run, dict) else None

    @property
    def polls(self) -> list[tuple[Attempt, dict[str, Any]]]:
        """The successful Checks, with what each saw (``count``, ``status``, ``finished``)."""
        return [(a, a.payload) for a in self.of("Check") if a.ok and isinstance(a.payload, dict)]

    @property
    def finalized(self) -> str | None:
        """The status Finalize recorded (``ready``, ``failed``, ``deleted``, ``superseded``),
        None if it never succeeded."""
        for a in reversed(self.of("Finalize")):
            if a.ok and isinstance(a.payload, dict):
                return _str(a.payload.get("status"))
        return self.result_status


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _payload(output: str | None, lambda_invoke: bool) -> Any:
    try:
        data = json.loads(output) if output else None
    except ValueError:
        return None
    if lambda_invoke and isinstance(data, dict) and "Payload" in data:
        return data["Payload"]
    return data


def parse_input(raw: Any, where: str) -> tuple[dict[str, Any], TenantEvent, FlowConstants]:
    """A flow's input (the rule's input transformer output): ``detail`` and ``flow``."""
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise IncidentInputError(f"{where}: the execution input is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("detail"), dict) or not isinstance(data.get("flow"), dict):
        keys = ", ".join(sorted(data)) if isinstance(data, dict) else type(data).__name__
        raise IncidentInputError(
            f"{where}: the execution input is not a tenant flow's (it has {keys or 'nothing'}; a flow's input has detail and flow): "
            "the history of another state machine?"
        )
    try:
        detail = TenantEvent.model_validate(data["detail"])
        flow = FlowConstants.model_validate(data["flow"])
    except ValidationError as exc:
        err = exc.errors()[0]
        field_name = ".".join(str(p) for p in err["loc"])
        raise IncidentInputError(f"{where}: the execution input is not a tenant flow's: {field_name}: {err['msg']}") from None
    if detail.action != flow.action:
        raise IncidentInputError(f"{where}: the input's event is a {detail.action.value} but its flow constants are {flow.action.value}'s")
    return data, detail, flow


def assemble(source: str, pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events of one history, in id order, or an error naming what is missing."""
    by_id: dict[int, dict[str, Any]] = {}
    for page in pages:
        for event in page.get("events") or []:
            if not isinstance(event, dict) or not isinstance(event.get("id"), int) or not isinstance(event.get("type"), str):
                raise IncidentInputError(f"{source}: an event without an integer id and a type: {json.dumps(event, default=str)[:120]}")
            seen = by_id.get(event["id"])
            if seen is not None and _comparable(seen) != _comparable(event):
                raise IncidentInputError(
                    f"{source}: two different events with id {event['id']} ({seen['type']}, {event['type']}): "
                    "the histories of two executions in one file? Give one execution's history per file"
                )
            by_id[event["id"]] = event
    if not by_id:
        raise IncidentInputError(f"{source}: a history page with no events")
    ids = sorted(by_id)
    if ids[0] != 1:
        raise IncidentInputError(f"{source}: the history is truncated: it starts at event {ids[0]}, events 1-{ids[0] - 1} (ExecutionStarted first) are missing: a page is missing")
    for a, b in zip(ids, ids[1:]):
        if b != a + 1:
            raise IncidentInputError(f"{source}: the history is truncated: events {a + 1}-{b - 1} are missing (the ids jump from {a} to {b}): a page is missing")
    # Each page but the last fetched carries a token (``NextToken`` when the CLI's
    # --max-items cut it): if every page does, the last one is missing.
    final_missing = all(p.get("nextToken") or p.get("NextToken") for p in pages)
    events = [by_id[i] for i in ids]
    if events[-1]["type"] not in ENDS:
        more = " (its last page still has a nextToken: more pages follow)" if final_missing else ""
        raise IncidentInputError(
            f"{source}: the history is truncated: it ends at event {ids[-1]} ({events[-1]['type']}) without "
            f"ExecutionSucceeded, ExecutionFailed, ExecutionAborted or ExecutionTimedOut{more}; give every page, of an execution that has ended"
        )
    if final_missing:
        raise IncidentInputError(f"{source}: the history is truncated: every page given has a nextToken (more events follow); give every page")
    if events[0]["type"] != "ExecutionStarted":
        raise IncidentInputError(f"{source}: event 1 is a {events[0]['type']}, not ExecutionStarted")
    return events


def _comparable(event: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in event.items() if k != "timestamp"}, sort_keys=True, default=str)


def _details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def parse_history(source: str, pages: list[dict[str, Any]]) -> Execution:
    events = assemble(source, pages)
    states = state_names()
    start = events[0]
    where = f"{source}: event 1 (ExecutionStarted)"
    data, detail, flow = parse_input(_details(start).get("input"), where)
    ex = Execution(
        source=source, name=None, state_machine=None, status="RUNNING", input=data, detail=detail, flow=flow,
        event_count=len(events), sources=[source],
    )
    state: str | None = None
    visits: Counter[str] = Counter()
    current: Attempt | None = None
    wait_entered: float | None = None
    for e in events:
        kind, eid = e["type"], e["id"]
        at = epoch(e["timestamp"], f"{source}: event {eid}") if e.get("timestamp") is not None else None
        d = _details(e)
        if kind not in KNOWN_EVENT_TYPES:
            raise IncidentInputError(f"{source}: event {eid} has an unknown event type {kind!r} (not one Step Functions documents): not an execution history, or a corrupted one")
        if kind not in PRODUCED:
            raise IncidentInputError(
                f"{source}: event {eid} is a {kind}, which this control plane's definition never produces "
                f"(its states: {', '.join(sorted(states))}): the history of another state machine?"
            )
        if kind.endswith("StateEntered"):
            name = d.get("name")
            if name not in states:
                raise IncidentInputError(
                    f"{source}: event {eid} enters state {name!r}, which this control plane's definition does not have "
                    f"(its states: {', '.join(sorted(states))}): the history of another state machine?"
                )
            state = str(name)
            visits[state] += 1
            current = None
            if state == "Finalize" and ex.finalize_input is None:
                try:
                    ex.finalize_input = json.loads(d.get("input") or "{}")
                except ValueError:
                    ex.finalize_input = {}
            if kind == "WaitStateEntered":
                wait_entered = at
            if state == "DeadLetter":
                ex.dead_lettered = False  # only once sendMessage succeeded
        elif kind == "WaitStateExited" and wait_entered is not None and at is not None:
            ex.waits.append(at - wait_entered)
        elif kind in SCHEDULED:
            if state is None or state not in FUNCTIONS and state != "DeadLetter":
                raise IncidentInputError(f"{source}: event {eid} schedules a task in state {state!r}, which has none in this control plane's definition: the history of another state machine?")
            resource = f"{d.get('resourceType', '')} {d.get('resource', '')}".lower()
            expected = "sqs" if state == "DeadLetter" else "lambda"
            if kind == "TaskScheduled" and expected not in resource:
                raise IncidentInputError(f"{source}: event {eid}: state {state} runs a {resource.strip() or 'resource'} task, this control plane's runs {expected}: the history of another state machine?")
            n = sum(1 for a in ex.attempts if a.state == state and a.visit == visits[state]) + 1
            current = Attempt(state=state, visit=visits[state], n=n, event_id=eid, scheduled=at)
            ex.attempts.append(current)
        elif kind in SUCCEEDED or kind in FAILED:
            if current is None:
                raise IncidentInputError(f"{source}: event {eid} ({kind}) ends a task that was never scheduled: the history is out of order or truncated")
            current.ended = at
            if kind in SUCCEEDED:
                current.payload = _payload(d.get("output"), lambda_invoke=kind == "TaskSucceeded" and current.state in FUNCTIONS)
                if current.state == "DeadLetter":
                    ex.dead_lettered = True
            else:
                current.error = str(d.get("error") or ("States.Timeout" if "TimedOut" in kind else "States.TaskFailed"))
                current.cause = d.get("cause") if isinstance(d.get("cause"), str) else None
            current = None
        elif kind in ENDS:
            ex.status = ENDS[kind]
            ex.error = d.get("error") if isinstance(d.get("error"), str) else None
    model_timeline(ex)
    return ex


def model_timeline(ex: Execution) -> None:
    """When the replay makes each attempt (seconds after the execution starts): a Check's
    first attempt follows a Wait of ``wait_seconds``; a failed attempt that is tried again
    waits the Retry interval today's definition gives. Lambda time is zero in the replay."""
    t = 0.0
    used: dict[tuple[str, int], Counter[int]] = {}
    for i, a in enumerate(ex.attempts):
        if a.state == "Check" and a.n == 1:
            t += ex.flow.wait_seconds
        a.model_t = t
        nxt = ex.attempts[i + 1] if i + 1 < len(ex.attempts) else None
        if a.error is not None and nxt is not None and nxt.state == a.state and nxt.visit == a.visit:
            interval = retry_interval(a.state, a.error, used.setdefault((a.state, a.visit), Counter()))
            t += interval if interval is not None else 0.0


def from_describe(doc: Document) -> Execution:
    """An execution known only from ``describe-execution`` (no history): its input, its
    status and, when it succeeded, its output (the final state: run, poll, result)."""
    d = doc.data
    data, detail, flow = parse_input(d.get("input"), f"{doc.source}: input")
    status = str(d.get("status"))
    ex = Execution(
        source=doc.source, name=_str(d.get("name")), state_machine=_machine(d.get("stateMachineArn")), status=status,
        input=data, detail=detail, flow=flow, has_history=False, sources=[doc.source],
    )
    if status == "RUNNING":
        raise IncidentInputError(f"{doc.source}: execution {ex.name} is still RUNNING: import an execution that has ended")
    ex.error = _str(d.get("error"))
    output: dict[str, Any] = {}
    if d.get("output"):
        try:
            output = json.loads(d["output"])
        except ValueError:
            raise IncidentInputError(f"{doc.source}: the execution's output is not JSON") from None
    if status == "SUCCEEDED":
        result = output.get("result")
        _assume(ex, output, finalize_error=None, result=_str(result.get("status")) if isinstance(result, dict) else None)
    elif status == "FAILED" and ex.error == "FinalizeFailed":
        _assume(ex, {}, finalize_error={"Error": "States.TaskFailed"}, result=None)
        ex.assumed = (ex.assumed or "") + "; the state Finalize failed in (which run, what Check saw) is only in the flow DLQ message or the history"
    else:
        raise IncidentInputError(f"{doc.source}: execution {ex.name} ended {status} ({ex.error or 'no error'}): without its history the importer cannot tell how; give the history")
    return ex


def from_flow_dlq(source: str, body: dict[str, Any]) -> Execution:
    """An execution known from the state its Finalize left in the flow DLQ."""
    data, detail, flow = parse_input(body, f"{source}: flow DLQ message")
    ex = Execution(
        source=source, name=None, state_machine=None, status="FAILED", input=data, detail=detail, flow=flow,
        has_history=False, error="FinalizeFailed", sources=[source],
    )
    error = body.get("finalize_error")
    _assume(ex, body, finalize_error=error if isinstance(error, dict) else {"Error": "States.TaskFailed"}, result=None)
    return ex


def _assume(ex: Execution, state: dict[str, Any], finalize_error: dict[str, Any] | None, result: str | None) -> None:
    """The attempts of an execution known without its history: one Trigger, one Check per
    poll counted (only the last one's reading known), Finalize once, or, when it failed
    for good, as often as today's Retry blocks allow for its error."""
    ex.finalize_input = {k: state.get(k) for k in ("run", "poll", "error") if k in state}
    raw_run, raw_poll, raw_error = state.get("run"), state.get("poll"), state.get("error")
    run: dict[str, Any] | None = raw_run if isinstance(raw_run, dict) else None
    poll: dict[str, Any] = raw_poll if isinstance(raw_poll, dict) else {}
    error: dict[str, Any] | None = raw_error if isinstance(raw_error, dict) else None
    eid = 0

    def add(name: str, n: int, *, error: str | None = None, payload: Any = None) -> None:
        nonlocal eid
        eid += 1
        ex.attempts.append(Attempt(state=name, visit=1 if name != "Check" else count_checks[0], n=n, event_id=eid, scheduled=None, ended=0.0, error=error, payload=payload))

    def failing(name: str, err: str) -> int:
        """A Task failing on every attempt today's Retry allows for ``err``; the attempts."""
        used: Counter[int] = Counter()
        n = 1
        add(name, n, error=err)
        while retry_interval(name, err, used) is not None:
            n += 1
            add(name, n, error=err)
        return n

    count_checks = [0]
    task_error = str(error.get("Error") or "States.TaskFailed") if error is not None else None
    if run is not None:
        add("Trigger", 1, payload=run)
    elif task_error is not None:
        failing("Trigger", task_error)
    polls = int(poll.get("count") or 0)
    for k in range(1, polls + 1):
        count_checks[0] = k
        add("Check", 1, payload=poll if k == polls else {"count": k})
    if run is not None and task_error is not None:  # the run was started: Check failed
        count_checks[0] = polls + 1
        failing("Check", task_error)
    if finalize_error is None:
        add("Finalize", 1, payload={"status": result} if result else None)
        ex.result_status = result
    else:
        name = str(finalize_error.get("Error") or "States.TaskFailed")
        n = failing("Finalize", name)
        add("DeadLetter", 1, payload={})
        ex.dead_lettered = True
    ex.assumed = (
        f"no history: assumed one Trigger, {polls} Check(s) (only the last one's reading known), "
        + (f"a Task failing with {task_error} as often as today's Retry allows, " if task_error else "")
        + ("Finalize once" if finalize_error is None else f"Finalize failing {n} time(s) ({name}: today's Retry blocks)")
        + ", and no other Lambda errors"
    )
    model_timeline(ex)


def _machine(arn: Any) -> str | None:
    return arn.rsplit(":", 1)[-1] if isinstance(arn, str) and arn else None


def attach_describe(ex: Execution, doc: Document) -> None:
    """Check a describe-execution against the history it describes and take its names."""
    d = doc.data
    _, detail, _ = parse_input(d.get("input"), f"{doc.source}: input")
    if detail != ex.detail:
        raise IncidentInputError(f"{doc.source}: describes request {detail.request_id}, not the history's ({ex.request_id})")
    status = str(d.get("status"))
    if status != ex.status:
        raise IncidentInputError(f"{doc.source}: says the execution is {status}, its history ({ex.source}) says {ex.status}: not the same execution?")
    ex.name = _str(d.get("name"))
    ex.state_machine = _machine(d.get("stateMachineArn"))
    ex.sources.append(doc.source)
