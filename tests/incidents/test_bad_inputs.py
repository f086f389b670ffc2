"""Inputs that are not what they claim get an error naming the file and what is wrong,
never a silently wrong scenario: truncated histories, histories of another state machine,
unknown event types, runs of another workspace or of no execution given, documents of the
wrong kind, requests the API could not have accepted."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from sim.commands.import_ import run as import_command
from sim.engines.embedded.environment import EmbeddedBackend
from sim.incidents import IncidentInputError, import_incident

from .recording import Recorded, cli_json, documents, operator_files, paged, record_embedded

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"


@pytest.fixture(scope="module")
def errored() -> Recorded:
    return record_embedded((LIBRARY / "errored-apply-then-update.yaml").read_text(), page_size=6)


@pytest.fixture(scope="module")
def two_tenants() -> Recorded:
    return record_embedded((LIBRARY / "quick-lifecycle-any-engine.yaml").read_text())


def with_history(rec: Recorded, name: str, text: str) -> list[tuple[str, str]]:
    return [(n, text if n == name else t) for n, t in operator_files(rec)]


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("middle", r"history-create-1.json: the history is truncated: events 7-12 are missing \(the ids jump from 6 to 13\): a page is missing"),
        ("last", r"history-create-1.json: the history is truncated: it ends at event 18 \(\w+\) without ExecutionSucceeded, .* \(its last page still has a nextToken: more pages follow\)"),
        ("first", r"history-create-1.json: the history is truncated: it starts at event 7, events 1-6 \(ExecutionStarted first\) are missing"),
    ],
)
def test_a_truncated_history_is_refused_naming_what_is_missing(errored: Recorded, drop: str, message: str) -> None:
    pages = [json.dumps(d) for d in documents(errored.files["history-create-1.json"])]
    assert len(pages) == 4
    kept = {"middle": [pages[0], *pages[2:]], "last": pages[:3], "first": pages[1:]}[drop]
    with pytest.raises(IncidentInputError, match=message):
        import_incident(with_history(errored, "history-create-1.json", "".join(kept)))


def test_two_histories_in_one_file_are_refused(errored: Recorded) -> None:
    both = errored.files["history-create-1.json"] + errored.files["history-update-2.json"]
    with pytest.raises(IncidentInputError, match=r"both.json: two different events with id 1 .*: the histories of two executions in one file\?"):
        import_incident([("both.json", both)])


def test_an_unknown_event_type_is_refused(errored: Recorded) -> None:
    text = errored.files["history-create-1.json"].replace('"TaskScheduled"', '"TaskTeleported"', 1)
    with pytest.raises(IncidentInputError, match=r"history-create-1.json: event 5 has an unknown event type 'TaskTeleported'"):
        import_incident(with_history(errored, "history-create-1.json", text))


def test_an_event_type_this_definition_never_writes_is_refused(errored: Recorded) -> None:
    text = errored.files["history-create-1.json"].replace('"WaitStateEntered"', '"MapStateEntered"', 1)
    with pytest.raises(IncidentInputError, match=r"event 9 is a MapStateEntered, which this control plane's definition never produces .*: the history of another state machine\?"):
        import_incident(with_history(errored, "history-create-1.json", text))


def test_the_history_of_another_state_machine_is_refused(errored: Recorded) -> None:
    """Real histories of two other state machines: one given a tenant flow's input (its
    states are not ours), one given an input of its own."""
    flow_input = json.loads(errored.files["describe-create-1.json"])["input"]
    histories = {}
    with EmbeddedBackend() as env:
        sfn = env.client("stepfunctions")
        other = sfn.create_state_machine(
            name="billing-export",
            definition=json.dumps({"StartAt": "Export", "States": {"Export": {"Type": "Pass", "Next": "Done"}, "Done": {"Type": "Succeed"}}}),
            roleArn=env.stack.role_arn(env.stack.states_role),
        )["stateMachineArn"]
        for key, given in (("ours", flow_input), ("theirs", json.dumps({"invoice": 42}))):
            arn = sfn.start_execution(stateMachineArn=other, name=f"export-{key}", input=given)["executionArn"]
            assert env.run_until(lambda: sfn.describe_execution(executionArn=arn)["status"] != "RUNNING", max_seconds=60)
            histories[key] = cli_json(sfn.get_execution_history(executionArn=arn))
    with pytest.raises(IncidentInputError, match=r"other.json: event 2 enters state 'Export', which this control plane's definition does not have \(its states: .*Trigger.*\): the history of another state machine\?"):
        import_incident([("other.json", histories["ours"])])
    with pytest.raises(IncidentInputError, match=r"other.json: event 1 \(ExecutionStarted\): the execution input is not a tenant flow's \(it has invoice; a flow's input has detail and flow\)"):
        import_incident([("other.json", histories["theirs"])])


def test_runs_of_another_workspace_are_refused(two_tenants: Recorded) -> None:
    """beta's executions with acme's run list (beta's workspace was deleted with it)."""
    acme_runs = two_tenants.pick("runs-list-tenant-acme")
    beta = [(n, t) for n, t in operator_files(two_tenants, runs="none") if '"tenant_code": "beta"' in t.replace('\\"', '"')]
    assert beta and acme_runs
    with pytest.raises(IncidentInputError, match=r"runs-list-tenant-acme.json: run run-\w+ belongs to workspace ws-\w+, but tenant beta's executions drove ws-\w+: runs of another workspace\?"):
        import_incident(beta + acme_runs)


def test_inputs_about_several_tenants_need_a_choice(two_tenants: Recorded) -> None:
    files = operator_files(two_tenants)
    with pytest.raises(IncidentInputError, match=r"the inputs are about 2 tenants \(acme, beta\); an incident is imported one tenant at a time: give --tenant"):
        import_incident(files)
    chosen = import_incident(files, tenant="beta")
    assert "belongs to another tenant's workspace" in chosen.text  # acme's runs, left out and said so
    assert "tenant.deleted" in chosen.text


def test_a_run_no_execution_given_started_is_refused(errored: Recorded) -> None:
    """The update's run, without the update's history: something else started it."""
    files = errored.pick("history-create-", "runs-list-")
    with pytest.raises(IncidentInputError, match=r"runs-list-tenant-acme.json: run run-\w+ \(workspace ws-\w+\) was created during the incident, but none of the executions given started it"):
        import_incident(files)


def test_a_run_whose_polls_disagree_with_its_document_is_refused(errored: Recorded) -> None:
    """The create's history with the update's run document put in the create run's place."""
    create_run = json.loads(errored.files["describe-create-1.json"])
    run_id = json.loads(json.loads(create_run["output"]) and create_run["output"])["run"]["run_id"]
    other = next(t for n, t in errored.files.items() if n.startswith("run-run-") and run_id not in n)
    other_id = json.loads(other)["data"]["id"]
    forged = other.replace(other_id, run_id)
    with pytest.raises(IncidentInputError, match=rf"run {run_id} .*: Check saw errored at poll 1, but the run document says applied: not this run\?"):
        import_incident(errored.pick("history-create-") + [("forged.json", forged)])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", r"x.json: not JSON at line 1 column 2"),
        ("", r"x.json: empty file"),
        ('{"errors": [{"status": "404", "title": "not found", "detail": "run not found"}]}', r"x.json: a TFC error document \(404 not found: run not found\), not a run: the request failed"),
        ('{"data": {"id": "ws-1", "type": "workspaces", "attributes": {}}}', r"x.json: a JSON:API document of workspaces, not of runs"),
        ('{"executions": []}', r"x.json: not a document the importer reads \(keys: executions\)"),
        ('{"events": []}', r"x.json: a history page with no events"),
    ],
)
def test_documents_of_the_wrong_kind_are_refused(text: str, message: str) -> None:
    with pytest.raises(IncidentInputError, match=message):
        import_incident([("x.json", text)])


