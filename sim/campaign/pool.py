"""Runs campaign work on every core within a time budget: a process pool (moto's state is
process-wide, so one scenario at a time per process), results taken as they come, then a sample
of seeds run again to check their traces are still byte-identical."""

from __future__ import annotations

import multiprocessing
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace

from .ledger import LedgerEntry
from .work import ItemResult, WorkItem, run_item


@dataclass
class Outcome:
    results: list[ItemResult] = field(default_factory=list)
    #: Items the time budget left unrun.
    not_run: list[WorkItem] = field(default_factory=list)
    #: (item, first hash, re-run hash) for each re-run whose trace differed.
    diverged: list[tuple[WorkItem, str, str]] = field(default_factory=list)
    verified: int = 0

    @property
    def entries(self) -> list[LedgerEntry]:
        return [r.entry for r in self.results]

    def coverage(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for r in self.results:
            total.update(r.coverage)
        return total


def _pool(jobs: int) -> ProcessPoolExecutor:
    # spawn, not fork: the parent may have threads (a served fake, a scheduler) that fork would copy mid-step.
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))


def _run_all(
    pool: ProcessPoolExecutor, items: list[WorkItem], jobs: int, deadline: float, on_result: Callable[[ItemResult], None]
) -> tuple[list[ItemResult], list[WorkItem]]:
    """Keep ``2 * jobs`` items in flight; stop submitting at the deadline (what runs finishes)."""
    todo: Iterator[WorkItem] = iter(items)
    results: list[ItemResult] = []
    left: list[WorkItem] = []
    running: dict[Future[ItemResult], WorkItem] = {}

    def fill() -> None:
        while len(running) < 2 * jobs:
            item = next(todo, None)
            if item is None:
                return
            if time.monotonic() >= deadline:
                left.append(item)
                left.extend(todo)
                return
            running[pool.submit(run_item, item)] = item

    fill()
    while running:
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for fut in done:
            running.pop(fut)
            result = fut.result()
            results.append(result)
            on_result(result)
        fill()
    return results, left


def run_campaign(
    items: list[WorkItem], *, jobs: int, budget: float, verify: int, on_result: Callable[[ItemResult], None] = lambda r: None
) -> Outcome:
    start = time.monotonic()
    # One pool for the run and the re-runs: a worker's start (importing moto) costs seconds,
    # and a re-run in a worker that ran other seeds also catches state leaking between runs.
    with _pool(max(1, min(jobs, len(items)))) as pool:
        results, left = _run_all(pool, items, jobs, start + budget, on_result)
        out = Outcome(results=sorted(results, key=lambda r: r.entry.key), not_run=left)
        if verify > 0:
            _verify(pool, out, jobs, verify)
    return out


def _verify(pool: ProcessPoolExecutor, out: Outcome, jobs: int, count: int) -> None:
    """Re-run ``count`` seeds that ran (a sample fixed by the work itself, so shards agree)
    and mark each whose trace differs as nondeterministic: that is a failure."""
    ran = [r for r in out.results if r.entry.trace_hash]
    sample = random.Random(len(ran)).sample(ran, min(count, len(ran)))
    by_key = {r.entry.key: r for r in out.results}
    again, _ = _run_all(pool, [WorkItem(*r.entry.key) for r in sample], jobs, float("inf"), lambda r: None)
    out.verified = len(again)
    for second in again:
        first = by_key[second.entry.key]
        if second.entry.trace_hash != first.entry.trace_hash:
            out.diverged.append((WorkItem(*first.entry.key), first.entry.trace_hash, second.entry.trace_hash))
            first.entry = replace(
                first.entry, verdict="fail", nondeterministic=True,
                problems=[*first.entry.problems, f"a re-run gave another trace ({second.entry.trace_hash[:12]} vs {first.entry.trace_hash[:12]})"],
            )
