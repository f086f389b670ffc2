"""Contract: the served fake driven by the official client, pytfe 1.5.0, unmodified.

Every test talks to ``served_fake`` over a real loopback socket (uvicorn, wall clock,
fast stage durations, TFC's rate limit on). References are to
TFC's API v2 documentation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import httpx
import pytest
import pytfe.models as m
from pytfe import TFEClient, TFEConfig
from pytfe.errors import AuthError, NotFound, ServerError, TFEError

from fake_tfc import FakeTFC, FaultRule
from tests.conftest import FAST, ORG, TOKEN

pytestmark = pytest.mark.served

T = TypeVar("T")

#: Poll interval against the served fake: slow enough to stay well under the rate
#: limit of 30 requests/second, fast enough for stages of 20 ms.
POLL = 0.04
DEADLINE = 10.0


def tfe(url: str, token: str = TOKEN, max_retries: int = 3) -> TFEClient:
    return TFEClient(TFEConfig(address=url, token=token, max_retries=max_retries))


def wait_for(what: str, probe: Callable[[], T], done: Callable[[T], bool], timeout: float = DEADLINE) -> T:
    """Poll the served fake until ``done(probe())``; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; last seen: {value!r}")
        time.sleep(POLL)


def wait_for_run(client: TFEClient, run_id: str, statuses: set[str]) -> m.Run:
    return wait_for(f"run {run_id} to reach {statuses}", lambda: client.runs.read(run_id), lambda r: r.status in statuses)


def ensure_workspace(client: TFEClient, name: str) -> m.Workspace:
    """The control plane's flow: read by name, create (auto-apply) on NotFound."""
    try:
        return client.workspaces.read(name, organization=ORG)
    except NotFound:
        return client.workspaces.create(ORG, m.WorkspaceCreateOptions(name=name, auto_apply=True))


def tf_var(key: str, value: str, *, sensitive: bool = False) -> m.VariableCreateOptions:
    return m.VariableCreateOptions(key=key, value=value, category=m.CategoryType.TERRAFORM, sensitive=sensitive)


def applied_workspace(client: TFEClient, name: str) -> tuple[m.Workspace, m.Run]:
    ws = ensure_workspace(client, name)
    client.variables.create(ws.id, tf_var("tenant_code", name))
    run = client.runs.create(m.RunCreateOptions(workspace=m.Workspace(id=ws.id)))
    return ws, wait_for_run(client, run.id, {"applied"})


def statuses(fake: FakeTFC, path: str, method: str | None = None) -> list[int]:
    return [e.status for e in fake.journal.entries(method=method, path=path)]


# --------------------------------------------------------------------- lifecycle
def test_full_tenant_lifecycle_create_apply_outputs_destroy_safe_delete(served_fake, served_url):
    """Sections 1.1-1.5, 1.8, 2.3, 4.2: the whole control-plane flow through pytfe."""
    client = tfe(served_url)

    # Ensure workspace: read -> NotFound -> create with auto-apply.
    with pytest.raises(NotFound):
        client.workspaces.read("acme", organization=ORG)
    ws = ensure_workspace(client, "acme")
    assert ws.id.startswith("ws-") and ws.name == "acme" and ws.auto_apply is True
    assert client.workspaces.read("acme", organization=ORG).id == ws.id  # idempotent now

    # Upsert variables: create, then update one through variables.update.
    draft = client.variables.create(ws.id, tf_var("tenant_code", "draft"))
    client.variables.create(ws.id, tf_var("size", "small"))
    updated = client.variables.update(ws.id, draft.id, m.VariableUpdateOptions(value="acme"))
    assert updated.id == draft.id and updated.value == "acme"
    assert {v.key: v.value for v in client.variables.list(ws.id)} == {"tenant_code": "acme", "size": "small"}

    # Create a run and poll it to applied.
    run = client.runs.create(m.RunCreateOptions(workspace=m.Workspace(id=ws.id), message="provision acme"))
    assert run.id.startswith("run-") and run.status not in {"applied", "errored"}
    done = wait_for_run(client, run.id, {"applied", "errored", "planned_and_finished", "canceled", "discarded"})
    assert done.status == "applied"
    assert done.is_destroy is False and done.has_changes is True

    # Outputs, derived from the run's variables (the updated value, not the draft).
    outputs = {o.name: o for o in client.state_version_outputs.read_current(ws.id)}
    assert set(outputs) == {"tenant_code", "endpoint", "tenant_id", "admin_password"}
    assert outputs["tenant_code"].value == "acme"
    assert outputs["endpoint"].value == "https://acme.tenants.example.test"
    assert isinstance(outputs["tenant_id"].value, str) and outputs["tenant_id"].value
    assert outputs["admin_password"].sensitive is True and outputs["admin_password"].value is None
    assert all(o.type == "string" for o in outputs.values())
    revealed = client.state_version_outputs.read(outputs["admin_password"].id)
    assert revealed.sensitive is True and isinstance(revealed.value, str) and revealed.value

    # Destroy run to applied; the state then has no outputs.
    destroy = client.runs.create(m.RunCreateOptions(workspace=m.Workspace(id=ws.id), is_destroy=True))
    assert destroy.is_destroy is True
    done = wait_for_run(client, destroy.id, {"applied", "errored", "planned_and_finished", "canceled", "discarded"})
    assert done.status == "applied"
    assert list(client.state_version_outputs.read_current(ws.id)) == []

    # Safe delete: 409 "being processed" is transient; retry it with a deadline.
    def safe_delete() -> TFEError | None:
        try:
            client.workspaces.safe_delete("acme", organization=ORG)
        except TFEError as err:
            assert err.status == 409 and "being processed" in str(err), err
            return err
        return None

    wait_for("safe delete to succeed", safe_delete, lambda err: err is None)
    with pytest.raises(NotFound):
        client.workspaces.read("acme", organization=ORG)
    assert statuses(served_fake, "/api/v2/organizations/*/workspaces/acme/actions/safe-delete")[-1] == 204


