"""Properties every run must have, checked over the whole trace (Jepsen's idea: record
the history, then check it). Each returns human-readable violations; none is the
scenario's own expectation, so they hold for any scenario, generated ones included."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from sim.controlplane.config import tenant_of_workspace
from sim.controlplane.statuses import IN_PROGRESS, LEGAL_TRANSITIONS, TERMINAL, TenantStatus

from .model import Scenario, SensitiveVariable
from .secret_search import SecretFinder
from .trace import ApiRecord, DlqRecord, FlowDlqRecord, LambdaRecord, SnsRecord, StatusRecord, TfcRecord, Trace

if TYPE_CHECKING:
    from fake_tfc import FakeTFC

    from .observe import Observed


def flow_deadline(sc: Scenario) -> float:
    """Simulated seconds within which an accepted request must end in a terminal status
    or a DLQ: EventBridge's retry window, the poll loop, and task retries with margin."""
    s = sc.settings
    return s.max_event_age + s.poll_budget * s.wait_seconds + 2 * 3600


def check(
    sc: Scenario, trace: Trace, obs: Observed, *, secrets: tuple[str, ...] = (), recorded: Sequence[tuple[str, str]] = ()
) -> list[str]:
    return [v for result in checked(sc, trace, obs, secrets=secrets, recorded=recorded) for v in result.violations]


@dataclass(frozen=True)
class InvariantResult:
    name: str
    description: str
    violations: list[str]

    @property
    def passed(self) -> bool:
        return not self.violations


#: Every invariant by name, with the one line a report shows for it.
DESCRIPTIONS: dict[str, str] = {
    "legal_transitions": "only legal status transitions",
    "nothing_lost": "every accepted request ends in a terminal status or a DLQ message within the deadline",
    "one_flow_at_a_time": "at most one flow in progress per tenant",
    "deleted_only_after_destroy": "deleted only after the workspace's removal",
    "poll_budget_reason": "an exhausted poll budget ends failed, saying so",
    "lifecycle_event_per_terminal": "exactly one lifecycle event per terminal status",
    "decommission_rules": "decommission on the first daily run at or after the date when idle; never before, never twice, never mid-flow",
    "no_secrets": "no secret in the trace",
    "secrets_stay_secret": "no sensitive value (a sensitive variable's, a sensitive output's) in the trace, the tenant rows, "
    "the Lambda inputs and results, the executions, the events, the logs or the fake TFC's journal",
}


def checked(
    sc: Scenario, trace: Trace, obs: Observed, *, secrets: tuple[str, ...] = (), names: Iterable[str] | None = None,
    recorded: Sequence[tuple[str, str]] = (),
) -> list[InvariantResult]:
    """Each invariant (``names``: a subset, in this module's order) with its violations.
    ``recorded``: what the run left elsewhere than the trace, as (where, text) (see
    :mod:`sim.scenarios.recorded`; empty when only a trace is at hand)."""
    run: dict[str, Callable[[], list[str]]] = {
        "legal_transitions": lambda: legal_transitions(trace),
        "nothing_lost": lambda: nothing_lost(sc, trace),
        "one_flow_at_a_time": lambda: one_flow_at_a_time(trace),
        "deleted_only_after_destroy": lambda: deleted_only_after_destroy(trace, obs),
        "poll_budget_reason": lambda: poll_budget_reason(sc, trace),
        "lifecycle_event_per_terminal": lambda: lifecycle_event_per_terminal(trace),
        "decommission_rules": lambda: decommission_rules(trace),
        "no_secrets": lambda: no_secrets(trace, secrets),
        "secrets_stay_secret": lambda: secrets_stay_secret(trace, (*secrets, *scenario_secrets(sc)), recorded),
    }
    wanted = set(run) if names is None else set(names)
    return [InvariantResult(name, DESCRIPTIONS[name], fn()) for name, fn in run.items() if name in wanted]


def _legal(frm: str | None, to: str | None) -> bool:
    known = set(TenantStatus)
    if to not in known or (frm is not None and frm not in known):
        return False  # a status the control plane does not have is never a legal move
    return TenantStatus(to) in LEGAL_TRANSITIONS[TenantStatus(frm) if frm is not None else None]


def legal_transitions(trace: Trace) -> list[str]:
    return [
        f"t={r.t}: {r.tenant}: illegal transition {r.from_} -> {r.to}"
        for r in trace.of(StatusRecord)
        if not r.rollback and not _legal(r.from_, r.to)
    ]


