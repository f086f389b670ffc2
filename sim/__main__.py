"""``python -m sim``: the tenant-sim command line."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim", description="tenant-sim command line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the demo (what `make sim` runs)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .tfc_demo import run_demo

        return run_demo()
    return 2


if __name__ == "__main__":
    sys.exit(main())
