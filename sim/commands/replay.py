"""``python -m sim replay``: re-run a trace's scenario and seed on the embedded backend; report the
first record where the two differ."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.markup import escape

from sim.scenarios.loader import ScenarioError, parse_scenario
from sim.scenarios.runner import run_scenario
from sim.scenarios.trace import read_trace
from sim.scenarios.trace_view import field_diff


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("trace", help="a trace written by `python -m sim run --trace`")


def run(args: argparse.Namespace) -> int:
    console = Console(soft_wrap=True)  # one line per record
    try:
        header, recorded = read_trace(args.trace)
    except (OSError, ValueError) as exc:
        console.print(f"[red]cannot read the trace: {exc}[/red]")
        return 2
    source = str(header["source"]) if isinstance(header.get("source"), str) else "<trace>"
    try:
        scenario = parse_scenario(header["text"], source)
    except ScenarioError as exc:
        console.print("[red]the trace's scenario is not valid[/red]")
        console.print(str(exc), markup=False, highlight=False)
        return 2
    result = run_scenario(scenario, header["text"], seed=header["seed"], source=source)
    replayed = result.trace.lines()
    for i, (a, b) in enumerate(zip(recorded, replayed), 1):
        if a != b:
            console.print(f"[red]diverged at record {i}[/red]", highlight=False)
            console.print(f"  recorded: {a}", markup=False, highlight=False)
            console.print(f"  replayed: {b}", markup=False, highlight=False)
            for name, was, now in field_diff(json.loads(a), json.loads(b)):
                console.print(f"  {name}: recorded {json.dumps(was)}, replayed {json.dumps(now)}", markup=False, highlight=False)
            return 1
    if len(recorded) != len(replayed):
        console.print(f"[red]diverged: {len(recorded)} records recorded, {len(replayed)} replayed[/red]")
        return 1
    console.print(f"[green]replayed {len(replayed)} records of {escape(header['scenario'])} (seed {header['seed']}): identical[/green]", highlight=False)
    return 0


