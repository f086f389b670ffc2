"""``python -m sim up`` on the embedded backend: serve it, watch it, drive it.

``sim/commands/up.py`` owns the command; it calls :func:`add_arguments` on its parser and
hands ``run(args)`` the parsed arguments when ``--backend`` is ``embedded``.

The console: a live table of tenants (status, the state its flow is in, simulated time in
that flow, last event) under one line per API request, flow end, dead letter and fault;
``--quiet`` prints only the endpoints and errors, ``--log-format json`` one JSON object per
line (for scripts). The control API (``/_sim/`` on the fake TFC's port) drives the clock
and injects faults (:mod:`sim.live.control`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sys
import threading
from datetime import datetime, timezone
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from sim.engines.ports import LOOPBACK
from sim.startup import collector_paused


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--virtual-clock", action="store_true", help="start with simulated time paused: it moves only through the control API (POST /_sim/clock/advance or /resume)")
    p.add_argument("--quiet", action="store_true", help="print only the endpoints and errors")
    p.add_argument("--log-format", choices=["text", "json"], default="text", help="json: one JSON object per line instead of the live table (for scripts)")
    p.add_argument(
        "--otlp-endpoint", default=None, metavar="URL",
        help="send the control plane's spans (simulated time) to this OTLP/HTTP collector (URL/v1/traces, JSON), every 2 s",
    )
    p.add_argument(
        "--execution-retention-days", type=float, default=90.0, metavar="DAYS",
        help="simulated days a closed execution is kept, then gone as on AWS (default 90, AWS's)",
    )
    p.add_argument(
        "--log-retention-days", type=float, default=1.0, metavar="DAYS",
        help="simulated days the simulator's own invocation/delivery logs and TFC journal keep an entry (default 1: sim up runs for ever)",
    )


def taken(ports: list[tuple[int, str, str]]) -> list[str]:
    """Why each port cannot be listened on: ``port 4566 (the AWS endpoint) is in use; --aws-port changes it``."""
    out = []
    for port, flag, what in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((LOOPBACK, port))
            except OSError as exc:
                out.append(f"port {port} ({what}) is in use ({exc.strerror}); {flag} changes it")
    return out


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=args.log_format == "json")
    if args.time_scale <= 0:
        console.print("[red]--time-scale must be positive[/red]")
        return 2
    problems = taken([(args.aws_port, "--aws-port", "the AWS endpoint"), (args.api_port, "--api-port", "the REST API"), (args.tfc_port, "--tfc-port", "the fake TFC and the control API")])
    if problems:
        for p in problems:
            console.print(f"[red]cannot start:[/red] {p}", highlight=False)
        console.print("(is another LocalStack or tenant-sim running?)")
        return 1

    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set():  # a second Ctrl-C: do not wait for a graceful stop
            os._exit(130)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    with collector_paused():
        from sim.engines.embedded.environment import EmbeddedBackend, EmbeddedConfig
        from sim.engines.embedded.retention import Retention
        from sim.engines.embedded.serve import serve
        from sim.engines.rest_api import rest_api_app
        from sim.live.control import control_app
        from sim.live.run import LiveRun

    try:
        retention = Retention(execution_days=args.execution_retention_days, log_days=args.log_retention_days)
    except ValueError as exc:
        console.print(f"[red]cannot start:[/red] {exc} (--execution-retention-days / --log-retention-days)", highlight=False)
        return 2
    config = EmbeddedConfig(
        seed=args.seed, start=datetime.now(timezone.utc).timestamp(), wait_seconds=args.wait_seconds,
        poll_budget=args.poll_budget, tfc_rate_limit=args.tfc_rate_limit, tracing=bool(getattr(args, "otlp_endpoint", None)),
        retention=retention,
    )
    try:
        with contextlib.ExitStack() as running:
            # Until it serves. What start-up built lives as long as the process: it is kept
            # out of the collector's later full passes (else the first one comes at once and
            # delays the first answers).
            with collector_paused(keep=True):
                env = running.enter_context(EmbeddedBackend(config))
                live = LiveRun(env, time_scale=args.time_scale, paused=args.virtual_clock)
                tfc_app, api_app = control_app(live, env.tfc_app), rest_api_app(env, live.api_seen, auth=args.auth)
                ep = running.enter_context(serve(env, aws_port=args.aws_port, api_port=args.api_port, tfc_port=args.tfc_port, tfc_app=tfc_app, api_app=api_app))
                live.endpoints = {"aws": ep.aws, "api": ep.api, "tfc": ep.tfc, "control": f"{ep.tfc}/_sim"}
                live.start()
            _announce(console, args, env, ep)
            exporter = _exporter(args, env)
            try:
                _watch(console, args, live, stop)
            finally:
                if exporter is not None:
                    exporter.stop()
    except OSError as exc:
        console.print(f"[red]cannot start: {exc}[/red] (is another LocalStack or tenant-sim running on those ports?)")
        return 1
    if args.log_format == "json":
        print(json.dumps({"kind": "stopped"}), flush=True)
    else:
        console.print("stopped")
    return 0


def _exporter(args: argparse.Namespace, env: Any) -> Any:
    """The OTLP/HTTP exporter of ``--otlp-endpoint`` (started), or None."""
    if not getattr(args, "otlp_endpoint", None) or env.spans is None:
        return None
    from sim.tracing import OtlpHttpExporter

    def warn(message: str) -> None:
        print(f"tracing: {message}", file=sys.stderr, flush=True)

    return OtlpHttpExporter(env.spans, args.otlp_endpoint, on_error=warn).start()


def _announce(console: Console, args: argparse.Namespace, env: Any, ep: Any) -> None:
    clock = "paused (--virtual-clock): POST /_sim/clock/advance or /resume" if args.virtual_clock else f"{args.time_scale:g} simulated s per real s"
    if args.log_format == "json":
        print(json.dumps({"kind": "up", "aws": ep.aws, "api": ep.api, "tfc": ep.tfc, "control": f"{ep.tfc}/_sim", "paused": args.virtual_clock,
                          "time_scale": args.time_scale, "region": env.stack.region, "auth": args.auth}), flush=True)
        return
    console.print("[bold]tenant-sim is up[/bold] (embedded backend; Ctrl-C stops it)")
    console.print(f"  AWS endpoint      {ep.aws}   (region {env.stack.region}, any credentials)")
    console.print(f"  control plane API {ep.api}/tenants   ({_auth_line(args, env)})")
    console.print(f"  fake TFC          {ep.tfc}/api/v2   organization {env.config.tfc_organization}; token: the secret {env.stack.secret}")
    console.print(f"  control API       {ep.tfc}/_sim/   (clock, faults, report: {ep.tfc}/_sim/report)")
    console.print(f"  clock             {clock}")
    console.print(f"  state machines    {', '.join(f.state_machine for f in env.stack.flows)}")


def _auth_line(args: argparse.Namespace, env: Any) -> str:
    if args.auth == "none":
        return "auth none: unsigned requests"
    keys = ", ".join(f"{p.role} {p.access_key_id}" for p in env.stack.principals)
    return f"auth iam: SigV4, service execute-api, region {env.stack.region}; keys {keys} (secrets: README)"


def _watch(console: Console, args: argparse.Namespace, live: Any, stop: threading.Event) -> None:
    env = live.env
    if args.quiet or args.log_format == "json" or not console.is_terminal:
        # Not a terminal (a pipe, a file): lines only, no table redrawn over them.
        while not stop.wait(0.25):
            for line in live.board.take_lines():
                if args.log_format == "json":
                    print(json.dumps(line.as_json(), default=str), flush=True)
                elif not args.quiet:
                    console.print(f"[dim]{_t(line.t)}[/dim] {escape(line.text)}", highlight=False)
            _errors(console, env)
        return
    with Live(_table(live), console=console, refresh_per_second=4, transient=False, redirect_stdout=False) as screen:
        while not stop.wait(0.25):
            for line in live.board.take_lines():
                screen.console.print(f"[dim]{_t(line.t)}[/dim] {escape(line.text)}", highlight=False)
            _errors(screen.console, env)
            screen.update(_table(live))


def _errors(console: Console, env: Any) -> None:
    for err in env.clock.drain_errors():
        print(f"simulation error: {err!r}", file=sys.stderr, flush=True)


def _t(t: float) -> str:
    from sim.report.axis import clock

    return f"+{clock(round(t))}"


def _table(live: Any, limit: int = 25) -> Table:
    from sim.report.axis import clock, duration

    state = live.clock_state()
    now = state["elapsed"]
    running = "paused" if state["paused"] else f"x{state['time_scale']:g}"
    table = Table(title=f"simulated {state['time'][:19]}Z ({_t(now)}, {running})", title_justify="left", expand=False)
    for col in ("tenant", "status", "state", "in flow", "last event"):
        table.add_column(col)
    rows = sorted(live.board.snapshot().items(), key=lambda kv: -kv[1].last_at)
    for code, row in rows[:limit]:
        in_flow = duration(now - row.flow_started) if row.flow_started is not None else ""
        last = f"{row.last_event} [dim]{_t(row.last_at)}[/dim]" if row.last_event else ""
        table.add_row(code, row.status or "", row.state, in_flow, last)
    if len(rows) > limit:
        table.caption = f"{len(rows) - limit} more tenant(s) not shown (GET /_sim/tenants has them all)"
    return table
