"""The ``/api/v2`` routes: TFC's JSON:API over the ``FakeTFC`` domain.

Authentication, rate limiting, faults and the journal happen before these handlers
run (see ``gateway``); a handler finds the caller's token in the request scope.
"""

from __future__ import annotations

from typing import Any

import orjson

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import parsing, serializers
from .backend import FakeTFC
from .errors import BadRequest, NotFound, ServiceUnavailable
from .inputs import Token
from .runs import Run
from .workspaces import Workspace

MEDIA_TYPE = "application/vnd.api+json"
HEADERS = {"TFP-API-Version": "2.5", "TFP-AppName": "Fake Terraform Cloud", "X-TFE-Version": "fake"}


def jsonapi(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps(content)
    return Response(body, status_code=status, media_type=MEDIA_TYPE, headers={**HEADERS, **(headers or {})})


def no_content(status: int = 204) -> Response:
    return Response(status_code=status, headers=HEADERS)


def _ctx(request: Request) -> tuple[FakeTFC, Token]:
    return request.app.state.fake, request.scope["fake_tfc.token"]


def _body(request: Request) -> bytes:
    body: bytes = request.scope.get("fake_tfc.body", b"")
    return body


def _includes(request: Request) -> set[str]:
    raw = request.query_params.get("include", "")
    return {part.strip().replace("_", "-") for part in raw.split(",") if part.strip()}


# ------------------------------------------------------------------ workspaces
def _workspace(request: Request) -> Workspace:
    fake, token = _ctx(request)
    params = request.path_params
    if "org" in params:
        return fake.workspace_by_name(token, params["org"], params["name"])
    return fake.workspace_by_id(token, params["ws_id"])


def _ws_doc(fake: FakeTFC, ws: Workspace) -> dict[str, Any]:
    current = fake.runs[ws.run_ids[-1]] if ws.run_ids else None
    return serializers.workspace(ws, current_run=current, state=fake.current_state_version(ws), now=fake.clock.now())


async def show_workspace(request: Request) -> Response:
    fake, _ = _ctx(request)
    with fake.lock:
        ws = _workspace(request)
        doc: dict[str, Any] = {"data": _ws_doc(fake, ws)}
        included = []
        includes = _includes(request)
        if "outputs" in includes:
            sv = fake.current_state_version(ws)
            if sv is not None and sv.processed(fake.clock.now()):
                included += [serializers.output(o, reveal=False) for o in sv.outputs]
        if {"current-run", "latest-run"} & includes and ws.run_ids:
            run = fake.runs[ws.run_ids[-1]]
            included.append(_run_doc(fake, run))
        if included:
            doc["included"] = included
        return jsonapi(doc)


async def list_workspaces(request: Request) -> Response:
    fake, token = _ctx(request)
    page, size = parsing.page_params(dict(request.query_params))
    with fake.lock:
        spaces = fake.list_workspaces(token, request.path_params["org"])
        prefix = request.query_params.get("search[name]")
        if prefix:
            spaces = [w for w in spaces if prefix in w.name]
        chunk, meta, links = serializers.paginate(spaces, page, size, str(request.url.replace(query="")))
        return jsonapi({"data": [_ws_doc(fake, w) for w in chunk], "links": links, "meta": meta})


async def create_workspace(request: Request) -> Response:
    fake, token = _ctx(request)
    data = parsing.workspace_input(_body(request), create=True)
    with fake.lock:
        ws = fake.create_workspace(token, request.path_params["org"], data)
        return jsonapi({"data": _ws_doc(fake, ws)}, status=201)


async def update_workspace(request: Request) -> Response:
    fake, _ = _ctx(request)
    data = parsing.workspace_input(_body(request), create=False)
    with fake.lock:
        ws = fake.update_workspace(_workspace(request), data)
        return jsonapi({"data": _ws_doc(fake, ws)})


async def delete_workspace(request: Request) -> Response:
    fake, _ = _ctx(request)
    with fake.lock:
        fake.delete_workspace(_workspace(request))
    return no_content()


async def safe_delete_workspace(request: Request) -> Response:
    fake, _ = _ctx(request)
    with fake.lock:
        fake.safe_delete_workspace(_workspace(request))
    return no_content()


# ------------------------------------------------------------------- variables
async def list_vars(request: Request) -> Response:
    fake, _ = _ctx(request)
    with fake.lock:
        ws = _workspace(request)
        # Not paginated in TFC: page parameters are ignored and no meta is sent.
        return jsonapi({"data": [serializers.variable(v, ws.id) for v in ws.variables.values()]})


async def create_var(request: Request) -> Response:
    fake, _ = _ctx(request)
    data = parsing.variable_input(_body(request), create=True)
    with fake.lock:
        ws = _workspace(request)
        var = fake.create_variable(ws, data)
        return jsonapi({"data": serializers.variable(var, ws.id)}, status=201)


async def show_var(request: Request) -> Response:
    fake, _ = _ctx(request)
    with fake.lock:
        ws = _workspace(request)
        var = fake.variable(ws, request.path_params["var_id"])
        return jsonapi({"data": serializers.variable(var, ws.id)})


async def update_var(request: Request) -> Response:
    fake, _ = _ctx(request)
    data = parsing.variable_input(_body(request), create=False)
    with fake.lock:
        ws = _workspace(request)
        var = fake.update_variable(ws, request.path_params["var_id"], data)
        return jsonapi({"data": serializers.variable(var, ws.id)})


async def delete_var(request: Request) -> Response:
    fake, _ = _ctx(request)
    with fake.lock:
        fake.delete_variable(_workspace(request), request.path_params["var_id"])
    return no_content()


# ------------------------------------------------------------------------ runs
def _position(fake: FakeTFC, run: Run) -> int:
    if run.active or run.terminal:
        return 0
    ws = fake.workspaces[run.workspace_id]
    ahead = 0
    for rid in ws.run_ids:
        if rid == run.id:
            break
        if not fake.runs[rid].terminal:
            ahead += 1
    return ahead


def _run_doc(fake: FakeTFC, run: Run) -> dict[str, Any]:
    return serializers.run(run, position_in_queue=_position(fake, run), now=fake.clock.now())


def _run_response(fake: FakeTFC, run: Run, includes: set[str], status: int = 200) -> Response:
    doc: dict[str, Any] = {"data": _run_doc(fake, run)}
    included = []
    if "plan" in includes:
        included.append(serializers.phase(run, run.plan, "plans"))
    if "apply" in includes:
        included.append(serializers.phase(run, run.apply, "applies"))
    if "workspace" in includes:
        included.append(_ws_doc(fake, fake.workspaces[run.workspace_id]))
    if included:
        doc["included"] = included
    return jsonapi(doc, status=status)


async def create_run(request: Request) -> Response:
    fake, token = _ctx(request)
    fake.check_runs_allowed(token)
    data = parsing.run_input(_body(request))
    with fake.lock:
        run = fake.create_run(token, data)
        return _run_response(fake, run, set(), status=201)


async def show_run(request: Request) -> Response:
    fake, token = _ctx(request)
    fake.check_runs_allowed(token)
    with fake.lock:
        run = fake.run(token, request.path_params["run_id"])
        return _run_response(fake, run, _includes(request))


async def list_runs(request: Request) -> Response:
    fake, token = _ctx(request)
    fake.check_runs_allowed(token)
    page, size = parsing.page_params(dict(request.query_params))
    with fake.lock:
        ws = _workspace(request)
        runs = [fake.runs[r] for r in reversed(ws.run_ids)]  # newest first, as TFC lists them
        chunk, meta, links = serializers.paginate(runs, page, size, str(request.url.replace(query="")))
        return jsonapi({"data": [_run_doc(fake, r) for r in chunk], "links": links, "meta": meta})


async def run_action(request: Request) -> Response:
    fake, token = _ctx(request)
    fake.check_runs_allowed(token)
    action = request.path_params["action"]
    if action not in ("apply", "discard", "cancel", "force-cancel"):
        raise NotFound()
    body = _body(request)
    if body.strip():
        comment = parsing.parse_json(body)
        if not isinstance(comment, dict):
            raise BadRequest("an action body must be an object like {\"comment\": \"...\"}")
    fake.run_action(token, request.path_params["run_id"], action)
    return no_content(202)


async def show_run_phase(request: Request) -> Response:
    fake, token = _ctx(request)
    with fake.lock:
        kind = request.path_params["kind"]
        if kind not in ("plan", "apply"):
            raise NotFound()
        run = fake.run(token, request.path_params["run_id"])
        if kind == "plan":
            return jsonapi({"data": serializers.phase(run, run.plan, "plans")})
        return jsonapi({"data": serializers.phase(run, run.apply, "applies")})


async def show_phase(request: Request) -> Response:
    fake, token = _ctx(request)
    with fake.lock:
        run, phase = fake.phase(token, request.path_params["phase_id"])
        kind = "plans" if phase is run.plan else "applies"
        expected = request.url.path.split("/")[3]
        if kind != expected:
            raise NotFound()
        return jsonapi({"data": serializers.phase(run, phase, kind)})


# ----------------------------------------------------------------------- state
async def current_state_version(request: Request) -> Response:
    fake, _ = _ctx(request)
    with fake.lock:
        ws = _workspace(request)
        sv = fake.current_state_version(ws)
        if sv is None:
            raise NotFound()
        now = fake.clock.now()
        doc: dict[str, Any] = {"data": serializers.state_version(sv, now=now)}
        if "outputs" in _includes(request) and sv.processed(now):
            doc["included"] = [serializers.output(o, reveal=False) for o in sv.outputs]
        return jsonapi(doc)


async def current_outputs(request: Request) -> Response:
    fake, _ = _ctx(request)
    page, size = parsing.page_params(dict(request.query_params))
    with fake.lock:
        ws = _workspace(request)
        sv = fake.current_state_version(ws)
        if sv is None:
            raise NotFound()
        if not sv.processed(fake.clock.now()):
            raise ServiceUnavailable("Outputs are still being processed. Please try again later.")
        chunk, meta, links = serializers.paginate(sv.outputs, page, size, str(request.url.replace(query="")))
        return jsonapi(
            {"data": [serializers.output(o, reveal=False) for o in chunk], "links": links, "meta": meta}
        )


async def show_output(request: Request) -> Response:
    fake, token = _ctx(request)
    with fake.lock:
        out = fake.state_output(token, request.path_params["output_id"])
        return jsonapi({"data": serializers.output(out, reveal=True)})


async def ping(request: Request) -> Response:
    return no_content(204)


def routes() -> list[Route]:
    org_ws = "/api/v2/organizations/{org}/workspaces/{name}"
    ws = "/api/v2/workspaces/{ws_id}"
    out: list[Route] = [
        Route("/api/v2/ping", ping, methods=["GET"]),
        Route("/api/v2/organizations/{org}/workspaces", list_workspaces, methods=["GET"]),
        Route("/api/v2/organizations/{org}/workspaces", create_workspace, methods=["POST"]),
        Route("/api/v2/runs", create_run, methods=["POST"]),
        Route("/api/v2/runs/{run_id}", show_run, methods=["GET"]),
        Route("/api/v2/runs/{run_id}/actions/{action}", run_action, methods=["POST"]),
        Route("/api/v2/runs/{run_id}/{kind:str}", show_run_phase, methods=["GET"]),
        Route("/api/v2/plans/{phase_id}", show_phase, methods=["GET"]),
        Route("/api/v2/applies/{phase_id}", show_phase, methods=["GET"]),
        Route("/api/v2/state-version-outputs/{output_id}", show_output, methods=["GET"]),
    ]
    for base in (org_ws, ws):
        out += [
            Route(base, show_workspace, methods=["GET"]),
            Route(base, update_workspace, methods=["PATCH"]),
            Route(base, delete_workspace, methods=["DELETE"]),
            Route(base + "/actions/safe-delete", safe_delete_workspace, methods=["POST"]),
        ]
    out += [
        Route(ws + "/vars", list_vars, methods=["GET"]),
        Route(ws + "/vars", create_var, methods=["POST"]),
        Route(ws + "/vars/{var_id}", show_var, methods=["GET"]),
        Route(ws + "/vars/{var_id}", update_var, methods=["PATCH"]),
        Route(ws + "/vars/{var_id}", delete_var, methods=["DELETE"]),
        Route(ws + "/runs", list_runs, methods=["GET"]),
        Route(ws + "/current-state-version", current_state_version, methods=["GET"]),
        Route(ws + "/current-state-version-outputs", current_outputs, methods=["GET"]),
    ]
    return out
