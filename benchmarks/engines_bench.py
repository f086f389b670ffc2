"""The same single-tenant lifecycle on the embedded backend and on MiniStack, side by side:
start-up and create -> ready -> update -> ready -> delete -> deleted, as a ratio.

Both engines get the same stack settings and the same fake-TFC runs (the remote backend's
defaults: ``wait_seconds=1``, ``QUICK_RUNS``), and the same API calls through the API
function. The embedded backend drives its simulated clock (``run_until``); MiniStack runs
in real time and is waited on with deadlines. Without MiniStack the embedded numbers are
printed with "MiniStack unavailable: <reason>" and the bench still passes.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from sim.controlplane.statuses import Action
from sim.engines.embedded.environment import EmbeddedBackend, EmbeddedConfig
from sim.engines.remote.backend import QUICK_RUNS, MiniStackBackend, RemoteConfig, wait_for
from sim.engines.remote.ministack import MiniStackUnavailable, ensure_venv
from sim.engines.remote.package import PackagingError, build_zip

LIFECYCLE_GOAL = 20.0  # MiniStack time / embedded time, at least
STARTUP_GOAL_S = 1.0  # embedded start-up, at most
FLOW_TIMEOUT = 45.0  # real seconds one MiniStack flow may take
TASKS = ("-trigger", "-check", "-finalize")
REMOTE = RemoteConfig()
STEPS = (  # method, path suffix, body, status to wait for
    ("POST", "", {"variables": {"tier": "gold"}, "decommission_date": "2027-01-01"}, "ready"),
    ("PATCH", "/{code}", {"variables": {"tier": "silver"}}, "ready"),
    ("DELETE", "/{code}", None, "deleted"),
)


def lifecycle(env, code: str, wait: Callable[[Callable[[], bool]], bool]) -> float:
    """Real seconds for create -> ready -> update -> ready -> delete -> deleted."""
    t0 = time.perf_counter()
    for method, path, body, want in STEPS:
        body = {"tenant_code": code, **body} if method == "POST" else body
        resp = env.api(method, "/tenants" + path.format(code=code), body)
        assert resp.status == 202, (method, resp.status, resp.body)
        seen: list[str | None] = [None]

        def settled() -> bool:
            seen[0] = env.status(code)
            return seen[0] in (want, "failed")

        if not wait(settled) or seen[0] != want:
            raise RuntimeError(f"{code}: {method} ended {seen[0]!r}, wanted {want!r}")
    return time.perf_counter() - t0


# ------------------------------------------------------------------ embedded
def embedded_config() -> EmbeddedConfig:
    return EmbeddedConfig(wait_seconds=REMOTE.wait_seconds, poll_budget=REMOTE.poll_budget)


FRESH = """import os, time
t0 = time.perf_counter()
from sim.engines.embedded.environment import EmbeddedBackend, EmbeddedConfig
t1 = time.perf_counter()
EmbeddedBackend(EmbeddedConfig(wait_seconds={w}, poll_budget={b})).start()
print(t1 - t0, time.perf_counter() - t1, flush=True)
os._exit(0)
"""

#: FRESH with the phases of start() timed: each function named is wrapped with a timer
#: (a few dozen calls; the total is FRESH's, measured apart).
PHASES = """import json, os, time
from sim.engines.embedded import environment, moto_adapter
from botocore.loaders import JSONFileLoader
spent = {{}}
def timed(name, fn):
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - t
    return wrapper
moto_adapter.install = timed("adapter", moto_adapter.install)
environment.deploy = timed("deploy", environment.deploy)
environment.deploy_alarms = timed("deploy", environment.deploy_alarms)
environment.EmbeddedBackend.client = timed("clients", environment.EmbeddedBackend.client)
JSONFileLoader.load_file = timed("files", JSONFileLoader.load_file)
parse_once = moto_adapter._parse_once
moto_adapter._parse_once = lambda parse, **kw: parse_once(timed("asl", parse) if parse.__module__.endswith(".asl_parser") else parse, **kw)
t = time.perf_counter()
environment.EmbeddedBackend(environment.EmbeddedConfig(wait_seconds={w}, poll_budget={b})).start()
spent["start"] = time.perf_counter() - t
print(json.dumps(spent), flush=True)
os._exit(0)
"""


def _child(code: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env).stdout


def bytecode_cached(cache_dir: str) -> dict[str, str] | None:
    """The environment with Python's bytecode cache written to ``cache_dir`` (not the tree),
    as on a machine without PYTHONDONTWRITEBYTECODE; None if it is not set (nothing to add)."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return None
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache_dir
    return env


