"""The report as one self-contained HTML page: inline CSS, inline SVG drawn here, and a small
inline script for hover and click details and the tenant filter (the page reads fine with
scripts off). Nothing is fetched from the network.

Every text shown goes through :class:`Redactor` first: the TFC token and sensitive outputs
(``admin_password``...) never reach the page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from typing import Any

from sim.controlplane.statuses import IN_PROGRESS

from ..scenarios.expectations import SENSITIVE_KEY, Check
from ..scenarios.invariants import InvariantResult
from ..scenarios.verdict import Verdict
from .axis import Axis, clock, duration
from .graph import graph_counts, graph_svg
from .story import flow_sentence, tenant_sentence
from .timeline import MARK_KINDS, Flow, Lane, Mark, Timeline, Visit, is_problem

LANE_W = 1040
LANE_H = 48
RUN_OK = {"applied", "planned_and_finished"}
RUN_BAD = {"errored", "canceled", "discarded", "force_canceled", "policy_soft_failed"}


@dataclass
class Redactor:
    """Replaces known secrets, and values whose key names a secret, with ``•••``."""

    secrets: tuple[str, ...] = ()

    def text(self, value: object) -> str:
        s = str(value)
        for secret in self.secrets:
            if secret:
                s = s.replace(secret, "•••")
        return s

    def pairs(self, rows: Iterable[tuple[str, object]]) -> list[list[str]]:
        return [[k, "•••" if SENSITIVE_KEY.search(k) else self.text(v)] for k, v in rows]


@dataclass
class Page:
    """What a report shows; :func:`render` makes the HTML."""

    title: str
    timeline: Timeline
    verdict: Verdict | None
    meta: list[tuple[str, str]]
    commands: list[str]
    description: str = ""
    #: Problems found outside the verdict (a property test's model disagreeing).
    problems: list[str] = field(default_factory=list)
    secrets: tuple[str, ...] = ()
    note: str = ""


class _Details:
    """What a hover or a click shows for each drawn element, as one JSON array in the page."""

    def __init__(self, redact: Redactor) -> None:
        self.items: list[dict[str, Any]] = []
        self.redact = redact

    def add(self, title: str, rows: Iterable[tuple[str, object]]) -> int:
        self.items.append({"title": self.redact.text(title), "rows": self.redact.pairs((k, v) for k, v in rows if v not in (None, "", [], {}))})
        return len(self.items) - 1

    def json(self) -> str:
        # "</" cannot end the script element early once escaped.
        return json.dumps(self.items, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def _asset(name: str) -> str:
    return resources.files("sim.report").joinpath("assets", name).read_text(encoding="utf-8")


def render(page: Page) -> str:
    redact = Redactor(page.secrets)
    details = _Details(redact)
    tl = page.timeline
    times = [s.start for lane in tl.lanes.values() for s in lane.spans]
    times += [m.t for m in tl.marks() if m.kind != "decommission" or "nothing due" not in m.label]
    times += [v.started for f in tl.flows for v in f.visits] + [v.ended for f in tl.flows for v in f.visits]
    axis = Axis(times, tl.end, LANE_W)
    verdict = _verdict_word(page)
    body = [
        _header(page, verdict, redact),
        _glance(tl, redact),
        _timeline(tl, axis, details),
        _flows(tl, redact),
        _graph(tl),
        _checks(page, redact),
        _problems(tl, redact),
        '<footer>Written by tenant-sim from the run\'s trace. Self-contained: no network, no external file.</footer>',
    ]
    html = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(redact.text(page.title))} — {verdict} — tenant-sim report</title>",
            f"<style>{_asset('report.css')}</style>",
            # Before anything else runs, so that an error anywhere in the page is counted.
            "<script>window.__errors=[];window.addEventListener('error',function(e){window.__errors.push(String(e.message));"
            "document.documentElement.setAttribute('data-errors',String(window.__errors.length));});</script>",
            "</head>",
            f'<body data-verdict="{verdict.lower()}">',
            *body,
            '<div id="tip" hidden></div>',
            '<aside id="panel" hidden><button type="button" id="panel-close" aria-label="close">×</button><div id="panel-body"></div></aside>',
            f'<script type="application/json" id="details">{details.json()}</script>',
            f"<script>{_asset('report.js')}</script>",
            "</body></html>",
        ]
    )
    for secret in page.secrets:
        if secret:
            html = html.replace(secret, "•••")
    return html


def _verdict_word(page: Page) -> str:
    if page.verdict is None:
        return "NOT JUDGED" if not page.problems else "FAIL"
    return "PASS" if page.verdict.passed and not page.problems else "FAIL"


# ------------------------------------------------------------------ header
def _header(page: Page, verdict: str, redact: Redactor) -> str:
    meta = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(redact.text(v))}</dd></div>" for k, v in page.meta)
    commands = "".join(f"<pre><code>{escape(redact.text(c))}</code></pre>" for c in page.commands)
    note = f'<p class="note">{escape(page.note)}</p>' if page.note else ""
    desc = f'<p class="desc">{escape(redact.text(page.description))}</p>' if page.description else ""
    return (
        f'<header><h1><span class="verdict {verdict.lower().replace(" ", "-")}" id="verdict">{verdict}</span> {escape(redact.text(page.title))}</h1>'
        f"{desc}<dl class=\"meta\">{meta}</dl>{note}"
        f'<details class="replay"><summary>Replay this run</summary>{commands}</details></header>'
    )


# ------------------------------------------------------------------ tenants at a glance
def _status_pill(status: str) -> str:
    return f'<span class="pill st-{escape(status.replace(" ", "-").replace("(", "").replace(")", ""))}">{escape(status)}</span>'


def _glance(tl: Timeline, redact: Redactor) -> str:
    rows = []
    for code, lane in tl.lanes.items():
        path = " → ".join(_status_pill(s.status) for s in lane.spans) or "—"
        problems = _problem_summary(lane.marks)
        flag = ' class="troubled"' if lane.troubled else ""
        rows.append(
            f'<tr{flag} data-tenant="{escape(code)}" data-troubled="{int(lane.troubled)}"><th><a href="#tenant-{escape(code)}">{escape(code)}</a></th>'
            f"<td>{_status_pill(lane.final)}</td><td>{path}</td><td>{len(lane.flows)}</td>"
            f'<td class="problem-list">{escape(problems)}</td><td>{escape(redact.text(tenant_sentence(lane)))}</td></tr>'
        )
    if not rows:
        rows.append('<tr><td colspan="6">No tenant row was written.</td></tr>')
    finals: dict[str, int] = {}
    for lane in tl.lanes.values():
        finals[lane.final] = finals.get(lane.final, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(finals.items(), key=lambda kv: -kv[1]))
    troubled = sum(1 for lane in tl.lanes.values() if lane.troubled)
    opened = " open" if len(tl.lanes) <= 12 else ""
    return (
        f'<section id="glance"><h2>Tenants at a glance</h2><details class="glance"{opened}><summary>{len(tl.lanes)} tenant(s): '
        f"{escape(summary) or 'none'}; {troubled} with a problem</summary>"
        '<table class="glance"><thead><tr><th>tenant</th><th>final</th><th>statuses</th><th>flows</th><th>problems</th><th>what happened</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></details></section>"
    )


# ------------------------------------------------------------------ the timeline
def _timeline(tl: Timeline, axis: Axis, details: _Details) -> str:
    lanes = [_axis_row(axis)]
    if tl.system:
        lanes.append(_lane_row("(system)", "schedule, faults", None, tl.system, axis, details, system=True))
    for code, lane in tl.lanes.items():
        lanes.append(_lane_row(code, lane.final, lane, lane.marks, axis, details))
    controls = (
        '<div class="controls"><label>filter tenants <input id="filter" type="search" placeholder="tenant code"></label>'
        '<label><input id="troubled-only" type="checkbox"> only tenants with a problem</label>'
        '<span class="hint">hover for details, click to pin them</span></div>'
    )
    return (
        '<section id="timeline"><h2>Timeline (simulated time)</h2>'
        '<p class="explain">One lane per tenant: its status over time (the bar), what the flow ran (below it: '
        "Trigger ▮, each Check ● coloured by the TFC run status it read, Finalize ▮) and what happened to it (above it). "
        "Idle stretches are cut out of the axis (the hatched gaps say how long).</p>"
        f"{controls}<div class=\"lanes\">{''.join(lanes)}</div>{_legend()}</section>"
    )


def _legend() -> str:
    items = [f'<span><svg width="14" height="14">{_glyph(kind, 7, 7, -1)}</svg>{escape(text)}</span>' for kind, (text, _, _) in MARK_KINDS.items()]
    statuses = "".join(f'<span><i class="sw st-{s}"></i>{s}</span>' for s in ("creating", "updating", "deleting", "ready", "failed", "deleted"))
    visits = (
        '<span><svg width="14" height="14"><rect x="4" y="2" width="6" height="10" class="v-trigger"/></svg>Trigger</span>'
        '<span><svg width="14" height="14"><circle cx="7" cy="7" r="4" class="run-progress"/></svg>Check (run in progress)</span>'
        '<span><svg width="14" height="14"><circle cx="7" cy="7" r="4" class="run-ok"/></svg>Check (run applied)</span>'
        '<span><svg width="14" height="14"><circle cx="7" cy="7" r="4" class="run-bad"/></svg>Check (run errored)</span>'
        '<span><svg width="14" height="14"><rect x="4" y="2" width="6" height="10" class="v-finalize"/></svg>Finalize</span>'
        '<span><svg width="14" height="14"><path d="M3,3 L11,11 M11,3 L3,11" class="v-failed"/></svg>failed attempt (retried)</span>'
    )
    return f'<details class="legend" open><summary>Legend</summary><div>{statuses}</div><div>{visits}</div><div>{"".join(items)}</div></details>'


def _axis_row(axis: Axis) -> str:
    parts = [f'<svg class="axis" width="{LANE_W}" height="30" viewBox="0 0 {LANE_W} 30">']
    for x, t in axis.ticks():
        if any(cut.x0 - 26 < x < cut.x1 + 26 for cut in axis.cuts):
            continue  # its label would run into the cut's
        anchor = "start" if x < 20 else "end" if x > LANE_W - 40 else "middle"
        parts.append(f'<line x1="{x:.1f}" y1="20" x2="{x:.1f}" y2="30"/><text x="{x:.1f}" y="14" text-anchor="{anchor}">{escape(clock(t))}</text>')
    for cut in axis.cuts:
        mid = (cut.x0 + cut.x1) / 2
        parts.append(f'<rect class="cut" x="{cut.x0:.1f}" y="0" width="{cut.x1 - cut.x0:.1f}" height="30"/>'
                     f'<text class="cut-label" x="{mid:.1f}" y="27" text-anchor="middle">{escape(duration(cut.t1 - cut.t0))}</text>')
    parts.append("</svg>")
    return f'<div class="lane axis-row"><div class="name"></div>{"".join(parts)}</div>'


def _lane_row(code: str, final: str, lane: Lane | None, marks: list[Mark], axis: Axis, details: _Details, *, system: bool = False) -> str:
    svg = [f'<svg width="{LANE_W}" height="{LANE_H}" viewBox="0 0 {LANE_W} {LANE_H}">']
    for cut in axis.cuts:
        svg.append(f'<rect class="cut" x="{cut.x0:.1f}" y="0" width="{cut.x1 - cut.x0:.1f}" height="{LANE_H}"/>')
    if lane is not None:
        svg += _spans(lane, axis, details)
        for flow in lane.flows:
            svg += _visits(flow, axis, details)
    for m in sorted(marks, key=lambda m: (m.t, m.seq)):
        i = details.add(f"{clock(m.t)} {m.label}", [("what", MARK_KINDS[m.kind][0]), ("tenant", m.tenant), *m.details.items()])
        svg.append(_glyph(m.kind, axis.x(m.t), 9, i))
    svg.append("</svg>")
    troubled = "1" if (lane.troubled if lane is not None else False) else "0"
    name = (
        f'<div class="name"><span class="code">{escape(code)}</span><span class="sub">{escape(final)}</span></div>'
        if system else
        f'<div class="name"><a class="code" href="#tenant-{escape(code)}">{escape(code)}</a>{_status_pill(final)}</div>'
    )
    attrs = 'class="lane system"' if system else f'class="lane" data-tenant="{escape(code)}" data-troubled="{troubled}"'
    return f'<div {attrs}>{name}{"".join(svg)}</div>'


def _spans(lane: Lane, axis: Axis, details: _Details) -> list[str]:
    out = []
    for span in lane.spans:
        x0, x1 = axis.x(span.start), axis.x(span.end)
        w = max(x1 - x0, 2.0)
        flow = next((f for f in lane.flows if f.request_id == span.request_id and f.status == span.status), None) if span.status in IN_PROGRESS else None
        rows: list[tuple[str, object]] = [("from", clock(span.start)), ("until", clock(span.end)), ("for", duration(span.end - span.start)),
                                          ("request", span.request_id), ("last_error", span.last_error)]
        if flow is not None:
            rows = [("flow", flow_sentence(flow)), *rows, *_visit_rows(flow)]
        i = details.add(f"{lane.tenant}: {span.status}", rows)
        label = f'<text x="{x0 + 4:.1f}" y="27">{escape(span.status)}</text>' if w > 58 else ""
        out.append(f'<g class="span" data-i="{i}"><rect class="st-{escape(span.status)}" x="{x0:.1f}" y="16" width="{w:.1f}" height="15" rx="2"/>{label}</g>')
    return out


def _visit_rows(flow: Flow) -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = []
    for v in flow.visits:
        what = v.state + (f" (retry {v.attempt - 1})" if v.attempt > 1 else "")
        result = v.error or (f"run {v.run_status}" if v.run_status else "ok")
        rows.append((f"{clock(v.started)}", f"{what}: {result}"))
    return rows


def _run_class(status: str | None) -> str:
    if status in RUN_OK:
        return "run-ok"
    if status in RUN_BAD:
        return "run-bad"
    return "run-progress"


def _visits(flow: Flow, axis: Axis, details: _Details) -> list[str]:
    out = []
    last = -100.0
    for v in flow.visits:
        x = axis.x(v.started)
        if last - 8 <= x < last + 7:
            x = last + 7  # visits at (nearly) one moment side by side, in the order they ran
        last = x
        title = f"{flow.tenant}: {v.state}" + (f" (retry {v.attempt - 1})" if v.attempt > 1 else "") + f" at {clock(v.started)}"
        i = details.add(title, [("flow", f"{flow.action} (request {flow.request_id})"), ("result", v.error or "ok"),
                                ("run status read", v.run_status), ("ended", clock(v.ended))])
        if not v.ok:
            out.append(f'<path data-i="{i}" class="v-failed" d="M{x - 3:.1f},{35:.1f} L{x + 3:.1f},{41} M{x + 3:.1f},{35} L{x - 3:.1f},{41}"/>')
        elif v.state == "Check":
            out.append(f'<circle data-i="{i}" class="{_run_class(v.run_status)}" cx="{x:.1f}" cy="38" r="3.5"/>')
        else:
            cls = "v-trigger" if v.state == "Trigger" else "v-finalize"
            out.append(f'<rect data-i="{i}" class="{cls}" x="{x - 3:.1f}" y="33" width="6" height="10"/>')
    return out


def _glyph(kind: str, x: float, y: float, i: int) -> str:
    """A mark's shape, centred on (x, y); ``i`` < 0: no details (the legend)."""
    data = f' data-i="{i}"' if i >= 0 else ""
    cls = f'class="m m-{kind}"{data}'
    if kind in ("api", "refused"):
        return f'<path {cls} d="M{x - 4:.1f},{y - 4:.1f} L{x + 4:.1f},{y - 4:.1f} L{x:.1f},{y + 4:.1f} z"/>'
    if kind == "fault":
        return f'<path {cls} d="M{x:.1f},{y - 6:.1f} L{x + 5:.1f},{y + 4:.1f} L{x - 5:.1f},{y + 4:.1f} z"/>'
    if kind in ("retry", "delivery_retry"):
        return f'<path {cls} d="M{x - 3.5:.1f},{y - 3.5:.1f} L{x + 3.5:.1f},{y + 3.5:.1f} M{x + 3.5:.1f},{y - 3.5:.1f} L{x - 3.5:.1f},{y + 3.5:.1f}"/>'
    if kind == "lifecycle":
        return f'<path {cls} d="M{x:.1f},{y - 5:.1f} L{x + 5:.1f},{y:.1f} L{x:.1f},{y + 5:.1f} L{x - 5:.1f},{y:.1f} z"/>'
    if kind in ("dlq", "flow_dlq", "ddb_refused"):
        return f'<rect {cls} x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8"/>'
    if kind == "tfc_fault":
        return f'<rect {cls} x="{x - 1.5:.1f}" y="{y - 5:.1f}" width="3" height="10"/>'
    return f'<circle {cls} cx="{x:.1f}" cy="{y:.1f}" r="3.5"/>'


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class _Run:
    """Consecutive problem marks of one kind that say the same but for numbers (185
    EventBridge retries of one event): listed once, with how many and from when to when."""

    first: Mark
    last: Mark
    count: int

    @property
    def when(self) -> str:
        return clock(self.first.t) if self.count == 1 else f"{clock(self.first.t)} – {clock(self.last.t)}"

    @property
    def label(self) -> str:
        return self.first.label if self.count == 1 else f"{self.first.label} … ×{self.count}"


