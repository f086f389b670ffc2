"""A short, watchable demo of the fake Terraform Cloud on a virtual clock.

Several workspaces go through the calls the control plane makes (ensure workspace,
upsert variables, start a run, poll, read outputs, destroy, delete) with different
scripted outcomes. It exits non-zero if any outcome differs from what is expected.
``python -m sim tfc-demo`` runs it; ``make sim`` runs the whole control plane instead.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import httpx
from rich.console import Console
from rich.table import Table

from fake_tfc import FakeTFC, Outcome, RunBehaviour, RunScript, RunStatus, VirtualClock, create_app
from fake_tfc.transport import SyncASGITransport

ORG = "demo-org"
TOKEN = "demo-token"
POLL_SECONDS = 120


@dataclass
class Case:
    name: str
    script: list[RunBehaviour]
    #: Final run status expected for each run started, in order.
    expected: list[str]
    destroy: bool = True
    seen: list[str] = field(default_factory=list)


CASES = [
    Case("acme", [RunBehaviour()], ["applied", "applied"]),
    Case("globex", [RunBehaviour(outcome=Outcome.APPLY_ERROR), RunBehaviour()], ["errored", "applied", "applied"]),
    Case("initech", [RunBehaviour(outcome=Outcome.PLAN_ERROR)], ["errored"], destroy=False),
    Case("umbrella", [RunBehaviour(stuck_in=RunStatus.PLAN_QUEUED, stuck_for=300)], ["applied", "applied"]),
    Case("hooli", [RunBehaviour(outcome=Outcome.NO_CHANGES)], ["planned_and_finished", "planned_and_finished"]),
]


class DemoClient:
    def __init__(self, fake: FakeTFC, clock: VirtualClock, console: Console) -> None:
        self.clock = clock
        self.console = console
        self.http = httpx.Client(
            transport=SyncASGITransport(create_app(fake)),
            base_url="http://fake-tfc",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/vnd.api+json"},
        )

    def ensure_workspace(self, name: str) -> str:
        r = self.http.get(f"/api/v2/organizations/{ORG}/workspaces/{name}")
        if r.status_code == 200:
            return r.json()["data"]["id"]
        body = {"data": {"type": "workspaces", "attributes": {"name": name, "auto-apply": True}}}
        r = self.http.post(f"/api/v2/organizations/{ORG}/workspaces", json=body)
        r.raise_for_status()
        return r.json()["data"]["id"]

    def set_variable(self, ws_id: str, key: str, value: str) -> None:
        body = {"data": {"type": "vars", "attributes": {"key": key, "value": value, "category": "terraform"}}}
        self.http.post(f"/api/v2/workspaces/{ws_id}/vars", json=body).raise_for_status()

    def run(self, ws_id: str, *, destroy: bool = False) -> str:
        body = {
            "data": {
                "type": "runs",
                "attributes": {"is-destroy": destroy, "message": "tenant-sim demo"},
                "relationships": {"workspace": {"data": {"type": "workspaces", "id": ws_id}}},
            }
        }
        r = self.http.post("/api/v2/runs", json=body)
        r.raise_for_status()
        run_id = r.json()["data"]["id"]
        for _ in range(60):
            self.clock.advance(POLL_SECONDS)
            status = self.http.get(f"/api/v2/runs/{run_id}").json()["data"]["attributes"]["status"]
            if status in ("applied", "planned_and_finished", "errored", "canceled", "discarded"):
                return status
        return status

    def outputs(self, ws_id: str) -> dict[str, object]:
        r = self.http.get(f"/api/v2/workspaces/{ws_id}/current-state-version-outputs")
        if r.status_code != 200:
            return {}
        return {o["attributes"]["name"]: o["attributes"]["value"] for o in r.json()["data"]}


def run_demo(console: Console | None = None) -> int:
    console = console or Console()
    clock = VirtualClock()
    fake = FakeTFC(clock, organizations=[ORG], tokens=[TOKEN])
    for case in CASES:
        fake.set_script(RunScript(match=case.name, runs=case.script))
    client = DemoClient(fake, clock, console)
    console.rule("[bold]fake Terraform Cloud demo[/] (virtual clock, in-process)")
    for case in CASES:
        ws = client.ensure_workspace(case.name)
        client.set_variable(ws, "tenant_code", case.name)
        status = client.run(ws)
        case.seen.append(status)
        console.print(f"  {case.name:<10} create run -> [bold]{status}[/]  outputs: {client.outputs(ws) or '-'}")
        if status == "errored" and len(case.expected) > 2:
            status = client.run(ws)  # a retry converges, as the control plane's update would
            case.seen.append(status)
            console.print(f"  {case.name:<10} retry run  -> [bold]{status}[/]")
        if case.destroy:
            status = client.run(ws, destroy=True)
            case.seen.append(status)
            console.print(f"  {case.name:<10} destroy    -> [bold]{status}[/]")
            client.clock.advance(POLL_SECONDS)
            deleted = client.http.post(f"/api/v2/workspaces/{ws}/actions/safe-delete").status_code
            console.print(f"  {case.name:<10} safe delete -> HTTP {deleted}")
    table = Table(title="runs per workspace")
    for col in ("workspace", "expected", "seen", "ok"):
        table.add_column(col)
    failures = 0
    for case in CASES:
        ok = case.seen == case.expected
        failures += not ok
        table.add_row(case.name, ", ".join(case.expected), ", ".join(case.seen), "[green]yes[/]" if ok else "[red]NO[/]")
    console.print(table)
    calls = len(fake.journal.entries())
    console.print(f"{calls} API calls answered by the fake")
    return 1 if failures else 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The demo takes no options."""


def run(args: argparse.Namespace) -> int:
    return run_demo()
