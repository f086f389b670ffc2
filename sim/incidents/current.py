"""``--expect current``: run the imported scenario on the embedded engine with today's
control plane and write the expectations it reaches instead of production's, with a note
listing where the two differ. The diff between the two files is what a fix changed."""

from __future__ import annotations

import re
from typing import Any

from sim.scenarios.expectations import expectation_failures
from sim.scenarios.loader import parse_scenario
from sim.scenarios.observe import Observed

from .build import Imported
from .emit import Writer

_REASONS = [
    re.compile(r"(still \S+ after \d+ polls)"),
    re.compile(r"run \S+ (ended \S+)"),
    re.compile(r"(task error: [^:]+)"),
]


def stable_reason(last_error: str | None) -> str | None:
    """The part of a tenant's ``last_error`` that names no run id (Finalize's reasons)."""
    if not last_error:
        return None
    for pattern in _REASONS:
        m = pattern.search(last_error)
        if m:
            return m.group(1)
    return None


def expect_block(code: str, obs: Observed, comment: str) -> list[str]:
    w = Writer()
    w.line(0, "expect:")
    w.comment(comment, 2)
    seen = obs.transitions.get(code, [])
    w.line(2, "tenants:")
    w.line(4, f"{code}:")
    w.field(6, "status", seen[-1] if seen else None)
    w.field(6, "transitions", list(seen))
    reason = stable_reason((obs.rows.get(code) or {}).get("last_error")) if seen and seen[-1] == "failed" else None
    if reason:
        w.field(6, "last_error_contains", reason)
    w.field(2, "events", [{"tenant": code, "event": e} for e in obs.events.get(code, [])])
    dlq: list[dict[str, Any]] = []
    for d in obs.dlq:
        entry: dict[str, Any] = {"error_code": d.error_code}
        if d.exhausted:
            entry["exhausted"] = d.exhausted
        if d.exhausted != "MaximumEventAgeInSeconds":
            entry["retry_attempts"] = d.retry_attempts
        if d.action:
            entry["action"] = d.action
        dlq.append(entry)
    w.field(2, "dlq", dlq)
    w.field(2, "flow_dlq", obs.flow_dlq)
    w.field(2, "tfc_runs", {code: obs.tfc_runs.get(code, 0)})
    return w.lines


def expect_current(imported: Imported) -> Imported:
    """The same scenario, its expectations those today's control plane reaches."""
    from sim.scenarios.runner import run_text

    recorded = parse_scenario(imported.text, "<imported scenario>")
    result = run_text(imported.text, source="<imported scenario>")
    differences = expectation_failures(recorded, result.observed)
    lines = imported.text.rstrip("\n").split("\n")
    cut = lines.index("expect:")
    head = lines[:cut]
    head = [("# Expectations: what the current control plane reaches." if ln == "# Expectations: what production recorded." else ln) for ln in head]
    note = Writer()
    if differences:
        note.comment("The current control plane does not end as production did (expected: production's, got: today's):")
        for d in differences:
            note.comment(f"- {d}")
    else:
        note.comment("The current control plane ends as production did.")
    for v in result.violations:
        note.comment(f"- invariant broken on the current control plane: {v}")
    i = next(k for k, ln in enumerate(head) if not ln.startswith("#"))
    block = expect_block(imported.tenant, result.observed, "what the current control plane reaches (run at import on the embedded engine)")
    text = "\n".join(head[:i] + note.lines + head[i:] + block) + "\n"
    notes = imported.notes + [d for d in differences]
    return Imported(text=text, tenant=imported.tenant, notes=notes, requests=imported.requests)
