"""From the operator's documents to a scenario that reproduces the incident.

The pieces, in order: the executions (history, describe-execution, flow DLQ message) and
the dead-lettered events (the rule's DLQ) are the tenant's *requests*, put in the order and
at the times they were made (``detail.requested_at``); the TFC runs are tied to the
executions that started them (the run id Trigger returned, else the request marker in the
run's message) and become the fake's behaviour per run attempt; the Lambda errors and
throttles of every Task attempt become Lambda faults on the invocation numbers they hit;
what production recorded (Finalize's result, the lifecycle event it published, the DLQs)
becomes the expectations.

Only one tenant is imported at a time: its flows never overlap, so the invocation numbers
of the replay are those of the incident.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from fake_tfc.behaviour import Outcome
from fake_tfc.statuses import RunStatus
from sim.controlplane.models import TenantEvent
from sim.controlplane.statuses import ACTION_ALLOWED_FROM, Action, TenantStatus

from .documents import Document, Inputs, epoch, iso
from .emit import Writer, flow
from .errors import IncidentInputError
from .history import FUNCTIONS, THROTTLE, Execution, attach_describe, from_describe, from_flow_dlq, handler_error_behind, parse_history
from .runs import TERMINAL, Inferred, Observation, RunDoc, infer, read_runs
from .scrub import Scrubber

#: How a run the flow stopped ends in TFC (a discard while it waits, a cancel, a force-cancel).
STOPPED = frozenset({RunStatus.CANCELED, RunStatus.FORCE_CANCELED, RunStatus.DISCARDED})

#: A Finalize that took longer than this had to wait for the outputs (the TFC client's
#: first two retries sleep 0.5 s and 1 s); shorter ones are Lambda and network time.
OUTPUT_WAIT_EVIDENCE = 1.5
#: The TFC client's retry sleeps (``backoff_base * 2**n``, capped): cumulative.
_CLIENT_RETRY_CUMULATIVE = [0.5, 1.5, 3.5, 7.5, 15.5]
DEFAULT_OUTPUT_DELAY = 2.0
#: Start-execution errors by DLQ ERROR_CODE: what the replay injects to get that code.
START_EXECUTION_ERROR = {
    "THROTTLING": "ExecutionLimitExceeded",
    "NO_PERMISSIONS": "AccessDeniedException",
    "INTERNAL_ERROR": "InternalServerError",
    "INVALID_JSON": "InvalidExecutionInput",
    "INVALID_PARAMETER": "ValidationException",
    "RESOURCE_ALREADY_EXISTS": "ExecutionAlreadyExists",
}


@dataclass
class DeadLetter:
    """An event the rule's target never took: the rule's DLQ message."""

    source: str
    detail: TenantEvent
    error_code: str
    error_message: str
    exhausted: str | None
    retry_attempts: int
    sent: float | None


@dataclass
class Request:
    detail: TenantEvent
    requested: float  # epoch seconds (the request's own clock)
    execution: Execution | None = None
    dead_letter: DeadLetter | None = None
    at: float = 0.0  # seconds after the scenario's start

    @property
    def action(self) -> Action:
        return self.detail.action


@dataclass
class RunAttempt:
    request: Request
    run_id: str | None
    doc: RunDoc | None
    behaviour: Inferred
    created: float  # scenario seconds, in the replay
    activation: float  # scenario seconds, in the replay (inf: never)


@dataclass
class LambdaError:
    function: str
    kind: str  # throttle | error
    error_type: str
    invocations: list[int] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    behind: set[str] = field(default_factory=set)


@dataclass
class Imported:
    text: str
    tenant: str
    notes: list[str]
    requests: list[Request]


# ----------------------------------------------------------------------------- reading
def _messages(doc: Document) -> list[tuple[str, dict[str, Any]]]:
    msgs = doc.data.get("Messages") or []
    return [(doc.source if len(msgs) == 1 else f"{doc.source} (message {i})", m) for i, m in enumerate(msgs, 1) if isinstance(m, dict)]


def _attributes(msg: dict[str, Any]) -> dict[str, str]:
    out = {}
    for k, v in (msg.get("MessageAttributes") or {}).items():
        if isinstance(v, dict):
            value = v.get("StringValue", v.get("stringValue"))
            if value is not None:
                out[k] = str(value)
    return out


def _detail(raw: Any, where: str) -> TenantEvent:
    try:
        return TenantEvent.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field_name = ".".join(str(p) for p in err["loc"])
        raise IncidentInputError(f"{where}: the event's detail is not a tenant request: {field_name}: {err['msg']}") from None


def read_executions(inputs: Inputs) -> tuple[list[Execution], list[DeadLetter], list[tuple[str, TenantEvent]]]:
    """The executions (a history, with its describe-execution if given; a describe-execution
    alone; a flow DLQ message), the rule's dead letters and the bare events."""
    executions = [parse_history(src, pages) for src, pages in inputs.histories]
    for doc in inputs.describes:
        input_id = _input_id(doc.data.get("input"))
        match = [
            e for e in executions
            if e.has_history and e.name is None and e.request_id == _request_id(doc.data.get("input")) and e.input.get("id") == input_id
        ]
        if match:
            attach_describe(match[0], doc)
        else:
            executions.append(from_describe(doc))
    dead: list[DeadLetter] = []
    for doc in inputs.messages:
        for where, msg in _messages(doc):
            attrs = _attributes(msg)
            try:
                body = json.loads(msg.get("Body") or "")
            except ValueError:
                raise IncidentInputError(f"{where}: the message body is not JSON") from None
            if "ERROR_CODE" in attrs:
                if not isinstance(body, dict) or "detail" not in body:
                    raise IncidentInputError(f"{where}: a DLQ message whose body is not an EventBridge event")
                sent = (msg.get("Attributes") or {}).get("SentTimestamp")
                dead.append(
                    DeadLetter(
                        source=where, detail=_detail(body["detail"], where), error_code=attrs["ERROR_CODE"],
                        error_message=attrs.get("ERROR_MESSAGE", ""), exhausted=attrs.get("EXHAUSTED_RETRY_CONDITION"),
                        retry_attempts=int(attrs.get("RETRY_ATTEMPTS", "0") or 0), sent=epoch(sent, f"{where}: SentTimestamp") if sent else None,
                    )
                )
            elif isinstance(body, dict) and "detail" in body and "flow" in body:
                flow_ex = from_flow_dlq(where, body)
                same = [e for e in executions if e.request_id == flow_ex.request_id]
                if not same:
                    executions.append(flow_ex)
                elif not any(e.dead_lettered for e in same):
                    raise IncidentInputError(f"{where}: a flow DLQ message for request {flow_ex.request_id}, but its execution ({same[0].source}) did not dead-letter: not the same execution?")
                else:
                    for e in same:
                        e.sources.append(where)
            else:
                raise IncidentInputError(f"{where}: an SQS message that is neither a rule DLQ message (no ERROR_CODE attribute) nor a flow DLQ message (no detail and flow in its body)")
    events = [(doc.source, _detail(doc.data.get("detail"), doc.source)) for doc in inputs.events]
    return executions, dead, events


