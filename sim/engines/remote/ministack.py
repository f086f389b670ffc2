"""MiniStack (``pip install ministack``, MIT, pure Python) as a local AWS engine.

It pins its own botocore, so it lives in its own virtual environment, created once under
``.venv/ministack-venv`` and reused while the requirement is unchanged. It is started as a
subprocess on a free loopback port and stopped with the process group it leads.

    with MiniStack() as ms:            # raises MiniStackUnavailable with the reason
        boto3.client("sqs", endpoint_url=ms.endpoint, ...)

What was read in ministack 1.5.33 to drive it (``ministack/app.py``):

- entry point ``ministack = ministack.app:main`` (also ``python -m ministack``), foreground;
- ``GATEWAY_PORT`` (then ``EDGE_PORT``, default 4566) is the port, ``BIND_HOST`` the bind
  address (default ``0.0.0.0``: we pass ``127.0.0.1``), ``LOG_LEVEL``;
- ``GET /_ministack/health`` answers as soon as it serves, ``GET /_ministack/ready`` 200
  once its ``ready.d`` scripts ran (503 before);
- it writes ``$TMPDIR/ministack-<port>.pid`` and removes it on SIGTERM;
- ``MINISTACK_ACCOUNT_ID``: the account for credentials that are not a 12-digit key
  (default ``000000000000``, like LocalStack);
- ``SFN_WAIT_SCALE`` scales Wait states and Retry intervals (0 skips them);
- ``LAMBDA_EXECUTOR`` (default ``local``): Python handlers run in a warm subprocess of
  MiniStack's own interpreter, with the function's environment plus
  ``AWS_ENDPOINT_URL=http://127.0.0.1:<port>`` unless the environment already sets one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..base import EngineUnavailable
from .package import ROOT

#: What gets installed; override with TENANT_SIM_MINISTACK (e.g. "ministack" for the newest).
DEFAULT_REQUIREMENT = "ministack==1.5.33"
DEFAULT_VENV = ROOT / ".venv" / "ministack-venv"
#: Variables of ours that must not leak into MiniStack (and from it into the Lambda workers).
SCRUBBED = (
    "AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "LOCALSTACK_HOST", "LOCALSTACK_HOSTNAME",
    "EDGE_PORT", "GATEWAY_PORT", "PERSIST_STATE", "LOCALSTACK_PERSISTENCE", "SERVICES", "PYTHONPATH", "VIRTUAL_ENV",
)


class MiniStackUnavailable(EngineUnavailable):
    """MiniStack could not be installed or would not start; the message says why."""


def requirement() -> str:
    return os.environ.get("TENANT_SIM_MINISTACK") or DEFAULT_REQUIREMENT


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def pip_error(text: str, lines: int = 8) -> str:
    """pip's ERROR lines (each cut to 300 characters), else its last lines."""
    errors = [ln if len(ln) <= 300 else ln[:300] + " ..." for ln in text.splitlines() if ln.startswith("ERROR")]
    return "\n".join(errors[-lines:]) if errors else _tail(text, lines)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """One venv build at a time (pytest-xdist workers, two terminals)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        try:
            import fcntl

            fcntl.flock(fh, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - not POSIX
            pass
        yield


def ensure_venv(spec: str | None = None, venv: Path | str | None = None, *, python: str | None = None) -> Path:
    """The interpreter of a virtual environment with ``spec`` installed, built once.

    The environment is created from ``python`` (default: this interpreter): MiniStack runs
    Python Lambdas with it, so its version must match the wheels in the deployment zip."""
    spec = spec or requirement()
    venv = Path(venv or DEFAULT_VENV)
    stamp = venv / ".tenant-sim-installed"
    want = json.dumps({"spec": spec, "python": f"{sys.version_info.major}.{sys.version_info.minor}"})
    py = _venv_python(venv)
    if py.exists() and stamp.is_file() and stamp.read_text() == want:
        return py
    with _file_lock(venv.parent / f".{venv.name}.lock"):
        if py.exists() and stamp.is_file() and stamp.read_text() == want:
            return py
        if venv.exists():
            shutil.rmtree(venv)
        proc = subprocess.run([python or sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise MiniStackUnavailable(f"could not create a virtual environment at {venv}: {_tail(proc.stderr or proc.stdout)}")
        proc = subprocess.run(
            [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input", spec],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise MiniStackUnavailable(f"pip could not install {spec!r} into {venv}:\n{pip_error(proc.stderr or proc.stdout)}")
        check = subprocess.run([str(py), "-c", "import ministack.app"], capture_output=True, text=True)
        if check.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise MiniStackUnavailable(f"{spec!r} installed but does not import:\n{_tail(check.stderr)}")
        stamp.write_text(want)
    return py


def free_port(host: str = "127.0.0.1") -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def installed_version(python: Path) -> str:
    proc = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('ministack'))"], capture_output=True, text=True
    )
    return proc.stdout.strip() or "unknown"


@dataclass
class MiniStack:
    """One MiniStack process. ``env`` adds MiniStack settings (e.g. ``SFN_WAIT_SCALE``)."""

    host: str = "127.0.0.1"
    port: int | None = None
    account: str = "000000000000"
    env: dict[str, str] = field(default_factory=dict)
    spec: str | None = None
    venv: Path | str | None = None
    startup_timeout: float = 60.0
    log_level: str = "WARNING"
    #: Filled by start().
    python: Path | None = None
    version: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    _proc: subprocess.Popen[bytes] | None = None
    _log_dir: str | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path | None:
        return Path(self._log_dir) / "ministack.log" if self._log_dir else None

    def log_tail(self, lines: int = 40) -> str:
        p = self.log_path
        return _tail(p.read_text(errors="replace"), lines) if p and p.exists() else ""

    # ------------------------------------------------------------- lifecycle
    def start(self) -> MiniStack:
        t0 = time.monotonic()
        self.python = ensure_venv(self.spec, self.venv)
        self.timings["venv"] = time.monotonic() - t0
        self.version = installed_version(self.python)
        self.port = self.port or free_port(self.host)
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
        env.update(
            GATEWAY_PORT=str(self.port),
            BIND_HOST=self.host,
            LOG_LEVEL=self.log_level,
            MINISTACK_ACCOUNT_ID=self.account,
            MINISTACK_REGION="us-east-1",
            # The Lambda workers inherit this; set it rather than rely on MiniStack's default.
            AWS_ENDPOINT_URL=self.endpoint,
            PYTHONUNBUFFERED="1",
        )
        env.update(self.env)
        self._log_dir = tempfile.mkdtemp(prefix=f"ministack-{self.port}-")
        env["TMPDIR"] = self._log_dir  # its pid file and Lambda code dirs land here, removed on stop
        assert self.log_path is not None
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child owns it until stop()
        t1 = time.monotonic()
        try:
            self._proc = subprocess.Popen(
                [str(self.python), "-m", "ministack"],
                cwd=self._log_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends it and its Lambda workers
            )
        finally:
            log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.timings["startup"] = time.monotonic() - t1
        return self

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        last = "no answer yet"
        for path in ("/_ministack/health", "/_ministack/ready"):
            while True:
                if self._proc.poll() is not None:
                    raise MiniStackUnavailable(
                        f"MiniStack {self.version} exited with code {self._proc.returncode} while starting on "
                        f"{self.endpoint}:\n{self.log_tail()}"
                    )
                try:
                    with urllib.request.urlopen(self.endpoint + path, timeout=2) as resp:
                        if resp.status == 200:
                            break
                except urllib.error.HTTPError as exc:
                    if exc.code == 404 and path == "/_ministack/ready":
                        break  # an older MiniStack without the readiness endpoint
                    last = f"{path}: HTTP {exc.code}"
                except (urllib.error.URLError, OSError) as exc:
                    last = f"{path}: {exc}"
                if time.monotonic() > deadline:
                    raise MiniStackUnavailable(
                        f"MiniStack {self.version} did not answer on {self.endpoint} within {self.startup_timeout:.0f} s "
                        f"({last}):\n{self.log_tail()}"
                    )
                # Wait on the process itself: returns at once if it dies.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=0.05)

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            pgid = proc.pid  # start_new_session: the group is led by the process we started
            if proc.poll() is None:
                proc.terminate()  # MiniStack's SIGTERM handler removes its pid file and exits
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=timeout)
            # Lambda workers it spawned (they exit on their own when their stdin closes).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGTERM)
        if self._log_dir and not os.environ.get("TENANT_SIM_KEEP_MINISTACK_LOG"):
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None

    def __enter__(self) -> MiniStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.engines.remote.ministack``: serve MiniStack on loopback until Ctrl-C."""
    import argparse
    import threading

    parser = argparse.ArgumentParser(prog="python -m sim.engines.remote.ministack", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--account", default="000000000000")
    args = parser.parse_args(argv)
    try:
        ms = MiniStack(port=args.port, account=args.account).start()
    except MiniStackUnavailable as exc:
        print(f"MiniStack unavailable: {exc}", file=sys.stderr)
        return 1
    print(f"MiniStack {ms.version} on {ms.endpoint} (venv {ms.timings['venv']:.1f} s, start-up {ms.timings['startup']:.1f} s)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        ms.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
