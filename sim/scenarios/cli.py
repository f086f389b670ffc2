"""``python -m sim run``, ``python -m sim replay`` and ``python -m sim schema``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from .loader import ScenarioError, load_scenario, parse_scenario
from .model import Scenario
from .needs import ENGINES, unmet
from .remote_runner import EngineUnavailable, LazyEngine, run_remote
from .runner import ScenarioResult, run_file, run_scenario
from .trace import read_trace


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", help="scenario files (YAML); a directory runs every *.yaml under it")
    p.add_argument("--seed", type=int, default=None, help="override each scenario's seed")
    p.add_argument("--trace", default=None, help="write the trace (JSON Lines); with several files, a directory")
    p.add_argument("--backend", choices=ENGINES, default="embedded", help="the engine to run on (default: embedded)")


def _expand(files: list[str]) -> list[Path]:
    out: list[Path] = []
    for f in files:
        p = Path(f)
        out += sorted(p.rglob("*.yaml")) if p.is_dir() else [p]
    return out


def run_command(args: argparse.Namespace) -> int:
    console = Console()
    paths = _expand(args.files)
    if not paths:
        console.print("[red]no scenario files given[/red]")
        return 2
    failed = skipped = 0
    with LazyEngine(args.backend) as engine:
        for i, path in enumerate(paths, 1):
            console.print(f"[dim][{i}/{len(paths)}][/dim] {path}")
            try:
                result = _run_one(path, args, engine)
            except ScenarioError as exc:
                console.print(f"[red]invalid scenario[/red]\n{exc}", markup=False)
                failed += 1
                continue
            if isinstance(result, str):
                console.print(f"[yellow]{result}[/yellow]", highlight=False)
                skipped += 1
                continue
            style = "green" if result.passed else "red"
            first, *rest = result.report.splitlines()
            console.print(f"[{style}]{first}[/{style}]", highlight=False)
            for line in rest:
                console.print(line, markup=False, highlight=False)
            if args.trace:
                out = Path(args.trace)
                if len(paths) > 1:
                    out.mkdir(parents=True, exist_ok=True)
                    out = out / (path.stem + ".jsonl")
                result.trace.write(out, result.header())
                console.print(f"  trace: {out}")
            failed += not result.passed
    console.print(f"{len(paths) - failed - skipped} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


def _run_one(path: Path, args: argparse.Namespace, engine: LazyEngine) -> ScenarioResult | str:
    """The scenario's result, or why it was skipped on this engine."""
    if args.backend == "embedded":
        return run_file(path, seed=args.seed)
    scenario, text = load_scenario(path)
    reasons = unmet(scenario, args.backend)
    if not reasons:
        try:
            backend = engine.get()  # started once, for every file
        except EngineUnavailable as exc:
            reasons = [str(exc)]
    if reasons:
        return f"SKIPPED {scenario.name} on {args.backend}: {'; '.join(reasons)}"
    return run_remote(scenario, text, backend, str(path), seed=args.seed)


def replay_command(args: argparse.Namespace) -> int:
    console = Console()
    try:
        header, recorded = read_trace(args.trace)
    except (OSError, ValueError) as exc:
        console.print(f"[red]cannot read the trace: {exc}[/red]")
        return 2
    scenario = parse_scenario(header["text"], header.get("source", "<trace>"))
    result = run_scenario(scenario, header["text"], seed=header["seed"], source=header.get("source", "<trace>"))
    replayed = result.trace.lines()
    for i, (a, b) in enumerate(zip(recorded, replayed), 1):
        if a != b:
            console.print(f"[red]diverged at record {i}[/red]", highlight=False)
            console.print(f"  recorded: {a}", markup=False, highlight=False)
            console.print(f"  replayed: {b}", markup=False, highlight=False)
            return 1
    if len(recorded) != len(replayed):
        console.print(f"[red]diverged: {len(recorded)} records recorded, {len(replayed)} replayed[/red]")
        return 1
    console.print(f"[green]replayed {len(replayed)} records of {header['scenario']} (seed {header['seed']}): identical[/green]")
    return 0


def schema_command(args: argparse.Namespace) -> int:
    text = json.dumps(scenario_schema(), indent=2, sort_keys=True) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0


def scenario_schema() -> dict:
    schema = Scenario.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "tenant-sim scenario"
    return schema
