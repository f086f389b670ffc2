"""Contract: the raw JSON:API shapes and rules of TFC's API v2, with plain httpx against
the fake in-process on a virtual clock (time moves only through ``clock.advance``).

References are to TFC's API v2 documentation (workspaces, variables, runs, run
actions, state versions and their outputs).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from fake_tfc import FakeTFC, Outcome, OutputSpec, RunBehaviour, RunScript, RunStatus, Token, TokenKind, VirtualClock
from fake_tfc import create_app
from fake_tfc.transport import SyncASGITransport
from fake_tfc.behaviour import DEFAULT_OUTPUTS
from tests.conftest import JSONAPI, ORG, TOKEN

API = "/api/v2"
WS_DATA_KEYS = {"id", "type", "attributes", "relationships", "links"}
#: Default script (tfc-api-independent, the fake's defaults): outputs are processed 2 s
#: after an apply; a run takes about 15 s from pending to applied.
OUTPUT_DELAY = 2.0

LOCKED = "Workspace is currently locked. Workspace must be unlocked before it can be safely deleted"
PROCESSING = "Latest workspace state is being processed to discover resources, please try again later"
MANAGING = "workspace cannot be safely deleted because it is still managing resources"


# ------------------------------------------------------------------- helpers
def other_client(fake: FakeTFC, token: str | None) -> httpx.Client:
    headers = {"Content-Type": JSONAPI, "Accept": JSONAPI}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(transport=SyncASGITransport(create_app(fake)), base_url="http://fake-tfc", headers=headers)


def is_jsonapi(resp: httpx.Response) -> bool:
    return resp.headers.get("content-type", "").split(";")[0].strip() == JSONAPI


def error_of(resp: httpx.Response, status: int) -> dict[str, Any]:
    """The single error object of a JSON:API error document with this status."""
    assert resp.status_code == status, resp.text
    assert is_jsonapi(resp)
    doc = resp.json()
    assert set(doc) == {"errors"}
    assert isinstance(doc["errors"], list) and len(doc["errors"]) == 1
    err = doc["errors"][0]
    assert err["status"] == str(status)
    assert isinstance(err["title"], str) and err["title"]
    return err


def ws_body(name: str | None = None, **attrs: Any) -> dict:
    attributes = dict(attrs)
    if name is not None:
        attributes["name"] = name
    return {"data": {"type": "workspaces", "attributes": attributes}}


def create_ws(client: httpx.Client, name: str, **attrs: Any) -> dict:
    resp = client.post(f"{API}/organizations/{ORG}/workspaces", json=ws_body(name, **attrs))
    assert resp.status_code == 201, resp.text
    return resp.json()["data"]


def var_body(key: str | None, value: str | None = None, category: str | None = "terraform", **attrs: Any) -> dict:
    attributes = dict(attrs)
    for k, v in (("key", key), ("value", value), ("category", category)):
        if v is not None:
            attributes[k] = v
    return {"data": {"type": "vars", "attributes": attributes}}


def create_var(client: httpx.Client, ws_id: str, key: str, value: str, category: str = "terraform", **attrs: Any) -> dict:
    resp = client.post(f"{API}/workspaces/{ws_id}/vars", json=var_body(key, value, category, **attrs))
    assert resp.status_code == 201, resp.text
    return resp.json()["data"]


def run_body(ws_id: str, **attrs: Any) -> dict:
    return {
        "data": {
            "type": "runs",
            "attributes": attrs,
            "relationships": {"workspace": {"data": {"type": "workspaces", "id": ws_id}}},
        }
    }


def create_run(client: httpx.Client, ws_id: str, **attrs: Any) -> dict:
    resp = client.post(f"{API}/runs", json=run_body(ws_id, **attrs))
    assert resp.status_code == 201, resp.text
    return resp.json()["data"]


def get_run(client: httpx.Client, run_id: str, include: str | None = None) -> dict:
    params = {"include": include} if include else None
    resp = client.get(f"{API}/runs/{run_id}", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json() if include else resp.json()["data"]


def get_ws(client: httpx.Client, ws_id: str) -> dict:
    resp = client.get(f"{API}/workspaces/{ws_id}")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def run_until(client: httpx.Client, clock: VirtualClock, run_id: str, statuses: set[str], limit: float = 600) -> dict:
    """Advance virtual time in 0.5 s steps until the run shows one of ``statuses``."""
    waited = 0.0
    while True:
        run = get_run(client, run_id)
        if run["attributes"]["status"] in statuses:
            return run
        assert waited < limit, f"run {run_id} stuck in {run['attributes']['status']}, wanted {statuses}"
        clock.advance(0.5)
        waited += 0.5


def tenant(client: httpx.Client, name: str, auto_apply: bool = True) -> dict:
    ws = create_ws(client, name, **{"auto-apply": auto_apply})
    create_var(client, ws["id"], "tenant_code", name)
    return ws


def applied(client: httpx.Client, clock: VirtualClock, name: str) -> tuple[dict, dict]:
    ws = tenant(client, name)
    run = create_run(client, ws["id"])
    return ws, run_until(client, clock, run["id"], {"applied"})


def snapshot(client: httpx.Client) -> dict:
    """Everything observable through the API, to prove a failed request changed nothing."""
    spaces = client.get(f"{API}/organizations/{ORG}/workspaces", params={"page[size]": 100}).json()["data"]
    out: dict[str, Any] = {"workspaces": spaces}
    for ws in spaces:
        base = f"{API}/workspaces/{ws['id']}"
        out[ws["id"]] = {
            "vars": client.get(f"{base}/vars").json(),
            "runs": client.get(f"{base}/runs", params={"page[size]": 100}).json()["data"],
            "state": client.get(f"{base}/current-state-version").status_code,
        }
    return out


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# ------------------------------------------------------------------ documents
def test_workspace_document_shape_and_media_type(client):
    """Sections 0.1, 1.1, 1.2: JSON:API media type; data.id/type/attributes/relationships/links."""
    resp = client.post(f"{API}/organizations/{ORG}/workspaces", json=ws_body("acme", **{"auto-apply": True}))
    assert resp.status_code == 201 and is_jsonapi(resp)
    data = resp.json()["data"]
    assert set(data) == WS_DATA_KEYS
    assert data["id"].startswith("ws-") and data["type"] == "workspaces"
    attrs = data["attributes"]
    assert attrs["name"] == "acme" and attrs["auto-apply"] is True
    assert attrs["locked"] is False and attrs["resource-count"] == 0
    assert attrs["source"] == "tfe-api" and attrs["execution-mode"] == "remote"
    for listy in ("trigger-prefixes", "trigger-patterns", "tag-names"):
        assert attrs[listy] == []
    assert attrs["allow-destroy-plan"] is True
    rels = data["relationships"]
    assert rels["organization"]["data"] == {"id": ORG, "type": "organizations"}
    assert rels["locked-by"]["data"] is None and rels["current-run"]["data"] is None
    assert rels["outputs"]["links"]["related"] == f"{API}/workspaces/{data['id']}/current-state-version-outputs"
    assert data["links"]["self"] == f"{API}/organizations/{ORG}/workspaces/acme"

    by_name = client.get(f"{API}/organizations/{ORG}/workspaces/acme")
    by_id = client.get(f"{API}/workspaces/{data['id']}")
    assert by_name.status_code == by_id.status_code == 200
    assert is_jsonapi(by_name) and is_jsonapi(by_id)
    assert by_name.json()["data"] == by_id.json()["data"] == data


def test_update_workspace_turns_auto_apply_on(client):
    """Section 1.2 (update): PATCH by name or id with only the attributes to change -> 200."""
    ws = create_ws(client, "upd")
    resp = client.patch(f"{API}/organizations/{ORG}/workspaces/upd", json=ws_body(**{"auto-apply": True}))
    assert resp.status_code == 200 and is_jsonapi(resp)
    assert resp.json()["data"]["attributes"]["auto-apply"] is True
    assert get_ws(client, ws["id"])["attributes"]["auto-apply"] is True
    resp = client.patch(f"{API}/workspaces/{ws['id']}", json={"data": {"type": "workspaces", "attributes": {"auto-apply": False}}})
    assert resp.status_code == 200 and resp.json()["data"]["attributes"]["auto-apply"] is False


# --------------------------------------------------------------- auth rules
def test_missing_or_invalid_token_is_401(fake):
    """Sections 0.2, 3.1: 401 only for a missing or invalid token."""
    for token in (None, "wrong-token"):
        with other_client(fake, token) as c:
            err = error_of(c.get(f"{API}/organizations/{ORG}/workspaces/acme"), 401)
            assert err["title"] == "unauthorized"
            error_of(c.post(f"{API}/organizations/{ORG}/workspaces", json=ws_body("sneaky")), 401)
    assert fake.workspaces == {}


def test_unknown_organization_is_404(client):
    """Sections 1.2, 3.2: org not found -> 404, and nothing is created."""
    error_of(client.post(f"{API}/organizations/no-such-org/workspaces", json=ws_body("x")), 404)
    error_of(client.get(f"{API}/organizations/no-such-org/workspaces/x"), 404)


def test_token_that_cannot_see_the_org_gets_404_never_403(fake, client):
    """Sections 0.2, 3.2: a valid token without permission gets 404, hiding existence."""
    ws, run = applied(client, fake.clock, "hidden")
    fake.add_token(Token("other", frozenset({"other-org"})))
    before = snapshot(client)
    with other_client(fake, "other") as c:
        for path in (
            f"{API}/organizations/{ORG}/workspaces/hidden",
            f"{API}/workspaces/{ws['id']}",
            f"{API}/workspaces/{ws['id']}/vars",
            f"{API}/runs/{run['id']}",
            f"{API}/workspaces/{ws['id']}/current-state-version-outputs",
        ):
            assert error_of(c.get(path), 404) == {"status": "404", "title": "not found"}
        error_of(c.post(f"{API}/organizations/{ORG}/workspaces", json=ws_body("intruder")), 404)
        error_of(c.post(f"{API}/runs", json=run_body(ws["id"])), 404)
        error_of(c.post(f"{API}/workspaces/{ws['id']}/actions/safe-delete"), 404)
        error_of(c.delete(f"{API}/workspaces/{ws['id']}"), 404)
    assert snapshot(client) == before


def test_unknown_workspace_and_run_are_404(client):
    """Sections 1.1, 1.6, 3.2: observed 404 body {"errors":[{"status":"404","title":"not found"}]}."""
    for path in (
        f"{API}/organizations/{ORG}/workspaces/nope",
        f"{API}/workspaces/ws-doesnotexist0000",
        f"{API}/runs/run-doesnotexist0000",
        f"{API}/plans/plan-doesnotexist000",
        f"{API}/applies/apply-doesnotexist00",
        f"{API}/state-version-outputs/wsout-doesnotexist0",
    ):
        assert error_of(client.get(path), 404) == {"status": "404", "title": "not found"}


def test_organization_token_gets_404_on_post_runs(fake, client):
    """Sections 1.5, 1.7, 3.1: organization tokens cannot create runs; TFC answers 404."""
    ws = tenant(client, "orgtok")
    fake.add_token(Token("org-tok", kind=TokenKind.ORGANIZATION))
    with other_client(fake, "org-tok") as c:
        assert c.get(f"{API}/workspaces/{ws['id']}").status_code == 200  # it can see the workspace
        error_of(c.post(f"{API}/runs", json=run_body(ws["id"])), 404)
    assert client.get(f"{API}/workspaces/{ws['id']}/runs").json()["data"] == []
    assert fake.runs == {}


# ---------------------------------------------------------- request validation
def test_duplicate_workspace_name_is_422_with_exact_error_document(client):
    """Section 1.2: the exact 422 document for a duplicate name."""
    create_ws(client, "dup")
    resp = client.post(f"{API}/organizations/{ORG}/workspaces", json=ws_body("dup"))
    assert resp.status_code == 422 and is_jsonapi(resp)
    assert resp.json() == {
        "errors": [
            {
                "status": "422",
                "title": "invalid attribute",
                "detail": "Name has already been taken",
                "source": {"pointer": "/data/attributes/name"},
            }
        ]
    }


def test_malformed_json_is_400(client):
    """Section 3.2 (400 in the docs legend): a body that is not JSON."""
    for path in (f"{API}/organizations/{ORG}/workspaces", f"{API}/runs"):
        err = error_of(client.post(path, content=b'{"data": {"type": "workspaces",'), 400)
        assert err["title"] == "bad request"


def test_wrong_data_type_is_422_pointing_at_data_type(client):
    """Sections 0.1, 1.2: data.type must name the resource."""
    body = {"data": {"type": "projects", "attributes": {"name": "x"}}}
    err = error_of(client.post(f"{API}/organizations/{ORG}/workspaces", json=body), 422)
    assert err["title"] == "invalid attribute"
    assert err["source"] == {"pointer": "/data/type"}
    ws = create_ws(client, "typed")
    err = error_of(client.post(f"{API}/workspaces/{ws['id']}/vars", json={"data": {"type": "var", "attributes": {"key": "k", "category": "env"}}}), 422)
    assert err["source"] == {"pointer": "/data/type"}


def test_missing_name_is_422_pointing_at_name(client):
    """Section 1.2: name is required."""
    err = error_of(client.post(f"{API}/organizations/{ORG}/workspaces", json=ws_body(None, **{"auto-apply": True})), 422)
    assert err["title"] == "invalid attribute"
    assert err["source"] == {"pointer": "/data/attributes/name"}
    err = error_of(client.post(f"{API}/organizations/{ORG}/workspaces", json=ws_body("bad name!")), 422)
    assert err["source"] == {"pointer": "/data/attributes/name"}


import pytest  # noqa: E402


@pytest.mark.parametrize("name", ["evil\n", "evil\r\n", "\nevil", "a" * 91, "ünï", "a b", ""])
def test_a_workspace_name_outside_tfcs_rules_is_422_and_creates_nothing(fake, client, name):
    """TFC: workspace names "can only include letters, numbers, -, and _" (90 at most). A
    trailing newline is not allowed either (``re.match`` with ``$`` would let it through)."""
    err = error_of(client.post(f"{API}/organizations/{ORG}/workspaces", json=ws_body(name)), 422)
    assert err["source"] == {"pointer": "/data/attributes/name"}
    assert fake.workspaces == {}


@pytest.mark.parametrize(
    "key, category",
    [("k\n", "terraform"), ("k\n", "env"), ("1k", "terraform"), ("a-b", "env"), ("k k", "terraform"), ("ключ", "env"), ("k" * 129, "terraform")],
)
def test_a_variable_key_outside_the_naming_rules_is_422(fake, client, key, category):
    """Terraform variables are named by identifiers; environment variables by POSIX names."""
    ws = create_ws(client, "keys")
    body = {"data": {"type": "vars", "attributes": {"key": key, "value": "v", "category": category}}}
    err = error_of(client.post(f"{API}/workspaces/{ws['id']}/vars", json=body), 422)
    assert err["source"] == {"pointer": "/data/attributes/key"}
    assert fake.workspaces[ws["id"]].variables == {}
    ok = {"data": {"type": "vars", "attributes": {"key": "tf-name_1" if category == "terraform" else "ENV_1", "value": "v", "category": category}}}
    assert client.post(f"{API}/workspaces/{ws['id']}/vars", json=ok).status_code == 201


def test_unknown_relationship_is_422(client):
    """Section 1.2/1.5: relationships are a closed set (project, tag-bindings; workspace, configuration-version)."""
    body = ws_body("rel")
    body["data"]["relationships"] = {"bogus": {"data": {"type": "bogus", "id": "b-1"}}}
    err = error_of(client.post(f"{API}/organizations/{ORG}/workspaces", json=body), 422)
    assert err["source"]["pointer"].startswith("/data/relationships")
    ws = create_ws(client, "rel-ok")
    body = run_body(ws["id"])
    body["data"]["relationships"]["bogus"] = {"data": {"type": "bogus", "id": "b-1"}}
    err = error_of(client.post(f"{API}/runs", json=body), 422)
    assert err["source"]["pointer"].startswith("/data/relationships")
    assert client.get(f"{API}/organizations/{ORG}/workspaces/rel").status_code == 404


def test_pytfe_style_extra_attributes_are_accepted(client):
    """Section 4.2 (request-body quirks): pytfe sends type, an empty vcs-repo,
    setting-overwrites, nested option dumps, and a var PATCH without data.id."""
    body = ws_body("quirky", type="workspaces", **{"vcs-repo": {}, "setting-overwrites": {}, "auto-apply": True})
    resp = client.post(f"{API}/organizations/{ORG}/workspaces", json=body)
    assert resp.status_code == 201, resp.text
    ws = resp.json()["data"]
    assert ws["attributes"]["vcs-repo"] is None and ws["attributes"]["auto-apply"] is True

    var = create_var(client, ws["id"], "tenant_code", "q")
    resp = client.patch(f"{API}/workspaces/{ws['id']}/vars/{var['id']}", json={"data": {"type": "vars", "attributes": {"value": "quirky"}}})
    assert resp.status_code == 200 and resp.json()["data"]["attributes"]["value"] == "quirky"

    body = run_body(
        ws["id"],
        type="runs",
        workspace={"id": ws["id"], "trigger-prefixes": [], "name": "quirky"},
        **{"configuration-version": {"id": "cv-whatever", "auto-queue-runs": False}},
    )
    resp = client.post(f"{API}/runs", json=body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["data"]["relationships"]["workspace"]["data"] == {"id": ws["id"], "type": "workspaces"}


def test_a_failed_request_changes_nothing(fake, client):
    """README/section 3.2: rejected requests (400/404/409/422) leave the state untouched."""
    ws, run = applied(client, fake.clock, "stable")
    fake.clock.advance(OUTPUT_DELAY)
    other = create_ws(client, "neighbour")
    sensitive = create_var(client, other["id"], "secret", "x", sensitive=True)
    tc = next(v for v in client.get(f"{API}/workspaces/{ws['id']}/vars").json()["data"] if v["attributes"]["key"] == "tenant_code")
    before = snapshot(client)

    wsp = f"{API}/workspaces/{ws['id']}"
    failures = [
        (client.post(f"{API}/organizations/{ORG}/workspaces", json=ws_body("stable")), 422),
        (client.post(f"{API}/organizations/{ORG}/workspaces", content=b"{nope"), 400),
        (client.patch(f"{API}/organizations/{ORG}/workspaces/stable", json=ws_body("neighbour")), 422),
        (client.patch(wsp, json=ws_body(**{"auto-apply": "yes"})), 422),
        (client.post(f"{wsp}/vars", json=var_body("tenant_code", "dupe")), 422),
        (client.post(f"{wsp}/vars", json=var_body("k", "v", category="nonsense")), 422),
        (client.patch(f"{wsp}/vars/{tc['id']}", json={"data": {"type": "vars", "attributes": {"value": 5}}}), 422),
        (client.patch(f"{wsp}/vars/{sensitive['id']}", json={"data": {"type": "vars", "attributes": {"value": "stolen"}}}), 404),
        (client.patch(f"{API}/workspaces/{other['id']}/vars/{sensitive['id']}", json={"data": {"type": "vars", "attributes": {"key": "renamed"}}}), 422),
        (client.post(f"{API}/runs", json=run_body("ws-doesnotexist0000")), 404),
        (client.post(f"{API}/runs", json={"data": {"type": "runs", "attributes": {}}}), 422),
        (client.post(f"{API}/runs/{run['id']}/actions/apply"), 409),
        (client.post(f"{API}/runs/{run['id']}/actions/discard"), 409),
        (client.post(f"{API}/runs/{run['id']}/actions/cancel"), 409),
        (client.post(f"{wsp}/actions/safe-delete"), 409),
    ]
    for resp, status in failures:
        error_of(resp, status)
    assert snapshot(client) == before
    assert fake.workspaces[other["id"]].variables[sensitive["id"]].value == "x"


# ------------------------------------------------------------------- variables
def test_variable_document_and_list_is_not_paginated(client):
    """Section 1.4: vars list returns everything, no meta.pagination, page params ignored."""
    ws = create_ws(client, "vars")
    created = [create_var(client, ws["id"], f"k{i}", f"v{i}") for i in range(25)]
    one = created[0]
    assert one["type"] == "vars" and one["id"].startswith("var-")
    assert {"key", "value", "description", "sensitive", "category", "hcl", "version-id"} <= set(one["attributes"])
    assert one["relationships"]["configurable"]["data"] == {"type": "workspaces", "id": ws["id"]}
    assert one["links"]["self"] == f"{API}/workspaces/{ws['id']}/vars/{one['id']}"

    resp = client.get(f"{API}/workspaces/{ws['id']}/vars", params={"page[number]": 2, "page[size]": 5})
    assert resp.status_code == 200 and is_jsonapi(resp)
    doc = resp.json()
    assert "meta" not in doc
    assert len(doc["data"]) == 25
    assert {v["attributes"]["key"] for v in doc["data"]} == {f"k{i}" for i in range(25)}


def test_sensitive_variable_value_is_write_only(fake, client):
    """Sections 0.7, 1.4: sensitive values are never returned (null here)."""
    ws = create_ws(client, "sens")
    var = create_var(client, ws["id"], "password", "hunter2", sensitive=True)
    assert var["attributes"]["sensitive"] is True and var["attributes"]["value"] is None
    listed = client.get(f"{API}/workspaces/{ws['id']}/vars")
    shown = client.get(f"{API}/workspaces/{ws['id']}/vars/{var['id']}")
    patched = client.patch(f"{API}/workspaces/{ws['id']}/vars/{var['id']}", json={"data": {"type": "vars", "attributes": {"value": "hunter3"}}})
    for resp in (listed, shown, patched):
        assert resp.status_code == 200 and "hunter" not in resp.text
    assert fake.workspaces[ws["id"]].variables[var["id"]].value == "hunter3"


def test_duplicate_variable_is_422_but_same_key_in_other_category_is_fine(client):
    """Section 1.4: keys are unique per (key, category)."""
    ws = create_ws(client, "uniq")
    create_var(client, ws["id"], "foo", "tf")
    err = error_of(client.post(f"{API}/workspaces/{ws['id']}/vars", json=var_body("foo", "again")), 422)
    assert err["title"] == "invalid attribute"
    assert err["source"]["pointer"].startswith("/data/attributes/")
    env = create_var(client, ws["id"], "foo", "env-value", category="env")
    assert env["attributes"]["category"] == "env"
    listed = client.get(f"{API}/workspaces/{ws['id']}/vars").json()["data"]
    assert sorted((v["attributes"]["key"], v["attributes"]["category"], v["attributes"]["value"]) for v in listed) == [
        ("foo", "env", "env-value"),
        ("foo", "terraform", "tf"),
    ]


def test_patch_of_a_variable_from_another_workspace_is_404(client):
    """Section 1.4 (terraform#27298): a var id of another workspace must 404, not update it."""
    a = create_ws(client, "ws-a")
    b = create_ws(client, "ws-b")
    var_b = create_var(client, b["id"], "tenant_code", "bee")
    body = {"data": {"type": "vars", "id": var_b["id"], "attributes": {"value": "hijacked"}}}
    error_of(client.patch(f"{API}/workspaces/{a['id']}/vars/{var_b['id']}", json=body), 404)
    error_of(client.get(f"{API}/workspaces/{a['id']}/vars/{var_b['id']}"), 404)
    error_of(client.delete(f"{API}/workspaces/{a['id']}/vars/{var_b['id']}"), 404)
    assert client.get(f"{API}/workspaces/{b['id']}/vars/{var_b['id']}").json()["data"]["attributes"]["value"] == "bee"


# ------------------------------------------------------------------------ runs
def test_run_document_shape(client):
    """Sections 1.5, 4.2: the create response is a pending run with all four actions flags
    and all permissions pytfe needs."""
    ws = tenant(client, "shape")
    resp = client.post(f"{API}/runs", json=run_body(ws["id"], message="hello"))
    assert resp.status_code == 201 and is_jsonapi(resp)
    run = resp.json()["data"]
    assert set(run) == WS_DATA_KEYS
    assert run["type"] == "runs" and run["id"].startswith("run-")
    attrs = run["attributes"]
    assert attrs["status"] == "pending"
    assert attrs["message"] == "hello" and attrs["is-destroy"] is False and attrs["source"] == "tfe-api"
    assert set(attrs["actions"]) == {"is-cancelable", "is-confirmable", "is-discardable", "is-force-cancelable"}
    assert {"can-apply", "can-cancel", "can-discard", "can-force-cancel", "can-force-execute"} <= set(attrs["permissions"])
    assert "plan-queueable-at" in attrs["status-timestamps"]
    rels = run["relationships"]
    assert rels["workspace"]["data"] == {"type": "workspaces", "id": ws["id"]}
    assert rels["plan"]["data"]["type"] == "plans" and rels["apply"]["data"]["type"] == "applies"
    assert run["links"]["self"] == f"{API}/runs/{run['id']}"
    default = create_run(client, ws["id"])
    assert default["attributes"]["message"] == "Queued manually via the Terraform Enterprise API"


def test_applied_run_status_timestamps_and_actions(client, clock):
    """Sections 1.5, 2.3: status-timestamps keys are <status>-at, in path order."""
    _, run = applied(client, clock, "stamps")
    attrs = run["attributes"]
    ts = attrs["status-timestamps"]
    order = ["plan-queueable-at", "plan-queued-at", "planning-at", "planned-at", "apply-queued-at", "applying-at", "applied-at"]
    assert set(order) <= set(ts)
    assert "errored-at" not in ts and "canceled-at" not in ts
    times = [parse_ts(ts[k]) for k in order]
    assert times == sorted(times)
    assert attrs["actions"] == {
        "is-cancelable": False,
        "is-confirmable": False,
        "is-discardable": False,
        "is-force-cancelable": False,
    }
    assert attrs["has-changes"] is True


def test_include_plan_and_apply_and_their_sub_resources(client, clock):
    """Section 1.6: include=plan,apply; /plans/:id, /applies/:id, /runs/:id/plan|apply."""
    _, run = applied(client, clock, "incl")
    doc = get_run(client, run["id"], include="plan,apply")
    plan_id = run["relationships"]["plan"]["data"]["id"]
    apply_id = run["relationships"]["apply"]["data"]["id"]
    included = {(i["type"], i["id"]): i for i in doc["included"]}
    assert set(included) == {("plans", plan_id), ("applies", apply_id)}

    plan = client.get(f"{API}/plans/{plan_id}")
    apply = client.get(f"{API}/applies/{apply_id}")
    assert plan.status_code == apply.status_code == 200 and is_jsonapi(plan)
    assert client.get(f"{API}/runs/{run['id']}/plan").json() == plan.json()
    assert client.get(f"{API}/runs/{run['id']}/apply").json() == apply.json()
    assert included[("plans", plan_id)] == plan.json()["data"]
    assert included[("applies", apply_id)] == apply.json()["data"]

    p = plan.json()["data"]["attributes"]
    assert plan.json()["data"]["type"] == "plans" and p["status"] == "finished"
    assert p["has-changes"] is True and p["resource-additions"] == 3
    assert apply.json()["data"]["type"] == "applies"
    assert apply.json()["data"]["attributes"]["status"] == "finished"
    # A plan id is not an apply id and vice versa.
    error_of(client.get(f"{API}/applies/{plan_id}"), 404)
    error_of(client.get(f"{API}/plans/{apply_id}"), 404)


def test_one_active_run_per_workspace_later_runs_wait_pending(client, clock):
    """Sections 0.4, 2.4: the active run locks the workspace; the next stays pending with
    position-in-queue 1, not even planned, until the first finishes."""
    ws = tenant(client, "queue")
    first = create_run(client, ws["id"])
    second = create_run(client, ws["id"])
    clock.advance(3)  # first is planning by now

    first = get_run(client, first["id"])
    assert first["attributes"]["status"] not in {"pending", "applied"}
    assert first["attributes"]["position-in-queue"] == 0
    waiting = get_run(client, second["id"])
    assert waiting["attributes"]["status"] == "pending"
    assert waiting["attributes"]["position-in-queue"] == 1
    assert "plan-queued-at" not in waiting["attributes"]["status-timestamps"]
    ws_doc = get_ws(client, ws["id"])
    assert ws_doc["attributes"]["locked"] is True
    assert ws_doc["relationships"]["locked-by"]["data"] == {"type": "runs", "id": first["id"]}

    run_until(client, clock, first["id"], {"applied"})
    assert get_run(client, second["id"])["attributes"]["position-in-queue"] == 0
    # Same variables as the state the first run wrote: nothing to change.
    done = run_until(client, clock, second["id"], {"applied", "planned_and_finished", "errored"})
    assert done["attributes"]["status"] == "planned_and_finished"
    ws_doc = get_ws(client, ws["id"])
    assert ws_doc["attributes"]["locked"] is False
    assert ws_doc["relationships"]["locked-by"]["data"] is None


def test_manual_apply_pauses_at_planned_until_confirmed(client, clock):
    """Sections 1.7, 2.2, 2.3: auto-apply off -> planned + is-confirmable until actions/apply (202, no body)."""
    ws = tenant(client, "manual", auto_apply=False)
    run = create_run(client, ws["id"])
    planned = run_until(client, clock, run["id"], {"planned", "applied", "errored"})
    assert planned["attributes"]["status"] == "planned"
    assert planned["attributes"]["actions"]["is-confirmable"] is True
    assert planned["attributes"]["actions"]["is-discardable"] is True
    clock.advance(3600)  # a human has not confirmed: polling never resolves it
    assert get_run(client, run["id"])["attributes"]["status"] == "planned"
    assert get_ws(client, ws["id"])["attributes"]["locked"] is True

    resp = client.post(f"{API}/runs/{run['id']}/actions/apply", json={"comment": "lgtm"})
    assert resp.status_code == 202 and resp.content == b""
    confirmed = get_run(client, run["id"])
    assert confirmed["attributes"]["status"] in {"confirmed", "apply_queued"}  # confirmed is instantaneous
    assert confirmed["attributes"]["actions"]["is-confirmable"] is False
    assert "confirmed-at" in confirmed["attributes"]["status-timestamps"]
    assert run_until(client, clock, run["id"], {"applied", "errored"})["attributes"]["status"] == "applied"


def test_apply_on_a_run_not_paused_for_confirmation_is_409(client, clock):
    """Section 1.7: 409 'Run was not paused for confirmation; apply not allowed'."""
    ws = tenant(client, "auto")
    run = create_run(client, ws["id"])
    err = error_of(client.post(f"{API}/runs/{run['id']}/actions/apply"), 409)
    assert err["detail"] == "Run was not paused for confirmation; apply not allowed"
    assert err["title"] == "transition not allowed"
    assert run_until(client, clock, run["id"], {"applied", "errored"})["attributes"]["status"] == "applied"


def test_discard_a_run_waiting_for_confirmation(client, clock):
    """Section 1.7: discard is allowed while paused for confirmation; the run ends discarded."""
    ws = tenant(client, "discard", auto_apply=False)
    run = create_run(client, ws["id"])
    run_until(client, clock, run["id"], {"planned"})
    resp = client.post(f"{API}/runs/{run['id']}/actions/discard")
    assert resp.status_code == 202 and resp.content == b""
    done = get_run(client, run["id"])
    assert done["attributes"]["status"] == "discarded"
    assert "discarded-at" in done["attributes"]["status-timestamps"]
    assert not any(done["attributes"]["actions"].values())
    assert get_ws(client, ws["id"])["attributes"]["locked"] is False
    error_of(client.post(f"{API}/runs/{run['id']}/actions/apply"), 409)
    error_of(client.post(f"{API}/runs/{run['id']}/actions/discard"), 409)
    error_of(client.get(f"{API}/workspaces/{ws['id']}/current-state-version"), 404)  # nothing applied


def test_cancel_a_planning_run_ends_canceled_after_the_interrupt(client, clock):
    """Section 1.7: cancel of planning sends an interrupt; the run ends canceled later."""
    ws = tenant(client, "cancel")
    run = create_run(client, ws["id"])
    planning = run_until(client, clock, run["id"], {"planning"})
    assert planning["attributes"]["actions"]["is-cancelable"] is True

    resp = client.post(f"{API}/runs/{run['id']}/actions/cancel")
    assert resp.status_code == 202 and resp.content == b""
    interrupted = get_run(client, run["id"])
    assert interrupted["attributes"]["status"] == "planning"  # still being interrupted
    assert interrupted["attributes"]["actions"]["is-cancelable"] is False
    assert "force-cancel-available-at" in interrupted["attributes"]["status-timestamps"]

    done = run_until(client, clock, run["id"], {"canceled", "planned", "applied", "errored"})
    assert done["attributes"]["status"] == "canceled"
    assert done["attributes"]["canceled-at"] is not None
    assert "canceled-at" in done["attributes"]["status-timestamps"]
    plan = client.get(f"{API}/runs/{run['id']}/plan").json()["data"]["attributes"]
    apply = client.get(f"{API}/runs/{run['id']}/apply").json()["data"]["attributes"]
    assert plan["status"] == "canceled" and apply["status"] == "unreachable"
    assert get_ws(client, ws["id"])["attributes"]["locked"] is False


def test_cancel_is_refused_when_not_cancelable(client, clock):
    """Section 1.7: 409 when the run is not planning or applying (here: applied)."""
    _, run = applied(client, clock, "late")
    err = error_of(client.post(f"{API}/runs/{run['id']}/actions/cancel"), 409)
    assert "cancel" in err["detail"]


def test_force_cancel_only_after_cancel_and_the_cool_off(fake, client, clock):
    """Section 1.7: force-cancel needs a prior cancel and the cool-off (10 s in the fake)."""
    fake.set_script(RunScript(match="stuck", runs=[RunBehaviour(stuck_in=RunStatus.PLANNING)]))
    ws = tenant(client, "stuck")
    run = create_run(client, ws["id"])
    queued = create_run(client, ws["id"])
    run_until(client, clock, run["id"], {"planning"})
    url = f"{API}/runs/{run['id']}/actions"

    error_of(client.post(f"{url}/force-cancel"), 409)  # no cancel yet
    assert client.post(f"{url}/cancel").status_code == 202
    clock.advance(5)
    mid = get_run(client, run["id"])
    assert mid["attributes"]["status"] == "planning"  # the stuck process ignores the interrupt
    assert mid["attributes"]["actions"]["is-force-cancelable"] is False
    error_of(client.post(f"{url}/force-cancel"), 409)  # cool-off not over
    assert get_run(client, run["id"])["attributes"]["status"] == "planning"

    clock.advance(5)
    ready = get_run(client, run["id"])
    assert ready["attributes"]["actions"]["is-force-cancelable"] is True
    assert ready["attributes"]["status"] == "planning"
    resp = client.post(f"{url}/force-cancel")
    assert resp.status_code == 202 and resp.content == b""
    done = get_run(client, run["id"])
    assert done["attributes"]["status"] == "canceled"  # never force_canceled for pytfe 1.5.0 (0.9)
    assert "force-canceled-at" in done["attributes"]["status-timestamps"]
    # The lock is released at once: the queued run becomes the active one.
    ws_doc = get_ws(client, ws["id"])
    assert ws_doc["relationships"]["locked-by"]["data"] == {"type": "runs", "id": queued["id"]}
    assert get_run(client, queued["id"])["attributes"]["position-in-queue"] == 0


def test_errored_plan_and_errored_apply_are_told_apart(fake, client, clock):
    """Sections 0.5, 2.3: both end errored; plan/apply status and applying-at tell them apart."""
    fake.set_script(RunScript(match="plan-err", runs=[RunBehaviour(outcome=Outcome.PLAN_ERROR)]))
    fake.set_script(RunScript(match="apply-err", runs=[RunBehaviour(outcome=Outcome.APPLY_ERROR)]))
    finals = {}
    for name in ("plan-err", "apply-err"):
        ws = tenant(client, name)
        run = create_run(client, ws["id"])
        done = run_until(client, clock, run["id"], {"errored", "applied", "planned_and_finished"})
        assert done["attributes"]["status"] == "errored"
        plan = client.get(f"{API}/runs/{run['id']}/plan").json()["data"]["attributes"]["status"]
        apply = client.get(f"{API}/runs/{run['id']}/apply").json()["data"]["attributes"]["status"]
        finals[name] = (ws, done["attributes"]["status-timestamps"], plan, apply)

    ws, ts, plan, apply = finals["plan-err"]
    assert (plan, apply) == ("errored", "unreachable")
    assert "errored-at" in ts and "applying-at" not in ts and "planned-at" not in ts
    error_of(client.get(f"{API}/workspaces/{ws['id']}/current-state-version"), 404)

    ws, ts, plan, apply = finals["apply-err"]
    assert (plan, apply) == ("finished", "errored")
    assert "errored-at" in ts and "applying-at" in ts and "applied-at" not in ts

    # An errored apply leaves partial state: the workspace still manages resources.
    clock.advance(OUTPUT_DELAY)
    assert get_ws(client, ws["id"])["attributes"]["resource-count"] > 0
    err = error_of(client.post(f"{API}/workspaces/{ws['id']}/actions/safe-delete"), 409)
    assert err["detail"] == MANAGING
    # Whereas a workspace whose plan errored has no state and deletes safely.
    plan_ws = finals["plan-err"][0]
    assert client.post(f"{API}/workspaces/{plan_ws['id']}/actions/safe-delete").status_code == 204


def test_destroy_of_nothing_ends_planned_and_finished(client, clock):
    """Section 2.3: a destroy run with nothing managed ends planned_and_finished."""
    ws = tenant(client, "empty")
    run = create_run(client, ws["id"], **{"is-destroy": True})
    assert run["attributes"]["is-destroy"] is True
    done = run_until(client, clock, run["id"], {"planned_and_finished", "applied", "errored"})
    assert done["attributes"]["status"] == "planned_and_finished"
    assert done["attributes"]["has-changes"] is False
    assert "planned-and-finished-at" in done["attributes"]["status-timestamps"]
    apply = client.get(f"{API}/runs/{run['id']}/apply").json()["data"]["attributes"]
    assert apply["status"] == "unreachable"


def test_rerun_with_unchanged_variables_ends_planned_and_finished(client, clock):
    """Sections 0.5, 2.3: a no-change plan ends planned_and_finished; a changed variable
    gives a plan with changes again."""
    ws, _ = applied(client, clock, "rerun")
    again = create_run(client, ws["id"])
    done = run_until(client, clock, again["id"], {"planned_and_finished", "applied", "errored"})
    assert done["attributes"]["status"] == "planned_and_finished"
    assert done["attributes"]["has-changes"] is False
    plan = client.get(f"{API}/runs/{again['id']}/plan").json()["data"]["attributes"]
    assert plan["has-changes"] is False and plan["status"] == "finished"

    create_var(client, ws["id"], "size", "large")
    changed = create_run(client, ws["id"])
    assert run_until(client, clock, changed["id"], {"planned_and_finished", "applied", "errored"})["attributes"]["status"] == "applied"


# ------------------------------------------------------------- state & outputs
def test_outputs_answer_503_while_processing_then_200(client, clock):
    """Sections 0.6, 1.8: outputs are extracted asynchronously; 503 meanwhile."""
    ws, run = applied(client, clock, "outs")
    url = f"{API}/workspaces/{ws['id']}/current-state-version-outputs"
    err = error_of(client.get(url), 503)
    assert err["title"]
    sv = client.get(f"{API}/workspaces/{ws['id']}/current-state-version")
    assert sv.status_code == 200 and sv.json()["data"]["attributes"]["resources-processed"] is False

    clock.advance(OUTPUT_DELAY)
    resp = client.get(url)
    assert resp.status_code == 200 and is_jsonapi(resp)
    outputs = {o["attributes"]["name"]: o for o in resp.json()["data"]}
    assert set(outputs) == {"tenant_code", "endpoint", "tenant_id", "admin_password"}
    for o in outputs.values():
        assert o["type"] == "state-version-outputs" and o["id"].startswith("wsout-")
        assert o["attributes"]["type"] == "string"
    assert outputs["tenant_code"]["attributes"]["value"] == "outs"
    assert outputs["endpoint"]["attributes"]["value"] == "https://outs.tenants.example.test"
    secret = outputs["admin_password"]
    assert secret["attributes"]["sensitive"] is True and secret["attributes"]["value"] is None
    revealed = client.get(f"{API}/state-version-outputs/{secret['id']}").json()["data"]["attributes"]
    assert revealed["sensitive"] is True and isinstance(revealed["value"], str) and revealed["value"]
    sv = client.get(f"{API}/workspaces/{ws['id']}/current-state-version").json()["data"]
    assert sv["attributes"]["resources-processed"] is True
    assert sv["relationships"]["run"]["data"]["id"] == run["id"]


def test_the_default_sensitive_output_cannot_be_derived_from_the_public_ones(fake, client, clock):
    """admin_password is keyed by a secret the fake draws at random and never shows: not a
    function of the workspace id or of the public tenant_id, so two fakes with the same seed
    and the same workspace give different passwords, and re-applying keeps it."""
    import hashlib

    ws, _ = applied(client, clock, "derive")
    clock.advance(OUTPUT_DELAY)
    outs = {o["attributes"]["name"]: o for o in client.get(f"{API}/workspaces/{ws['id']}/current-state-version-outputs").json()["data"]}
    password = client.get(f"{API}/state-version-outputs/{outs['admin_password']['id']}").json()["data"]["attributes"]["value"]
    public = outs["tenant_id"]["attributes"]["value"]
    uid = hashlib.sha256(ws["id"].encode()).hexdigest()
    assert public.removeprefix("tnt-") in uid and uid[:12] not in password and public not in password
    assert password in fake.sensitive_values
    other = FakeTFC(VirtualClock(), tokens=[TOKEN], organizations=[ORG], seed=fake.seed)
    from fake_tfc.state import render_outputs

    again = dict((n, v) for n, v, _ in render_outputs(DEFAULT_OUTPUTS, {}, "tenant-derive", ws["id"], other.secret_key))
    assert again["admin_password"] != password
    same = dict((n, v) for n, v, _ in render_outputs(DEFAULT_OUTPUTS, {}, "tenant-derive", ws["id"], fake.secret_key))
    assert same["admin_password"] == password


def test_outputs_are_paginated(fake, client, clock):
    """Sections 1.8, 3.4: page[number]/page[size] (default 20, max 100) and meta.pagination."""
    fake.set_script(RunScript(match="many", outputs={f"o{i}": OutputSpec(value=str(i)) for i in range(45)}))
    ws, _ = applied(client, clock, "many")
    clock.advance(OUTPUT_DELAY)
    url = f"{API}/workspaces/{ws['id']}/current-state-version-outputs"

    first = client.get(url).json()
    assert len(first["data"]) == 20
    assert first["meta"]["pagination"] == {
        "current-page": 1,
        "page-size": 20,
        "prev-page": None,
        "next-page": 2,
        "total-pages": 3,
        "total-count": 45,
    }
    assert first["links"]["prev"] is None
    assert first["links"]["next"].startswith("http")  # absolute URLs (3.4)
    following = client.get(first["links"]["next"]).json()
    assert following["meta"]["pagination"]["current-page"] == 2
    assert [o["attributes"]["name"] for o in following["data"]] == [f"o{i}" for i in range(20, 40)]

    last = client.get(url, params={"page[number]": 3}).json()
    assert len(last["data"]) == 5
    assert last["meta"]["pagination"]["next-page"] is None and last["meta"]["pagination"]["prev-page"] == 2
    assert last["links"]["next"] is None

    names: list[str] = []
    for page in (1, 2, 3):
        doc = client.get(url, params={"page[number]": page, "page[size]": 20}).json()
        names += [o["attributes"]["name"] for o in doc["data"]]
    assert names == [f"o{i}" for i in range(45)]

    big = client.get(url, params={"page[size]": 100}).json()
    assert len(big["data"]) == 45 and big["meta"]["pagination"]["total-pages"] == 1
    small = client.get(url, params={"page[number]": 2, "page[size]": 10}).json()
    assert [o["attributes"]["name"] for o in small["data"]] == [f"o{i}" for i in range(10, 20)]
    assert small["meta"]["pagination"]["total-pages"] == 5


# --------------------------------------------------------------------- deletes
def test_safe_delete_refusals_and_success(client, clock):
    """Section 1.3: the three 409 refusals with their exact details, then 204 and 404."""
    ws = tenant(client, "safe")
    url = f"{API}/workspaces/{ws['id']}/actions/safe-delete"
    run = create_run(client, ws["id"])

    # 1. Locked by the active run.
    err = error_of(client.post(url), 409)
    assert (err["title"], err["detail"]) == ("conflict", LOCKED)
    run_until(client, clock, run["id"], {"applied"})

    # 2. State being processed.
    err = error_of(client.post(url), 409)
    assert (err["title"], err["detail"]) == ("conflict", PROCESSING)

    # 3. Still managing resources.
    clock.advance(OUTPUT_DELAY)
    err = error_of(client.post(url), 409)
    assert (err["title"], err["detail"]) == ("conflict", MANAGING)

    # A destroy, then the zero-resource state is processed: safe delete succeeds.
    destroy = create_run(client, ws["id"], **{"is-destroy": True})
    run_until(client, clock, destroy["id"], {"applied"})
    err = error_of(client.post(url), 409)
    assert err["detail"] == PROCESSING
    clock.advance(OUTPUT_DELAY)
    outputs = client.get(f"{API}/workspaces/{ws['id']}/current-state-version-outputs")
    assert outputs.status_code == 200 and outputs.json()["data"] == []
    assert get_ws(client, ws["id"])["attributes"]["resource-count"] == 0

    resp = client.post(url)
    assert resp.status_code == 204 and resp.content == b""
    error_of(client.get(f"{API}/workspaces/{ws['id']}"), 404)
    error_of(client.get(f"{API}/organizations/{ORG}/workspaces/safe"), 404)
    error_of(client.get(f"{API}/runs/{run['id']}"), 404)


def test_safe_delete_by_name_of_an_unused_workspace(client):
    """Section 1.3: safe delete by org + name, synchronous: a following read is 404."""
    create_ws(client, "unused")
    resp = client.post(f"{API}/organizations/{ORG}/workspaces/unused/actions/safe-delete")
    assert resp.status_code == 204
    error_of(client.get(f"{API}/organizations/{ORG}/workspaces/unused"), 404)
    error_of(client.post(f"{API}/organizations/{ORG}/workspaces/unused/actions/safe-delete"), 404)


def test_force_delete_removes_a_workspace_that_still_manages_resources(client, clock):
    """Section 1.3: force delete -> 204 whatever the workspace manages."""
    ws, _ = applied(client, clock, "force")
    clock.advance(OUTPUT_DELAY)
    assert get_ws(client, ws["id"])["attributes"]["resource-count"] > 0
    resp = client.delete(f"{API}/workspaces/{ws['id']}")
    assert resp.status_code == 204 and resp.content == b""
    error_of(client.get(f"{API}/workspaces/{ws['id']}"), 404)
    other = create_ws(client, "force2")
    assert client.delete(f"{API}/organizations/{ORG}/workspaces/force2").status_code == 204
    error_of(client.get(f"{API}/workspaces/{other['id']}"), 404)
    # The name is free again.
    assert create_ws(client, "force")["id"] != ws["id"]