def _runs(marks: Iterable[Mark]) -> list[_Run]:
    out: list[_Run] = []
    key = None
    for m in marks:
        k = (m.kind, m.tenant, _NUMBER.sub("#", m.label))
        if out and k == key:
            out[-1] = _Run(out[-1].first, m, out[-1].count + 1)
        else:
            out.append(_Run(m, m, 1))
        key = k
    return out


def _problem_summary(marks: list[Mark]) -> str:
    """``185× EventBridge retry, 1× dead letter``."""
    counts = {k: sum(1 for m in marks if m.kind == k) for k in MARK_KINDS if is_problem(k)}
    return ", ".join(f"{n}× {MARK_KINDS[k][1]}" for k, n in counts.items() if n)


# ------------------------------------------------------------------ flows per tenant
def _flows(tl: Timeline, redact: Redactor) -> str:
    cards = []
    for code, lane in tl.lanes.items():
        rows = []
        for n, f in enumerate(lane.flows, 1):
            states = _states_text(f.visits)
            rows.append(
                f'<tr class="{"bad" if f.failed else ""}"><td>{n}</td><td>{escape(f.action)}</td><td>{escape(f.actor)}</td>'
                f"<td>{clock(f.start)}</td><td>{clock(f.end) if f.end is not None else '—'}</td>"
                f"<td>{duration(f.end - f.start) if f.end is not None else '—'}</td><td>{escape(states)}</td>"
                f"<td>{escape(' → '.join(f.run_statuses) or '—')}</td><td>{_status_pill(f.outcome)}</td>"
                f"<td>{escape(f.event or '—')}</td><td>{escape(redact.text(f.last_error or ''))}</td></tr>"
            )
        sentences = "".join(f"<li>{escape(redact.text(flow_sentence(f)))}</li>" for f in lane.flows)
        table = (
            '<table class="flows"><thead><tr><th>#</th><th>action</th><th>by</th><th>began</th><th>ended</th><th>took</th>'
            "<th>states visited</th><th>TFC run statuses read</th><th>outcome</th><th>event</th><th>last error</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>" if rows else "<p>No flow began.</p>"
        )
        problems = _runs(m for m in sorted(lane.marks, key=lambda m: (m.t, m.seq)) if is_problem(m.kind))
        plist = "".join(f"<li><b>{r.when}</b> {escape(redact.text(r.label))}</li>" for r in problems[:40])
        more = f"<li>… and {len(problems) - 40} more</li>" if len(problems) > 40 else ""
        plist_html = f'<p class="sub">What went wrong or was retried:</p><ul class="problems">{plist}{more}</ul>' if problems else ""
        opened = " open" if any(f.failed for f in lane.flows) or len(tl.lanes) <= 8 else ""
        cards.append(
            f'<details class="tenant" id="tenant-{escape(code)}" data-tenant="{escape(code)}" data-troubled="{int(lane.troubled)}"{opened}>'
            f"<summary><b>{escape(code)}</b> {_status_pill(lane.final)} <span class=\"sub\">{escape(redact.text(tenant_sentence(lane)))}</span></summary>"
            f"<ol class=\"story\">{sentences}</ol>{table}{plist_html}</details>"
        )
    return f'<section id="flows"><h2>Each tenant\'s flows</h2>{"".join(cards) or "<p>No tenant.</p>"}</section>'


