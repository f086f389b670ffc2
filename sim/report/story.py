"""Each flow and each tenant told in one plain sentence, for people who would rather not
read a trace: "create by the API at 0:00:00: Trigger, 3 polls (run planning → applied),
Finalize → ready at 0:06:00 (6 min); published tenant.created"."""

from __future__ import annotations

from collections import Counter

from .axis import clock, duration
from .timeline import Flow, Lane


def retries(flow: Flow) -> str:
    """``Check throttled ×3, Finalize failed (TFCUnavailable) ×4``."""
    seen: Counter[str] = Counter()
    for v in flow.visits:
        if not v.ok:
            seen[f"{v.state} throttled" if v.error == "throttled" else f"{v.state} failed ({v.error})"] += 1
    return ", ".join(f"{what} ×{n}" if n > 1 else what for what, n in seen.items())


def flow_sentence(flow: Flow) -> str:
    by = "" if flow.actor == "api" else f" by the {flow.actor.removeprefix('system (').rstrip(')')}"
    head = f"{flow.action}{by} at {clock(flow.start)}"
    states: list[str] = []
    if any(v.state == "Trigger" for v in flow.visits):
        states.append("Trigger")
    if flow.polls:
        runs = " → ".join(flow.run_statuses)
        states.append(f"{flow.polls} poll{'s' if flow.polls != 1 else ''}" + (f" (run {runs})" if runs else ""))
    if any(v.state == "Finalize" for v in flow.visits):
        states.append("Finalize")
    body = ", ".join(states) if states else "no execution ran"
    again = retries(flow)
    if again:
        body += f"; retried: {again}"
    if flow.outcome == "in progress":
        tail = f"still {flow.status} at the end"
    elif flow.outcome in ("dead-lettered", "flow DLQ"):
        tail = f"{flow.last_error} at {clock(flow.end or flow.start)}; the tenant stays {flow.status}"
    else:
        took = duration((flow.end or flow.start) - flow.start)
        tail = f"{flow.outcome} at {clock(flow.end or flow.start)} ({took})"
        if flow.outcome == "failed" and flow.last_error:
            tail += f": {flow.last_error}"
    event = f"; published {flow.event}" if flow.event else ""
    return f"{head}: {body} → {tail}{event}"


def tenant_sentence(lane: Lane) -> str:
    if not lane.flows:
        return "no flow began (every request refused)" if any(m.kind == "refused" for m in lane.marks) else "no flow began"
    parts = []
    for f in lane.flows:
        if f.outcome in ("dead-lettered", "flow DLQ"):
            parts.append(f"{f.action} {f.outcome}")
        else:
            parts.append(f"{f.action} → {f.outcome}")
    refused = sum(1 for m in lane.marks if m.kind == "refused")
    extra = f"; {refused} request{'s' if refused != 1 else ''} refused" if refused else ""
    return ", then ".join(parts) + extra