def _input_id(raw: Any) -> Any:
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return None
    return data.get("id") if isinstance(data, dict) else None


def _request_id(raw: Any) -> Any:
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return None
    detail = data.get("detail") if isinstance(data, dict) else None
    return detail.get("request_id") if isinstance(detail, dict) else None


def requests_of(executions: list[Execution], dead: list[DeadLetter], events: list[tuple[str, TenantEvent]], tenant: str | None, notes: list[str]) -> tuple[str, list[Request]]:
    tenants = sorted({e.tenant for e in executions} | {d.detail.tenant_code for d in dead} | {ev.tenant_code for _, ev in events})
    if tenant is None:
        if len(tenants) > 1:
            raise IncidentInputError(f"the inputs are about {len(tenants)} tenants ({', '.join(tenants)}); an incident is imported one tenant at a time: give --tenant")
        if not tenants:
            raise IncidentInputError("no execution, DLQ message or event says which tenant: give an execution history, describe-execution or DLQ message")
        tenant = tenants[0]
    elif tenant not in tenants:
        raise IncidentInputError(f"no input is about tenant {tenant!r} (they are about: {', '.join(tenants) or 'nothing'})")
    others = [t for t in tenants if t != tenant]
    if others:
        notes.append(f"inputs about other tenants ({', '.join(others)}) are left out")
    by_request: dict[str, Request] = {}
    for ex in executions:
        if ex.tenant != tenant:
            continue
        if ex.request_id in by_request:
            other = by_request[ex.request_id].execution
            raise IncidentInputError(
                f"{ex.source} and {other.source if other else '?'}: "
                f"two executions for one request ({ex.request_id}): EventBridge delivered the event twice, which a scenario cannot make happen"
            )
        by_request[ex.request_id] = Request(ex.detail, epoch(ex.detail.requested_at, f"{ex.source}: detail.requested_at"), execution=ex)
    for d in dead:
        if d.detail.tenant_code != tenant:
            continue
        seen = by_request.get(d.detail.request_id)
        if seen is not None:
            raise IncidentInputError(f"{d.source}: request {d.detail.request_id} was dead-lettered, yet {seen.execution.source if seen.execution else 'another input'} has an execution of it")
        by_request[d.detail.request_id] = Request(d.detail, epoch(d.detail.requested_at, f"{d.source}: detail.requested_at"), dead_letter=d)
    for source, ev in events:
        if ev.tenant_code != tenant:
            continue
        seen = by_request.get(ev.request_id)
        if seen is None:
            raise IncidentInputError(
                f"{source}: the event of request {ev.request_id} ({ev.action.value} {ev.tenant_code}) started no execution given and is in no DLQ message given: "
                "give its execution's history (or describe-execution) or its DLQ message, so that the scenario knows how it ended"
            )
        if seen.detail != ev:
            raise IncidentInputError(f"{source}: the event of request {ev.request_id} differs from the execution's input")
    requests = sorted(by_request.values(), key=lambda r: r.requested)
    _check_sequence(tenant, requests)
    return tenant, requests


