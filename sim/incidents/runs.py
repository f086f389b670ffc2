"""TFC runs, read from their JSON:API documents (``GET /api/v2/runs/:id``, with or without
``include=plan,apply``, and ``GET /api/v2/workspaces/:id/runs``), and turned into the fake's
per-attempt behaviour: outcome, stage durations, where a run got stuck.

``status-timestamps`` give the time each status was first entered (TFC writes them to the
second). The fake walks ``pending -> plan_queued -> planning -> [planned] -> [confirmed] ->
apply_queued -> applying -> applied|errored`` with a duration per *timed* stage (pending,
plan_queued, planning, apply_queued, applying; cost estimation and policy checks too) and
passes the others (planned, confirmed, cost_estimated, policy_checked) instantly, so the
time production spent in those is counted in the timed stage before them.

What the control plane's Check saw at each poll is the ground truth the replay must
reproduce. Where the stage times taken from ``status-timestamps`` (rounded to the second,
on TFC's clock) would make a poll of the replay see another status than production's Check
did, the stage's boundary is moved just enough (:func:`fit`), and the note says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from fake_tfc.behaviour import DEFAULT_DURATIONS, Outcome
from fake_tfc.statuses import RunStatus

from .documents import Document, epoch
from .errors import IncidentInputError

S = RunStatus
#: The fake's timed stages, in path order, and the statuses whose time counts in each.
STAGES: list[tuple[str, frozenset[RunStatus]]] = [
    ("pending", frozenset({S.PENDING, S.PLAN_QUEUEABLE})),
    ("plan_queued", frozenset({S.PLAN_QUEUED})),
    ("planning", frozenset({S.PLANNING, S.PLANNED, S.COST_ESTIMATING, S.COST_ESTIMATED, S.POLICY_CHECKING, S.POLICY_CHECKED, S.CONFIRMED})),
    ("apply_queued", frozenset({S.APPLY_QUEUED})),
    ("applying", frozenset({S.APPLYING})),
]
STAGE_OF: dict[RunStatus, str] = {s: name for name, statuses in STAGES for s in statuses}
TERMINAL_OUTCOME = {
    S.APPLIED: Outcome.SUCCESS,
    S.PLANNED_AND_FINISHED: Outcome.NO_CHANGES,
    S.CANCELED: Outcome.CANCELED,
    S.FORCE_CANCELED: Outcome.CANCELED,
    S.POLICY_SOFT_FAILED: Outcome.POLICY_SOFT_FAIL,
}
#: Canonical order of statuses, to order those stamped in the same second.
ORDER = [
    S.PENDING, S.PLAN_QUEUEABLE, S.PLAN_QUEUED, S.PLANNING, S.PLANNED, S.COST_ESTIMATING, S.COST_ESTIMATED,
    S.POLICY_CHECKING, S.POLICY_CHECKED, S.POLICY_OVERRIDE, S.POLICY_SOFT_FAILED, S.CONFIRMED, S.APPLY_QUEUED,
    S.APPLYING, S.APPLIED, S.PLANNED_AND_FINISHED, S.ERRORED, S.DISCARDED, S.CANCELED, S.FORCE_CANCELED,
]
TERMINAL = frozenset({S.APPLIED, S.PLANNED_AND_FINISHED, S.ERRORED, S.DISCARDED, S.CANCELED, S.FORCE_CANCELED, S.POLICY_SOFT_FAILED})
#: Stages of the fake's path for each outcome (what a run of that outcome passes through).
PATH = {
    Outcome.SUCCESS: ["pending", "plan_queued", "planning", "apply_queued", "applying"],
    Outcome.APPLY_ERROR: ["pending", "plan_queued", "planning", "apply_queued", "applying"],
    Outcome.NO_CHANGES: ["pending", "plan_queued", "planning"],
    Outcome.PLAN_ERROR: ["pending", "plan_queued", "planning"],
    Outcome.CANCELED: ["pending", "plan_queued", "planning"],
    Outcome.POLICY_SOFT_FAIL: ["pending", "plan_queued", "planning"],
}


def status(value: Any, where: str) -> RunStatus:
    try:
        return RunStatus(value)
    except ValueError:
        raise IncidentInputError(f"{where}: unknown run status {value!r}") from None


@dataclass
class RunDoc:
    """One run as TFC reported it (the document with the most status timestamps wins
    when the same run is given twice, e.g. in the list and on its own)."""

    id: str
    workspace_id: str | None
    source: str
    status: RunStatus
    message: str
    created: float
    is_destroy: bool
    #: Status -> epoch seconds, as stamped (``plan-queueable-at`` is the run's creation).
    stamps: dict[RunStatus, float]
    plan_status: str | None = None
    apply_status: str | None = None
    has_changes: bool | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def finished_at(self) -> float | None:
        return self.stamps.get(self.status) if self.terminal else None


def read_runs(docs: list[Document]) -> dict[str, RunDoc]:
    runs: dict[str, RunDoc] = {}
    for doc in docs:
        data = doc.data["data"]
        items = data if isinstance(data, list) else [data]
        included = {(i.get("type"), i.get("id")): i for i in doc.data.get("included") or [] if isinstance(i, dict)}
        for item in items:
            run = _run(item, included, doc.source)
            seen = runs.get(run.id)
            if seen is None or len(run.stamps) > len(seen.stamps) or (len(run.stamps) == len(seen.stamps) and run.plan_status and not seen.plan_status):
                if seen is not None and seen.stamps.items() - run.stamps.items() and run.stamps.items() - seen.stamps.items():
                    raise IncidentInputError(f"{doc.source}: run {run.id} differs from the same run in {seen.source} (its status timestamps disagree)")
                runs[run.id] = run
    return runs


def _run(item: dict[str, Any], included: dict[tuple[Any, Any], dict[str, Any]], source: str) -> RunDoc:
    rid = item.get("id")
    attrs = item.get("attributes")
    if not isinstance(rid, str) or not isinstance(attrs, dict):
        raise IncidentInputError(f"{source}: a run without an id or attributes")
    where = f"{source}: run {rid}"
    stamps_raw = attrs.get("status-timestamps")
    if not isinstance(stamps_raw, dict):
        raise IncidentInputError(f"{where}: no status-timestamps")
    stamps: dict[RunStatus, float] = {}
    for key, value in stamps_raw.items():
        if not key.endswith("-at"):
            continue
        name = key[: -len("-at")].replace("-", "_")
        if name in ("force_cancel_available",):
            continue
        st = status(name, f"{where}: status-timestamps.{key}")
        stamps[st] = epoch(value, f"{where}: status-timestamps.{key}")
    created = epoch(attrs.get("created-at"), f"{where}: created-at") if attrs.get("created-at") else stamps.get(S.PLAN_QUEUEABLE)
    if created is None:
        raise IncidentInputError(f"{where}: neither created-at nor plan-queueable-at: when was it created?")
    stamps.setdefault(S.PLAN_QUEUEABLE, math.floor(created))
    st = status(attrs.get("status"), f"{where}: status")
    if st not in (S.PENDING, S.PLAN_QUEUEABLE) and st not in stamps:
        raise IncidentInputError(f"{where}: its status is {st.value} but its status-timestamps have no {st.timestamp_key}: a damaged document")
    rels = item.get("relationships") or {}
    ws = ((rels.get("workspace") or {}).get("data") or {}).get("id")
    doc = RunDoc(
        id=rid, workspace_id=ws if isinstance(ws, str) else None, source=source, status=st, message=str(attrs.get("message") or ""),
        created=created, is_destroy=bool(attrs.get("is-destroy")), stamps=stamps,
        has_changes=attrs.get("has-changes") if isinstance(attrs.get("has-changes"), bool) else None,
    )
    for kind, target in (("plans", "plan_status"), ("applies", "apply_status")):
        ref = ((rels.get(kind[:-1] if kind == "plans" else "apply") or {}).get("data") or {}).get("id")
        phase = included.get((kind, ref))
        if phase is not None:
            setattr(doc, target, (phase.get("attributes") or {}).get("status"))
    return doc


@dataclass
class Observation:
    """A poll of the replay: ``at`` seconds after the run became active, ``seen`` by Check."""

    at: float
    seen: RunStatus
    poll: int


@dataclass
class Inferred:
    """The behaviour of one run attempt, with what the notes should say about it."""

    outcome: Outcome
    durations: dict[str, float]
    stuck_in: RunStatus | None = None
    #: Seconds after activation at which the run ends in the replay (None: never).
    end: float | None = None
    notes: list[str] = field(default_factory=list)
    adjusted: list[str] = field(default_factory=list)


def outcome_of(run: RunDoc) -> tuple[Outcome | None, list[str]]:
    """The fake's outcome for a finished run (None while it has not finished)."""
    notes: list[str] = []
    st = run.status
    if st == S.ERRORED:
        applied = S.APPLYING in run.stamps or run.apply_status == "errored"
        if run.apply_status == "errored" and S.APPLYING not in run.stamps:
            notes.append(f"run {run.id}: its apply errored although no applying-at was stamped")
        if run.plan_status == "errored" and S.APPLYING in run.stamps:
            raise IncidentInputError(f"{run.source}: run {run.id}: its plan errored but an applying-at is stamped: a damaged document")
        return (Outcome.APPLY_ERROR if applied else Outcome.PLAN_ERROR), notes
    if st == S.DISCARDED:
        raise IncidentInputError(
            f"{run.source}: run {run.id} was discarded (someone discarded it in TFC); the fake cannot discard on its own, so no scenario reproduces it"
        )
    if st in (S.CANCELED, S.FORCE_CANCELED):
        if S.APPLYING in run.stamps or S.APPLY_QUEUED in run.stamps:
            notes.append(f"run {run.id} was canceled during its apply; the fake's canceled run ends after planning")
        return Outcome.CANCELED, notes
    if st == S.POLICY_OVERRIDE:
        return Outcome.POLICY_SOFT_FAIL, notes
    outcome = TERMINAL_OUTCOME.get(st)
    return outcome, notes