# ------------------------------------------------------------------ error mapping
def test_duplicate_workspace_create_is_422_name_already_taken(served_url):
    """Section 1.2: duplicate name -> 422 'Name has already been taken'; 4.1: plain TFEError."""
    client = tfe(served_url)
    client.workspaces.create(ORG, m.WorkspaceCreateOptions(name="dup"))
    with pytest.raises(TFEError) as err:
        client.workspaces.create(ORG, m.WorkspaceCreateOptions(name="dup"))
    assert type(err.value) is TFEError
    assert err.value.status == 422
    assert str(err.value) == "Name has already been taken"
    assert err.value.errors[0]["title"] == "invalid attribute"


def test_bad_token_is_auth_error_401(served_fake, served_url):
    """Sections 0.2, 3.1: an invalid token -> 401, which pytfe maps to AuthError."""
    client = tfe(served_url, token="not-a-real-token", max_retries=0)
    with pytest.raises(AuthError) as err:
        client.workspaces.read("anything", organization=ORG)
    assert err.value.status == 401
    assert err.value.errors[0]["status"] == "401"
    # The valid token still works: nothing was created or broken by the refusal.
    with pytest.raises(NotFound):
        tfe(served_url).workspaces.read("anything", organization=ORG)
    assert statuses(served_fake, "/api/v2/organizations/*/workspaces/anything") == [401, 404]


def test_unknown_workspace_is_not_found_404(served_url):
    """Section 1.1: a missing workspace -> 404, pytfe NotFound."""
    client = tfe(served_url)
    with pytest.raises(NotFound) as err:
        client.workspaces.read("no-such-workspace", organization=ORG)
    assert err.value.status == 404
    with pytest.raises(NotFound):
        client.workspaces.read_by_id("ws-doesnotexist0000")


def test_apply_on_a_run_that_is_not_confirmable_is_409(served_url):
    """Section 1.7: apply is only allowed on a run paused for confirmation; else 409."""
    client = tfe(served_url)
    _, run = applied_workspace(client, "confirm")
    assert run.actions is not None and run.actions.is_confirmable is False
    with pytest.raises(TFEError) as err:
        client.runs.apply(run.id)
    assert type(err.value) is TFEError
    assert err.value.status == 409
    assert "not paused for confirmation" in str(err.value)
    assert client.runs.read(run.id).status == "applied"  # unchanged


# --------------------------------------------------------------------- retries
def test_429_is_retried_after_retry_after(served_fake, served_url):
    """Sections 0.8, 3.3, 4.1: pytfe honours Retry-After on a 429 and retries once."""
    client = tfe(served_url)
    _, run = applied_workspace(client, "limited")
    served_fake.journal.clear()
    served_fake.faults.add(FaultRule(path="/api/v2/runs/*", status=429, retry_after=0.05, count=1))

    again = client.runs.read(run.id)

    assert again.id == run.id and again.status == "applied"
    entries = served_fake.journal.entries(path=f"/api/v2/runs/{run.id}")
    assert [e.status for e in entries] == [429, 200]
    assert entries[0].fault is not None and entries[1].fault is None
    assert entries[1].time - entries[0].time >= 0.05


