"""One unit of campaign work, run in a worker process: a scenario file played with one seed on
the embedded engine, reduced to a ledger entry, the coverage it reached and, when it failed,
what is needed to reproduce it."""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .ledger import LedgerEntry

#: How many expectation failures and invariant violations an entry keeps.
PROBLEMS_KEPT = 5


@dataclass(frozen=True, order=True)
class WorkItem:
    scenario: str
    seed: int


@dataclass
class ItemResult:
    entry: LedgerEntry
    #: Fault classes and states the run reached (``fault:tfc``, ``lambda:check``, ``status:failed``...).
    coverage: Counter[str] = field(default_factory=Counter)
    #: For a failure: the scenario text pinned to the seed, and the trace file's text.
    regression: str | None = None
    trace: str | None = None


def run_item(item: WorkItem) -> ItemResult:
    """Play ``item`` and judge it; never raises (an exception is an ``error`` verdict)."""
    from .machine import MACHINE_ITEM, run_machine

    if item.scenario == MACHINE_ITEM:
        entry, reached, regression = run_machine(item.seed)
        return ItemResult(entry, reached, regression)
    from sim.scenarios.loader import ScenarioError
    from sim.scenarios.runner import run_file

    t0 = time.perf_counter()
    try:
        result = run_file(item.scenario, seed=item.seed)
    except ScenarioError as exc:
        return ItemResult(LedgerEntry(item.scenario, item.seed, "error", "", 0, time.perf_counter() - t0, [f"invalid scenario: {exc}"]))
    except Exception as exc:  # a crash of the simulator is a finding, not the end of the campaign
        return ItemResult(LedgerEntry(item.scenario, item.seed, "error", "", 0, time.perf_counter() - t0, [f"{type(exc).__name__}: {exc}"]))
    lines = result.trace.lines()
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    problems = [*result.failures, *result.violations]
    entry = LedgerEntry(
        item.scenario, item.seed, "pass" if result.passed else "fail", digest, len(lines),
        round(time.perf_counter() - t0, 3), problems[:PROBLEMS_KEPT],
    )
    out = ItemResult(entry, coverage(result.trace))
    if not result.passed:
        out.regression = pin_seed(result.text, item.seed, source=item.scenario, problems=problems)
        out.trace = result.trace.text(result.header())
    return out


def coverage(trace: object) -> Counter[str]:
    """What a run reached: each fault class injected or fired, each function invoked, each
    run status read and tenant status entered, each DLQ error code."""
    from sim.scenarios.trace import DlqRecord, FaultRecord, LambdaRecord, StatusRecord, StepRecord, TfcRecord, Trace

    assert isinstance(trace, Trace)
    seen: Counter[str] = Counter()
    for r in trace.records:
        if isinstance(r, StepRecord) and r.step == "fault":
            seen[f"fault:{r.details.get('fault')}"] += 1
        elif isinstance(r, TfcRecord) and r.fault:
            seen["fired:tfc"] += 1
        elif isinstance(r, FaultRecord):
            seen[f"fired:{r.fault}"] += 1
        elif isinstance(r, LambdaRecord):
            seen[f"lambda:{r.function.rsplit('-', 1)[-1]}"] += 1
            if r.throttled:
                seen["fired:lambda_throttle"] += 1
            if r.error:
                seen["fired:lambda_error"] += 1
            if r.run_status:
                seen[f"run:{r.run_status}"] += 1
        elif isinstance(r, StatusRecord) and r.to:
            seen[f"status:{r.to}"] += 1
        elif isinstance(r, DlqRecord):
            seen[f"dlq:{r.error_code}"] += 1
    return seen


def pin_seed(text: str, seed: int, *, source: str, problems: list[str]) -> str:
    """The scenario text with ``seed`` set, and a comment saying where it came from, so the
    file reproduces the failure on its own."""
    if re.search(r"^seed:.*$", text, re.M):
        body = re.sub(r"^seed:.*$", f"seed: {seed}", text, count=1, flags=re.M)
    else:
        body = f"seed: {seed}\n{text}"
    why = "".join(f"#   {p}\n" for p in problems[:PROBLEMS_KEPT])
    return f"# A campaign failure: {source} with seed {seed}.\n# What failed:\n{why}{body if body.endswith(chr(10)) else body + chr(10)}"


def regression_name(item: WorkItem) -> str:
    return f"{Path(item.scenario).stem}-seed{item.seed}"
