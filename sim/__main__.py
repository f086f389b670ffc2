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
    args = parser.parse_args(argv)
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
