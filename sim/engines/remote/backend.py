"""The control plane deployed to a LocalStack-compatible endpoint (MiniStack, LocalStack)
or AWS itself: the same :class:`~sim.stack.wiring.Stack` through :func:`sim.stack.deploy.deploy`, the
Lambdas as the real deployment zip (:mod:`sim.engines.remote.package`), and a fake TFC served on
loopback on the wall clock, at an address the Lambdas can reach.

    with MiniStack() as ms, RemoteBackend(ms.endpoint) as env:
        env.api("POST", "/tenants", {"tenant_code": "acme", "variables": {}, "decommission_date": "2099-01-01"})
        env.wait_for_status("acme", {"ready", "failed"}, timeout=60)

Time is real here: the stack's Wait is short (``wait_seconds``, default 1 s) and the fake's
runs take about two seconds, so one flow is a few seconds of wall time.

Where the Lambdas find the fake TFC (``tfc_address``):

- a host process (MiniStack's local executor runs handlers as subprocesses of MiniStack):
  loopback, the default ``http://127.0.0.1:{port}``;
- a container (LocalStack's Docker Lambda executor, MiniStack with ``LAMBDA_EXECUTOR=docker``):
  ``http://host.docker.internal:{port}`` (Docker Desktop; on Linux the container needs
  ``--add-host=host.docker.internal:host-gateway``) and ``tfc_bind`` set to an address the
  container can reach; or any address given in ``TENANT_SIM_TFC_ADDRESS``.
  ``{port}`` is replaced by the port the fake was given.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Self

import boto3
from botocore.config import Config

from fake_tfc import FakeTFC, RunScript, WallClock, create_app
from fake_tfc.server import free_port, serve_in_thread
from sim.controlplane.statuses import TERMINAL, Action
from sim.stack.deploy import Deployed, deploy
from sim.stack.wiring import DEFAULT_PREFIX, DEFAULT_TFC_ORGANIZATION, Stack

from ..base import BackendBase
from .package import BuildInfo, Target, build_zip

DEFAULT_TOKEN = "tenant-sim.atlasv1.remote-token"

#: Run stages short enough for wall-clock tests, long enough that a 1 s Wait loops at
#: least once (about 1.9 s from the run's creation to its outputs).
QUICK_RUNS = RunScript(
    durations={
        "pending": 0.0,
        "plan_queued": 0.2,
        "planning": 0.5,
        "cost_estimating": 0.1,
        "policy_checking": 0.1,
        "apply_queued": 0.2,
        "applying": 0.6,
        "cancel": 0.2,
    },
    output_delay=0.3,
)


def resolve_endpoint(explicit: str | None = None) -> str:
    """The AWS endpoint, as localstack-client resolves it when none is given:
    ``AWS_ENDPOINT_URL``, else ``LOCALSTACK_HOST`` (``host[:port]``, ``USE_SSL`` for
    https), else ``http://localhost:4566``. The same rules are spelled out below for a
    localstack-client that knows no ``lambda`` endpoint."""
    if explicit:
        return explicit
    # Declared in the aws extra, which this backend needs (boto3 above is from it too).
    from localstack_client.config import get_service_endpoint

    found: str | None = get_service_endpoint("lambda")
    if found:
        return found
    env = os.environ.get("AWS_ENDPOINT_URL", "").strip()
    if env:
        return env
    host = os.environ.get("LOCALSTACK_HOST", "localhost:4566")
    name, _, port = host.partition(":")
    scheme = "https" if os.environ.get("USE_SSL") in ("1", "true") else "http"
    return f"{scheme}://{name or 'localhost'}:{port or 4566}"


@dataclass
class RemoteConfig:
    prefix: str = DEFAULT_PREFIX
    region: str = "us-east-1"
    wait_seconds: int = 1
    poll_budget: int = 60
    tfc_organization: str = DEFAULT_TFC_ORGANIZATION
    tfc_token: str = DEFAULT_TOKEN
    #: The fake's run behaviour for every workspace (``None``: TFC-like default durations, ~13 s a run).
    tfc_script: RunScript | None = QUICK_RUNS
    tfc_rate_limit: bool = True
    tfc_bind: str = "127.0.0.1"
    #: The fake's port (``None``: a free one).
    tfc_port: int | None = None
    #: What the Lambdas use to reach the fake (``{port}`` is filled in); default loopback.
    tfc_address: str | None = None
    access_key: str = "test"
    secret_key: str = "test"
    #: The deployment zip's target (default: this interpreter, right for MiniStack's local executor).
    package_target: Target | None = None
    #: Real seconds :meth:`RemoteBackend.run_until` waits at most (its ``max_seconds`` is
    #: meant as simulated time by callers written for the embedded backend).
    max_wait: float = 120.0


class RemoteBackend(BackendBase):
    def __init__(self, endpoint_url: str | None = None, tfc_address: str | None = None, config: RemoteConfig | None = None, *, code_zip: bytes | None = None) -> None:
        self.config = config or RemoteConfig()
        self.endpoint_url = resolve_endpoint(endpoint_url)
        self._tfc_address_template = tfc_address or self.config.tfc_address or os.environ.get("TENANT_SIM_TFC_ADDRESS")
        self.fake = FakeTFC(WallClock(), organizations=[self.config.tfc_organization], tokens=[self.config.tfc_token])
        if self.config.tfc_script is not None:
            self.fake.set_script(self.config.tfc_script)
        self.tfc_app = create_app(self.fake, rate_limit=self.config.tfc_rate_limit)
        self._code_zip = code_zip
        self.package: BuildInfo | None = None
        self._stack: Stack | None = None
        self.deployed: Deployed | None = None
        self.tfc_url = ""  # where this process reaches the fake
        self.timings: dict[str, float] = {}
        self._clients: dict[str, Any] = {}
        self._exit = contextlib.ExitStack()

    @property
    def stack(self) -> Stack:
        """The deployed stack (its account and the fake's address are known once started)."""
        if self._stack is None:
            raise RuntimeError("the backend is not started")
        return self._stack

    @stack.setter
    def stack(self, value: Stack) -> None:
        self._stack = value

    # ------------------------------------------------------------- lifecycle
    def start(self) -> Self:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        c = self.config
        t0 = time.monotonic()
        account = self.client("sts").get_caller_identity()["Account"]
        port = c.tfc_port or (free_port(c.tfc_bind) if c.tfc_bind not in ("0.0.0.0", "::") else free_port("127.0.0.1"))
        self.tfc_url = self._exit.enter_context(serve_in_thread(self.tfc_app, host=c.tfc_bind, port=port))
        template = self._tfc_address_template or "http://127.0.0.1:{port}"
        tfc_address = template.format(port=port)
        self.stack = Stack(
            prefix=c.prefix,
            region=c.region,
            account=account,
            wait_seconds=c.wait_seconds,
            poll_budget=c.poll_budget,
            tfc_address=tfc_address,
            tfc_organization=c.tfc_organization,
        )
        t1 = time.monotonic()
        if self._code_zip is None:
            self.package = build_zip(target=c.package_target)
            self._code_zip = self.package.path.read_bytes()
        t2 = time.monotonic()
        self.deployed = deploy(self.client, self.stack, tfc_token=c.tfc_token, code_zip=self._code_zip)
        self._refresh_code()
        self._wait_functions_active()
        t3 = time.monotonic()
        self.timings.update(package=t2 - t1, deploy=t3 - t2, start=t3 - t0)

    def _refresh_code(self) -> None:
        """``deploy`` leaves existing functions' code alone; a long-lived engine (LocalStack
        with persistence, a second run against the same MiniStack) gets the new zip here."""
        assert self._code_zip is not None
        want = base64.b64encode(hashlib.sha256(self._code_zip).digest()).decode()
        lam = self.client("lambda")
        for fn in self.stack.functions:
            name = self.stack.function_name(fn.name)
            if lam.get_function_configuration(FunctionName=name).get("CodeSha256") != want:
                lam.update_function_code(FunctionName=name, ZipFile=self._code_zip)

    def _wait_functions_active(self, timeout: float = 120.0) -> None:
        """LocalStack and AWS create functions ``Pending``; invoking one then fails."""
        lam = self.client("lambda")
        for fn in self.stack.functions:
            name = self.stack.function_name(fn.name)
            ok = wait_for(
                lambda: lam.get_function_configuration(FunctionName=name).get("State", "Active") == "Active"
                and lam.get_function_configuration(FunctionName=name).get("LastUpdateStatus", "Successful") in ("Successful", None),
                timeout=timeout,
                interval=0.2,
            )
            if not ok:
                cfg = lam.get_function_configuration(FunctionName=name)
                raise RuntimeError(f"function {name} not Active after {timeout:.0f} s: {cfg.get('State')} {cfg.get('StateReason', '')}")

    def stop(self) -> None:
        self._exit.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------- seams
    def client(self, service: str) -> Any:
        """A boto3 client on the endpoint (credentials and region from the config)."""
        cl = self._clients.get(service)
        if cl is None:
            # A Lambda invoke is not idempotent: never let botocore repeat one.
            attempts = 1 if service == "lambda" else 3
            cl = boto3.client(
                service,
                endpoint_url=self.endpoint_url,
                region_name=self.config.region,
                aws_access_key_id=self.config.access_key,
                aws_secret_access_key=self.config.secret_key,
                config=Config(retries={"max_attempts": attempts, "mode": "standard"}, read_timeout=330, connect_timeout=5),
            )
            self._clients[service] = cl
        return cl

    def run_until(self, predicate: Callable[[], bool], *, max_seconds: float) -> bool:
        """What the embedded backend's ``run_until`` is to callers (``TenantApi.wait_for``),
        in real time: polls ``predicate`` for at most ``min(max_seconds, config.max_wait)``
        real seconds. Nothing can be advanced here; time just passes."""
        return wait_for(predicate, timeout=min(max_seconds, self.config.max_wait), interval=0.25)

    def wait_for_status(self, code: str, statuses: Collection[str] = TERMINAL, *, timeout: float = 60.0) -> dict[str, Any]:
        """Poll the API until the tenant's status is one of ``statuses``; return its row.
        Raises ``TimeoutError`` naming the last status and the state machines' executions."""
        seen: list[dict[str, Any] | None] = [None]

        def done() -> bool:
            seen[0] = self.tenant(code)
            return seen[0] is not None and seen[0]["status"] in statuses

        if not wait_for(done, timeout=timeout, interval=0.25):
            row = seen[0]
            raise TimeoutError(
                f"tenant {code!r} still {row and row.get('status')!r} after {timeout:.0f} s "
                f"(wanted {sorted(statuses)}); executions: {self.execution_summary()}"
            )
        assert seen[0] is not None
        return seen[0]

    # ------------------------------------------------------------- inspection
    def executions(self, action: Action) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        executions: list[dict[str, Any]] = sfn.list_executions(stateMachineArn=self.stack.state_machine_arn(action))["executions"]
        return executions

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = sfn.get_execution_history(**kwargs)
            events += page["events"]
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    def execution_summary(self) -> dict[str, list[str]]:
        try:
            return {a.value: [f"{e['name']}:{e['status']}" for e in self.executions(a)] for a in Action}
        except Exception as exc:  # only ever used in an error message
            return {"error": [repr(exc)]}

    def workspace_names(self) -> list[str]:
        with self.fake.lock:
            return sorted(w.name for w in self.fake.workspaces.values())


class MiniStackBackend(RemoteBackend):
    """A MiniStack of its own (see :mod:`sim.engines.remote.ministack`) with the stack deployed on
    it; ``stop()`` stops both. Raises ``MiniStackUnavailable`` from ``start()``."""

    def __init__(self, config: RemoteConfig | None = None, *, ministack: Any = None, code_zip: bytes | None = None) -> None:
        from .ministack import MiniStack

        self.ministack = ministack or MiniStack()
        super().__init__("http://127.0.0.1:4566", config=config, code_zip=code_zip)  # the real port is known on start

    def start(self) -> Self:
        self.ministack.start()
        self.endpoint_url = self.ministack.endpoint
        self._clients.clear()
        super().start()  # stops everything (MiniStack included) if it fails
        return self

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self.ministack.stop()


def wait_for(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` real seconds pass; the last answer wins."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        if predicate():
            return True
        pause.wait(min(interval, max(0.0, deadline - time.monotonic())))
    return predicate()