def test_a_request_after_a_dead_lettered_flow_is_refused() -> None:
    """The API refuses a request while the tenant is still in progress: an update after a
    create whose Finalize went to the flow DLQ means the row was changed by hand."""
    rec = record_embedded((LIBRARY / "finalize-task-error.yaml").read_text())
    later = record_embedded((LIBRARY / "errored-apply-then-update.yaml").read_text())
    with pytest.raises(IncidentInputError, match=r"comes after request \S+, whose flow was dead-lettered: the tenant was still creating, so the API would have refused it"):
        import_incident(rec.pick("history-") + later.pick("history-update-"))


def test_the_command_names_the_problem_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": []}')
    missing = tmp_path / "missing.json"
    args = argparse.Namespace(files=[str(bad)], out=None, name=None, tenant=None, expect="recorded")
    assert import_command(args) == 2
    assert "import: " in capsys.readouterr().err
    args.files = [str(missing)]
    assert import_command(args) == 2
    assert f"import: {missing}: cannot read" in capsys.readouterr().err


def test_pages_cut_like_the_api_are_what_the_fixture_gives() -> None:
    """The helper cuts an answer the way GetExecutionHistory pages (nextToken on all but the last)."""
    ps = paged({"events": [{"id": i} for i in range(1, 8)]}, 3)
    assert [len(p["events"]) for p in ps] == [3, 3, 1]
    assert ["nextToken" in p for p in ps] == [True, True, False]