def test_503_on_outputs_while_processing_resolves_through_pytfe_retry(served_fake, served_url):
    """Sections 0.6, 1.8, 4.1: outputs answer 503 right after the apply, and pytfe's own
    retry (5xx backoff) reads them once processing is done."""
    served_fake.set_script(FAST.model_copy(update={"output_delay": 0.3}))
    client = tfe(served_url)
    ws, _ = applied_workspace(client, "slowout")

    outputs = {o.name: o.value for o in client.state_version_outputs.read_current(ws.id)}

    assert outputs["tenant_code"] == "slowout"
    assert outputs["endpoint"] == "https://slowout.tenants.example.test"
    seen = statuses(served_fake, "*/current-state-version-outputs")
    assert seen[0] == 503 and seen[-1] == 200
    assert set(seen[:-1]) == {503}


def test_sensitive_variable_value_is_never_returned(served_fake, served_url):
    """Sections 0.7, 1.4: sensitive variables are write-only."""
    client = tfe(served_url)
    ws = ensure_workspace(client, "secrets")
    created = client.variables.create(ws.id, tf_var("db_password", "s3cr3t-value", sensitive=True))
    client.variables.create(ws.id, tf_var("plain", "visible"))

    assert created.sensitive is True and created.value in (None, "")
    listed = {v.key: v for v in client.variables.list(ws.id)}
    assert listed["db_password"].sensitive is True and listed["db_password"].value in (None, "")
    assert listed["plain"].value == "visible"
    assert client.variables.read(ws.id, created.id).value in (None, "")
    # Not anywhere in the raw body either.
    raw = httpx.get(f"{served_url}/api/v2/workspaces/{ws.id}/vars", headers={"Authorization": f"Bearer {TOKEN}"})
    assert raw.status_code == 200 and "s3cr3t-value" not in raw.text
    # The value was stored nonetheless (write-only, not dropped).
    assert served_fake.workspaces[ws.id].variables[created.id].value == "s3cr3t-value"


def test_dropped_connection_is_retried_as_transport_error(served_fake, served_url):
    """Section 4.1: pytfe retries httpx transport errors; the call then succeeds."""
    client = tfe(served_url)
    ws = ensure_workspace(client, "flaky")
    served_fake.journal.clear()
    served_fake.faults.add(FaultRule(method="GET", path="/api/v2/organizations/*/workspaces/flaky", drop=True, count=1))

    again = client.workspaces.read("flaky", organization=ORG)

    assert again.id == ws.id
    entries = served_fake.journal.entries(path="/api/v2/organizations/*/workspaces/flaky")
    assert [e.status for e in entries] == [0, 200]
    assert entries[0].fault is not None


def test_post_runs_retried_after_a_lost_response_creates_a_duplicate_run(served_fake, served_url):
    """Sections 0.10, 4.1 (PROBE): pytfe retries POST /runs on a 503; when the 503 came
    after the run was committed, the workspace ends up with two runs. This documents
    the hazard the control plane must guard against."""
    client = tfe(served_url)
    ws = ensure_workspace(client, "dupe-run")
    served_fake.faults.add(
        FaultRule(method="POST", path="/api/v2/runs", status=503, after=True, count=1, retry_after=0.05)
    )

    run = client.runs.create(m.RunCreateOptions(workspace=m.Workspace(id=ws.id)))

    assert statuses(served_fake, "/api/v2/runs", method="POST") == [503, 201]
    runs = list(client.runs.list(ws.id))
    assert len(runs) == 2
    assert run.id in {r.id for r in runs}
    assert len(served_fake.workspaces[ws.id].run_ids) == 2


def test_server_error_after_retries_is_server_error(served_fake, served_url):
    """Section 4.1: 503 on every attempt -> ServerError once max_retries are spent."""
    client = tfe(served_url, max_retries=1)
    served_fake.faults.add(FaultRule(path="/api/v2/organizations/*/workspaces/*", status=503, retry_after=0.01))
    with pytest.raises(ServerError) as err:
        client.workspaces.read("down", organization=ORG)
    assert err.value.status == 503
    assert statuses(served_fake, "/api/v2/organizations/*/workspaces/down") == [503, 503]