def _states_text(visits: list[Visit]) -> str:
    """``Trigger, Wait/Check ×3, Finalize`` (retries named)."""
    out: list[str] = []
    checks = 0

    def flush() -> None:
        nonlocal checks
        if checks:
            out.append(f"Wait/Check ×{checks}" if checks > 1 else "Wait/Check")
            checks = 0

    for v in visits:
        if v.state == "Check":
            checks += v.ok
            continue
        flush()
        if v.ok:
            out.append(v.state)
    flush()
    return ", ".join(out) or "—"


# ------------------------------------------------------------------ graph
def _graph(tl: Timeline) -> str:
    counts = graph_counts(tl)
    unplaced = f" {tl.unplaced_checks} Check invocation(s) could not be placed in a flow." if tl.unplaced_checks else ""
    return (
        '<section id="graph"><h2>State machine: states entered and transitions taken</h2>'
        "<p class=\"explain\">Summed over every execution of the create, update and delete state machines (one definition). "
        f"Thicker arrows were taken more often; dashed ones never.{unplaced}</p>"
        f"{graph_svg(counts)}</section>"
    )


# ------------------------------------------------------------------ checks
def _check_rows(checks: list[Check], redact: Redactor) -> str:
    rows = []
    for c in checks:
        expected, got = redact.text(c.expected), redact.text(c.got)
        rows.append(
            f'<tr class="{"pass" if c.passed else "fail"}"><td>{"✔" if c.passed else "✘"}</td><td><code>{escape(c.field)}</code></td>'
            f"<td>{escape(expected)}</td><td>{escape(got)}</td></tr>"
        )
    return "".join(rows)


