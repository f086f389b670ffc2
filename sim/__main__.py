"""``python -m sim``: the tenant-sim command line."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim", description="tenant-sim command line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the demo (what `make sim` runs)")
    sub.add_parser("tfc-demo", help="a short demo of the fake TFC alone")
    from .up import add_arguments, run_up

    add_arguments(sub.add_parser("up", help="serve the AWS endpoint, the REST API and the fake TFC until Ctrl-C"))
    from .scenarios.cli import add_run_arguments, replay_command, run_command, schema_command

    add_run_arguments(sub.add_parser("run", help="run scenario files; report each expectation and invariant"))
    sub.add_parser("replay", help="re-run a trace's scenario and seed; report the first divergence").add_argument("trace")
    sub.add_parser("schema", help="print the scenario files' JSON Schema").add_argument("--out", default=None)
    from .export import add_arguments as add_export_arguments, run_export

    add_export_arguments(sub.add_parser("export", help="print the stack's wiring as sorted JSON (the reviewed copy is stack.json)"))
    args = parser.parse_args(argv)
    if args.command == "export":
        return run_export(args)
    if args.command == "run":
        return run_command(args)
    if args.command == "replay":
        return replay_command(args)
    if args.command == "schema":
        return schema_command(args)
    if args.command == "up":
        return run_up(args)
    if args.command == "demo":
        from .demo import run_demo

        return run_demo()
    if args.command == "tfc-demo":
        from .tfc_demo import run_demo as run_tfc_demo

        return run_tfc_demo()
    return 2


if __name__ == "__main__":
    sys.exit(main())
