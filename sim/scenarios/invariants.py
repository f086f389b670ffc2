"""Properties every run must have, checked over the whole trace (Jepsen's idea: record
the history, then check it). Each returns human-readable violations; none is the
scenario's own expectation, so they hold for any scenario, generated ones included."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import TYPE_CHECKING, Any

from sim.controlplane.statuses import LEGAL_TRANSITIONS, TenantStatus

from .model import Scenario
from .trace import Trace

if TYPE_CHECKING:
    from .runner import Observed

IN_PROGRESS = {s.value for s in TenantStatus if s.in_progress}
TERMINAL = {s.value for s in TenantStatus} - IN_PROGRESS


def flow_deadline(sc: Scenario) -> float:
    """Simulated seconds within which an accepted request must end in a terminal status
    or a DLQ: EventBridge's retry window, the poll loop, and task retries with margin."""
    s = sc.settings
    return s.max_event_age + s.poll_budget * s.wait_seconds + 2 * 3600


def check(sc: Scenario, trace: Trace, obs: Observed, *, secrets: tuple[str, ...] = ()) -> list[str]:
    out: list[str] = []
    out += legal_transitions(trace)
    out += nothing_lost(sc, trace)
    out += one_flow_at_a_time(trace)
    out += deleted_only_after_destroy(trace, obs)
    out += poll_budget_reason(sc, trace)
    out += lifecycle_event_per_terminal(trace)
    out += decommission_rules(trace)
    out += no_secrets(trace, secrets)
    return out


def _legal(frm: str | None, to: str) -> bool:
    src = TenantStatus(frm) if frm is not None else None
    return TenantStatus(to) in LEGAL_TRANSITIONS.get(src, frozenset())


def legal_transitions(trace: Trace) -> list[str]:
    return [
        f"t={r['t']}: {r['tenant']}: illegal transition {r['from']} -> {r['to']}"
        for r in trace.of("status")
        if not _legal(r["from"], r["to"])
    ]


def nothing_lost(sc: Scenario, trace: Trace) -> list[str]:
    """Every accepted request (202) ends in a terminal status for its request id, or in
    a DLQ, within the deadline (only requests old enough at the end are judged)."""
    end = max((r["t"] for r in trace.records), default=0.0)
    deadline = flow_deadline(sc)
    resolved: set[str] = set()
    for r in trace.of("status"):
        if r["to"] in TERMINAL and r.get("request_id"):
            resolved.add(r["request_id"])
    for r in trace.of("dlq", "flow_dlq"):
        if r.get("request_id"):
            resolved.add(r["request_id"])
    out = []
    for r in trace.of("api"):
        rid = r.get("body_request_id")
        if r["status"] == 202 and rid and rid not in resolved and end - r["t"] >= deadline:
            out.append(f"t={r['t']}: {r['method']} {r['path']} was accepted (request {rid}) and never ended: no terminal status, no DLQ message")
    return out


def one_flow_at_a_time(trace: Trace) -> list[str]:
    """A new flow begins only from a terminal status (or for a new tenant)."""
    out = []
    for r in trace.of("status"):
        if r["to"] in IN_PROGRESS and r["from"] in IN_PROGRESS:
            out.append(f"t={r['t']}: {r['tenant']}: flow {r['to']} began while {r['from']} was in progress")
    return out


def deleted_only_after_destroy(trace: Trace, obs: Observed) -> list[str]:
    """``deleted`` only after a successful destroy run and the workspace's removal."""
    out = []
    removed: set[str] = set()
    for r in trace.records:
        if r["kind"] == "tfc" and r["method"] == "DELETE" and r["status"] in (200, 204) and r.get("workspace"):
            removed.add(r["workspace"].removeprefix("tenant-"))
        if r["kind"] == "status" and r["to"] == TenantStatus.DELETED.value:
            if r["tenant"] not in removed:
                out.append(f"t={r['t']}: {r['tenant']} marked deleted before its workspace was removed")
            if obs.workspaces.get(r["tenant"]):
                out.append(f"{r['tenant']} is deleted but its workspace still exists at the end")
    return out