def _invariant_rows(results: list[InvariantResult], redact: Redactor) -> str:
    rows = []
    for r in results:
        violations = "".join(f"<li>{escape(redact.text(v))}</li>" for v in r.violations)
        rows.append(
            f'<tr class="{"pass" if r.passed else "fail"}"><td>{"✔" if r.passed else "✘"}</td><td><code>{escape(r.name)}</code></td>'
            f"<td>{escape(r.description)}</td><td>{'<ul>' + violations + '</ul>' if violations else 'held'}</td></tr>"
        )
    return "".join(rows)


def _checks(page: Page, redact: Redactor) -> str:
    v = page.verdict
    parts = ['<section id="checks"><h2>Checks</h2>']
    if page.problems:
        items = "".join(f"<li>{escape(redact.text(p))}</li>" for p in page.problems)
        parts.append(f'<div class="fail-box"><h3>Problems found</h3><ul>{items}</ul></div>')
    if v is None:
        parts.append("<p>This run was not judged.</p></section>")
        return "".join(parts)
    failed = [c for c in v.steps + v.expectations if not c.passed] + [c for c in v.invariants if not c.passed]
    parts.append(f"<p>{len(failed)} failed of {len(v.steps) + len(v.expectations) + len(v.invariants)}.</p>")
    head = "<thead><tr><th></th><th>field</th><th>expected</th><th>got</th></tr></thead>"
    parts.append(f'<h3>Steps</h3><table class="checks">{head}<tbody>{_check_rows(v.steps, redact)}</tbody></table>')
    if v.expectations:
        parts.append(f'<h3>Expectations (the scenario\'s <code>expect</code>)</h3><table class="checks">{head}<tbody>{_check_rows(v.expectations, redact)}</tbody></table>')
    else:
        parts.append("<h3>Expectations</h3><p>The scenario expects nothing in particular.</p>")
    if v.unjudged:
        parts.append(f'<p class="note">Not judged from the trace alone (not recorded in it): {escape(", ".join(v.unjudged))}. '
                     "<code>python -m sim run FILE --report</code> judges them.</p>")
    parts.append('<h3>Invariants (hold for every run)</h3><table class="checks"><thead><tr><th></th><th>invariant</th><th>what</th><th>result</th></tr></thead>'
                 f"<tbody>{_invariant_rows(v.invariants, redact)}</tbody></table></section>")
    return "".join(parts)


