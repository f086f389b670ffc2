"""Embedded backend: start-up, one tenant's create-to-ready lifecycle, 200 tenants at
once, peak memory, and the per-Task-state overhead."""

from __future__ import annotations

import gc
import os
import statistics
import time
import resource

from fake_tfc import RunScript

from benchmarks.memory import rss_now_mb
from sim.controlplane.handlers import use_platform
from sim.engines.embedded.environment import EmbeddedBackend, EmbeddedConfig

ONE_GOAL_MS = 50.0
MANY_GOAL_S = 10.0
STARTUP_GOAL_S = 1.0
AT_REST_GOAL_MB = 0.5


def _create(env: EmbeddedBackend, code: str) -> None:
    resp = env.api("POST", "/tenants", {"tenant_code": code, "variables": {"tier": "gold"}, "decommission_date": "2099-01-01"})
    assert resp.status == 202, resp.body


def _table_statuses(env: EmbeddedBackend) -> dict[str, str]:
    db = env.client("dynamodb")
    out: dict[str, str] = {}
    kwargs: dict = {"TableName": env.stack.table, "ProjectionExpression": "tenant_code, #s", "ExpressionAttributeNames": {"#s": "status"}}
    while True:
        page = db.scan(**kwargs)
        out.update({i["tenant_code"]["S"]: i["status"]["S"] for i in page["Items"]})
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def bench_one(runs: int) -> dict[str, float]:
    # A run of ~300 simulated seconds: Trigger, 3 Wait/Check polls, Finalize.
    times, tasks = [], []
    with EmbeddedBackend(EmbeddedConfig()) as env:
        env.fake.set_script(RunScript(match="*", durations={"applying": 290.0}))
        for i in range(runs):
            code = f"one-{i}"
            t0 = time.perf_counter()
            _create(env, code)
            done = env.run_until(lambda: _status_of(env, code) == "ready", max_seconds=3600)
            times.append((time.perf_counter() - t0) * 1000)
            assert done, f"{code} did not reach ready"
        polls = sum(1 for i in env.invocations if i.function.endswith("-check")) / runs
        tasks = [2 + polls]
    return {"p50_ms": statistics.median(times), "min_ms": min(times), "tasks": tasks[0]}


def _status_of(env: EmbeddedBackend, code: str) -> str | None:
    item = env.client("dynamodb").get_item(TableName=env.stack.table, Key={"tenant_code": {"S": code}}).get("Item")
    return item["status"]["S"] if item else None


def bench_task_overhead(n: int) -> dict[str, float]:
    """One turn of the Wait/Check loop inside the machine (the Wait, the Choice and the
    Check Task: state machine -> dispatcher -> handler), in real time, beside the same Check
    handler called directly, in its own warm container (the same clients, the same fake
    TFC), with the same events. The difference is what the orchestration adds."""
    with EmbeddedBackend(EmbeddedConfig(wait_seconds=1, poll_budget=n + 10)) as env:
        env.fake.set_script(RunScript(match="*", durations={"applying": float(n)}))
        _create(env, "overhead")
        t0 = time.perf_counter()
        # A cheap predicate (it is checked after every scheduler step; a GetItem is not).
        env.run_until(lambda: any(i.function.endswith("-finalize") for i in env.invocations[-3:]), max_seconds=n * 10)
        elapsed = time.perf_counter() - t0
        assert _status_of(env, "overhead") == "ready"
        checks = [i for i in env.invocations if i.function.endswith("-check")]
        spec = next(f for f in env.stack.functions if f.name == "check")
        handler = env.dispatcher.resolve(spec.handler)
        container = env.dispatcher.warm_container(checks[0].function)
        assert container is not None, "the check function was never invoked"
        t1 = time.perf_counter()
        with use_platform(container):
            for inv in checks:
                handler(inv.event, None)
        direct = time.perf_counter() - t1
    loop_ms = elapsed / max(1, len(checks)) * 1000
    direct_ms = direct / max(1, len(checks)) * 1000
    return {"loop_ms": loop_ms, "handler_ms": direct_ms, "added_ms": loop_ms - direct_ms}


