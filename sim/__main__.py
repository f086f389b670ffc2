"""``python -m sim``: the tenant-sim command line.

Each command lives in its own module under :mod:`sim.commands` with ``add_arguments(parser)``
and ``run(args) -> int``; only the module of the command given is imported, so
``python -m sim export`` never loads moto."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NamedTuple

from sim.startup import collector_paused


class Command(NamedTuple):
    module: str
    help: str


COMMANDS: dict[str, Command] = {
    "demo": Command("sim.commands.demo", "run the demo (what `make sim` runs)"),
    "tfc-demo": Command("sim.commands.tfc_demo", "a short demo of the fake TFC alone"),
    "up": Command("sim.commands.up", "serve the AWS endpoint, the REST API and the fake TFC until Ctrl-C"),
    "run": Command("sim.commands.run", "run scenario files; report each expectation and invariant"),
    "replay": Command("sim.commands.replay", "re-run a trace's scenario and seed; report the first divergence"),
    "report": Command("sim.commands.report", "render a saved trace as the HTML run report"),
    "trace": Command("sim.commands.trace", "read a saved trace: `trace show FILE`"),
    "schema": Command("sim.commands.schema", "print the scenario files' JSON Schema"),
    "campaign": Command("sim.commands.campaign", "scenario files across many seeds on every core, with a seed ledger; `campaign merge` joins shards' ledgers"),
    "export": Command("sim.commands.export", "print the stack's wiring as sorted JSON (the reviewed copy is stack.json)"),
    "import": Command("sim.commands.import_", "turn a production incident (execution history, TFC runs, DLQ message) into a scenario file"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m sim", description="tenant-sim command line")
    sub = parser.add_subparsers(dest="command", required=True)
    parsers = {name: sub.add_parser(name, help=c.help, description=c.help) for name, c in COMMANDS.items()}
    chosen = next((a for a in argv if not a.startswith("-")), None)
    module = None
    if chosen in COMMANDS:
        with collector_paused():
            module = importlib.import_module(COMMANDS[chosen].module)
        module.add_arguments(parsers[chosen])
    args = parser.parse_args(argv)
    assert module is not None  # parse_args exits on an unknown command
    return int(module.run(args))


if __name__ == "__main__":
    sys.exit(main())
