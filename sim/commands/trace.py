"""``python -m sim trace show``: a saved trace, one readable line per record."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from sim.scenarios.trace import KINDS, read_trace, record_from_json
from sim.scenarios.trace_view import describe, tenant_of


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    show = sub.add_parser("show", help="print a trace, one line per record", description="print a trace, one line per record")
    show.add_argument("file", help="a trace written by `python -m sim run --trace`")
    show.add_argument("--kind", action="append", choices=sorted(KINDS), help="only records of this kind (repeatable)")
    show.add_argument("--tenant", action="append", help="only records about this tenant (repeatable)")
    show.add_argument("--plain", action="store_true", help="tab-separated lines instead of a table (for grep and scripts)")


def run(args: argparse.Namespace) -> int:
    from sim.report.axis import clock

    console = Console(soft_wrap=True)  # one line per record
    try:
        header, lines = read_trace(args.file)
        records = [record_from_json(json.loads(line)) for line in lines]
    except (OSError, ValueError) as exc:
        console.print(f"[red]cannot read the trace:[/red] {exc}", highlight=False)
        return 2
    shown = [r for r in records if (not args.kind or r.kind in args.kind) and (not args.tenant or tenant_of(r) in args.tenant)]
    title = f"{header.get('scenario')} (seed {header.get('seed')}, {header.get('source')}): {len(shown)} of {len(records)} records"
    if args.plain:
        print(f"# {title}")
        for r in shown:
            print(f"{r.seq}\t{clock(r.t)}\t{r.kind}\t{tenant_of(r) or '-'}\t{describe(r)}")
        return 0
    table = Table(title=title, title_justify="left")
    for col, just in (("seq", "right"), ("time", "right"), ("kind", "left"), ("tenant", "left"), ("what", "left")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in shown:
        table.add_row(str(r.seq), clock(r.t), r.kind, tenant_of(r) or "", describe(r))
    console.print(table, markup=False, highlight=False)
    return 0