def poll_budget_reason(sc: Scenario, trace: Trace) -> list[str]:
    """A flow whose run is still going after the whole budget ends failed, saying so."""
    out = []
    for r in trace.of("status"):
        err = r.get("last_error") or ""
        if err.startswith("poll budget exhausted") and f"after {sc.settings.poll_budget} polls" not in err:
            out.append(f"t={r['t']}: {r['tenant']}: poll budget reason does not match the budget of {sc.settings.poll_budget}: {err!r}")
        if err.startswith("poll budget exhausted") and r["to"] != TenantStatus.FAILED.value:
            out.append(f"t={r['t']}: {r['tenant']}: budget exhausted but status {r['to']}")
    return out


def lifecycle_event_per_terminal(trace: Trace) -> list[str]:
    """Each flow that ends publishes exactly one lifecycle event, with that status."""
    published: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in trace.of("sns"):
        if r.get("request_id"):
            published[r["request_id"]].append(r)
    out = []
    for r in trace.of("status"):
        if r["to"] not in TERMINAL or not r.get("request_id"):
            continue
        events = published.get(r["request_id"], [])
        if len(events) != 1:
            out.append(f"t={r['t']}: {r['tenant']} ended {r['to']} (request {r['request_id']}) with {len(events)} lifecycle events, expected 1")
        elif events[0].get("status") != r["to"]:
            out.append(f"t={r['t']}: {r['tenant']}: lifecycle event says {events[0].get('status')}, the row says {r['to']}")
    return out


def decommission_rules(trace: Trace) -> list[str]:
    """Decommissioned on the first daily run at or after the date when not mid-flow,
    never before the date, never twice."""
    # Each tenant's decommission date as the API accepted it, in trace order (a re-create
    # or an update may change it), and system deletions counted per incarnation.
    dates: dict[str, str] = {}
    status: dict[str, str] = {}
    deleted_by_system: dict[str, int] = defaultdict(int)
    out = []
    for r in trace.records:
        if r["kind"] == "api" and r["status"] == 202 and r.get("body_tenant_code"):
            code = r["body_tenant_code"]
            if r.get("body_decommission_date"):
                dates[code] = r["body_decommission_date"]
            if r["method"] == "POST":
                deleted_by_system[code] = 0
        if r["kind"] == "status":
            status[r["tenant"]] = r["to"]
        if r["kind"] != "lambda" or "decommission" not in r:
            continue
        d = r["decommission"]
        if not d or not d.get("date"):
            continue
        today = date.fromisoformat(d["date"])
        for code in d.get("deleting") or []:
            deleted_by_system[code] += 1
            if code in dates and date.fromisoformat(dates[code]) > today:
                out.append(f"t={r['t']}: {code} decommissioned on {today}, before its date {dates[code]}")
            if deleted_by_system[code] > 1:
                out.append(f"t={r['t']}: {code} decommissioned twice")
        acted = set(d.get("deleting") or []) | set(d.get("skipped_mid_flow") or []) | set(d.get("errors") or {})
        for code, when in dates.items():
            st = status.get(code)
            if st is None or st == TenantStatus.DELETED.value or st in IN_PROGRESS:
                continue
            if date.fromisoformat(when) <= today and code not in acted:
                out.append(f"t={r['t']}: {code} was due ({when}) and idle ({st}) but the {today} run did not delete it")
        for code in d.get("errors") or {}:
            if status.get(code) in IN_PROGRESS:
                out.append(f"t={r['t']}: {code} was mid-flow ({status.get(code)}) but the {today} run tried to delete it")
        for code in d.get("skipped_mid_flow") or []:
            if status.get(code) not in IN_PROGRESS:
                out.append(f"t={r['t']}: {code} skipped as mid-flow but was {status.get(code)}")
    return out


def no_secrets(trace: Trace, secrets: tuple[str, ...]) -> list[str]:
    text = "\n".join(trace.lines())
    return [f"a secret ({s[:4]}...) appears in the trace" for s in secrets if s and s in text]
