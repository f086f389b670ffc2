"""``python -m fake_tfc``: serve the fake Terraform Cloud on loopback."""

from __future__ import annotations

import argparse
import secrets
import sys

import uvicorn

from .app import create_app
from .backend import DEFAULT_ORGANIZATION, FakeTFC
from .clock import VirtualClock, WallClock
from .server import exposure_warning


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m fake_tfc", description="A fake Terraform Cloud API v2 server.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8484, help="port to listen on (default 8484)")
    p.add_argument("--org", action="append", dest="orgs", metavar="ORG", help="organization to create (repeatable)")
    p.add_argument("--token", action="append", dest="tokens", metavar="TOKEN", help="API token to accept (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed for ids and probabilistic faults (default 0)")
    p.add_argument("--virtual-clock", action="store_true", help="time moves only through POST /_fake/clock/advance")
    p.add_argument("--no-rate-limit", action="store_true", help="do not enforce 30 requests/second per token")
    p.add_argument(
        "--admin-from-anywhere", action="store_true",
        help="let clients other than loopback use the /_fake admin API (it mints tokens and reveals sensitive outputs)",
    )
    args = p.parse_args(argv)
    if not 0 < args.port < 65536:
        p.error("--port must be between 1 and 65535")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    orgs = args.orgs or [DEFAULT_ORGANIZATION]
    tokens = args.tokens or [secrets.token_urlsafe(24)]
    clock = VirtualClock() if args.virtual_clock else WallClock()
    fake = FakeTFC(clock, seed=args.seed, organizations=orgs, tokens=tokens)
    app = create_app(fake, rate_limit=not args.no_rate_limit, admin_from_anywhere=args.admin_from_anywhere)
    warning = exposure_warning(args.host)
    if warning:
        print(warning, file=sys.stderr)
    if args.admin_from_anywhere:
        print("warning: --admin-from-anywhere: any client that reaches the fake can use /_fake", file=sys.stderr)
    print(f"fake TFC on http://{args.host}:{args.port}  (admin API under /_fake, loopback clients {'and others' if args.admin_from_anywhere else 'only'})")
    print(f"  organizations: {', '.join(orgs)}")
    if not args.tokens:
        # Printed once so the user can copy it; a generated token guards nothing real.
        print(f"  token: {tokens[0]}")
    print(f"  clock: {'virtual' if args.virtual_clock else 'wall'}; rate limit: {'off' if args.no_rate_limit else '30/s per token'}")
    sys.stdout.flush()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
