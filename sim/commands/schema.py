"""``python -m sim schema``: print or write the scenario files' JSON Schema."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sim.scenarios.schema import scenario_schema


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default=None, help="write to FILE (the published copy is scenarios/schema.json)", metavar="FILE")


def run(args: argparse.Namespace) -> int:
    text = json.dumps(scenario_schema(), indent=2, sort_keys=True) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0