def embedded_startup_fresh(runs: int = 3, env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """A new interpreter: imports, moto started, the stack deployed (then exit at once).
    Medians over ``runs``: wall seconds from spawn to exit, and the child's own import and
    start seconds."""
    code = FRESH.format(w=REMOTE.wait_seconds, b=REMOTE.poll_budget)
    walls, imports, starts = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        i, s = map(float, _child(code, env).split())
        walls.append(time.perf_counter() - t0)
        imports.append(i)
        starts.append(s)
    return statistics.median(walls), statistics.median(imports), statistics.median(starts)


def embedded_startup_phases() -> dict[str, float]:
    """Where a fresh start() goes: the moto adapter (moto's service modules imported, the
    seams checked), the deploy (clients made, botocore's files parsed, the definition's
    first ASL parse, moto answering), the rest; one fresh run, seconds."""
    return dict(json.loads(_child(PHASES.format(w=REMOTE.wait_seconds, b=REMOTE.poll_budget))))


def up_startup_fresh(env: dict[str, str] | None = None) -> float:
    """``python -m sim up`` in a new process until its REST API answers (then SIGTERM)."""
    import signal
    import urllib.error
    import urllib.request

    from fake_tfc.server import free_port

    ports = [str(free_port()) for _ in range(3)]
    cmd = [sys.executable, "-m", "sim", "up", "--quiet", "--aws-port", ports[0], "--api-port", ports[1], "--tfc-port", ports[2]]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        while proc.poll() is None and time.perf_counter() - t0 < 60:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ports[1]}/tenants", timeout=1):
                    return time.perf_counter() - t0
            except urllib.error.HTTPError:  # an answer (unsigned: 403) is serving
                return time.perf_counter() - t0
            except OSError:
                time.sleep(0.02)  # a benchmark polling a port, not a test
        raise RuntimeError(f"sim up did not serve within 60 s (exit {proc.poll()})")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def embedded_startup_again(runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        env = EmbeddedBackend(embedded_config()).start()
        times.append(time.perf_counter() - t0)
        env.stop()
    return statistics.median(times)


def embedded_lifecycles(runs: int) -> tuple[list[float], int]:
    """Seconds per lifecycle (the first on a fresh backend) and Task states in the last."""
    times = []
    with EmbeddedBackend(embedded_config()) as env:
        env.fake.set_script(QUICK_RUNS)
        for i in range(runs):
            mark = len(env.invocations)
            times.append(lifecycle(env, f"emb-{i}", lambda p: env.run_until(p, max_seconds=3600)))
        tasks = sum(1 for inv in env.invocations[mark:] if inv.function.endswith(TASKS))
    return times, tasks


# ------------------------------------------------------------------ MiniStack
def ministack_tasks(env: MiniStackBackend, code: str) -> int:
    sfn, n = env.client("stepfunctions"), 0
    for action in Action:
        for e in env.executions(action):
            if json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])["detail"]["tenant_code"] == code:
                n += sum(1 for ev in env.history(e["executionArn"]) if ev["type"] == "TaskStateEntered")
    return n


def ministack_run(runs: int) -> dict:
    """One-time setup, start-up (process start to ready + deploy), ``runs`` lifecycles."""
    if os.environ.get("TENANT_SIM_SKIP_MINISTACK") in ("1", "true"):
        raise MiniStackUnavailable("TENANT_SIM_SKIP_MINISTACK is set")
    t0 = time.perf_counter()
    ensure_venv()
    venv_s = time.perf_counter() - t0
    info = build_zip()
    env = MiniStackBackend(code_zip=info.path.read_bytes())
    env.start()
    try:
        startup = env.ministack.timings["startup"] + env.timings["start"]
        wait = lambda p: wait_for(p, timeout=FLOW_TIMEOUT, interval=0.05)  # noqa: E731
        times = [lifecycle(env, f"ms-{i}", wait) for i in range(runs)]
        tasks = ministack_tasks(env, f"ms-{runs - 1}")
    finally:
        env.stop()
    setup = f"MiniStack {env.ministack.version} venv {venv_s:.2f} s, Lambda zip {info.seconds:.2f} s ({'cached' if info.cached else 'built'})"
    return {"setup": setup, "startup": startup, "times": times, "tasks": tasks}


# ------------------------------------------------------------------ the table
def _row(label: str, emb: float | None, ms: float | None, goal: str, ok: bool | None, unit: str = "s") -> None:
    fmt = (lambda v: f"{v * 1000:8.0f} ms") if unit == "ms" else (lambda v: f"{v:9.2f} s")
    e = fmt(emb) if emb is not None else f"{'-':>11}"
    m = fmt(ms) if ms is not None else f"{'-':>11}"
    r = f"{ms / emb:7.1f}x" if emb and ms else f"{'-':>8}"
    verdict = "" if ok is None else ("ok" if ok else "MISSED")
    print(f"  {label:<40}{e:>12}{m:>12}{r:>9}  {goal:<16}{verdict}")


