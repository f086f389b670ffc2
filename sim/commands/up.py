"""``python -m sim up``: serve the whole environment until Ctrl-C."""

from __future__ import annotations

import argparse

from sim.commands import up_embedded, up_remote
from sim.controlplane.flow import DEFAULT_POLL_BUDGET, DEFAULT_WAIT_SECONDS
from sim.engines.ports import DEFAULT_API_PORT, DEFAULT_AWS_PORT, DEFAULT_TFC_PORT


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time-scale", type=float, default=60.0, help="simulated seconds per real second (default 60: a 120 s Wait takes 2 s)")
    p.add_argument("--aws-port", type=int, default=DEFAULT_AWS_PORT)
    p.add_argument("--api-port", type=int, default=DEFAULT_API_PORT)
    p.add_argument("--tfc-port", type=int, default=DEFAULT_TFC_PORT)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--wait-seconds", type=int, default=DEFAULT_WAIT_SECONDS, help=f"the state machine's Wait (default {DEFAULT_WAIT_SECONDS})")
    p.add_argument("--poll-budget", type=int, default=DEFAULT_POLL_BUDGET)
    p.add_argument(
        "--auth", choices=["iam", "none"], default="iam",
        help="the REST API's method authorization: iam (AWS_IAM: SigV4-signed requests, the stack's resource policy; the default) or none (the original design: unsigned)",
    )
    p.add_argument("--tfc-rate-limit", action="store_true", help="enforce TFC's 30 requests/second per token")
    up_remote.add_arguments(p)  # --backend and the real engines' options
    up_embedded.add_arguments(p)  # the console and the clock's options


def run(args: argparse.Namespace) -> int:
    if args.backend != "embedded":
        return up_remote.run(args)
    return up_embedded.run(args)
