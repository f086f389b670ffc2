"""``python -m sim up``: serve the whole environment until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading
from datetime import datetime, timezone

from rich.console import Console

from .embedded.environment import EmbeddedBackend, EmbeddedConfig
from .embedded.serve import DEFAULT_API_PORT, DEFAULT_AWS_PORT, DEFAULT_TFC_PORT, serve


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time-scale", type=float, default=60.0, help="simulated seconds per real second (default 60: a 120 s Wait takes 2 s)")
    p.add_argument("--aws-port", type=int, default=DEFAULT_AWS_PORT)
    p.add_argument("--api-port", type=int, default=DEFAULT_API_PORT)
    p.add_argument("--tfc-port", type=int, default=DEFAULT_TFC_PORT)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--wait-seconds", type=int, default=120, help="the state machine's Wait (default 120)")
    p.add_argument("--poll-budget", type=int, default=96)
    p.add_argument("--tfc-rate-limit", action="store_true", help="enforce TFC's 30 requests/second per token")
    from .remote.up import add_arguments as add_remote_arguments

    add_remote_arguments(p)  # --backend localstack|ministack and its options


def run_up(args: argparse.Namespace) -> int:
    if args.backend != "embedded":
        from .remote.up import run

        return run(args)
    console = Console()
    if args.time_scale <= 0:
        console.print("[red]--time-scale must be positive[/red]")
        return 2
    config = EmbeddedConfig(
        seed=args.seed,
        start=datetime.now(timezone.utc).timestamp(),
        wait_seconds=args.wait_seconds,
        poll_budget=args.poll_budget,
        tfc_rate_limit=args.tfc_rate_limit,
    )
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with EmbeddedBackend(config) as env, serve(env, aws_port=args.aws_port, api_port=args.api_port, tfc_port=args.tfc_port) as ep:
            env.clock.start_pacer(args.time_scale)
            console.print("[bold]tenant-sim is up[/bold] (embedded backend; Ctrl-C stops it)")
            console.print(f"  AWS endpoint      {ep.aws}   (region {env.stack.region}, any credentials)")
            console.print(f"  control plane API {ep.api}/tenants")
            console.print(f"  fake TFC          {ep.tfc}/api/v2   organization {config.tfc_organization}")
            console.print(f"  TFC token         {config.tfc_token}")
            console.print(f"  clock             {args.time_scale:g} simulated s per real s")
            console.print(f"  state machines    {', '.join(f.state_machine for f in env.stack.flows)}")
            while not stop.wait(0.5):
                for err in env.clock.drain_errors():
                    console.print(f"[red]simulation error:[/red] {err!r}")
    except OSError as exc:
        console.print(f"[red]cannot start: {exc}[/red] (is another LocalStack or tenant-sim running on those ports?)")
        return 1
    console.print("stopped")
    return 0