def nothing_lost(sc: Scenario, trace: Trace) -> list[str]:
    """Every accepted request (202) ends in a terminal status for its request id, or in
    a DLQ, within the deadline (only requests old enough at the end are judged)."""
    end = max((r.t for r in trace.records), default=0.0)
    deadline = flow_deadline(sc)
    resolved: set[str] = set()
    for s in trace.of(StatusRecord):
        if s.to in TERMINAL and s.request_id:
            resolved.add(s.request_id)
    for d in trace.records:
        if isinstance(d, (DlqRecord, FlowDlqRecord)) and d.request_id:
            resolved.add(d.request_id)
    out = []
    for a in trace.of(ApiRecord):
        rid = a.request_id
        if a.status == 202 and rid and rid not in resolved and end - a.t >= deadline:
            out.append(f"t={a.t}: {a.method} {a.path} was accepted (request {rid}) and never ended: no terminal status, no DLQ message")
    return out


def one_flow_at_a_time(trace: Trace) -> list[str]:
    """A new flow begins only from a terminal status (or for a new tenant)."""
    out = []
    for r in trace.of(StatusRecord):
        if r.to in IN_PROGRESS and r.from_ in IN_PROGRESS:
            out.append(f"t={r.t}: {r.tenant}: flow {r.to} began while {r.from_} was in progress")
    return out


def deleted_only_after_destroy(trace: Trace, obs: Observed) -> list[str]:
    """``deleted`` only after a successful destroy run and the workspace's removal."""
    out = []
    removed: set[str] = set()
    last: dict[str, str | None] = {}
    for r in trace.records:
        if isinstance(r, TfcRecord) and r.method == "DELETE" and r.status in (200, 204) and r.workspace:
            removed.add(tenant_of_workspace(r.workspace) or r.workspace)
        if isinstance(r, StatusRecord):
            last[r.tenant] = r.to
            if r.to == TenantStatus.DELETED and r.tenant not in removed:
                out.append(f"t={r.t}: {r.tenant} marked deleted before its workspace was removed")
    # At the end, only a tenant still deleted must have no workspace (a re-create makes one).
    for tenant, status in sorted(last.items()):
        if status == TenantStatus.DELETED and obs.workspaces.get(tenant):
            out.append(f"{tenant} is deleted but its workspace still exists at the end")
    return out


def poll_budget_reason(sc: Scenario, trace: Trace) -> list[str]:
    """A flow whose run is still going after the whole budget ends failed, saying so."""
    out = []
    for r in trace.of(StatusRecord):
        err = r.last_error or ""
        if err.startswith("poll budget exhausted") and f"after {sc.settings.poll_budget} polls" not in err:
            out.append(f"t={r.t}: {r.tenant}: poll budget reason does not match the budget of {sc.settings.poll_budget}: {err!r}")
        if err.startswith("poll budget exhausted") and r.to != TenantStatus.FAILED:
            out.append(f"t={r.t}: {r.tenant}: budget exhausted but status {r.to}")
    return out


def lifecycle_event_per_terminal(trace: Trace) -> list[str]:
    """Each flow that ends publishes exactly one lifecycle event, with that status. A
    Publish whose answer was lost is published again (SNS standard topics deliver at least
    once, so subscribers deduplicate by request id): copies of the same event count as one;
    two different events for one request do not."""
    published: dict[str, list[SnsRecord]] = defaultdict(list)
    for e in trace.of(SnsRecord):
        if e.request_id:
            published[e.request_id].append(e)
    out = []
    for r in trace.of(StatusRecord):
        if r.to not in TERMINAL or not r.request_id or r.rollback:
            continue
        events = {(e.event, e.status, e.reason) for e in published.get(r.request_id, [])}
        if len(events) != 1:
            out.append(f"t={r.t}: {r.tenant} ended {r.to} (request {r.request_id}) with {len(events)} lifecycle events, expected 1")
        elif next(iter(events))[1] != r.to:
            out.append(f"t={r.t}: {r.tenant}: lifecycle event says {next(iter(events))[1]}, the row says {r.to}")
    return out


