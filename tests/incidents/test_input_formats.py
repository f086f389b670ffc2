"""Every form an operator may hand the importer, from the engines' own documents: a history
as one response or page by page (concatenated in one file, as a JSON array, as ``--query
events``, in reverse order, with CLI v1's epoch times), with or without describe-execution;
run documents with ``include=plan,apply``, bare, or as the workspace's list; an execution
known only from describe-execution or from the flow DLQ message; the rule's DLQ message; an
EventBridge event. The same incident gives the same scenario whatever the form."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.incidents import IncidentInputError, import_incident
from sim.scenarios.runner import run_text

from .recording import Recorded, documents, operator_files, outcome, record_embedded

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"


@pytest.fixture(scope="module")
def errored() -> Recorded:
    return record_embedded((LIBRARY / "errored-apply-then-update.yaml").read_text(), page_size=5)


@pytest.fixture(scope="module")
def throttled() -> Recorded:
    return record_embedded((LIBRARY / "check-lambda-throttled.yaml").read_text(), page_size=4)


def data(text: str) -> Any:
    """The scenario without its comments."""
    return yaml.safe_load(text)


def reshape(rec: Recorded, how: str) -> list[tuple[str, str]]:
    files = []
    for name, text in operator_files(rec):
        if not name.startswith("history-"):
            files.append((name, text))
            continue
        ps = documents(text)
        assert len(ps) > 1, "the recording is paged"
        if how == "concatenated":
            files.append((name, text))
        elif how == "one-response":  # what the CLI prints after paginating by itself
            files.append((name, json.dumps({"events": [e for p in ps for e in p["events"]]})))
        elif how == "array":
            files.append((name, json.dumps(ps)))
        elif how == "query-events":  # --query events
            files.append((name, json.dumps([e for p in ps for e in p["events"]])))
        elif how == "reverse-order":  # --reverse-order: the newest events first
            files.append((name, json.dumps({"events": [e for p in ps for e in p["events"]][::-1]})))
        elif how == "reverse-order-pages":  # --reverse-order, fetched page by page
            events = [e for p in ps for e in p["events"]][::-1]
            chunks = [events[i : i + 5] for i in range(0, len(events), 5)]
            files.append((name, "".join(json.dumps({"events": c, **({"nextToken": "t"} if i + 1 < len(chunks) else {})}) for i, c in enumerate(chunks))))
        elif how == "cli-max-items":  # --max-items N --starting-token T: NextToken on all but the last
            files.append((name, "".join(json.dumps({"events": p["events"], **({"NextToken": "t"} if p.get("nextToken") else {})}) for p in ps)))
        elif how == "cli-v1-epochs":
            files.append((name, "".join(json.dumps({**p, "events": [{**e, "timestamp": datetime.fromisoformat(e["timestamp"]).timestamp()} for e in p["events"]]}) for p in ps)))
        else:
            raise AssertionError(how)
    return files


@pytest.mark.parametrize("how", ["concatenated", "one-response", "array", "query-events", "reverse-order", "reverse-order-pages", "cli-max-items", "cli-v1-epochs"])
def test_a_history_in_any_form_gives_the_same_scenario(errored: Recorded, how: str) -> None:
    reference = import_incident(reshape(errored, "concatenated"))
    assert data(import_incident(reshape(errored, how)).text) == data(reference.text)


@pytest.mark.parametrize("runs", ["include", "bare", "list"])
def test_run_documents_in_any_form_give_the_same_scenario(errored: Recorded, runs: str) -> None:
    reference = import_incident(operator_files(errored))
    assert data(import_incident(operator_files(errored, runs=runs)).text) == data(reference.text)


def test_describe_execution_names_the_execution_and_changes_nothing_else(errored: Recorded) -> None:
    with_describe = import_incident(operator_files(errored))
    without = import_incident(operator_files(errored, describe=False))
    assert data(with_describe.text) == data(without.text)
    described = json.loads(errored.files["describe-create-1.json"])
    words = " ".join(with_describe.text.replace("#", " ").split())
    assert f"{described['stateMachineArn'].rsplit(':', 1)[-1]} execution {described['name']}" in words


def test_without_run_documents_the_polls_tell_the_runs(throttled: Recorded) -> None:
    imported = import_incident(operator_files(throttled, runs="none"))
    assert "no run document" in imported.text
    replay = run_text(imported.text)
    assert replay.passed, replay.report + imported.text
    assert throttled.observed is not None
    assert outcome(replay.observed, "acme") == outcome(throttled.observed, "acme")


def test_describe_execution_alone_reproduces_the_outcome(errored: Recorded) -> None:
    """No history: the execution's input and output (run, last poll, result) are enough for
    the outcome; the notes say the attempts are assumed."""
    imported = import_incident(errored.pick("describe-", "run-run-"))
    assert "no history: assumed" in imported.text
    replay = run_text(imported.text)
    assert replay.passed, replay.report + imported.text
    assert errored.observed is not None
    assert outcome(replay.observed, "acme") == outcome(errored.observed, "acme")


def test_the_flow_dlq_message_alone_reproduces_a_finalize_that_kept_failing() -> None:
    rec = record_embedded((LIBRARY / "finalize-task-error.yaml").read_text())
    assert "flow-dlq-messages.json" in rec.files
    imported = import_incident(rec.pick("flow-dlq-", "run-run-"))
    assert "RuntimeError" in imported.text  # the error Finalize failed with, from the message
    replay = run_text(imported.text)
    assert replay.passed, replay.report + imported.text
    assert rec.observed is not None
    assert outcome(replay.observed, "acme") == outcome(rec.observed, "acme")
    # With the history as well, the message only confirms it.
    both = import_incident(rec.pick("flow-dlq-", "history-", "run-run-"))
    assert data(both.text) == data(import_incident(rec.pick("history-", "run-run-")).text)


def test_the_rule_dlq_message_and_the_event_it_holds() -> None:
    rec = record_embedded((LIBRARY / "state-machine-deleted.yaml").read_text())
    message = json.loads(rec.files["dlq-messages.json"])["Messages"][0]
    event = message["Body"]  # the event as an archive or put-events would hold it
    imported = import_incident([("dlq.json", rec.files["dlq-messages.json"]), ("event.json", event)])
    assert "delete_state_machine: create" in imported.text
    assert run_text(imported.text).passed
    # One message, not the receive-message wrapper, is read too.
    single = import_incident([("message.json", json.dumps(message))])
    assert data(single.text) == data(imported.text)
    with pytest.raises(IncidentInputError, match=r"event.json: the event of request .* started no execution given and is in no DLQ message given"):
        import_incident([("event.json", event)])


CHECK_ERROR = """
name: check-error
settings: {run_for: 1h}
steps:
  - at: 0
    fault:
      lambda: {function: check, kind: error, on_invocations: [2], error_type: KeyError}
  - at: 0
    create: {tenant: acme, variables: {tier: gold}}
  - at: 10m
    update: {tenant: acme, variables: {tier: silver}}
"""


def test_describe_execution_alone_after_a_caught_task_error() -> None:
    """The update's Check raised (not retried: caught, Finalize recorded the error): its
    output holds the error next to the run, so the failing Check is assumed where it was."""
    rec = record_embedded(CHECK_ERROR)
    assert rec.observed is not None and rec.observed.transitions["acme"] == ["creating", "ready", "updating", "failed"]
    imported = import_incident(rec.pick("describe-", "run-run-"))
    assert "on_invocations: [2], error_type: KeyError" in imported.text
    replay = run_text(imported.text)
    assert replay.passed, replay.report + imported.text
    assert outcome(replay.observed, "acme") == outcome(rec.observed, "acme")