def _print_phases(fresh: float, imports: float, start: float, phases: dict[str, float]) -> None:
    deploy, run_start = phases.get("deploy", 0.0), phases["start"]
    rest = run_start - phases.get("adapter", 0.0) - deploy
    print(f"      interpreter and exit {max(fresh - imports - start, 0.0):.2f} s, imports {imports:.2f} s, start() {start:.2f} s; start() in one run ({run_start:.2f} s):")
    print(f"      moto adapter (moto's service modules, seams) {phases.get('adapter', 0.0):.2f} s, stack deploy {deploy:.2f} s (of which clients")
    print(f"      made {phases.get('clients', 0.0):.2f} s, botocore files parsed for them and moto {phases.get('files', 0.0):.2f} s, the first")
    print(f"      ASL parse of the definition {phases.get('asl', 0.0):.2f} s), the rest (moto's mock, clock, sweepers, alarms) {rest:.2f} s")


def main() -> int:
    print("engines: one tenant's lifecycle, embedded backend vs MiniStack (wall time; ratio = MiniStack / embedded)")
    fresh, fresh_imports, fresh_start = embedded_startup_fresh(3)
    phases = embedded_startup_phases()
    up = statistics.median(up_startup_fresh() for _ in range(3))
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as cache:
        cached_env = bytecode_cached(cache)
        if cached_env is not None:
            _child("import sim.commands.up, sim.engines.embedded.serve, sim.live.control", cached_env)  # fills the cache
            cached = embedded_startup_fresh(3, cached_env)[0], statistics.median(up_startup_fresh(cached_env) for _ in range(3))
    again = embedded_startup_again(3)
    emb, emb_tasks = embedded_lifecycles(5)
    ms, reason, status = None, "", 0
    try:
        ms = ministack_run(3)
    except (MiniStackUnavailable, PackagingError) as exc:
        reason = f"MiniStack unavailable: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    except Exception as exc:  # started, but the lifecycle or the deploy failed
        reason, status = f"MiniStack failed: {type(exc).__name__}: {exc}", 1
    if ms:
        print(f"  one-time setup (not counted): {ms['setup']}")
    ms_start = ms["startup"] if ms else None
    ms_cold = ms["times"][0] if ms else None
    ms_warm = statistics.median(ms["times"][1:]) if ms else None
    emb_warm = statistics.median(emb[1:])
    print(f"  {'measure':<40}{'embedded':>12}{'MiniStack':>12}{'ratio':>9}  goal")
    _row("start-up, fresh process [1]", fresh, ms_start, f"embedded < {STARTUP_GOAL_S:.0f} s", fresh < STARTUP_GOAL_S)
    _print_phases(fresh, fresh_imports, fresh_start, phases)
    _row("`sim up`, fresh process, until it serves", up, ms_start, f"embedded < {STARTUP_GOAL_S:.0f} s", up < STARTUP_GOAL_S)
    if ms_start:
        print(f"  {'start-up ratio, fresh (goal >= 2x)':<40}{ms_start / fresh:>11.2f}x  ({'ok' if ms_start / fresh >= 2 else 'MISSED'})")
        print(f"  {'`sim up` ratio (goal >= 2x)':<40}{ms_start / up:>11.2f}x  ({'ok' if ms_start / up >= 2 else 'MISSED'})")
    _row("start-up, again in process (median 3)", again, None, f"embedded < {STARTUP_GOAL_S:.0f} s", again < STARTUP_GOAL_S)
    _row("lifecycle, cold: first after start-up", emb[0], ms_cold, f">= {LIFECYCLE_GOAL:.0f}x", ms_cold / emb[0] >= LIFECYCLE_GOAL if ms else None, "ms")
    _row(f"lifecycle, warm: median of {len(emb) - 1} / {len(ms['times']) - 1 if ms else 0}", emb_warm, ms_warm, f">= {LIFECYCLE_GOAL:.0f}x", ms_warm / emb_warm >= LIFECYCLE_GOAL if ms else None, "ms")
    print(f"  {'Task states per lifecycle [2]':<40}{emb_tasks:>12}{ms['tasks'] if ms else '-':>12}")
    if reason:
        print(f"  {reason}")
    print("  [1] embedded: a new interpreter importing it, moto started and the stack deployed (median of 3;")
    print("      moto loads its service backends on first use, hence the 'again' row); the phases, from one more")
    print("      run with the functions named timed, sum to that run's own start. `sim up`: median of 3.")
    if cached_env is not None:
        print("      PYTHONDONTWRITEBYTECODE is set: tenant-sim's own modules are compiled at every start (in the imports);")
        print(f"      with the bytecode cached (in a temporary PYTHONPYCACHEPREFIX): start-up {cached[0]:.2f} s, `sim up` {cached[1]:.2f} s.")
    print("      MiniStack: its process started until /_ministack/ready, then STS + fake TFC + deploy +")
    print("      functions Active (its venv and the Lambda zip are the one-time setup above).")
    print(f"  [2] both: create, update, delete through the API function, wait_seconds={REMOTE.wait_seconds} and the")
    print("      fake's QUICK_RUNS (~2 s a run); embedded on the simulated clock (run_until), MiniStack in")
    print(f"      real time (status polled every 50 ms, {FLOW_TIMEOUT:.0f} s deadline a flow). The production stack's")
    print("      wait_seconds=120 costs the embedded backend no more wall time; on MiniStack it would be minutes.")
    return status
