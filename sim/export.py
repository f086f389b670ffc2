"""``python -m sim export``: the stack's wiring as sorted, indented JSON (state machine
definition, rules with their input transformers, retry policies, DLQs), so that a wiring
change is a readable diff of ``stack.json`` in review. Names only: no secret value."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sim.stack import Stack

#: The golden export at the repository root, checked by ``tests/unit/test_export.py``.
GOLDEN = "stack.json"


def export_json(stack: Stack) -> str:
    return json.dumps(stack.export(), indent=2, sort_keys=True) + "\n"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, help=f"write to FILE instead of stdout (the reviewed copy is {GOLDEN})", metavar="FILE")


def run_export(args: argparse.Namespace) -> int:
    text = export_json(Stack())
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
    return 0