def fit(boundaries: list[float | None], observations: list[tuple[float, int]], where: str) -> tuple[list[float], list[int]]:
    """Boundaries ``B_1..B_M`` (when segment i begins; segment 0 begins at 0), moved as
    little as possible so that each observation (time, segment) falls in its segment:
    ``B_seg <= time < B_seg+1``. Unknown boundaries (None) take the middle of what the
    observations allow. Returns the boundaries and the indexes that were moved."""
    m = len(boundaries)
    out: list[float] = []
    moved: list[int] = []
    prev = 0.0
    for i in range(1, m + 1):
        lo = max((t for t, seg in observations if seg < i), default=-math.inf)
        hi = min((t for t, seg in observations if seg >= i), default=math.inf)
        if not lo < hi:
            raise IncidentInputError(f"{where}: the statuses Check saw go backwards (a later poll saw an earlier stage): not this run's polls?")
        margin = min(0.5, (hi - lo) / 4) if math.isfinite(hi - lo) else 0.5
        lo_ok = max(lo + margin, prev) if math.isfinite(lo) else prev
        hi_ok = hi - margin if math.isfinite(hi) else math.inf
        want = boundaries[i - 1]
        if want is None:
            value = (lo_ok + hi_ok) / 2 if math.isfinite(hi_ok) else lo_ok + 1.0
        else:
            value = min(max(want, lo_ok), hi_ok)
            if abs(value - want) > 1e-9:
                moved.append(i)
        if value < prev - 1e-9 or (math.isfinite(hi) and value > hi) or value <= lo:
            raise IncidentInputError(f"{where}: no stage times fit what Check saw at each poll")
        value = round(value, 3)
        out.append(value)
        prev = value
    return out, moved


