"""``make sim``: the whole tenant lifecycle on the embedded backend, for people to watch.

Tenants are created (one create retried with its Idempotency-Key and replayed; an unsigned
call and a reader's delete refused by the API's AWS_IAM authorization), updated,
fail, are retried, exhaust a poll budget, lose an event to the DLQ, are deleted, and one is
decommissioned thirty simulated days later; the failures fire the stack's alarms. Every
hop is a real AWS API call on the embedded backend; simulated time costs nothing.

The demo is a scenario (``demo.yaml`` beside this module) played by the one step player:
each request, status transition and dead letter is printed as it happens, a table ends
the run, an HTML report is written (its path printed), and the exit status is non-zero
if any outcome differs from what the scenario expects.
"""

from __future__ import annotations

import argparse
import time
from importlib import resources

from rich.console import Console
from rich.table import Table

from sim.controlplane.statuses import IN_PROGRESS
from sim.scenarios.loader import parse_scenario
from sim.scenarios.player import ScenarioResult
from sim.scenarios.trace import AlarmRecord, ApiRecord, DlqRecord, FlowDlqRecord, LambdaRecord, Record, StatusRecord

DEFAULT_REPORT = "reports/demo.html"
DEFAULT_OTLP = "reports/demo.otlp.json"


def _t(t: float) -> str:
    days, rest = divmod(int(t), 86400)
    return f"day {days:>2} {rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"


def _short(t: float) -> str:
    days, rest = divmod(int(t), 86400)
    return f"d{days}+{rest // 3600:02d}:{rest % 3600 // 60:02d}"


class LiveLines:
    """Prints the records people care about as the trace receives them. A flow's first
    status is written during its API call, so it is held until that call's line is out."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.held: StatusRecord | None = None

    def __call__(self, r: Record) -> None:
        line = self._line(r)
        if isinstance(r, StatusRecord) and r.to in IN_PROGRESS:
            self._release()
            self.held = r
            return
        if line is None:
            return
        self.console.print(line, highlight=False)
        self._release()

    def _release(self) -> None:
        held, self.held = self.held, None
        if held is not None:
            self.console.print(self._line(held), highlight=False)

    @staticmethod
    def _line(r: Record) -> str | None:
        at = f"  [dim]{_t(r.t)}[/dim]  "
        if isinstance(r, ApiRecord):
            answer = r.body.get("status") or r.body.get("error") or r.body.get("message") or ""
            who = f" ({r.tenant_code})" if r.method == "POST" and r.tenant_code else ""
            replayed = " [magenta](Idempotent-Replayed: the first answer again)[/magenta]" if r.replayed else ""
            return f"{at}[cyan]{r.method} {r.path}{who}[/cyan] -> {r.status} {answer}{replayed}"
        if isinstance(r, AlarmRecord):
            colour = "red" if r.to == "ALARM" else "green"
            return f"{at}[{colour}]alarm[/{colour}] {r.alarm}: {r.from_} -> {r.to} (the operators' topic is notified)"
        if isinstance(r, StatusRecord):
            return f"{at}{r.tenant:<10} -> [bold]{r.to}[/bold]"
        if isinstance(r, DlqRecord):
            return f"{at}[red]DLQ[/red]: {r.tenant} {r.action} event, {r.error_code} after {r.retry_attempts} retries ({r.exhausted or '-'})"
        if isinstance(r, FlowDlqRecord):
            return f"{at}[red]flow DLQ[/red]: {r.tenant} ({r.error})"
        if isinstance(r, LambdaRecord) and r.decommission and r.decommission.get("deleting"):
            return f"{at}daily decommission: deleting {', '.join(r.decommission['deleting'])}"
        return None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--report", default=DEFAULT_REPORT, metavar="FILE", help=f"where to write the HTML report (default {DEFAULT_REPORT})")
    p.add_argument("--otlp", default=DEFAULT_OTLP, metavar="FILE", help=f"where to write the control plane's spans as OTLP/JSON (default {DEFAULT_OTLP})")


def run(args: argparse.Namespace | None = None) -> int:
    from sim.report import result_report, write_report
    from sim.scenarios.runner import ScenarioRun

    console = Console()
    wall = time.perf_counter()
    text = resources.files("sim.commands").joinpath("demo.yaml").read_text(encoding="utf-8")
    scenario = parse_scenario(text, "sim/commands/demo.yaml")
    console.rule("[bold]tenant-sim[/bold]: the tenant lifecycle on the embedded backend")
    run = ScenarioRun(scenario, scenario.seed, tracing=True)
    run.trace.listeners.append(LiveLines(console))
    try:
        run.open()
        console.print(f"stack deployed in {time.perf_counter() - wall:.2f}s real: 3 buses, 3 rules with DLQ, 3 state machines, Lambdas, tables, topics, secret, schedules, alarms")
        for step in scenario.steps:
            if step.note:
                run.stage.wait_until(step.at)
                console.print(f"[bold]{step.note}[/bold]", highlight=False)
            run.apply(step)
        obs = run.close(scenario.steps[-1].at + scenario.settings.run_for)
        failures, violations = run.finish(obs)
        env = run.env
        counts = f"{len(env.invocations)} Lambda invocations, {len(env.deliveries)} EventBridge deliveries, {len(env.fake.journal.entries())} TFC API calls"
        token = env.config.tfc_token
    finally:
        run.stage.stop()
    result = ScenarioResult(scenario, scenario.seed, "sim/commands/demo.yaml", text, run.trace, obs, failures, violations, env.spans)
    _table(console, result)
    sim_days = (scenario.steps[-1].at + scenario.settings.run_for) / 86400
    console.print(f"{sim_days:.1f} simulated days in {time.perf_counter() - wall:.2f}s real; {counts}")
    path = (args.report if args is not None else None) or DEFAULT_REPORT
    out = write_report(path, result_report(result, secrets=(token,)))
    console.print(f"report: [bold]{out.resolve()}[/bold] (open it in a browser)", highlight=False, soft_wrap=True)
    if result.spans is not None:
        from sim.tracing import write_otlp

        otlp = write_otlp(result.spans, (args.otlp if args is not None else None) or DEFAULT_OTLP)
        traces = len({s.trace_id for s in result.spans.finished()})
        console.print(f"spans: {otlp.resolve()} ({len(result.spans.finished())} spans in {traces} traces, OTLP/JSON, simulated time)", highlight=False, soft_wrap=True)
    if not result.passed:
        console.print(result.report, markup=False, highlight=False)
        console.print("[red]not every tenant ended as expected[/red]")
        return 1
    console.print("[green]every tenant ended as expected[/green]")
    return 0


def _table(console: Console, result: ScenarioResult) -> None:
    table = Table(title="tenants: status transitions (simulated day+hh:mm)")
    for col in ("tenant", "transitions", "final", "as expected"):
        table.add_column(col)
    history: dict[str, list[StatusRecord]] = {}
    for r in result.trace.of(StatusRecord):
        history.setdefault(r.tenant, []).append(r)
    for code in result.scenario.expect.tenants:
        seen = history.get(code, [])
        path = " → ".join(f"{r.to} [dim]{_short(r.t)}[/dim]" for r in seen)
        wrong = [f for f in result.failures if f.startswith(f"tenants.{code}.")]
        table.add_row(code, path, seen[-1].to if seen else "-", "[red]no[/red]: " + "; ".join(wrong) if wrong else "[green]yes[/green]")
    console.print(table)

