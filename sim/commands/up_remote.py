"""``python -m sim up --backend localstack|ministack``: the same stack on a
LocalStack-compatible engine, the REST API and the fake TFC on loopback, until Ctrl-C.

``sim/commands/up.py`` owns the command; it calls :func:`add_arguments` on its parser and hands
``run(args)`` the parsed arguments when ``--backend`` is not ``embedded``.

- ``localstack``: an engine already running at ``--endpoint-url`` (default: as
  localstack-client resolves it: ``AWS_ENDPOINT_URL``, else ``LOCALSTACK_HOST``, else
  ``http://localhost:4566``). LocalStack runs Lambdas in Docker with AWS's python3.11
  image, so the zip is built for that runtime, and the Lambdas reach the fake TFC at
  ``--tfc-address`` (e.g. ``http://host.docker.internal:{port}``; the fake must then
  listen where the container can reach it: ``--tfc-bind``).
- ``ministack``: started here in its own virtual environment on ``--aws-port``; its
  Lambdas are subprocesses on this host and reach the fake on loopback.
"""

from __future__ import annotations

import argparse
import platform
import signal
import threading

from sim.engines.ports import LOOPBACK
from sim.engines.registry import NAMES


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options only the real engines have, and the choice of engine."""
    p.add_argument("--backend", choices=NAMES, default="embedded", help="where the stack runs (default: embedded)")
    p.add_argument("--endpoint-url", default=None, help="localstack: the engine's endpoint (default: AWS_ENDPOINT_URL, LOCALSTACK_HOST, http://localhost:4566)")
    p.add_argument("--tfc-address", default=None, help="the fake TFC's address as the Lambdas see it, {port} filled in (default http://127.0.0.1:{port})")
    p.add_argument("--tfc-bind", default="127.0.0.1", help="where the fake TFC listens (default loopback)")
    p.add_argument("--package-target", choices=["host", "lambda-x86_64", "lambda-arm64"], default=None,
                   help="wheels for the Lambda zip (default: host for ministack, lambda-<this machine> for localstack)")


def _target(args: argparse.Namespace):
    from sim.engines.remote.package import Target

    name = args.package_target
    if name is None:
        if args.backend == "ministack":
            return Target.host()
        name = "lambda-arm64" if platform.machine().lower() in ("arm64", "aarch64") else "lambda-x86_64"
    return Target.host() if name == "host" else Target.lambda_runtime(name.split("-", 1)[1])


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from sim.engines.rest_api import rest_api_app
    from fake_tfc.server import serve_in_thread

    from sim.engines.remote.backend import MiniStackBackend, RemoteBackend, RemoteConfig
    from sim.engines.remote.ministack import MiniStack, MiniStackUnavailable
    from sim.engines.remote.package import PackagingError

    console = Console()
    config = RemoteConfig(
        wait_seconds=args.wait_seconds,
        poll_budget=args.poll_budget,
        tfc_script=None,  # TFC-like run durations: time is real here
        tfc_rate_limit=args.tfc_rate_limit,
        tfc_bind=args.tfc_bind,
        tfc_port=args.tfc_port,
        tfc_address=args.tfc_address,
        package_target=_target(args),
    )
    env: RemoteBackend
    if args.backend == "ministack":
        extra = {}
        if getattr(args, "time_scale", 1.0) and args.time_scale != 1.0:
            # MiniStack scales Wait states and Retry intervals; the fake TFC stays on the wall clock.
            extra["SFN_WAIT_SCALE"] = str(1.0 / args.time_scale)
        env = MiniStackBackend(config, ministack=MiniStack(port=args.aws_port, env=extra))
    else:
        env = RemoteBackend(args.endpoint_url, config=config)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    console.print(f"deploying the stack to {args.backend} ...")
    try:
        env.start()
    except (MiniStackUnavailable, PackagingError) as exc:
        console.print(f"[red]cannot start: {exc}[/red]")
        return 1
    except Exception as exc:  # botocore's connection errors, a refused deployment
        console.print(f"[red]cannot deploy to {env.endpoint_url}: {exc!r}[/red]")
        env.stop()
        return 1
    try:
        with serve_in_thread(rest_api_app(env, auth=getattr(args, "auth", None)), LOOPBACK, args.api_port) as api_url:
            assert env.stack is not None
            console.print(f"[bold]tenant-sim is up[/bold] ({args.backend} backend; Ctrl-C stops it)")
            console.print(f"  AWS endpoint      {env.endpoint_url}   (region {env.stack.region}, account {env.stack.account})")
            console.print(f"  control plane API {api_url}/tenants")
            console.print(f"  fake TFC          {env.tfc_url}/api/v2   organization {config.tfc_organization}; Lambdas use {env.stack.tfc_address}")
            console.print(f"  TFC token         the secret {env.stack.secret} (aws secretsmanager get-secret-value)")
            console.print(f"  Lambda zip        {env.package.path if env.package else 'given'}")
            scale = getattr(getattr(env, "ministack", None), "env", {}).get("SFN_WAIT_SCALE")
            clock = f"Wait {env.stack.wait_seconds} s" + (f" x {float(scale):.3g} (SFN_WAIT_SCALE)" if scale else " (real time)")
            console.print(f"  state machines    {', '.join(f.state_machine for f in env.stack.flows)}; {clock}")
            stop.wait()
    except OSError as exc:
        console.print(f"[red]cannot serve the REST API on {args.api_port}: {exc}[/red]")
        return 1
    finally:
        env.stop()
    console.print("stopped")
    return 0
