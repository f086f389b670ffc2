"""The state machine as a graph, with how often each state was entered and each transition
taken in a run (the Step Functions console's graph view, summed over every execution).

The states are those of :func:`sim.controlplane.definition.definition`; the counts are read
off each flow's visits (:mod:`sim.report.timeline`).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from html import escape

from .timeline import Flow, Timeline

#: (name, x, y) of each node, left to right as an execution goes.
NODES: dict[str, tuple[int, int]] = {
    "Init": (60, 110),
    "Trigger": (200, 110),
    "Wait": (350, 110),
    "Check": (500, 110),
    "Done?": (650, 110),
    "Finalize": (820, 110),
    "End": (980, 110),
    "DeadLetter": (820, 220),
    "FinalizeFailed": (980, 220),
}
#: (from, to, label, route): "straight", "over" (an arc above), "under" (an arc below), "self" (a Retry).
EDGES: tuple[tuple[str, str, str, str], ...] = (
    ("Init", "Trigger", "", "straight"),
    ("Trigger", "Trigger", "Retry", "self"),
    ("Trigger", "Wait", "", "straight"),
    ("Trigger", "Finalize", "Catch", "under"),
    ("Wait", "Check", "", "straight"),
    ("Check", "Check", "Retry", "self"),
    ("Check", "Done?", "", "straight"),
    ("Check", "Finalize", "Catch", "under"),
    ("Done?", "Wait", "not finished", "over"),
    ("Done?", "Finalize", "done", "straight"),
    ("Finalize", "Finalize", "Retry", "self"),
    ("Finalize", "End", "", "straight"),
    ("Finalize", "DeadLetter", "Catch", "straight"),
    ("DeadLetter", "FinalizeFailed", "", "straight"),
)


@dataclass(frozen=True)
class GraphCounts:
    nodes: Counter[str]
    edges: Counter[tuple[str, str]]


def graph_counts(tl: Timeline) -> GraphCounts:
    nodes: Counter[str] = Counter()
    edges: Counter[tuple[str, str]] = Counter()
    nodes["Init"] = tl.executions
    edges[("Init", "Trigger")] = tl.executions
    nodes["Check"] += tl.unplaced_checks
    for flow in tl.flows:
        _walk(flow, nodes, edges)
    nodes["Wait"] = edges[("Trigger", "Wait")] + edges[("Done?", "Wait")]
    nodes["Done?"] = edges[("Check", "Done?")]
    nodes["End"] = edges[("Finalize", "End")]
    nodes["FinalizeFailed"] = nodes["DeadLetter"] = edges[("Finalize", "DeadLetter")]
    edges[("DeadLetter", "FinalizeFailed")] = nodes["DeadLetter"]
    return GraphCounts(nodes, edges)


def _walk(flow: Flow, nodes: Counter[str], edges: Counter[tuple[str, str]]) -> None:
    previous = None
    for v in flow.visits:
        nodes[v.state] += 1
        if previous is not None:
            p = previous
            if p.state == v.state and not p.ok:
                edges[(v.state, v.state)] += 1
            elif not p.ok and v.state == "Finalize":
                edges[(p.state, "Finalize")] += 1  # a Catch
            elif p.state == "Trigger" and v.state == "Check":
                edges[("Trigger", "Wait")] += 1
                edges[("Wait", "Check")] += 1
            elif p.state == "Check" and v.state == "Check":
                edges[("Done?", "Wait")] += 1
                edges[("Wait", "Check")] += 1
            elif p.state == "Check" and v.state == "Finalize":
                edges[("Done?", "Finalize")] += 1
        if v.state == "Check" and v.ok:
            edges[("Check", "Done?")] += 1
        previous = v
    if previous is not None and previous.state == "Finalize":
        if previous.ok:
            edges[("Finalize", "End")] += 1
        elif flow.outcome == "flow DLQ":
            edges[("Finalize", "DeadLetter")] += 1


W, H = 100, 40


def graph_svg(counts: GraphCounts) -> str:
    """The graph as inline SVG: each node with its count, each edge as thick as it was taken
    often (dashed when never)."""
    parts = [
        '<svg class="graph" viewBox="0 0 1060 280" width="1060" height="280" role="img" aria-label="state machine graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#667"/></marker></defs>',
    ]
    peak = max(counts.edges.values(), default=1) or 1
    for src, dst, label, route in EDGES:
        n = counts.edges.get((src, dst), 0)
        width = 1.2 + 4.0 * math.log1p(n) / math.log1p(peak) if n else 1.0
        cls = "edge" if n else "edge never"
        d, lx, ly = _path(src, dst, route)
        text = f"{label} ×{n}" if label else f"×{n}"
        parts.append(
            f'<g class="{cls}" data-edge="{escape(src)}→{escape(dst)}" data-count="{n}">'
            f'<path d="{d}" stroke-width="{width:.1f}" marker-end="url(#arrow)"/>'
            f'<text x="{lx}" y="{ly}" text-anchor="middle">{escape(text)}</text></g>'
        )
    for name, (x, y) in NODES.items():
        n = counts.nodes.get(name, 0)
        cls = "node" + ("" if n else " never") + (" bad" if name in ("DeadLetter", "FinalizeFailed") and n else "")
        parts.append(
            f'<g class="{cls}" data-state="{escape(name)}" data-count="{n}">'
            f'<rect x="{x - W / 2}" y="{y - H / 2}" width="{W}" height="{H}" rx="8"/>'
            f'<text x="{x}" y="{y - 3}" text-anchor="middle" class="name">{escape(name)}</text>'
            f'<text x="{x}" y="{y + 12}" text-anchor="middle" class="count">×{n}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _path(src: str, dst: str, route: str) -> tuple[str, float, float]:
    """An SVG path from ``src`` to ``dst`` and where its label goes."""
    (x1, y1), (x2, y2) = NODES[src], NODES[dst]
    if route == "self":
        left, right, top = x1 - 18, x1 + 18, y1 - H / 2
        return f"M{left},{top} C{left - 10},{top - 42} {right + 10},{top - 42} {right},{top}", x1, top - 36
    if route == "over":
        top = y1 - H / 2
        mid = (x1 + x2) / 2
        return f"M{x1 - 20},{top} C{x1 - 30},{top - 80} {x2 + 30},{top - 80} {x2 + 20},{top}", mid, top - 62
    if route == "under":
        bottom = y1 + H / 2
        mid = (x1 + x2) / 2
        depth = 60 if src == "Check" else 95
        return f"M{x1},{bottom} C{x1 + 20},{bottom + depth} {x2 - 40},{bottom + depth} {x2 - 25},{bottom}", mid, bottom + depth * 0.75 + 4
    if y1 == y2:
        a, b = x1 + W / 2, x2 - W / 2
        return f"M{a},{y1} L{b},{y2}", (a + b) / 2, y1 - 9
    a, b = y1 + H / 2, y2 - H / 2
    return f"M{x1},{a} L{x2},{b}", x1 + 30, (a + b) / 2