def _check_sequence(tenant: str, requests: list[Request]) -> None:
    """The requests must be ones the API would accept in that order: one flow at a time,
    each action from a status it may start from."""
    status: TenantStatus | None = None
    first = requests[0].action if requests else None
    if first is not None and first is not Action.CREATE:
        status = TenantStatus.FAILED  # the scenario's setup leaves the tenant so (see build)
    previous: Request | None = None
    for r in requests:
        if status is not None and status.in_progress:
            assert previous is not None
            why = "was dead-lettered" if (previous.dead_letter or (previous.execution and previous.execution.dead_lettered)) else "had not ended"
            raise IncidentInputError(
                f"request {r.detail.request_id} ({r.action.value}) comes after request {previous.detail.request_id}, whose flow {why}: "
                f"the tenant was still {status.value}, so the API would have refused it; the row was changed outside the API in between, which a scenario cannot do"
            )
        if status not in ACTION_ALLOWED_FROM[r.action]:
            raise IncidentInputError(
                f"request {r.detail.request_id} ({r.action.value} {tenant}) could not start from status {status.value if status else 'none'}: "
                "an execution in between is missing from the inputs"
            )
        status = r.action.in_progress_status
        ex = r.execution
        if ex is not None and not ex.dead_lettered:
            recorded = ex.finalized
            if recorded in (TenantStatus.READY, TenantStatus.FAILED, TenantStatus.DELETED):
                status = TenantStatus(recorded)
            elif recorded == "superseded":
                raise IncidentInputError(f"{ex.source}: Finalize found the flow superseded (the row had moved to another request): that request's execution is missing from the inputs")
            elif ex.status in ("ABORTED", "TIMED_OUT"):
                raise IncidentInputError(f"{ex.source}: the execution ended {ex.status} before Finalize: a scenario cannot stop or time out an execution")
            elif ex.status != "SUCCEEDED":
                raise IncidentInputError(
                    f"{ex.source}: the execution ended {ex.status} ({ex.error or 'no error'}) without reaching DeadLetter: "
                    "only a Finalize that kept failing ends a flow so, and a scenario cannot make another failure happen"
                )
        previous = r


# ----------------------------------------------------------------------------- building
def _setup_lead(wait: int) -> float:
    return 60.0 * math.ceil((wait + 60) / 60)


def _round(x: float) -> float:
    return round(x, 3)