def _stuck_stage(st: RunStatus) -> str:
    """The fake's timed stage in which a run still in ``st`` waits."""
    stage = STAGE_OF.get(st)
    if stage is not None and st not in (S.PLANNED, S.CONFIRMED, S.COST_ESTIMATED, S.POLICY_CHECKED):
        return stage
    return "apply_queued"  # passed at once by the fake: the run waits in the next timed stage


def infer(
    run: RunDoc | None,
    outcome_hint: Outcome | None,
    activation: float | None,
    observations: list[Observation],
    where: str,
    abandoned_in: RunStatus | None = None,
) -> Inferred:
    """The behaviour of one run attempt. ``run``: its document (None: only the polls tell);
    ``outcome_hint``: the outcome the polls show when there is no document;
    ``activation``: when it left the queue on TFC's clock (None: at creation);
    ``observations``: the replay's polls, in seconds after its activation there;
    ``abandoned_in``: the status in which the flow gave up on the run and stopped it (its
    document's stopped status is then the flow's doing: the run was stuck there)."""
    notes: list[str] = []
    stuck: str | None = None
    if run is not None and abandoned_in is not None:
        stuck = _stuck_stage(abandoned_in)
        notes.append(
            f"run {run.id} ended {run.status.value} because the flow stopped it when its poll budget ran out "
            f"(still {abandoned_in.value}): the replay's run stays stuck in {stuck} and the flow stops it again"
        )
    elif run is not None:
        outcome, notes = outcome_of(run)
        if outcome is None:  # still going when the document was taken
            stuck = _stuck_stage(run.status)
            if stuck != STAGE_OF.get(run.status) or run.status in (S.PLANNED, S.CONFIRMED):
                notes.append(f"run {run.id} was still {run.status.value} when read; the fake passes {run.status.value} at once, so the replay's run waits in {stuck}")
    else:
        outcome = outcome_hint
        if outcome is None:
            stuck = _stuck_stage(observations[-1].seen if observations else S.PENDING)
        notes.append("no run document: its stage times are inferred from what Check saw")
    names = [n for n, _ in STAGES]
    if stuck is not None:
        stages = names[: names.index(stuck) + 1]
        outcome = Outcome.SUCCESS
    else:
        assert outcome is not None
        stages = list(PATH[outcome])
    # When each later stage, then the end, began: TFC's clock, seconds after activation.
    wanted: list[float | None] = []
    if run is not None:
        origin = activation if activation is not None else run.stamps[S.PLAN_QUEUEABLE]
        wanted = [_entered(run, name, origin) for name in stages[1:]]
        if stuck is None:
            end_status = S.POLICY_CHECKING if run.status == S.POLICY_OVERRIDE else run.status
            wanted.append(run.stamps[end_status] - origin if end_status in run.stamps else None)
        wanted = _fill(wanted)
    else:
        defaults = [DEFAULT_DURATIONS[s] for s in stages]
        wanted = [sum(defaults[: i + 1]) for i in range(len(stages) - (1 if stuck else 0))]
    segment_of = {name: i for i, name in enumerate(stages)}
    obs: list[tuple[float, int]] = []
    for o in observations:
        if o.at < 0:
            if o.seen not in (S.PENDING, S.PLAN_QUEUEABLE):
                raise IncidentInputError(f"{where}: Check saw {o.seen.value} at poll {o.poll} while an earlier run still held the workspace")
            continue
        if o.seen in TERMINAL or o.seen == S.POLICY_OVERRIDE:
            if stuck is not None or (run is not None and o.seen != run.status):
                said = run.status.value if run is not None else "not finished"
                raise IncidentInputError(f"{where}: Check saw {o.seen.value} at poll {o.poll}, but the run document says {said}: not this run?")
            seg = len(stages)
        else:
            stage = STAGE_OF.get(o.seen)
            if stage is None or stage not in segment_of:
                raise IncidentInputError(f"{where}: Check saw {o.seen.value} at poll {o.poll}, a stage this run never reached (its path: {' -> '.join(stages)}): not this run?")
            seg = segment_of[stage]
        obs.append((o.at, seg))
    bounds, moved = fit(wanted, obs, where)
    starts = [0.0, *bounds]
    durations = {name: round(max(0.0, starts[i + 1] - starts[i]), 3) for i, name in enumerate(stages) if i + 1 < len(starts)}
    if outcome is Outcome.POLICY_SOFT_FAIL:
        durations["policy_checking"] = 0.0  # counted in planning, like every plan-phase status
    adjusted = []
    for i in moved:
        what = f"{stages[i]} began" if i < len(stages) else "the run ended"
        before = wanted[i - 1]
        adjusted.append(f"{what} {before:g} s after activation in status-timestamps, {bounds[i - 1]:g} s here" if before is not None else what)
    end = None if stuck is not None else (bounds[-1] if bounds else 0.0)
    stuck_in = RunStatus(stuck) if stuck is not None else None
    return Inferred(outcome=outcome, durations=durations, stuck_in=stuck_in, end=end, notes=notes, adjusted=adjusted)


def _entered(run: RunDoc, stage: str, origin: float) -> float | None:
    """When the run entered ``stage`` (its first status of that stage), relative to ``origin``."""
    for name, statuses in STAGES:
        if name == stage:
            times = [run.stamps[s] for s in statuses if s in run.stamps]
            return min(times) - origin if times else None
    return None


def _fill(wanted: list[float | None]) -> list[float | None]:
    """Boundaries a run skipped (a stage with no timestamp) start where the next one does;
    all are made non-decreasing and non-negative."""
    out: list[float | None] = list(wanted)
    nxt: float | None = None
    for i in range(len(out) - 1, -1, -1):
        if out[i] is None:
            out[i] = nxt
        nxt = out[i]
    prev = 0.0
    for i, v in enumerate(out):
        if v is not None:
            v = max(v, prev)
            out[i] = v
            prev = v
    return out


def default_end(stages: list[str]) -> float:
    return sum(DEFAULT_DURATIONS[s] for s in stages)
