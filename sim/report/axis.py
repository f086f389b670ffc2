"""The report's time axis: simulated time, linear where things happen, with the idle
stretches between cut out (a broken axis). A scenario may run for thirty simulated days
while its flows take minutes; on a plain linear axis those minutes would be invisible.

Busy periods ("segments") share the width in proportion to the logarithm of their
duration (so that a two-minute flow stays visible beside a day of retries), each at least
``min_width`` wide (a single moment: ``point_width``); each cut is a narrow gap labelled
with the time it hides, the idle end of the run included.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    t0: float
    t1: float
    x0: float
    x1: float

    def x(self, t: float) -> float:
        if self.t1 <= self.t0:
            return (self.x0 + self.x1) / 2
        return self.x0 + (t - self.t0) / (self.t1 - self.t0) * (self.x1 - self.x0)


@dataclass(frozen=True)
class Cut:
    """Idle time left out between two segments, drawn as a gap at ``x0``..``x1``."""

    t0: float
    t1: float
    x0: float
    x1: float


_NICE = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)
#: Simulated seconds either side of a busy moment that has no duration of its own.
_PAD = 30.0


class Axis:
    def __init__(
        self, times: Iterable[float], end: float, width: float, *, idle: float = 1800.0, min_width: float = 70.0,
        point_width: float = 40.0, cut_width: float = 22.0,
    ) -> None:
        points = sorted({0.0, *(t for t in times if t <= end)})
        self.width = width
        self.end = end
        idle = max(idle, 4 * _PAD)
        while True:
            clusters = self._clusters(points, idle)
            floors = [point_width if b - a <= 2 * _PAD else min_width for a, b in clusters]
            if sum(floors) + (len(clusters) - 1) * cut_width <= width or len(clusters) == 1:
                break
            idle *= 2  # too many busy periods for the width: cut only the longer idle stretches
        a, b = clusters[-1]
        if end > b:  # some room after the last busy period, so that the status it ends in shows
            clusters[-1] = (a, min(end, b + max(2 * _PAD, 0.25 * (b - a))))
        tail = end > clusters[-1][1]  # the idle end of the run: a last cut, up to the right edge
        self.segments, self.cuts = self._layout(clusters, floors, width - (cut_width if tail else 0.0), cut_width)
        if tail:
            self.cuts.append(Cut(clusters[-1][1], end, width - cut_width, width))

    @staticmethod
    def _clusters(points: list[float], idle: float) -> list[tuple[float, float]]:
        out: list[list[float]] = [[points[0], points[0]]]
        for p in points[1:]:
            if p - out[-1][1] > idle:
                out.append([p, p])
            else:
                out[-1][1] = p
        # A single moment gets a little time either side so that it is not squeezed to a line.
        return [(a, b) if b > a else (max(0.0, a - _PAD), b + _PAD) for a, b in out]

    @staticmethod
    def _layout(clusters: list[tuple[float, float]], floors: list[float], width: float, cut_width: float) -> tuple[list[Segment], list[Cut]]:
        n = len(clusters)
        spare = max(0.0, width - sum(floors) - (n - 1) * cut_width)
        weights = [math.log1p((b - a) / 10.0) for a, b in clusters]
        total = sum(weights) or 1.0
        segments: list[Segment] = []
        cuts: list[Cut] = []
        x = 0.0
        for i, ((a, b), w, floor) in enumerate(zip(clusters, weights, floors)):
            seg_w = floor + spare * w / total
            segments.append(Segment(a, b, x, x + seg_w))
            x += seg_w
            if i + 1 < n:
                cuts.append(Cut(b, clusters[i + 1][0], x, x + cut_width))
                x += cut_width
        return segments, cuts

    def x(self, t: float) -> float:
        for i, seg in enumerate(self.segments):
            if t < seg.t0:  # idle time cut out before this segment: the middle of the gap
                return (self.cuts[i - 1].x0 + self.cuts[i - 1].x1) / 2 if i else seg.x0
            if t <= seg.t1:
                return seg.x(t)
        if t >= self.end:
            return self.width
        if len(self.cuts) >= len(self.segments):  # in the idle end of the run
            return (self.cuts[-1].x0 + self.cuts[-1].x1) / 2
        return self.segments[-1].x1

    def ticks(self, min_spacing: float = 90.0) -> list[tuple[float, float]]:
        """(x, t) pairs: round simulated times, at least about ``min_spacing`` apart."""
        out: list[tuple[float, float]] = []
        for seg in self.segments:
            span = seg.t1 - seg.t0
            px = seg.x1 - seg.x0
            if span <= 0 or px <= 0:
                continue
            step = next((s for s in _NICE if s * px / span >= min_spacing), _NICE[-1])
            t = math.ceil(seg.t0 / step) * step
            while t <= seg.t1:
                x = seg.x(t)
                if not out or x - out[-1][0] >= min_spacing * 0.6:
                    out.append((x, t))
                t += step
        return out


def clock(t: float) -> str:
    """Simulated time since the start: ``0:02:00``, ``0:02:00.5``, ``1d 3:00:00``."""
    t = max(0.0, round(t, 3))
    whole = int(t)
    frac = t - whole
    days, rest = divmod(whole, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    sec = f"{s:02d}" + (f"{frac:.3f}"[1:].rstrip("0") if frac else "")
    body = f"{h}:{m:02d}:{sec}"
    return f"{days}d {body}" if days else body


def duration(seconds: float) -> str:
    """``45 s``, ``6 min``, ``3.2 h``, ``29 d``."""
    s = abs(seconds)
    if s < 90:
        return f"{s:g} s" if s == int(s) else f"{s:.1f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    if s < 86400 * 2:
        return f"{s / 3600:.1f} h".replace(".0 h", " h")
    return f"{s / 86400:.1f} d".replace(".0 d", " d")