def build(inputs: Inputs, *, name: str | None = None, tenant: str | None = None) -> Imported:
    executions, dead, events = read_executions(inputs)
    notes: list[str] = []
    code, requests = requests_of(executions, dead, events, tenant, notes)
    scrub = Scrubber()
    flows = {(r.execution.flow.wait_seconds, r.execution.flow.poll_budget) for r in requests if r.execution}
    if len(flows) > 1:
        raise IncidentInputError(f"the executions used different Wait/poll budgets ({', '.join(f'{w} s x {b}' for w, b in sorted(flows))}); a scenario has one")
    wait, budget = flows.pop() if flows else (120, 96)
    setup = requests[0].action is not Action.CREATE
    lead = _setup_lead(wait) if setup else 0.0
    base = requests[0].requested
    for r in requests:
        r.at = _round(lead + r.requested - base)
    runs = read_runs(inputs.runs)
    others = {e.workspace_id for e in executions if e.tenant != code and e.workspace_id}
    for run_id in [k for k, v in runs.items() if v.workspace_id in others]:
        notes.append(f"run {run_id} belongs to another tenant's workspace ({runs[run_id].workspace_id}): left out")
        del runs[run_id]
    attempts = _run_attempts(code, requests, runs, notes)
    output_delay, delay_note = _output_delay(attempts)
    faults = _lambda_errors(requests, setup)
    dead_letters = [r for r in requests if r.dead_letter]
    retry_attempts = next((d.dead_letter.retry_attempts for d in dead_letters if d.dead_letter and d.dead_letter.exhausted == "MaximumRetryAttempts"), None)
    span = 0.0
    for r in requests:
        if r.execution is not None and r.execution.attempts:
            span = max(span, r.at + r.execution.attempts[-1].model_t)
        elif r.dead_letter is not None:
            span = max(span, r.at + (86_400.0 if r.dead_letter.exhausted == "MaximumEventAgeInSeconds" else 8 * 3600.0 if r.dead_letter.retry_attempts else 0.0))
    last_at = requests[-1].at
    run_for = 60.0 * math.ceil((max(0.0, span - last_at) + max(600.0, 5.0 * wait)) / 60)
    w = Writer()
    _header(w, code, requests, runs, attempts, notes, scrub, setup, inputs)
    title = name or f"incident-{code}-{iso(base)[:16].replace(':', '').replace('T', '-')}"
    w.field(0, "name", title)
    w.field(0, "description", _description(code, requests))
    w.field(0, "seed", 0)
    w.line(0, "settings:")
    w.field(2, "start", iso(base - lead), "the first request's detail.requested_at" + (f", less {lead:g} s for the setup" if setup else ""))
    src = "the executions' input ($.flow)" if any(r.execution for r in requests) else "not in the inputs: the stack's default"
    w.field(2, "wait_seconds", wait, src)
    w.field(2, "poll_budget", budget, src)
    if retry_attempts is not None:
        w.field(2, "retry_attempts", retry_attempts, "the DLQ message's RETRY_ATTEMPTS (MaximumRetryAttempts was reached)")
    w.field(2, "run_for", run_for, "the last flow's span in the replay's timing, plus a margin")
    _tenants(w, code, attempts, output_delay, delay_note, setup)
    _steps(w, code, requests, attempts, faults, setup, scrub, output_delay)
    _expect(w, code, requests, attempts, setup)
    summary = scrub.summary()
    text = w.text()
    if summary:
        text = _insert_after_header(text, summary)
    return Imported(text=text, tenant=code, notes=notes + summary, requests=requests)


def _insert_after_header(text: str, summary: list[str]) -> str:
    lines = text.split("\n")
    i = next(k for k, ln in enumerate(lines) if not ln.startswith("#"))
    block = Writer()
    block.comment("Not copied from the inputs:")
    for s in summary:
        block.comment(f"- {s}")
    return "\n".join(lines[:i] + block.lines + lines[i:])


def _run_attempts(code: str, requests: list[Request], runs: dict[str, RunDoc], notes: list[str]) -> list[RunAttempt]:
    """Each run the incident's executions started, in order, with the behaviour inferred."""
    executions = [r.execution for r in requests if r.execution is not None]
    workspaces = {e.workspace_id for e in executions if e.workspace_id}
    by_run: dict[str, Request] = {}
    for r in requests:
        ex = r.execution
        if ex is not None and ex.run_id:
            if ex.run_id in by_run:
                raise IncidentInputError(f"{ex.source}: run {ex.run_id} was started by two requests ({by_run[ex.run_id].detail.request_id}, {ex.request_id})")
            by_run[ex.run_id] = r
    markers = {f"tenant-sim request {r.detail.request_id}": r for r in requests}
    first = requests[0].requested
    for run in sorted(runs.values(), key=lambda x: x.created):
        linked = by_run.get(run.id) or markers.get(run.message)
        if workspaces and run.workspace_id and run.workspace_id not in workspaces:
            raise IncidentInputError(
                f"{run.source}: run {run.id} belongs to workspace {run.workspace_id}, but tenant {code}'s executions drove {', '.join(sorted(workspaces))}: runs of another workspace?"
            )
        if linked is None:
            if run.created < first - 1.0 and run.terminal:
                notes.append(f"run {run.id} ({run.status.value}) predates the incident's first request: not replayed")
                continue
            raise IncidentInputError(
                f"{run.source}: run {run.id} (workspace {run.workspace_id}) was created during the incident, but none of the executions given started it "
                f"(its message: {run.message[:80]!r}): give the history of the execution that started it, or leave this run out"
            )
        if linked.execution is not None and linked.execution.run_id is None:
            notes.append(f"run {run.id} was created by request {linked.detail.request_id}, but no Trigger attempt returned it (it failed after creating the run): the replay's injected error comes before the handler, so the replay has no such run")
        elif linked.execution is not None and linked.execution.run_id != run.id:
            raise IncidentInputError(f"{run.source}: run {run.id} carries request {linked.detail.request_id}'s marker, but that execution's Trigger returned {linked.execution.run_id}")
    out: list[RunAttempt] = []
    prev: RunAttempt | None = None
    for r in requests:
        ex = r.execution
        if ex is None or ex.run_id is None or ex.trigger is None and not ex.polls:
            continue
        doc = runs.get(ex.run_id)
        trig = ex.trigger
        created = r.at + (trig.model_t if trig is not None else 0.0)
        activation = created
        prod_activation: float | None = None
        if prev is not None:
            activation = max(created, prev.activation + prev.behaviour.end) if prev.behaviour.end is not None else math.inf
            if doc is not None and prev.doc is not None:
                ended = prev.doc.finished_at
                prod_activation = max(doc.stamps[RunStatus.PLAN_QUEUEABLE], ended) if ended is not None else None
        observations = []
        for attempt, payload in ex.polls:
            seen = payload.get("status")
            if not isinstance(seen, str):
                continue
            try:
                st = RunStatus(seen)
            except ValueError:
                raise IncidentInputError(f"{ex.source}: Check saw run status {seen!r}, which TFC does not have") from None
            at = r.at + attempt.model_t - activation if math.isfinite(activation) else -1.0
            observations.append(Observation(at=at, seen=st, poll=int(payload.get("count") or 0)))
        where = f"run {ex.run_id} ({doc.source if doc else ex.source})"
        hint = None
        if doc is None:
            hint = _outcome_from_polls(observations, notes, ex.run_id)
        if doc is not None and doc.workspace_id and ex.workspace_id and doc.workspace_id != ex.workspace_id:
            raise IncidentInputError(f"{doc.source}: run {doc.id} belongs to workspace {doc.workspace_id}, but {ex.source}'s Trigger used {ex.workspace_id}: runs of another workspace?")
        abandoned = _abandoned_in(ex, doc)
        if not math.isfinite(activation):
            behaviour = infer(doc, hint, prod_activation, [], where, abandoned)
            behaviour.notes.append("queued behind a run that never finished: it stays pending, as production's did")
        else:
            behaviour = infer(doc, hint, prod_activation, observations, where, abandoned)
        attempt_ = RunAttempt(request=r, run_id=ex.run_id, doc=doc, behaviour=behaviour, created=created, activation=activation)
        out.append(attempt_)
        prev = attempt_
    return out