def decommission_rules(trace: Trace) -> list[str]:
    """Decommissioned on the first daily run at or after the date when not mid-flow,
    never before the date, never twice (unless the first destroy failed: then again)."""
    # Each tenant's decommission date as the API accepted it, in trace order (a re-create
    # or an update may change it), and system deletions counted per incarnation.
    dates: dict[str, str] = {}
    status: dict[str, str | None] = {}
    deleted_by_system: dict[str, int] = defaultdict(int)
    out = []
    for r in trace.records:
        if isinstance(r, ApiRecord) and r.status == 202 and r.tenant_code:
            code = r.tenant_code
            if r.body.get("decommission_date"):
                dates[code] = r.body["decommission_date"]
            if r.method == "POST":
                deleted_by_system[code] = 0
        if isinstance(r, StatusRecord):
            status[r.tenant] = r.to
            if r.to == TenantStatus.FAILED:
                # A decommission whose destroy failed is tried again the next day: that is a
                # retry, not a second decommission.
                deleted_by_system[r.tenant] = 0
        if not isinstance(r, LambdaRecord) or not r.decommission or not r.decommission.get("date"):
            continue
        d = r.decommission
        today = date.fromisoformat(d["date"])
        for code in d.get("deleting") or []:
            deleted_by_system[code] += 1
            if code in dates and date.fromisoformat(dates[code]) > today:
                out.append(f"t={r.t}: {code} decommissioned on {today}, before its date {dates[code]}")
            if deleted_by_system[code] > 1:
                out.append(f"t={r.t}: {code} decommissioned twice")
        acted = set(d.get("deleting") or []) | set(d.get("skipped_mid_flow") or []) | set(d.get("errors") or {})
        for code, when in dates.items():
            st = status.get(code)
            if st is None or st == TenantStatus.DELETED or st in IN_PROGRESS:
                continue
            if date.fromisoformat(when) <= today and code not in acted:
                out.append(f"t={r.t}: {code} was due ({when}) and idle ({st}) but the {today} run did not delete it")
        for code in d.get("errors") or {}:
            if status.get(code) in IN_PROGRESS:
                out.append(f"t={r.t}: {code} was mid-flow ({status.get(code)}) but the {today} run tried to delete it")
        for code in d.get("skipped_mid_flow") or []:
            if status.get(code) not in IN_PROGRESS:
                out.append(f"t={r.t}: {code} skipped as mid-flow but was {status.get(code)}")
    return out


#: Shorter values cannot be told from ordinary text, so they are not searched for.
MIN_SECRET_LENGTH = 8


def secrets_of(token: str, fake: FakeTFC) -> tuple[str, ...]:
    """What must never appear in a trace: the TFC token, and every sensitive value the fake
    TFC has held (sensitive outputs, sensitive variables), deleted ones included."""
    with fake.lock:
        held = sorted(fake.sensitive_values)
    return (token, *held)


def no_secrets(trace: Trace, secrets: tuple[str, ...]) -> list[str]:
    # All values looked for at once: one at a time cost tenants times records.
    wanted = [s for s in secrets if len(s) >= MIN_SECRET_LENGTH]
    found = SecretFinder(wanted).found_in("\n".join(trace.lines()))
    return [f"a secret ({s[:4]}...) appears in the trace" for s in wanted if s in found]


def scenario_secrets(sc: Scenario) -> tuple[str, ...]:
    """The values a scenario's steps give as sensitive variables."""
    out: list[str] = []
    for step in sc.steps:
        for given in (step.create, step.update):
            variables = getattr(given, "variables", None) or {}
            out += [v.value for v in variables.values() if isinstance(v, SensitiveVariable) and v.sensitive]
    return tuple(dict.fromkeys(out))


#: How a violation of :func:`secrets_stay_secret` begins (the verdict places it by this).
SENSITIVE_VIOLATION = "a sensitive value"


def secrets_stay_secret(trace: Trace, secrets: tuple[str, ...], recorded: Sequence[tuple[str, str]]) -> list[str]:
    """No sensitive value (``secrets``: what the fake TFC held as sensitive and what the
    scenario gave as sensitive) in the trace's records, nor anywhere else the run recorded.
    Each value is named by its first four characters and each place once."""
    wanted = [s for s in dict.fromkeys(secrets) if len(s) >= MIN_SECRET_LENGTH]
    finder = SecretFinder(wanted)
    places = [("the trace", "\n".join(trace.lines())), *recorded]
    seen: dict[str, list[str]] = {secret: [] for secret in wanted}
    for where, text in places:
        for secret in finder.found_in(text):
            if where not in seen[secret]:
                seen[secret].append(where)
    return [f"{SENSITIVE_VIOLATION} ({secret[:4]}...) is recorded in {where}" for secret in wanted for where in seen[secret]]
