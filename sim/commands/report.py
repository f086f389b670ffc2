"""``python -m sim report``: render a saved trace (``sim run --trace``) as the HTML run report."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from sim.scenarios.loader import ScenarioError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("trace", help="a trace written by `python -m sim run --trace`")
    p.add_argument("--out", default=None, metavar="FILE", help="where to write the report (default: the trace's name with .html)")


def run(args: argparse.Namespace) -> int:
    from sim.report import trace_report, write_report

    console = Console()
    try:
        html = trace_report(args.trace)
    except (OSError, ValueError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, ScenarioError) else exc
        console.print(f"[red]cannot read the trace {args.trace}:[/red] {message}", highlight=False)
        return 2
    out = write_report(args.out or Path(args.trace).with_suffix(".html"), html)
    console.print(f"report: {out}", highlight=False, soft_wrap=True)
    return 0