def _abandoned_in(ex: Execution, doc: RunDoc | None) -> RunStatus | None:
    """The status in which the flow gave up on its run (its poll budget spent), when TFC's
    document shows the run stopped afterwards: the flow stops a run it abandons, so the
    document's ``canceled``/``force_canceled``/``discarded`` is the flow's doing, not the run's."""
    if doc is None or doc.status not in STOPPED:
        return None
    poll = (ex.finalize_input or {}).get("poll")
    if not isinstance(poll, dict) or poll.get("finished") or poll.get("count") is None:
        return None
    seen = poll.get("status")
    try:
        return RunStatus(seen) if isinstance(seen, str) else None
    except ValueError:
        return None


def _outcome_from_polls(observations: list[Observation], notes: list[str], run_id: str) -> Outcome | None:
    if not observations:
        return None
    last = observations[-1].seen
    if last not in TERMINAL:
        return None
    if last == RunStatus.ERRORED:
        applied = any(o.seen in (RunStatus.APPLY_QUEUED, RunStatus.APPLYING) for o in observations)
        if not applied:
            notes.append(f"run {run_id}: errored; with no run document and no poll seeing its apply, taken for a plan error")
        return Outcome.APPLY_ERROR if applied else Outcome.PLAN_ERROR
    return {
        RunStatus.APPLIED: Outcome.SUCCESS, RunStatus.PLANNED_AND_FINISHED: Outcome.NO_CHANGES, RunStatus.CANCELED: Outcome.CANCELED,
        RunStatus.FORCE_CANCELED: Outcome.CANCELED, RunStatus.POLICY_SOFT_FAILED: Outcome.POLICY_SOFT_FAIL,
    }.get(last)


