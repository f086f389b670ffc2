"""A month of tenant churn on the embedded backend: N tenants created over a simulated day,
half of them updated on day 2, every one decommissioned by the daily schedule between days 5
and 24, with 2% of TFC calls answered 503. Each size runs in a fresh process (so its peak
RSS is its own) and reports flows per wall second, simulated seconds per wall second, and
memory per tenant.

``BENCH_CHURN_SIZES`` (default ``500,1000``; add 5000 for the scaling check, about 12 minutes
more) picks the sizes."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from datetime import date, timedelta

from benchmarks.memory import rss_now_mb

FLOWS_GOAL = 100.0
#: The 5,000-tenant month's peak RSS, at most (issue 14's memory goal).
PEAK_RSS_GOAL_MB = 2000.0
DAY = 86_400


def churn_scenario(n: int, fault_probability: float = 0.02) -> str:
    start = date(2026, 1, 1)
    steps = []
    for i in range(n):
        decommission = (start + timedelta(days=5 + (i * 20) // n)).isoformat()
        steps.append((i * DAY // n, f"create: {{tenant: t{i:05d}, variables: {{tier: gold}}, decommission_date: '{decommission}'}}"))
    for i in range(0, n, 2):
        steps.append((DAY + i * DAY // n + 1, f"update: {{tenant: t{i:05d}, variables: {{tier: platinum}}}}"))
    steps.sort(key=lambda s: s[0])
    body = "\n".join(f"  - at: {at}\n    {line}" for at, line in steps)
    return (
        f"name: churn-{n}\nsettings: {{run_for: 30d}}\nsteps:\n  - at: 0\n"
        f'    fault: {{tfc: {{path: "*", status: 503, probability: {fault_probability}}}}}\n{body}\n'
    )


def measure(n: int) -> dict[str, float]:
    """In this process: play the churn scenario and count what happened."""
    from sim.controlplane.statuses import TERMINAL
    from sim.scenarios.runner import run_text
    from sim.scenarios.trace import StatusRecord

    text = churn_scenario(n)
    base_mb = rss_now_mb()  # the imports (botocore's models, moto): the same for any N
    t0 = time.perf_counter()
    result = run_text(text, source=f"churn-{n}")
    wall = time.perf_counter() - t0
    flows = sum(1 for r in result.trace.of(StatusRecord) if r.to in TERMINAL)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    simulated = result.trace.records[-1].t if result.trace.records else 0.0
    return {
        "tenants": n, "flows": flows, "wall": wall, "flows_per_s": flows / wall, "sim_per_wall": simulated / wall,
        "rss_mb": rss_mb, "base_mb": base_mb, "passed": float(result.passed), "violations": float(len(result.violations)),
    }



def main() -> int:
    sizes = [int(s) for s in os.environ.get("BENCH_CHURN_SIZES", "500,1000").split(",") if s.strip()]
    print("embedded backend: a month of churn (N creates over a day, N/2 updates, N decommissions; 2% TFC 503s)")
    print(f"  {'tenants':>8}{'flows':>8}{'wall s':>9}{'flows/s':>9}{'goal':>7}{'sim s/wall s':>14}{'peak RSS':>11}{'MB/tenant':>11}  result")
    print(f"  {'':>69}(above the process's RSS after its imports)")
    rows = []
    for n in sizes:
        out = subprocess.run([sys.executable, "-m", "benchmarks.churn_bench", "--one", str(n)], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"  {n:>8}  failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
            return 1
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        verdict = "all expectations and invariants held" if row["passed"] else f"{int(row['violations'])} invariant violations"
        print(
            f"  {n:>8}{int(row['flows']):>8}{row['wall']:>9.1f}{row['flows_per_s']:>9.1f}{FLOWS_GOAL:>7.0f}"
            f"{row['sim_per_wall']:>14,.0f}{row['rss_mb']:>8.0f} MB{(row['rss_mb'] - row['base_mb']) / n:>11.2f}  {verdict}"
        )
    for row in rows:
        if row["tenants"] == 1000:
            met = "met" if row["flows_per_s"] >= FLOWS_GOAL else "MISSED"
            print(f"  flows/s at 1,000 tenants: {row['flows_per_s']:.1f}, {row['flows_per_s'] / FLOWS_GOAL:.2f}x the goal of {FLOWS_GOAL:.0f} ({met})")
        if row["tenants"] >= 5000:
            met = "met" if row["rss_mb"] < PEAK_RSS_GOAL_MB else "MISSED"
            print(f"  peak RSS at {row['tenants']:,.0f} tenants: {row['rss_mb']:,.0f} MB (goal: under {PEAK_RSS_GOAL_MB:,.0f} MB, {met})")
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        ratio = last["flows_per_s"] / first["flows_per_s"]
        print(f"  flows/s at {last['tenants']:.0f} tenants is {ratio:.2f}x that at {first['tenants']:.0f} (goal: within 20%, 0.80x or better)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(measure(int(sys.argv[2]))))
        sys.exit(0)
    sys.exit(main())
