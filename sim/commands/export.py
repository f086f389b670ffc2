"""``python -m sim export``: print (or write) the stack's wiring as sorted JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.stack.export import GOLDEN, export_json
from sim.stack.wiring import Stack


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, help=f"write to FILE instead of stdout (the reviewed copy is {GOLDEN})", metavar="FILE")


def run(args: argparse.Namespace) -> int:
    text = export_json(Stack())
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
    return 0