def _output_delay(attempts: list[RunAttempt]) -> tuple[float, str]:
    """The outputs' processing delay the successful Finalizes allow (the fake's is one
    value for the tenant's workspace)."""
    lo, hi = 0.0, math.inf
    why: list[str] = []
    for a in attempts:
        ex = a.request.execution
        if ex is None or a.behaviour.outcome is not Outcome.SUCCESS or a.behaviour.end is None or not math.isfinite(a.activation):
            continue
        fin = next((x for x in reversed(ex.of("Finalize")) if x.ok), None)
        if fin is None or ex.finalized != TenantStatus.READY:
            continue  # only a Finalize that recorded ready read the outputs
        gap = a.request.at + fin.model_t - (a.activation + a.behaviour.end)
        took = fin.duration
        if took is None or took < OUTPUT_WAIT_EVIDENCE:
            hi = min(hi, max(0.0, gap))
            why.append(f"run {a.run_id}: Finalize read the outputs at once, {gap:g} s after the apply in the replay's timing")
        else:
            done = next((i for i, c in enumerate(_CLIENT_RETRY_CUMULATIVE) if took < c), len(_CLIENT_RETRY_CUMULATIVE))
            before = _CLIENT_RETRY_CUMULATIVE[done - 2] if done >= 2 else 0.0
            after = _CLIENT_RETRY_CUMULATIVE[done - 1] if done >= 1 else 0.5
            lo, hi = max(lo, gap + before), min(hi, gap + after)
            why.append(f"run {a.run_id}: Finalize took {took:.2f} s, retrying while the outputs were processed")
    if not why:
        return DEFAULT_OUTPUT_DELAY, "no Finalize read outputs: the fake's default"
    if lo > hi:
        return _round(lo), "the Finalizes disagree; the longest wait wins: " + "; ".join(why)
    if lo <= DEFAULT_OUTPUT_DELAY <= hi:
        return DEFAULT_OUTPUT_DELAY, "the fake's default fits: " + "; ".join(why)
    value = (lo + hi) / 2 if math.isfinite(hi) and lo > 0 else (hi / 2 if math.isfinite(hi) else lo + 1)
    return _round(value), "; ".join(why)


def _lambda_errors(requests: list[Request], setup: bool) -> list[LambdaError]:
    """Every failed attempt of a Lambda Task, on the number of its function's invocation
    in the replay (the setup's create invokes each function once first)."""
    counters = {f: (1 if setup else 0) for f in FUNCTIONS.values()}
    faults: dict[tuple[str, str, str], LambdaError] = {}
    for r in requests:
        ex = r.execution
        if ex is None:
            continue
        for a in ex.attempts:
            fn = FUNCTIONS.get(a.state)
            if fn is None:
                continue
            counters[fn] += 1
            if a.error is None:
                continue
            kind = "throttle" if a.error == THROTTLE else "error"
            key = (fn, kind, a.error if kind == "error" else "")
            f = faults.setdefault(key, LambdaError(fn, kind, a.error))
            f.invocations.append(counters[fn])
            f.where.append(f"{a.state} visit {a.visit} attempt {a.n} of request {ex.request_id[:8]}")
            behind = handler_error_behind(a.error, a.cause)
            if behind:
                f.behind.add(behind)
    return sorted(faults.values(), key=lambda f: (f.invocations[0], f.function))


# ----------------------------------------------------------------------------- writing
def _header(w: Writer, code: str, requests: list[Request], runs: dict[str, RunDoc], attempts: list[RunAttempt], notes: list[str], scrub: Scrubber, setup: bool, inputs: Inputs) -> None:
    w.comment(f"Imported by `python -m sim import`: tenant {code}'s incident.")
    w.comment("Expectations: what production recorded.")
    w.comment("Sources:")
    for r in requests:
        if r.execution is not None:
            ex = r.execution
            what = f"{ex.state_machine} execution {ex.name}: {ex.status}" if ex.name else f"execution {ex.status}"
            what += f", {ex.event_count} events" if ex.has_history else " (no history)"
            w.comment(scrub.text(f"- {', '.join(ex.sources)}: {r.action.value} request {r.detail.request_id} ({what})"), 0)
        elif r.dead_letter is not None:
            d = r.dead_letter
            w.comment(scrub.text(f"- {d.source}: {r.action.value} request {r.detail.request_id}, dead-lettered by the rule ({d.error_code})"))
    for a in attempts:
        if a.doc is not None:
            w.comment(scrub.text(f"- {a.doc.source}: run {a.doc.id} (workspace {a.doc.workspace_id}), {a.doc.status.value}"))
    for a in attempts:
        for n in a.behaviour.notes:
            if n not in notes:
                notes.append(n)
    for r in requests:
        rex = r.execution
        if rex is not None and rex.assumed:
            notes.append(f"request {r.detail.request_id[:8]}: {rex.assumed}")
        if rex is not None and rex.waits and any(abs(x - rex.flow.wait_seconds) > max(0.25, 0.05 * rex.flow.wait_seconds) for x in rex.waits):
            notes.append(
                f"request {r.detail.request_id[:8]}: its history's Waits lasted {min(rex.waits):.3g}-{max(rex.waits):.3g} s by its own clock, "
                f"not {rex.flow.wait_seconds} s; the replay waits {rex.flow.wait_seconds} s as the definition says (the engine's clock differs, or scales Waits)"
            )
    if setup:
        notes.append(
            f"setup, not from the incident: the first request is {requests[0].action.value}, so the tenant is created first; "
            "its run's apply errors on purpose, so the tenant is failed (an update or delete may start from failed) and the workspace holds "
            "a partial state (the incident's runs see changes, as a re-plan after an errored apply does)"
        )
    if notes:
        w.comment("Notes:")
        for n in notes:
            w.comment(scrub.text(f"- {n}"))


