"""``python -m sim run``: play scenario files on an engine; report each expectation and invariant."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, cast

from rich.console import Console

from sim.engines.base import EngineUnavailable
from sim.engines.registry import NAMES, engine
from sim.scenarios.loader import ScenarioError, load_scenario
from sim.scenarios.needs import unmet
from sim.scenarios.player import ScenarioResult

if TYPE_CHECKING:
    from sim.engines.remote.backend import RemoteBackend


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", help="scenario files (YAML); a directory runs every *.yaml under it")
    p.add_argument("--seed", type=int, default=None, help="override each scenario's seed")
    p.add_argument("--trace", default=None, help="write the trace (JSON Lines); with several files, a directory")
    p.add_argument("--backend", choices=NAMES, default="embedded", help="the engine to run on (default: embedded)")
    p.add_argument("--report", default=None, metavar="FILE", help="write the HTML report; with several files, a directory")
    p.add_argument(
        "--otlp", default=None, metavar="FILE",
        help="write the control plane's spans as OTLP/JSON (simulated time; embedded backend only); with several files, a directory",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="list everything each run was checked on, passed or not")


def _expand(files: list[str]) -> list[Path]:
    out: list[Path] = []
    for f in files:
        p = Path(f)
        out += sorted(p.rglob("*.yaml")) if p.is_dir() else [p]
    return out


def run(args: argparse.Namespace) -> int:
    console = Console(soft_wrap=True)  # one line per record: never cut a path or a check in two
    paths = _expand(args.files)
    if not paths:
        console.print("[red]no scenario files given[/red]")
        return 2
    if getattr(args, "otlp", None) and args.backend != "embedded":
        console.print(f"[red]--otlp records the spans of the embedded backend only, not {args.backend}'s[/red]")
        return 2
    failed = skipped = invalid = 0
    with LazyEngine(args.backend) as engine:
        for i, path in enumerate(paths, 1):
            console.print(f"[dim][{i}/{len(paths)}][/dim] {path}")
            try:
                result = _run_one(path, args, engine)
            except ScenarioError as exc:
                console.print("[red]invalid scenario[/red]")
                console.print(str(exc), markup=False, highlight=False)
                failed += 1
                invalid += 1
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
            if getattr(args, "verbose", False):
                _print_checks(console, result, args.backend)
            trace_out = None
            if args.trace:
                trace_out = _output(args.trace, path, ".jsonl", len(paths))
                result.trace.write(trace_out, result.header())
                console.print(f"  trace: {trace_out}")
            if getattr(args, "otlp", None) and result.spans is not None:
                from sim.tracing import write_otlp

                otlp_out = write_otlp(result.spans, _output(args.otlp, path, ".otlp.json", len(paths)))
                console.print(f"  spans: {otlp_out} ({len(result.spans.finished())} spans, OTLP/JSON)", highlight=False, soft_wrap=True)
            if getattr(args, "report", None):
                from sim.report import result_report, write_report

                html = result_report(result, engine=args.backend, secrets=_secrets(engine), trace_path=str(trace_out) if trace_out else None)
                console.print(f"  report: {write_report(_output(args.report, path, '.html', len(paths)), html)}", highlight=False, soft_wrap=True)
            failed += not result.passed
    console.print(f"{len(paths) - failed - skipped} passed, {failed} failed ({invalid} invalid files), {skipped} skipped" if invalid else f"{len(paths) - failed - skipped} passed, {failed} failed, {skipped} skipped")
    # 2: a file could not be used (as argparse does for bad arguments); 1: a scenario failed.
    return 2 if invalid else 1 if failed else 0


def _output(given: str, scenario: Path, suffix: str, files: int) -> Path:
    """``given`` itself for one file; with several, a file per scenario in that directory."""
    out = Path(given)
    if files > 1:
        out.mkdir(parents=True, exist_ok=True)
        out = out / (scenario.stem + suffix)
    return out


def _secrets(engine: LazyEngine) -> tuple[str, ...]:
    """What a report must not show: the TFC token the run used."""
    if engine.backend is not None:
        return (engine.backend.config.tfc_token,)
    from sim.engines.embedded.environment import DEFAULT_TOKEN

    return (DEFAULT_TOKEN,)


def _print_checks(console: Console, result: ScenarioResult, backend: str) -> None:
    from sim.scenarios.verdict import verdict_of

    verdict = verdict_of(result, engine=backend)
    for c in verdict.steps + verdict.expectations:
        mark = "[green]✔[/green]" if c.passed else "[red]✘[/red]"
        console.print(f"  {mark} {c.field}: " + (f"{c.got}" if c.passed else f"expected {c.expected}, got {c.got}"), highlight=False)
    for r in verdict.invariants:
        mark = "[green]✔[/green]" if r.passed else "[red]✘[/red]"
        console.print(f"  {mark} invariant {r.name}: {r.description}" + ("" if r.passed else f" ({len(r.violations)} violation(s))"), highlight=False)


def _run_one(path: Path, args: argparse.Namespace, engine: LazyEngine) -> ScenarioResult | str:
    """The scenario's result, or why it was skipped on this engine."""
    if args.backend == "embedded":
        from sim.scenarios.runner import run_file

        return run_file(path, seed=args.seed, tracing=bool(getattr(args, "otlp", None)))
    scenario, text = load_scenario(path)
    reasons = unmet(scenario, args.backend)
    if not reasons:
        try:
            backend = engine.get()  # started once, for every file
        except EngineUnavailable as exc:
            reasons = [str(exc)]
    if reasons:
        return f"SKIPPED {scenario.name} on {args.backend}: {'; '.join(reasons)}"
    from sim.scenarios.remote_stage import run_remote

    return run_remote(scenario, text, backend, str(path), seed=args.seed)


class LazyEngine:
    """The real engine of one ``python -m sim run``: started on first use, once for all the
    files; if it cannot start, every later :meth:`get` raises the same reason."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.backend: RemoteBackend | None = None
        self.error: EngineUnavailable | None = None

    def get(self) -> RemoteBackend:
        if self.error is not None:
            raise self.error
        if self.backend is None:
            try:
                self.backend = cast("RemoteBackend", engine(self.name).start())  # every real engine is one
            except EngineUnavailable as exc:
                self.error = exc
                raise
        return self.backend

    def stop(self) -> None:
        backend, self.backend = self.backend, None
        if backend is not None:
            backend.stop()

    def __enter__(self) -> LazyEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


