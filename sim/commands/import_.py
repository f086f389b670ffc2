"""``python -m sim import``: turn what production recorded into a scenario file.

Give any of: an execution history (``aws stepfunctions get-execution-history --output
json``, one file per execution, pages concatenated or not), ``describe-execution`` output,
TFC run documents (``GET /api/v2/runs/:id[?include=plan,apply]``, a workspace's run
list), a DLQ message (``aws sqs receive-message``: the rule's DLQ or the flow DLQ), an
EventBridge event. It writes a scenario (YAML, commented with where each value came from)
that reproduces the incident; ``--expect current`` writes the expectations today's
control plane reaches instead of production's, so the diff between the two files shows
what a fix changed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", help="JSON files: execution histories, describe-execution, TFC runs, SQS messages, EventBridge events ('-': stdin)")
    p.add_argument("--out", default=None, metavar="FILE", help="write the scenario to FILE (default: print it)")
    p.add_argument("--name", default=None, help="the scenario's name (default: incident-<tenant>-<time of the first request>)")
    p.add_argument("--tenant", default=None, help="the tenant to import when the inputs are about several")
    p.add_argument(
        "--expect", choices=("recorded", "current"), default="recorded",
        help="recorded: what production recorded (default); current: what today's control plane reaches (runs the scenario once)",
    )


def run(args: argparse.Namespace) -> int:
    from sim.incidents import IncidentInputError, import_incident

    files: list[tuple[str, str]] = []
    try:
        for f in args.files:
            if f == "-":
                files.append(("<stdin>", sys.stdin.read()))
                continue
            try:
                files.append((f, Path(f).read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                raise IncidentInputError(f"{f}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
        imported = import_incident(files, name=args.name, tenant=args.tenant)
        if args.expect == "current":
            from sim.incidents.current import expect_current

            imported = expect_current(imported)
    except IncidentInputError as exc:
        print(f"import: {exc}", file=sys.stderr)
        return 2
    if args.out:
        Path(args.out).write_text(imported.text, encoding="utf-8")
        print(f"wrote {args.out} (tenant {imported.tenant}, {len(imported.requests)} request(s))", file=sys.stderr)
    else:
        sys.stdout.write(imported.text)
    return 0