def _description(code: str, requests: list[Request]) -> str:
    parts = []
    for r in requests:
        ex = r.execution
        if r.dead_letter is not None:
            parts.append(f"{r.action.value} dead-lettered ({r.dead_letter.error_code})")
        elif ex is not None:
            end = ex.finalized or ("flow DLQ" if ex.dead_lettered else ex.status.lower())
            parts.append(f"{r.action.value} -> {end}")
    return f"Tenant {code} as production saw it: " + ", ".join(parts) + "."


def _behaviour(w: Writer, indent: int, a: RunAttempt, k: int) -> None:
    b = a.behaviour
    where = f"attempt {k}: run {a.run_id}, request {a.request.detail.request_id[:8]} ({a.request.action.value})"
    w.comment(where, indent)
    src = "status-timestamps" if a.doc is not None else "what Check saw"
    first = f"- outcome: {flow(b.outcome)}"
    w.line(indent, first, _outcome_why(a))
    if b.stuck_in is not None:
        w.field(indent + 2, "stuck_in", b.stuck_in, f"still {a.doc.status.value if a.doc else b.stuck_in.value} when read: stuck for the rest of the incident")
    if b.durations:
        w.field(indent + 2, "durations", b.durations, f"seconds, from {src}" + (" (adjusted: " + "; ".join(b.adjusted) + ", so that each poll sees what production's Check saw)" if b.adjusted else ""))


def _outcome_why(a: RunAttempt) -> str:
    b = a.behaviour
    if a.doc is None:
        return "what the last Check saw"
    st = a.doc.status.value
    if b.stuck_in is not None:
        return f"status {st} (not finished)"
    if b.outcome is Outcome.APPLY_ERROR:
        return f"status {st}, with an applying-at: the apply errored"
    if b.outcome is Outcome.PLAN_ERROR:
        return f"status {st}, no applying-at: the plan errored"
    return f"status {st}"


def _tenants(w: Writer, code: str, attempts: list[RunAttempt], output_delay: float, delay_note: str, setup: bool) -> None:
    w.line(0, "tenants:")
    w.line(2, f"{code}:")
    w.line(4, "tfc:")
    if setup:
        w.comment("the setup's run (not from the incident): errors at once; the incident's runs are set at its first request", 6)
        w.line(6, "runs:")
        w.line(8, "- outcome: apply_error")
        w.field(10, "durations", {s: 0 for s in ("pending", "plan_queued", "planning", "apply_queued", "applying")})
        w.field(6, "output_delay", 0)
        return
    _script(w, 6, attempts, output_delay, delay_note)


def _script(w: Writer, indent: int, attempts: list[RunAttempt], output_delay: float, delay_note: str) -> None:
    if attempts:
        w.line(indent, "runs:")
        for k, a in enumerate(attempts, 1):
            _behaviour(w, indent + 2, a, k)
    w.field(indent, "then", {"outcome": "success"}, "later runs: not in the incident")
    w.field(indent, "output_delay", output_delay, delay_note)