def bench_many(n: int, rate_limit: bool = False) -> dict[str, float]:
    t0 = time.perf_counter()
    with EmbeddedBackend(EmbeddedConfig(tfc_rate_limit=rate_limit, stall_seconds=120)) as env:
        gc.collect()
        rss_before = rss_now_mb()
        started = time.perf_counter()
        for i in range(n):
            _create(env, f"t{i:04d}")
        # A cheap predicate (checked after every scheduler step); the table is read once after.
        finalized = lambda: sum(1 for i in env.invocations if i.function.endswith("-finalize")) >= n  # noqa: E731
        env.run_until(finalized, max_seconds=6 * 3600)
        statuses = _table_statuses(env)
        elapsed = time.perf_counter() - started
        gc.collect()
        at_rest_mb = (rss_now_mb() - rss_before) / n
        journal = env.fake.journal.entries()
        simulated = env.clock.now() - env.config.start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    ready = sum(1 for s in statuses.values() if s == "ready")
    return {
        "seconds": elapsed, "ready": ready, "peak_mb": peak / 1e6, "with_startup": time.perf_counter() - t0,
        "at_rest_mb": at_rest_mb, "tfc_calls": len(journal), "throttled": sum(1 for e in journal if e.status == 429), "simulated": simulated,
    }



def bench_startup(runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        env = EmbeddedBackend(EmbeddedConfig()).start()
        times.append(time.perf_counter() - t0)
        env.stop()
    return statistics.median(times)


def main() -> int:
    n = int(os.environ.get("BENCH_TENANTS", "200"))
    print("embedded backend: control plane lifecycle (real time; simulated time is free)")
    startup = bench_startup(3)
    one = bench_one(10)
    task = bench_task_overhead(200)
    many = bench_many(n)
    bursts = [int(b) for b in os.environ.get("BENCH_BURST", "200").split(",") if b.strip()]
    limited = {b: bench_many(b, rate_limit=True) for b in bursts}
    print(f"  {'measure':<46}{'value':>12}{'goal':>10}{'ratio':>8}")
    print(f"  {'start-up, stack deployed (median of 3)':<46}{startup:>10.3f} s{STARTUP_GOAL_S:>8.1f} s{STARTUP_GOAL_S / startup:>7.2f}x")
    one_label = "one create-to-ready ({:.0f} Task states)".format(one["tasks"])
    many_label = f"{n} tenants created at once, all ready"
    print(f"  {one_label:<46}{one['p50_ms']:>9.1f} ms{ONE_GOAL_MS:>7.0f} ms{ONE_GOAL_MS / one['p50_ms']:>7.2f}x")
    added, handler = task["added_ms"], task["handler_ms"]
    print(f"  {'one Wait/Choice/Check turn in the machine':<46}{task['loop_ms']:>9.2f} ms")
    print(f"  {'the Check handler called directly':<46}{handler:>9.2f} ms")
    print(f"  {'added by the orchestration':<46}{added:>9.2f} ms{handler:>7.2f} ms{handler / max(added, 1e-9):>7.2f}x  (goal: no more than the handler's own cost)")
    print(f"  {many_label:<46}{many['seconds']:>10.2f} s{MANY_GOAL_S:>8.0f} s{MANY_GOAL_S / many['seconds']:>7.2f}x  ({many['ready']}/{n} ready)")
    print(f"  {'peak RSS of the process (after 200 tenants)':<46}{many['peak_mb']:>9.1f} MB")
    at_rest = many["at_rest_mb"]
    print(f"  {'memory per tenant at rest, its flow ended':<46}{at_rest:>9.2f} MB{AT_REST_GOAL_MB:>7.1f} MB{AT_REST_GOAL_MB / max(at_rest, 1e-9):>7.2f}x  (RSS growth: an upper bound)")
    for b, r in limited.items():
        label = f"{b} at once, TFC rate limit on (30/s), all ready"
        print(
            f"  {label:<46}{r['seconds']:>10.2f} s{'':>10}  ({r['ready']:.0f}/{b} ready; {r['tfc_calls']:.0f} TFC calls, "
            f"{r['throttled']:.0f} answered 429; {r['simulated']:.0f} simulated s)"
        )
    ok = many["ready"] == n and all(r["ready"] == b for b, r in limited.items())
    return 0 if ok else 1



