"""``make sim``: the whole tenant lifecycle on the embedded backend, for people to watch.

Tenants are created, updated, fail, are retried, exhaust a poll budget, lose an event
to the DLQ, are deleted, and one is decommissioned thirty simulated days later. Every
hop is a real AWS API call on the embedded backend; simulated time costs nothing.
Each status transition is printed as it happens; a table ends the run, and the exit
status is non-zero if any outcome differs from what the demo expects.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from rich.console import Console
from rich.table import Table

from fake_tfc import Outcome, RunBehaviour, RunScript, RunStatus
from sim.controlplane.statuses import Action

from .embedded.environment import EmbeddedBackend, EmbeddedConfig
from .embedded.faults import StartExecutionFault

DAY = 86400


@dataclass
class Expected:
    status: str
    transitions: list[str]
    note: str = ""


@dataclass
class Tracker:
    """Watches the tenant table after every scheduler step and records each change."""

    env: EmbeddedBackend
    console: Console
    seen: dict[str, list[tuple[float, str]]] = field(default_factory=dict)

    def observe(self) -> None:
        db = self.env.client("dynamodb")
        items = db.scan(TableName=self.env.stack.table, ProjectionExpression="tenant_code, #s", ExpressionAttributeNames={"#s": "status"})["Items"]
        now = self.env.clock.now()
        for item in sorted(items, key=lambda i: i["tenant_code"]["S"]):
            code, status = item["tenant_code"]["S"], item["status"]["S"]
            history = self.seen.setdefault(code, [])
            if not history or history[-1][1] != status:
                history.append((now, status))
                self.console.print(f"  [dim]{_t(self.env, now)}[/dim]  {code:<10} -> [bold]{status}[/bold]")

    def until(self, predicate: Callable[[], bool], max_seconds: float) -> bool:
        def watched() -> bool:
            self.observe()
            return predicate()

        return self.env.run_until(watched, max_seconds=max_seconds)


def _t(env: EmbeddedBackend, ts: float) -> str:
    d = timedelta(seconds=int(ts - env.config.start))
    return f"day {d.days:>2} {str(timedelta(seconds=d.seconds)):>8}"


def _short(env: EmbeddedBackend, ts: float) -> str:
    d = timedelta(seconds=int(ts - env.config.start))
    return f"d{d.days}+{d.seconds // 3600:02d}:{d.seconds % 3600 // 60:02d}"


def _request(env: EmbeddedBackend, console: Console, method: str, path: str, body: dict | None = None) -> int:
    resp = env.api(method, path, body)
    console.print(f"  [dim]{_t(env, env.clock.now())}[/dim]  [cyan]{method} {path}[/cyan] -> {resp.status} {resp.body.get('status', resp.body.get('error', ''))}")
    return resp.status


def run_demo() -> int:
    console = Console()
    wall = time.perf_counter()
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    config = EmbeddedConfig(seed=7, start=start.timestamp(), poll_budget=12)
    expected = {
        "acme": Expected("deleted", ["creating", "ready", "updating", "ready", "deleting", "deleted"], "create, update, delete"),
        "globex": Expected("ready", ["creating", "failed", "updating", "ready"], "apply errored, retried through update"),
        "initech": Expected("failed", ["creating", "failed"], "run stuck in plan_queued: poll budget exhausted"),
        "umbrella": Expected("updating", ["creating", "ready", "updating"], "update event dead-lettered (StartExecution throttled)"),
        "hooli": Expected("deleted", ["creating", "ready", "deleting", "deleted"], "decommissioned 30 days later"),
    }
    console.rule("[bold]tenant-sim[/bold]: the tenant lifecycle on the embedded backend")
    with EmbeddedBackend(config) as env:
        console.print(f"stack deployed in {time.perf_counter() - wall:.2f}s real: 3 buses, 3 rules with DLQ, 3 state machines, 5 Lambdas, table, topic, secret, daily schedule")
        track = Tracker(env, console)
        env.fake.set_script(RunScript(match="tenant-globex", runs=[RunBehaviour(outcome=Outcome.APPLY_ERROR)]))
        env.fake.set_script(RunScript(match="tenant-initech", then=RunBehaviour(stuck_in=RunStatus.PLAN_QUEUED)))
        decommission_on = (start + timedelta(days=30)).date().isoformat()

        console.print("[bold]1. five tenants are requested[/bold]")
        for code in ("acme", "globex", "initech", "umbrella"):
            _request(env, console, "POST", "/tenants", {"tenant_code": code, "variables": {"tier": "gold"}, "decommission_date": "2027-01-01"})
        _request(env, console, "POST", "/tenants", {"tenant_code": "hooli", "variables": {"tier": "trial"}, "decommission_date": decommission_on})
        terminal = {"ready", "failed", "deleted"}
        track.until(lambda: all(env.status(c) in terminal for c in expected), max_seconds=DAY)

        console.print("[bold]2. updates: acme changes tier, globex is retried after its failure[/bold]")
        _request(env, console, "PATCH", "/tenants/acme", {"variables": {"tier": "platinum"}})
        _request(env, console, "PATCH", "/tenants/globex", {"variables": {"tier": "gold"}})
        track.until(lambda: env.status("acme") == "ready" and env.status("globex") in terminal, max_seconds=DAY)

        console.print("[bold]3. the update state machine is throttled: EventBridge retries (RetryPolicy: 185 attempts or 24 h), then dead-letters[/bold]")
        env.faults.start_execution.append(StartExecutionFault(env.stack.flow(Action.UPDATE).state_machine, "ExecutionLimitExceeded", times=-1))
        _request(env, console, "PATCH", "/tenants/umbrella", {"variables": {"tier": "silver"}})
        track.until(lambda: any(r.outcome == "dead-lettered" for r in env.deliveries), max_seconds=2 * DAY)
        dlq = env.dlq_messages()
        for m in dlq:
            a = {k: v["StringValue"] for k, v in m["MessageAttributes"].items()}
            console.print(f"  DLQ: {a['ERROR_CODE']} after {a['RETRY_ATTEMPTS']} retries ({a.get('EXHAUSTED_RETRY_CONDITION', '-')}), rule {a['RULE_ARN'].rsplit('/', 1)[-1]}")
        env.faults.clear()

        console.print("[bold]4. acme is deleted[/bold]")
        _request(env, console, "DELETE", "/tenants/acme")
        track.until(lambda: env.status("acme") == "deleted", max_seconds=DAY)

        console.print("[bold]5. thirty days pass; the daily decommission removes hooli[/bold]")
        track.until(lambda: env.status("hooli") == "deleted", max_seconds=31 * DAY)
        track.observe()
        sim_days = (env.clock.now() - env.config.start) / DAY
        workspaces_left = sorted(ws for code in expected if (ws := env.fake.workspace_id_by_name(config.tfc_organization, f"tenant-{code}")))

    table = Table(title="tenants: status transitions (simulated day+hh:mm)")
    for col in ("tenant", "scenario", "transitions", "final", "ok"):
        table.add_column(col)
    failures = 0
    for code, exp in expected.items():
        history = track.seen.get(code, [])
        statuses = [s for _, s in history]
        final = statuses[-1] if statuses else "-"
        ok = statuses == exp.transitions and final == exp.status
        if code == "umbrella":
            ok = ok and len(dlq) == 1
        failures += not ok
        path = " → ".join(f"{s} [dim]{_short(env, t)}[/dim]" for t, s in history)
        table.add_row(code, exp.note, path, final, "[green]yes[/green]" if ok else f"[red]no[/red] (expected {' -> '.join(exp.transitions)})")
    console.print(table)
    console.print(
        f"{sim_days:.1f} simulated days in {time.perf_counter() - wall:.2f}s real; "
        f"{len(env.invocations)} Lambda invocations, {len(env.deliveries)} EventBridge deliveries, "
        f"{len(env.fake.journal.entries())} TFC API calls; workspaces left: {len(workspaces_left)}"
    )
    if failures:
        console.print(f"[red]{failures} tenant(s) did not end as expected[/red]")
        return 1
    console.print("[green]every tenant ended as expected[/green]")
    return 0
