"""Fuzz the fake's create (and update) endpoints with hostile request bodies.

Requirement (input validation): "Malformed JSON, wrong data.type, missing
required attributes, unknown relationships: a 422 (or 400 for unparsable bodies)
JSON:API error whose source.pointer names the field, and no change to state. Unknown
extra attributes that real clients send are accepted. The server never answers 500
for anything a client sends; a hypothesis test fuzzes the create endpoints to show it."

Endpoints: POST /organizations/{org}/workspaces, PATCH /workspaces/{id},
POST /workspaces/{id}/vars, PATCH /workspaces/{id}/vars/{var} (plain and sensitive
variable) and POST /runs (on a workspace that allows destroy plans and one that does
not). Bodies are arbitrary bytes, arbitrary JSON values, and "near-valid" documents:
a valid document with up to three mutations (drop a key, replace a value with any
JSON value, null, wrong data.type, unknown attributes and relationships, huge
strings, numbers and lists, odd keys). Properties checked for every request:

* the status is never 5xx and the app never raises;
* every response is ``application/vnd.api+json``; every 4xx is a JSON:API error
  document (``errors``: objects with ``status`` and ``title``/``detail``), a 422
  carries ``source.pointer``;
* a body Python's own ``json`` cannot parse gets a 400;
* ``GET /_fake/journal`` still answers afterwards (the gateway journals a name it
  reads from the body);
* a 4xx leaves the backend's state exactly as it was (snapshot of workspaces,
  variables, runs, indexes and the id counter); a 2xx is a JSON:API document whose
  ``data`` has an ``id`` and the endpoint's resource type;
* near-valid documents with a single mutation: dropping a required member or changing
  ``data.type`` is a 422, and a 422's pointer lies on the mutated path (one is a prefix
  of the other, in JSON Pointer segments); unknown extra attributes alone are accepted;
* any text (NULs, lone surrogates, 100 kB) in a string attribute is either refused
  or stored and echoed back exactly.

The fake is built once per module and reset (then re-seeded, deterministically: same
ids every time) before each example. ``HYPOTHESIS_MAX_EXAMPLES`` raises the budget.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import note as _note
from hypothesis.control import currently_in_test_context
from hypothesis import strategies as st

from fake_tfc import FakeTFC, VirtualClock, create_app, serializers
from fake_tfc.inputs import RunInput, VariableInput, WorkspaceInput
from fake_tfc.statuses import VariableCategory
from fake_tfc.transport import SyncASGITransport
from tests.conftest import JSONAPI, ORG, TOKEN

API = "/api/v2"
MAX_EXAMPLES = int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


# ----------------------------------------------------------------- the fake
@dataclass(frozen=True)
class Seeded:
    base: str  # workspace "base": two variables and an active run
    nodestroy: str  # workspace "other-ws": allow-destroy-plan false
    plain_var: str
    secret_var: str


class Env:
    def __init__(self) -> None:
        self.fake = FakeTFC(VirtualClock(), tokens=[TOKEN], organizations=[ORG])
        self.client = httpx.Client(
            transport=SyncASGITransport(create_app(self.fake)),
            base_url="http://fake-tfc",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": JSONAPI, "Accept": JSONAPI},
        )

    def seed(self) -> Seeded:
        """Reset to a small, fixed world (ids depend only on creation order)."""
        fake = self.fake
        fake.reset()
        tok = fake.token(TOKEN)
        assert tok is not None
        base = fake.create_workspace(tok, ORG, WorkspaceInput("base", {}))
        other = fake.create_workspace(tok, ORG, WorkspaceInput("other-ws", {"allow-destroy-plan": False}))
        plain = fake.create_variable(base, VariableInput(key="existing", value="v", category=VariableCategory.TERRAFORM))
        secret = fake.create_variable(
            base, VariableInput(key="secret", value="s", category=VariableCategory.ENV, sensitive=True)
        )
        fake.create_run(tok, RunInput(workspace_id=base.id))
        return Seeded(base.id, other.id, plain.id, secret.id)


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    e = Env()
    yield e
    e.client.close()


def snapshot(fake: FakeTFC) -> dict[str, Any]:
    """Everything a rejected request must not touch (the journal is allowed to grow)."""
    with fake.lock:
        now = fake.clock.now()
        return copy.deepcopy(
            {
                "organizations": sorted(fake.organizations),
                "by_name": dict(fake._by_name),
                "workspaces": {
                    ws_id: {
                        "doc": serializers.workspace(ws, current_run=None, state=None, now=now),
                        "vars": [dataclasses.asdict(v) for v in ws.variables.values()],
                        "run_ids": list(ws.run_ids),
                        "locked_by": ws.locked_by,
                        "free_since": ws.free_since,
                        "state_version_ids": list(ws.state_version_ids),
                    }
                    for ws_id, ws in fake.workspaces.items()
                },
                "runs": {
                    run_id: (serializers.run(r, position_in_queue=0, now=now), dict(r.variables))
                    for run_id, r in fake.runs.items()
                },
                "phases": dict(fake._phases),
                "var_owner": dict(fake._var_owner),
                "state_versions": sorted(fake.state_versions),
                "attempts": dict(fake._attempts),
                # A rejected request must not consume an id either (ids follow creation order).
                "id_counter": repr(fake.ids._counter),
            }
        )


# ---------------------------------------------------------------- endpoints
@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: Callable[[Seeded], str]
    valid: Callable[[Seeded], dict]
    rtype: str
    #: JSON Pointers of members whose absence makes the document invalid.
    required: tuple[str, ...]


def _ws_create(s: Seeded) -> dict:
    return {
        "data": {
            "type": "workspaces",
            "attributes": {
                "name": "fuzzed",
                "auto-apply": True,
                "description": "made by a fuzzer",
                "execution-mode": "remote",
                "trigger-prefixes": ["modules/"],
                "terraform-version": "1.9.8",
            },
            "relationships": {"project": {"data": {"type": "projects", "id": "prj-fuzz"}}},
        }
    }


def _ws_update(s: Seeded) -> dict:
    return {"data": {"type": "workspaces", "attributes": {"name": "renamed", "auto-apply": False, "description": "x"}}}


def _var_create(s: Seeded) -> dict:
    return {
        "data": {
            "type": "vars",
            "attributes": {
                "key": "fresh_key",
                "value": "v",
                "category": "terraform",
                "description": "d",
                "hcl": False,
                "sensitive": False,
            },
            "relationships": {"configurable": {"data": {"type": "workspaces", "id": s.base}}},
        }
    }


def _var_update(var_id: Callable[[Seeded], str]) -> Callable[[Seeded], dict]:
    def doc(s: Seeded) -> dict:
        return {"data": {"type": "vars", "id": var_id(s), "attributes": {"value": "new", "description": "changed"}}}

    return doc


def _run_create(ws: Callable[[Seeded], str]) -> Callable[[Seeded], dict]:
    def doc(s: Seeded) -> dict:
        return {
            "data": {
                "type": "runs",
                "attributes": {"message": "fuzz", "is-destroy": False, "auto-apply": True, "plan-only": False},
                "relationships": {
                    "workspace": {"data": {"type": "workspaces", "id": ws(s)}},
                    "configuration-version": {"data": {"type": "configuration-versions", "id": "cv-fuzz"}},
                },
            }
        }

    return doc


ENDPOINTS = [
    Endpoint(
        "create-workspace", "POST", lambda s: f"{API}/organizations/{ORG}/workspaces", _ws_create, "workspaces",
        ("/data", "/data/type", "/data/attributes/name"),
    ),
    Endpoint("update-workspace", "PATCH", lambda s: f"{API}/workspaces/{s.base}", _ws_update, "workspaces", ("/data", "/data/type")),
    Endpoint(
        "update-workspace-by-name", "PATCH", lambda s: f"{API}/organizations/{ORG}/workspaces/other-ws", _ws_update,
        "workspaces", ("/data", "/data/type"),
    ),
    Endpoint(
        "create-var", "POST", lambda s: f"{API}/workspaces/{s.base}/vars", _var_create, "vars",
        ("/data", "/data/type", "/data/attributes/key", "/data/attributes/category"),
    ),
    Endpoint(
        "update-var", "PATCH", lambda s: f"{API}/workspaces/{s.base}/vars/{s.plain_var}",
        _var_update(lambda s: s.plain_var), "vars", ("/data", "/data/type"),
    ),
    Endpoint(
        "update-sensitive-var", "PATCH", lambda s: f"{API}/workspaces/{s.base}/vars/{s.secret_var}",
        _var_update(lambda s: s.secret_var), "vars", ("/data", "/data/type"),
    ),
    Endpoint(
        "create-run", "POST", lambda s: f"{API}/runs", _run_create(lambda s: s.base), "runs",
        ("/data", "/data/type", "/data/relationships", "/data/relationships/workspace",
         "/data/relationships/workspace/data", "/data/relationships/workspace/data/id"),
    ),
    Endpoint(
        "create-run-no-destroy", "POST", lambda s: f"{API}/runs", _run_create(lambda s: s.nodestroy), "runs",
        ("/data", "/data/type", "/data/relationships", "/data/relationships/workspace",
         "/data/relationships/workspace/data", "/data/relationships/workspace/data/id"),
    ),
]
endpoints = st.sampled_from(ENDPOINTS)

#: Every attribute and relationship name the parser reads, so "unknown" ones are not.
KNOWN_NAMES = {
    "name", "description", "execution-mode", "vcs-repo", "key", "value", "category", "hcl", "sensitive",
    "is-destroy", "refresh-only", "auto-apply", "plan-only", "message", "terraform-version",
    "working-directory", "source-name", "source-url", "trigger-prefixes", "trigger-patterns", "tag-names",
    "auto-apply-run-trigger", "allow-destroy-plan", "assessments-enabled", "file-triggers-enabled",
    "global-remote-state", "queue-all-runs", "speculative-enabled", "structured-run-output-enabled",
    "project", "tag-bindings", "agent-pool", "organization", "workspace", "configuration-version", "configurable",
}

RELATIONSHIPS = {"project", "tag-bindings", "agent-pool", "organization", "workspace", "configuration-version", "configurable"}
ATTRIBUTES = sorted(KNOWN_NAMES - RELATIONSHIPS)

# --------------------------------------------------------------- strategies
#: Any code point, lone surrogates and JSON Pointer's special characters made likely.
any_chars = st.characters(exclude_categories=()) | st.sampled_from(["\ud800", "\udfff", "\x00", "~", "/", '"'])
any_text = st.text(any_chars, max_size=20)
clean_text = st.text(max_size=20)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | any_text
clean_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False, allow_infinity=False) | clean_text


def json_values(scalars: st.SearchStrategy = json_scalars, keys: st.SearchStrategy = any_text) -> st.SearchStrategy:
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
        max_leaves=12,
    )


odd_values = st.sampled_from(
    [
        "a" * 100_000,
        "\x00",
        "\ud800",
        "ws-" + "z" * 91,
        10**100,
        -(10**30),
        1e308,
        0.0,
        list(range(2000)),
        [[[[[[[[[[[]]]]]]]]]]],
        {"": {"": None}},
        {"data": None},
        {"id": None, "type": None},
        "",
        "  ",
        "true",
        "workspaces",
        "runs",
        "vars",
    ]
)
wrong_types = st.sampled_from(["workspace", "Workspaces", "var", "variables", "run", "runs", "vars", "workspaces", ""]) | any_text
unknown_names = st.builds(lambda t: "x-" + t, clean_text) | st.sampled_from(["0", "", "-1", "null", "data", "type", "a/b", "~0"])
#: Extra attributes real clients send (pytfe dumps its models; go-tfe sends omitempty fields).
client_extras = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["workspaces", "vars", "runs"]),
        "vcs-repo": st.just({}),
        "id": st.none(),
        "agent-pool-id": st.none(),
        "setting-overwrites": st.just({"execution-mode": False}),
        "variables": st.just([]),
        "target-addrs": st.none(),
        "allow-empty-apply": st.booleans(),
        "version-id": st.none(),
    },
)


def esc(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def pointer_of(path: tuple) -> str:
    return "".join("/" + esc(str(p)) for p in path)


def segments(pointer: str) -> list[str]:
    return [] if pointer == "" else pointer.split("/")[1:]


def paths(node: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, prefix + (i,))


def get(doc: Any, path: tuple) -> Any:
    for p in path:
        doc = doc[p]
    return doc


def put(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    get(doc, path[:-1])[path[-1]] = value
    return doc


def ensure_dict(doc: Any, path: tuple) -> tuple[Any, bool]:
    """Make ``doc[path]`` a dict if the way there is made of dicts; False if it is not."""
    node = doc
    if not isinstance(node, dict):
        return doc, False
    for p in path:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    return doc, True


@st.composite
def mutated(draw: st.DrawFn, valid: dict) -> tuple[Any, list[tuple[str, str]]]:
    """``valid`` with 0-3 mutations; returns (document, [(op, pointer of the mutated path)])."""
    doc: Any = copy.deepcopy(valid)
    done: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["drop", "replace", "null", "odd", "type", "known", "attr", "rel", "key"]))
        all_paths = list(paths(doc))
        if op == "drop":
            droppable = [p for p in all_paths if p and isinstance(get(doc, p[:-1]), (dict, list))]
            if not droppable:
                continue
            path = draw(st.sampled_from(droppable))
            del get(doc, path[:-1])[path[-1]]
        elif op in ("replace", "null", "odd"):
            path = draw(st.sampled_from(all_paths))
            value = {"replace": json_values(), "null": st.none(), "odd": odd_values}[op]
            doc = put(doc, path, copy.deepcopy(draw(value)))
        elif op == "type":
            path = ("data", "type")
            doc, ok = ensure_dict(doc, ("data",))
            if not ok:
                continue
            doc["data"]["type"] = draw(wrong_types)
        elif op == "known":  # any attribute the parser reads, with a value of any type
            path = ("data", "attributes")
            doc, ok = ensure_dict(doc, path)
            if not ok:
                continue
            name = draw(st.sampled_from(ATTRIBUTES))
            get(doc, path)[name] = copy.deepcopy(draw(any_text | json_scalars | odd_values | json_values()))
            path = path + (name,)
        elif op in ("attr", "rel"):
            path = ("data", "attributes" if op == "attr" else "relationships")
            doc, ok = ensure_dict(doc, path)
            if not ok:
                continue
            name = draw(unknown_names.filter(lambda n: n not in KNOWN_NAMES))
            if op == "attr":
                value = draw(json_values(clean_scalars, clean_text))
            else:
                value = draw(st.just({"data": {"type": "things", "id": "thing-1"}}) | json_values())
            get(doc, path)[name] = copy.deepcopy(value)
            path = path + (name,)
        else:  # "key": an odd key anywhere an object is
            holders = [p for p in all_paths if isinstance(get(doc, p), dict)]
            if not holders:
                continue
            path = draw(st.sampled_from(holders))
            name = draw(st.sampled_from(["", "0", "1", "-1", "null", "true", " ", "\ud800", "data"]))
            if name in get(doc, path):
                continue
            get(doc, path)[name] = draw(json_values())
            path = path + (name,)
        done.append((op, pointer_of(path)))
    return doc, done


def encode(doc: Any) -> bytes:
    # Not httpx's json=: it refuses NaN and lone surrogates; the stdlib escapes both.
    return json.dumps(doc).encode()


# ------------------------------------------------------------------ checks
def strict_json(body: bytes) -> bool:
    """RFC 8259 JSON (no NaN/Infinity, no lone surrogates): what the fake parses."""
    try:
        orjson.loads(body)
    except ValueError:
        return False
    return True


def python_json_rejects(body: bytes) -> bool:
    """Not JSON even to the lenient stdlib (a RecursionError depends on our own stack
    depth, so it proves nothing)."""
    try:
        json.loads(body)
    except ValueError:
        return True
    except RecursionError:
        return False
    return False


def note(text: str) -> None:
    if currently_in_test_context():
        _note(text)


def send(env: Env, endpoint: Endpoint, s: Seeded, body: bytes) -> httpx.Response:
    note(f"{endpoint.method} {endpoint.path(s)} body={body[:500]!r}{'...' if len(body) > 500 else ''}")
    try:
        resp = env.client.request(endpoint.method, endpoint.path(s), content=body)
    except Exception as exc:  # the app raised: a real server answers 500
        pytest.fail(f"{endpoint.name}: the app raised {type(exc).__name__}: {exc}")
    note(f"-> {resp.status_code} {resp.text[:500]}")
    return resp


def check(env: Env, endpoint: Endpoint, s: Seeded, body: bytes, before: dict) -> httpx.Response:
    resp = send(env, endpoint, s, body)
    assert resp.status_code < 500, resp.text
    assert resp.headers.get("content-type", "").split(";")[0].strip() == JSONAPI
    doc = resp.json()
    if 400 <= resp.status_code < 500:
        assert isinstance(doc, dict) and set(doc) == {"errors"}, doc
        assert isinstance(doc["errors"], list) and doc["errors"]
        for err in doc["errors"]:
            assert err["status"] == str(resp.status_code)
            assert isinstance(err.get("title") or err.get("detail"), str)
            if resp.status_code == 422:
                assert isinstance(err.get("source", {}).get("pointer"), str), err
        assert snapshot(env.fake) == before, f"{endpoint.name}: rejected with {resp.status_code} but state changed"
    else:
        assert resp.status_code in (200, 201), resp.status_code
        assert isinstance(doc, dict) and isinstance(doc.get("data"), dict), doc
        assert isinstance(doc["data"].get("id"), str) and doc["data"]["id"]
        assert doc["data"]["type"] == endpoint.rtype
    if python_json_rejects(body):
        assert resp.status_code == 400, resp.text
    # The journal records what the gateway read from the body; it must stay servable.
    try:
        assert env.client.get("/_fake/journal").status_code == 200
    except Exception as exc:
        pytest.fail(f"GET /_fake/journal raised {type(exc).__name__}: {exc}")
    return resp


def error_pointer(resp: httpx.Response) -> str:
    return resp.json()["errors"][0]["source"]["pointer"]


# ------------------------------------------------------------------- tests
def test_valid_documents_are_accepted(env: Env) -> None:
    """The unmutated documents the fuzzers start from are valid (else the fuzz proves little)."""
    for endpoint in ENDPOINTS:
        s = env.seed()
        resp = check(env, endpoint, s, encode(endpoint.valid(s)), snapshot(env.fake))
        assert resp.status_code in (200, 201), (endpoint.name, resp.text)


@FUZZ
@given(endpoint=endpoints, body=st.binary(max_size=200) | st.sampled_from([b"", b" ", b"[" * 5000, b"{" * 5000, b"\xff\xfe{}"]))
def test_arbitrary_bytes(env: Env, endpoint: Endpoint, body: bytes) -> None:
    s = env.seed()
    check(env, endpoint, s, body, snapshot(env.fake))


@FUZZ
@given(endpoint=endpoints, value=json_values())
def test_arbitrary_json(env: Env, endpoint: Endpoint, value: Any) -> None:
    s = env.seed()
    resp = check(env, endpoint, s, encode(value), snapshot(env.fake))
    assert resp.status_code != 201 or isinstance(value, dict)


@FUZZ
@given(endpoint=endpoints, data=st.data())
def test_near_valid_documents(env: Env, endpoint: Endpoint, data: st.DataObject) -> None:
    s = env.seed()
    doc, mutations = data.draw(mutated(endpoint.valid(s)), label="document")
    note(f"mutations: {mutations}")
    body = encode(doc)
    if data.draw(st.booleans(), label="truncate") and len(body) > 2:
        body = body[: data.draw(st.integers(1, len(body) - 1), label="cut")]
    before = snapshot(env.fake)
    resp = check(env, endpoint, s, body, before)
    if body != encode(doc) or len(mutations) != 1 or not strict_json(body):
        return
    (op, where), = mutations
    if (op == "drop" and where in endpoint.required) or (op == "type" and doc["data"]["type"] != endpoint.rtype):
        assert resp.status_code == 422, resp.text
    if op == "attr":
        assert resp.status_code in (200, 201), f"an unknown attribute was refused: {resp.text}"
    if op == "rel" and where.startswith("/data/relationships/"):
        assert resp.status_code == 422, resp.text
        assert error_pointer(resp) == where
    if resp.status_code == 422:
        got, want = segments(error_pointer(resp)), segments(where)
        shorter = min(len(got), len(want))
        assert got[:shorter] == want[:shorter], f"pointer {error_pointer(resp)!r} is not about {where!r}"


@FUZZ
@given(
    endpoint=endpoints,
    extras=client_extras,
    unknown=st.dictionaries(
        unknown_names.filter(lambda n: n not in KNOWN_NAMES), json_values(clean_scalars, clean_text), max_size=4
    ),
)
def test_unknown_extra_attributes_are_accepted(env: Env, endpoint: Endpoint, extras: dict, unknown: dict) -> None:
    s = env.seed()
    doc = endpoint.valid(s)
    doc["data"]["attributes"].update({**extras, **unknown})
    resp = check(env, endpoint, s, encode(doc), snapshot(env.fake))
    assert resp.status_code in (200, 201), resp.text


#: String attributes each endpoint stores and echoes back (a sensitive value is never echoed).
STRING_ATTRIBUTES = {
    "create-workspace": ("name", "description", "terraform-version", "working-directory", "source-name", "source-url"),
    "update-workspace": ("name", "description", "terraform-version", "working-directory", "source-name", "source-url"),
    "update-workspace-by-name": ("name", "description", "working-directory"),
    "create-var": ("key", "value", "description"),
    "update-var": ("key", "value", "description"),
    "update-sensitive-var": ("value", "description"),
    "create-run": ("message",),
    "create-run-no-destroy": ("message",),
}


@FUZZ
@given(endpoint=endpoints, data=st.data())
def test_string_attributes_are_stored_exactly_or_refused(env: Env, endpoint: Endpoint, data: st.DataObject) -> None:
    """Any text (NULs, lone surrogates, quotes, 100 kB) in a string attribute: either
    refused with a 4xx and no change, or accepted and echoed back unchanged."""
    s = env.seed()
    doc = endpoint.valid(s)
    name = data.draw(st.sampled_from(STRING_ATTRIBUTES[endpoint.name]), label="attribute")
    value = data.draw(any_text | st.sampled_from(["a" * 100_000, "\ud800", "\udfff\ud800", "\x00", "x" * 91]), label="value")
    doc["data"]["attributes"][name] = value
    resp = check(env, endpoint, s, encode(doc), snapshot(env.fake))
    if resp.status_code < 300:
        echoed = resp.json()["data"]["attributes"][name]
        if not (endpoint.name == "update-sensitive-var" and name == "value") and not (name == "message" and value == ""):
            assert echoed == value
