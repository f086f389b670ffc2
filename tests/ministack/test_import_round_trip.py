"""The importer's round trip from a real engine: scenarios run on MiniStack, their execution
histories are read through its Step Functions API (page by page: MiniStack paginates), the
fake TFC's run documents through its served HTTP API; the imported scenario then runs on the
embedded engine (``python -m sim run`` in a subprocess, as an operator would) and must end
the same way: transitions, lifecycle events, flow DLQ, runs, and the same TFC calls.

MiniStack's divergences are handled by the importer and seen here: its histories have no
``TaskStarted`` and no ``previousEventId``; it names every handler error
``Runtime.HandlerError`` (kept, so the replay retries as MiniStack did); its Waits may be
scaled (``SFN_WAIT_SCALE``), so the replay's polls, a full ``wait_seconds`` apart, are fitted
to what MiniStack's Checks saw. A throttled Lambda cannot happen on MiniStack (no Lambda
fault injection): that round trip is on the embedded engine (``tests/incidents``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from sim.engines.remote.backend import RemoteBackend
from sim.incidents import import_incident
from sim.scenarios.loader import parse_scenario
from sim.scenarios.remote_stage import run_remote
from sim.scenarios.trace import FlowDlqRecord, SnsRecord, StatusRecord, TfcRecord, Trace, read_trace, record_from_json
from tests.incidents.recording import Recorded, documents, export, operator_files, request_ids, tfc_calls

from .test_ministack_lifecycle import set_wait_scale

pytestmark = pytest.mark.ministack

ROOT = Path(__file__).resolve().parents[2]

ERRORED = """
name: ms-errored-apply-then-update
settings: {wait_seconds: 1, poll_budget: 30, run_for: 70}
tenants:
  acme:
    tfc:
      runs: [{outcome: apply_error}]
steps:
  - {at: 0, create: {tenant: acme, variables: {tier: gold}}}
  - {at: 45, update: {tenant: acme, variables: {tier: platinum}}}
"""
BUDGET = """
name: ms-poll-budget-exhausted
settings: {wait_seconds: 1, poll_budget: 3, run_for: 30}
tenants:
  acme:
    tfc:
      runs: [{stuck_in: plan_queued}]
steps:
  - {at: 0, create: {tenant: acme, variables: {tier: gold}}}
"""
# TFC refuses the outputs (401): Finalize fails on every attempt, the flow's state goes to
# the flow DLQ. Waits and Retry intervals scaled by 1/4 to keep the test short.
FINALIZE = """
name: ms-finalize-to-flow-dlq
settings: {wait_seconds: 1, poll_budget: 30, run_for: 40}
steps:
  - {at: 0, fault: {tfc: {path: "*/current-state-version-outputs", status: 401}}}
  - {at: 0, create: {tenant: acme, variables: {tier: gold}}}
"""


def outcome(trace: Trace, code: str) -> dict[str, Any]:
    transitions, events = defaultdict(list), defaultdict(list)
    for r in trace.of(StatusRecord):
        transitions[r.tenant].append(r.to)
    for e in trace.of(SnsRecord):
        if e.tenant_code:
            events[e.tenant_code].append(e.event)
    return {
        "transitions": transitions[code],
        "events": events[code],
        "flow_dlq": sum(1 for _ in trace.of(FlowDlqRecord)),
        "tfc_runs": sum(1 for r in trace.of(TfcRecord) if r.method == "POST" and r.path == "/api/v2/runs" and r.status == 201),
    }


def on_ministack(env: RemoteBackend, text: str) -> tuple[Recorded, Trace]:
    scenario = parse_scenario(text, "<ministack>")
    result = run_remote(scenario, text, env)
    assert result.passed, result.report
    rec = Recorded(tfc_calls=tfc_calls(result.trace), trace=result.trace)
    tfc = httpx.Client(base_url=env.tfc_url, headers={"Authorization": f"Bearer {env.config.tfc_token}"})
    export(env, tfc, rec, requests=request_ids(result.trace), page_size=8, queues=False)
    return rec, result.trace


def replay(text: str, tmp_path: Path) -> Trace:
    scenario, trace_file = tmp_path / "incident.yaml", tmp_path / "replay.jsonl"
    scenario.write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "run", str(scenario), "--trace", str(trace_file)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={"COLUMNS": "300", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr + "\n" + text
    header, lines = read_trace(trace_file)
    trace = Trace(start=0.0)
    trace.records = [record_from_json(json.loads(line)) for line in lines]
    return trace


def test_an_errored_apply_then_an_update_round_trips(env: RemoteBackend, tmp_path: Path) -> None:
    rec, original = on_ministack(env, ERRORED)
    assert any(len(documents(t)) > 1 for n, t in rec.files.items() if n.startswith("history-")), "MiniStack paged the histories"
    assert not any('"TaskStarted"' in t for n, t in rec.files.items() if n.startswith("history-")), "MiniStack writes no TaskStarted"
    imported = import_incident(operator_files(rec))
    replayed = replay(imported.text, tmp_path)
    assert outcome(replayed, "acme") == outcome(original, "acme") == {
        "transitions": ["creating", "failed", "updating", "ready"], "events": ["tenant.create_failed", "tenant.updated"], "flow_dlq": 0, "tfc_runs": 2,
    }
    assert tfc_calls(replayed) == rec.tfc_calls, imported.text




def test_an_exhausted_poll_budget_round_trips(env: RemoteBackend, tmp_path: Path) -> None:
    rec, original = on_ministack(env, BUDGET)
    imported = import_incident(operator_files(rec))
    assert "stuck_in: plan_queued" in imported.text
    assert "still plan_queued after 3 polls" in imported.text
    replayed = replay(imported.text, tmp_path)
    assert outcome(replayed, "acme") == outcome(original, "acme")
    assert outcome(original, "acme")["transitions"] == ["creating", "failed"]
    assert tfc_calls(replayed) == rec.tfc_calls, imported.text


def test_a_finalize_failing_to_the_flow_dlq_round_trips(env: RemoteBackend, tmp_path: Path) -> None:
    set_wait_scale(env, 0.25)
    try:
        rec, original = on_ministack(env, FINALIZE)
    finally:
        set_wait_scale(env, 1.0)
    imported = import_incident(operator_files(rec))
    assert "error_type: Runtime.HandlerError" in imported.text
    assert "TFCAuthError" in imported.text  # the exception behind MiniStack's name, from its message
    assert "Waits lasted" in imported.text  # scaled on MiniStack; a full second in the replay
    replayed = replay(imported.text, tmp_path)
    assert outcome(replayed, "acme") == outcome(original, "acme")
    assert outcome(original, "acme") == {"transitions": ["creating"], "events": [], "flow_dlq": 1, "tfc_runs": 1}
    # Every call but Finalize's refused outputs reads is the same: the replay injects the
    # handler's error before it runs, where MiniStack's handler got a 401 from TFC.
    refused = [c for c in rec.tfc_calls if c[2] == 401]
    assert len(refused) == imported.text.count("Finalize visit 1 attempt") == 4
    assert tfc_calls(replayed) == [c for c in rec.tfc_calls if c[2] != 401], imported.text
