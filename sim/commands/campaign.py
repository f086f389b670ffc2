"""``python -m sim campaign``: scenario files across many seeds on every core, within a time
budget, with a seed ledger; ``python -m sim campaign merge``: one ledger from the shards'.

    python -m sim campaign scenarios/library --seeds 0:50 --budget 10m
    python -m sim campaign scenarios/library --seeds 0:50 --shard 2/4     # a CI matrix job
    python -m sim campaign scenarios/library --seeds 0:50 --shards 4      # JOB_COMPLETION_INDEX set
    python -m sim campaign merge shard-*.jsonl --ledger campaign.jsonl
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sim.campaign.ledger import LedgerError, merge, read_ledger, write_ledger
from sim.campaign.plan import PlanError, parse_seeds, parse_shard, plan, scenario_files
from sim.campaign.work import ItemResult, WorkItem, regression_name

DEFAULT_LEDGER = "campaign/ledger.jsonl"
DEFAULT_FAILURES = "campaign/failures"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="FILE", help="scenario files or folders, and/or `property` (the property-based lifecycle machine, one hypothesis seed per seed); or `merge LEDGER...`")
    p.add_argument("--seeds", default="10", help="START:STOP, a list 1,5,9, or a count N for 0..N-1 (default 10)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: one per core)")
    p.add_argument("--budget", default="1h", help="stop starting new runs after this much wall time (90s, 10m, 1h; default 1h)")
    p.add_argument("--verify", type=int, default=3, help="re-run this many seeds and check their traces are byte-identical (default 3)")
    p.add_argument("--shard", default=None, metavar="K/N", help="run only shard K of N (1-based), e.g. one job of a CI matrix")
    p.add_argument("--shards", type=int, default=None, metavar="N", help="N shards, this one given by JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)")
    p.add_argument("--ledger", default=None, help=f"the ledger to write (default {DEFAULT_LEDGER}, or campaign/ledger-K-of-N.jsonl for a shard)")
    p.add_argument("--failures", default=DEFAULT_FAILURES, help=f"where each failure's regression scenario and trace go (default {DEFAULT_FAILURES})")


def run(args: argparse.Namespace) -> int:
    try:
        if args.paths[0] == "merge":
            return _merge(args.paths[1:], Path(args.ledger or DEFAULT_LEDGER))
        return _campaign(args)
    except (PlanError, LedgerError) as exc:
        print(f"campaign: {exc}", file=sys.stderr)
        return 2


def _campaign(args: argparse.Namespace) -> int:
    from sim.campaign.pool import run_campaign
    from sim.scenarios.model import parse_duration

    if args.jobs < 1:
        raise PlanError("--jobs: at least 1")
    try:
        budget = parse_duration(args.budget)
    except ValueError as exc:
        raise PlanError(f"--budget: {exc}") from None
    shard = parse_shard(args.shard, args.shards)
    items = shard.select(plan(scenario_files(args.paths), parse_seeds(args.seeds)))
    ledger = Path(args.ledger or (DEFAULT_LEDGER if shard.count == 1 else f"campaign/ledger-{shard.index + 1}-of-{shard.count}.jsonl"))
    failures = Path(args.failures)
    print(f"campaign: {len(items)} runs (shard {shard}), {args.jobs} processes, budget {budget:g} s", flush=True)
    done = [0]

    def progress(r: ItemResult) -> None:
        done[0] += 1
        e = r.entry
        mark = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}[e.verdict]
        print(f"  [{done[0]}/{len(items)}] {mark} {e.scenario} seed {e.seed} ({e.duration:.1f} s)", flush=True)

    outcome = run_campaign(items, jobs=args.jobs, budget=budget, verify=args.verify, on_result=progress)
    ledger.parent.mkdir(parents=True, exist_ok=True)
    write_ledger(ledger, outcome.entries)
    written = _write_failures(outcome.results, failures)
    entries = outcome.entries
    counts = {v: sum(1 for e in entries if e.verdict == v) for v in ("pass", "fail", "error")}
    print(f"{counts['pass']} passed, {counts['fail']} failed, {counts['error']} errors; {len(outcome.not_run)} not run (budget)")
    print(f"determinism: {outcome.verified} seeds re-run, {len(outcome.diverged)} diverged")
    for item, first, second in outcome.diverged:
        print(f"  NONDETERMINISTIC {item.scenario} seed {item.seed}: {first[:12]} then {second[:12]}")
    print("coverage (runs reaching each fault class and state):")
    reach: dict[str, int] = {}
    for r in outcome.results:
        for key in r.coverage:
            reach[key] = reach.get(key, 0) + 1
    for key in sorted(reach):
        print(f"  {key:<40}{reach[key]:>6}")
    for path in written:
        print(f"  regression: {path}")
    print(f"ledger: {ledger}")
    return 0 if counts["fail"] == counts["error"] == 0 else 1


def _write_failures(results: list[ItemResult], folder: Path) -> list[Path]:
    written = []
    for r in results:
        if r.regression is None:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        name = regression_name(WorkItem(*r.entry.key))
        scenario = folder / f"{name}.yaml"
        scenario.write_text(r.regression, encoding="utf-8")
        if r.trace is not None:
            (folder / f"{name}.jsonl").write_text(r.trace, encoding="utf-8")
        written.append(scenario)
    return written


def _merge(paths: list[str], out: Path) -> int:
    if not paths:
        raise PlanError("merge: give the ledgers to merge")
    ledgers = [read_ledger(p) for p in paths]
    merged = merge(ledgers)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_ledger(out, merged)
    bad = [e for e in merged if e.verdict != "pass"]
    print(f"merged {sum(map(len, ledgers))} entries from {len(paths)} ledgers: {len(merged)} runs, {len(bad)} not passed; {out}")
    for e in bad:
        print(f"  {e.verdict.upper()} {e.scenario} seed {e.seed}: {'; '.join(e.problems[:2])}")
    return 0 if not bad else 1