# ------------------------------------------------------------------ problems
def _problems(tl: Timeline, redact: Redactor) -> str:
    marks = sorted((m for m in tl.marks() if is_problem(m.kind)), key=lambda m: (m.t, m.seq))
    if not marks:
        return '<section id="faults"><h2>Faults, retries and dead letters</h2><p>None: nothing was injected, retried or dead-lettered.</p></section>'
    by_tenant: dict[str | None, list[Mark]] = {}
    for m in marks:
        by_tenant.setdefault(m.tenant, []).append(m)
    runs = sorted((r for ms in by_tenant.values() for r in _runs(ms)), key=lambda r: (r.first.t, r.first.seq))
    rows = "".join(
        f'<tr class="k-{r.first.kind}"><td>{r.when}</td><td>{escape(r.first.tenant or "(system)")}</td><td>{escape(MARK_KINDS[r.first.kind][0])}</td>'
        f"<td>{escape(redact.text(r.label))}</td></tr>"
        for r in runs[:500]
    )
    more = f"<p>… and {len(runs) - 500} more (see the trace).</p>" if len(runs) > 500 else ""
    return (
        f'<section id="faults"><h2>Faults, retries and dead letters</h2><p>{escape(_problem_summary(marks))}.</p>'
        f'<table class="marks"><thead><tr><th>when</th><th>tenant</th><th>what</th><th>detail</th></tr></thead><tbody>{rows}</tbody></table>{more}</section>'
    )


__all__ = ["Page", "Redactor", "render"]