def _steps(w: Writer, code: str, requests: list[Request], attempts: list[RunAttempt], faults: list[LambdaError], setup: bool, scrub: Scrubber, output_delay: float) -> None:
    w.line(0, "steps:")
    if setup:
        w.line(2, "- at: 0", "setup: the tenant must exist before the incident's first request")
        variables = scrub.variables(requests[0].detail.variables, f"request {requests[0].detail.request_id[:8]}")
        w.field(4, "create", {"tenant": code, "variables": variables}, "with the variables the first request's event carried")
        first = requests[0].at
        w.line(2, f"- at: {flow(first)}", "the incident's runs, from its first request on")
        w.line(4, "tfc:")
        w.line(6, f"{code}:")
        _script(w, 8, attempts, output_delay, "see the notes")
    first_at = requests[0].at
    for f in faults:
        w.line(2, f"- at: {flow(first_at)}", "; ".join(f.where)[:300])
        spec: dict[str, Any] = {"function": f.function, "kind": f.kind, "on_invocations": f.invocations}
        if f.kind == "error":
            spec["error_type"] = f.error_type
        note = "as recorded" + (" (a Lambda throttle: the Invoke API's 429)" if f.kind == "throttle" else "")
        if f.behind:
            note += f"; the handler raised {', '.join(sorted(f.behind))} (from its message: MiniStack names every handler error Runtime.HandlerError), kept as recorded so the Retry blocks match the history's attempts"
        w.line(4, "fault:", note)
        w.field(6, "lambda", spec, f"{f.function}'s invocation numbers in the replay" + (", the setup's first" if setup else ""))
    for r in requests:
        d = r.dead_letter
        if d is not None:
            w.line(2, f"- at: {flow(r.at)}", f"the rule dead-lettered the event: {d.error_code}")
            if d.error_code == "NO_RESOURCE":
                w.line(4, f"fault: {{delete_state_machine: {r.action.value}}}", "StartExecution answered StateMachineDoesNotExist")
            else:
                err = START_EXECUTION_ERROR.get(d.error_code, "InternalServerError")
                times = -1 if d.exhausted or d.retry_attempts == 0 else d.retry_attempts + 1
                w.line(4, "fault:", "the error StartExecution gives for that code, on every attempt" if times < 0 else "until the retries ran out")
                w.field(6, "start_execution", {"action": r.action.value, "error": err, "times": times})
        src = f"requested_at {r.detail.requested_at}"
        if r.detail.actor != "api":
            src += f"; production's actor was {r.detail.actor} (the daily decommission): replayed through the API"
        w.line(2, f"- at: {flow(r.at)}", src)
        variables = scrub.variables(r.detail.variables, f"request {r.detail.request_id[:8]}")
        if r.action is Action.CREATE:
            w.field(4, "create", {"tenant": code, "variables": variables}, "decommission_date is not in the event: the default (far future)")
        elif r.action is Action.UPDATE:
            w.field(4, "update", {"tenant": code, "variables": variables}, "the variables the event carried (the API had merged them)")
        else:
            w.field(4, "delete", code)


def _expect(w: Writer, code: str, requests: list[Request], attempts: list[RunAttempt], setup: bool) -> None:
    transitions: list[str] = ["creating", "failed"] if setup else []
    events: list[tuple[str, str]] = [(code, Action.CREATE.failure_event)] if setup else []
    final: TenantStatus | None = TenantStatus.FAILED if setup else None
    last_error: str | None = None
    flow_dlq = 0
    dlq: list[dict[str, Any]] = []
    for r in requests:
        transitions.append(r.action.in_progress_status.value)
        final = r.action.in_progress_status
        last_error = None
        ex = r.execution
        if r.dead_letter is not None:
            d = r.dead_letter
            entry: dict[str, Any] = {"error_code": d.error_code}
            if d.exhausted:
                entry["exhausted"] = d.exhausted
            if d.exhausted != "MaximumEventAgeInSeconds":
                entry["retry_attempts"] = d.retry_attempts
            entry["action"] = r.action.value
            dlq.append(entry)
            continue
        assert ex is not None
        if ex.dead_lettered:
            flow_dlq += 1
            continue
        recorded = ex.finalized
        if recorded is None:
            continue
        final = TenantStatus(recorded)
        transitions.append(final.value)
        events.append((code, ex.flow.event_name if final is not TenantStatus.FAILED else ex.flow.action.failure_event))
        if final is TenantStatus.FAILED:
            last_error = _reason(ex)
    w.line(0, "expect:")
    w.comment("what production recorded: Finalize's result, the lifecycle event it published, the DLQs", 2)
    w.line(2, "tenants:")
    w.line(4, f"{code}:")
    w.field(6, "status", final.value if final else None)
    w.field(6, "transitions", transitions)
    if last_error:
        w.field(6, "last_error_contains", last_error, "the reason Finalize derived from the state it was given")
    w.field(2, "events", [{"tenant": c, "event": e} for c, e in events], "one per Finalize that recorded a status" + (", the setup's first" if setup else ""))
    w.field(2, "dlq", dlq, "the rule's DLQ messages given" if dlq else "every request reached its state machine")
    w.field(2, "flow_dlq", flow_dlq, "executions that ended in DeadLetter")
    w.field(2, "tfc_runs", {code: len(attempts) + (1 if setup else 0)}, "the runs the incident's Triggers started" + (", and the setup's" if setup else ""))


def _reason(ex: Execution) -> str | None:
    """The part of Finalize's reason that names no id (``sim.controlplane.steps.finalize``)."""
    state = ex.finalize_input or {}
    raw = state.get("poll")
    poll: dict[str, Any] = raw if isinstance(raw, dict) else {}
    error = state.get("error")
    if isinstance(error, dict):
        return f"task error: {error.get('Error', 'error')}"
    if poll.get("finished"):
        return f"ended {poll.get('status')}"
    if poll.get("count") is not None:
        return f"still {poll.get('status')} after {poll.get('count')} polls"
    return None

