"""Round trips on the embedded engine: a scenario runs, what an operator would save is taken
from the engine's own APIs (execution histories page by page, describe-execution, the fake
TFC's run documents over HTTP, the DLQ messages), imported, and the imported scenario is run
on a fresh engine. It must pass (production's expectations hold on the same control plane)
and end the same way: transitions, lifecycle events, DLQs, runs and the very TFC calls."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from sim.incidents import import_incident
from sim.scenarios.schema import scenario_schema
from sim.scenarios.runner import run_text

from .recording import operator_files, outcome, record_embedded, tfc_calls

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"

#: Library scenarios whose incident the importer must reproduce call for call.
ROUND_TRIPS = {
    "errored-apply-then-update": "an errored apply, then an update that applies",
    "stuck-in-plan-queued-poll-budget": "a run stuck in plan_queued until the poll budget is spent",
    "check-lambda-throttled": "Check throttled three times, retried by the Task's Retry",
    "finalize-task-error": "Finalize failing on every attempt: the flow DLQ",
    "pending-behind-abandoned-run": "a run queued behind one the previous flow abandoned",
    "destroy-of-nothing": "a create, then a delete whose destroy has nothing to do",
    "state-machine-deleted": "the event dead-lettered at once (NO_RESOURCE)",
    "start-execution-throttled": "the event dead-lettered after the retries (THROTTLING)",
}


#: Round trips that no longer hold, and why (each an expected failure, strict: a fix shows).
NOT_YET: dict[str, str] = {}


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=NOT_YET[n])) if n in NOT_YET else n for n in sorted(ROUND_TRIPS)],
    ids=sorted(ROUND_TRIPS),
)
def test_an_incident_replays_as_it_happened(name: str) -> None:
    recorded = record_embedded((LIBRARY / f"{name}.yaml").read_text(), page_size=7)
    assert recorded.passed, recorded.report
    imported = import_incident(operator_files(recorded))
    jsonschema.validate(yaml.safe_load(imported.text), scenario_schema())
    replay = run_text(imported.text, source=f"imported {name}")
    assert replay.passed, replay.report + "\n" + imported.text
    assert recorded.observed is not None
    assert outcome(replay.observed, "acme") == outcome(recorded.observed, "acme"), imported.text
    assert recorded.tfc_calls == tfc_calls(replay.trace), imported.text


def test_an_update_first_incident_gets_a_setup_and_replays_the_update() -> None:
    """Only the update's execution and its run are given: the tenant must exist first, so the
    scenario creates it (a setup whose apply errors), then replays the update as it was."""
    recorded = record_embedded((LIBRARY / "errored-apply-then-update.yaml").read_text())
    update_run = next(k for k, v in recorded.files.items() if k.startswith("run-run-") and '"status": "applied"' in v.replace('":"', '": "'))
    files = recorded.pick("history-update-", "describe-update-") + [(update_run, recorded.files[update_run])]
    imported = import_incident(files)
    assert "setup" in imported.text
    replay = run_text(imported.text)
    assert replay.passed, replay.report + "\n" + imported.text
    assert replay.observed.transitions["acme"] == ["creating", "failed", "updating", "ready"]
    assert replay.observed.events["acme"][-1] == "tenant.updated"
    # The update's TFC calls are the incident's, call for call.
    assert recorded.trace is not None
    update_at = 3600.0  # the original scenario's update step
    setup_lead = replay.scenario.steps[-1].at
    assert tfc_calls(replay.trace, since=setup_lead) == tfc_calls(recorded.trace, since=update_at)
