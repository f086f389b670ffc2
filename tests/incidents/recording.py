"""What an operator would save from production, taken from an engine's own APIs: the
execution histories (boto3 ``get_execution_history``, page by page) and
``describe-execution`` as ``aws ... --output json`` writes them, the fake TFC's run
documents from its HTTP API (``GET /api/v2/runs/:id?include=plan,apply`` and the
workspace's run list), and the DLQ messages (``aws sqs receive-message``)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from sim.controlplane.statuses import Action
from sim.engines.base import Backend
from sim.scenarios.loader import parse_scenario
from sim.scenarios.observe import Observed
from sim.scenarios.runner import ScenarioRun
from sim.scenarios.trace import ApiRecord, TfcRecord, Trace


def cli_json(response: dict[str, Any]) -> str:
    """A boto3 response as ``aws ... --output json`` prints it (CLI v2: ISO 8601 times)."""
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    return json.dumps(body, indent=4, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v))


@dataclass
class Recorded:
    """The documents (file name -> text) and what the run showed."""

    files: dict[str, str] = field(default_factory=dict)
    observed: Observed | None = None
    tfc_calls: list[tuple[str, str, int]] = field(default_factory=list)
    trace: Trace | None = None
    passed: bool = True
    report: str = ""

    def pick(self, *prefixes: str) -> list[tuple[str, str]]:
        return [(k, v) for k, v in self.files.items() if k.startswith(prefixes)]


_IDS = re.compile(r"\b(ws|run|var|sv|wsout|plan|apply)-[A-Za-z0-9]{16}\b")


def tfc_calls(trace: Trace, since: float = 0.0) -> list[tuple[str, str, int]]:
    """The TFC calls of a trace (from ``since`` seconds on), ids replaced by their kind
    (the replay's ids may differ)."""
    return [(r.method, _IDS.sub(lambda m: f"<{m.group(1)}>", r.path), r.status) for r in trace.of(TfcRecord) if r.t >= since]


def documents(text: str) -> list[Any]:
    """The JSON documents of a file written page after page."""
    decoder, out, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        doc, i = decoder.raw_decode(text, i)
        out.append(doc)
    return out


def paged(response: dict[str, Any], size: int) -> list[dict[str, Any]]:
    """A whole GetExecutionHistory answer as the API pages it: ``size`` events a page, a
    ``nextToken`` on every page but the last."""
    events = response["events"]
    chunks = [events[i : i + size] for i in range(0, len(events), size)]
    return [{"events": c, **({"nextToken": f"page-{i + 2}"} if i + 1 < len(chunks) else {})} for i, c in enumerate(chunks)]


def request_ids(trace: Trace) -> set[str]:
    return {r.request_id for r in trace.of(ApiRecord) if r.request_id}


def export(backend: Backend, tfc: httpx.Client, out: Recorded, *, requests: set[str] | None = None, page_size: int | None = None, queues: bool = True) -> None:
    sfn = backend.client("stepfunctions")
    n = 0
    for action in Action:
        try:
            listed = sfn.list_executions(stateMachineArn=backend.stack.state_machine_arn(action))["executions"]
        except sfn.exceptions.StateMachineDoesNotExist:
            continue  # deleted by the scenario: nothing ran there
        for e in listed:
            d = sfn.describe_execution(executionArn=e["executionArn"])
            if requests is not None and json.loads(d["input"])["detail"]["request_id"] not in requests:
                continue
            n += 1
            pages: list[str] = []
            kwargs: dict[str, Any] = {"executionArn": e["executionArn"]}
            if page_size:
                kwargs["maxResults"] = page_size
            while True:
                page = sfn.get_execution_history(**kwargs)
                if page_size and len(page["events"]) > page_size and not page.get("nextToken"):
                    # moto 5.2.5 ignores maxResults: cut its answer as the API pages it.
                    pages += [cli_json(p) for p in paged(page, page_size)]
                    break
                pages.append(cli_json(page))
                if not page.get("nextToken"):
                    break
                kwargs["nextToken"] = page["nextToken"]
            out.files[f"history-{action.value}-{n}.json"] = "\n".join(pages)
            out.files[f"describe-{action.value}-{n}.json"] = cli_json(d)
    backend.fake.faults.clear()  # the incident's TFC faults are over when the operator reads the runs
    with backend.fake.lock:
        workspaces = [(ws.id, ws.name) for ws in backend.fake.workspaces.values()]
    for ws_id, name in workspaces:
        listing = tfc.get(f"/api/v2/workspaces/{ws_id}/runs")
        listing.raise_for_status()
        out.files[f"runs-list-{name}.json"] = listing.text
        for item in listing.json()["data"]:
            one = tfc.get(f"/api/v2/runs/{item['id']}", params={"include": "plan,apply"})
            one.raise_for_status()
            out.files[f"run-{item['id']}.json"] = one.text
            bare = tfc.get(f"/api/v2/runs/{item['id']}")
            out.files[f"run-bare-{item['id']}.json"] = bare.text
    if queues:
        msgs = backend.queue_messages("dlq")
        if msgs:
            out.files["dlq-messages.json"] = cli_json({"Messages": msgs})


def record_embedded(text: str, *, page_size: int | None = None) -> Recorded:
    """Run a scenario on the embedded engine and save what an operator would."""
    scenario = parse_scenario(text, "<original>")
    run = ScenarioRun(scenario, scenario.seed)
    out = Recorded()
    run.open()
    try:
        for step in scenario.steps:
            run.apply(step)
        until = scenario.steps[-1].at + scenario.settings.run_for
        env = run.env
        env.clock.advance_to(run.trace.start + until)
        # The flow DLQ is drained when the run closes: read it first, leaving it in place.
        sqs = env.client("sqs")
        assert env.deployed is not None
        flow = sqs.receive_message(QueueUrl=env.deployed.queue_urls["flow_dlq"], MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0).get("Messages", [])
        if flow:
            out.files["flow-dlq-messages.json"] = cli_json({"Messages": flow})
        obs = run.close(until)
        failures, violations = run.finish(obs)
        out.observed, out.passed = obs, not failures and not violations
        out.report = "\n".join(failures + violations)
        out.tfc_calls = tfc_calls(run.trace)
        out.trace = run.trace
        tfc = httpx.Client(transport=env.tfc_transport(), base_url="http://tfc", headers={"Authorization": f"Bearer {env.config.tfc_token}"})
        export(env, tfc, out, page_size=page_size)
    finally:
        run.stage.stop()
    return out


def operator_files(rec: Recorded, *, runs: str = "include", describe: bool = True) -> list[tuple[str, str]]:
    """What an operator hands the importer: every history, describe-execution (unless not
    wanted), the run documents (``include``: each run with ``include=plan,apply`` and the
    workspace's list; ``bare``: each run alone; ``list``: the list only; ``none``), and the
    rule's DLQ messages."""
    prefixes = ["history-", "dlq-"] + (["describe-"] if describe else [])
    prefixes += {"include": ["run-run-", "runs-list-"], "bare": ["run-bare-"], "list": ["runs-list-"], "none": []}[runs]
    return rec.pick(*prefixes)


def outcome(obs: Observed, code: str) -> dict[str, Any]:
    """What must be the same between an incident and its replay."""
    return {
        "transitions": list(obs.transitions.get(code, [])),
        "events": list(obs.events.get(code, [])),
        "dlq": [(d.error_code, d.exhausted, d.retry_attempts, d.action) for d in obs.dlq],
        "flow_dlq": obs.flow_dlq,
        "tfc_runs": obs.tfc_runs.get(code, 0),
    }
