"""The ``/_fake`` admin API: control behaviour, faults, time and the journal over HTTP.
The same operations are methods of ``FakeTFC`` for in-process use."""

from __future__ import annotations

from typing import Any

import orjson

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .backend import FakeTFC
from .behaviour import RunScript
from .clock import VirtualClock, iso
from .faults import FaultRule
from .inputs import Token, TokenKind


class AdminError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"error": self.message}
        if self.field:
            body["field"] = self.field
        return JSONResponse(body, status_code=self.status)


class TokenSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1)
    organizations: list[str] | None = None
    kind: TokenKind = TokenKind.USER


class OrganizationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")


#: Ten years: enough for any simulation, and finite.
MAX_ADVANCE = 10 * 365 * 86400.0
#: The admin API's largest body: scripts and fault rules are a few kB.
MAX_ADMIN_BODY = 1024 * 1024


class Advance(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    seconds: float = Field(ge=0, le=MAX_ADVANCE)


async def _model(request: Request, model: type[BaseModel]) -> Any:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_ADMIN_BODY:
            raise AdminError(413, f"body larger than {MAX_ADMIN_BODY} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        # Strict JSON: orjson refuses NaN, Infinity, lone surrogates and nesting deeper than
        # 1,024 (the stdlib takes the first three and raises RecursionError on the last).
        data = orjson.loads(raw or b"{}")
    except ValueError as exc:
        raise AdminError(400, f"body is not valid JSON: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise AdminError(422, f"{field or 'body'}: {first['msg']}", field) from None


def _fake(request: Request) -> FakeTFC:
    fake: FakeTFC = request.app.state.fake
    return fake


async def reset(request: Request) -> Response:
    _fake(request).reset()
    return Response(status_code=204)


async def scripts(request: Request) -> Response:
    fake = _fake(request)
    if request.method == "GET":
        return JSONResponse([s.model_dump(mode="json") for s in fake.scripts])
    if request.method == "DELETE":
        fake.clear_scripts()
        return Response(status_code=204)
    script = await _model(request, RunScript)
    fake.set_script(script)
    return JSONResponse(script.model_dump(mode="json"), status_code=201)


async def faults(request: Request) -> Response:
    fake = _fake(request)
    if request.method == "GET":
        return JSONResponse(fake.faults.rules())
    if request.method == "DELETE":
        fake.faults.clear()
        return Response(status_code=204)
    rule = await _model(request, FaultRule)
    try:
        name = fake.faults.add(rule)
    except ValueError as exc:
        raise AdminError(409, str(exc), "name") from None
    return JSONResponse({"name": name}, status_code=201)


async def journal(request: Request) -> Response:
    fake = _fake(request)
    if request.method == "DELETE":
        fake.journal.clear()
        return Response(status_code=204)
    q = request.query_params
    status = q.get("status")
    if status is not None and not status.isdigit():
        raise AdminError(400, "status must be an integer", "status")
    entries = fake.journal.entries(
        method=q.get("method"), path=q.get("path"), workspace=q.get("workspace"),
        status=int(status) if status else None,
    )
    return JSONResponse([e.to_dict() for e in entries])


async def clock(request: Request) -> Response:
    fake = _fake(request)
    now = fake.clock.now()
    return JSONResponse({"now": now, "iso": iso(now), "virtual": isinstance(fake.clock, VirtualClock)})


async def advance(request: Request) -> Response:
    fake = _fake(request)
    if not isinstance(fake.clock, VirtualClock):
        raise AdminError(409, "the fake runs on the wall clock; start it with --virtual-clock to advance time")
    step = await _model(request, Advance)
    fake.clock.advance(step.seconds)
    return await clock(request)


async def tokens(request: Request) -> Response:
    spec = await _model(request, TokenSpec)
    orgs = frozenset(spec.organizations) if spec.organizations is not None else None
    _fake(request).add_token(Token(spec.token, orgs, spec.kind))
    return Response(status_code=201)


async def organizations(request: Request) -> Response:
    spec = await _model(request, OrganizationSpec)
    _fake(request).add_organization(spec.name)
    return Response(status_code=201)


async def run_history(request: Request) -> Response:
    fake = _fake(request)
    with fake.lock:
        run = fake.runs.get(request.path_params["run_id"])
        if run is None:
            raise AdminError(404, "no such run", "run_id")
        fake.settle(fake.workspaces[run.workspace_id])
        return JSONResponse(
            {
                "id": run.id,
                "workspace_id": run.workspace_id,
                "status": run.status.value,
                "history": [{"status": s.value, "time": t} for s, t in run.history],
            }
        )


def routes() -> list[Route]:
    return [
        Route("/_fake/reset", reset, methods=["POST"]),
        Route("/_fake/scripts", scripts, methods=["GET", "POST", "DELETE"]),
        Route("/_fake/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_fake/journal", journal, methods=["GET", "DELETE"]),
        Route("/_fake/clock", clock, methods=["GET"]),
        Route("/_fake/clock/advance", advance, methods=["POST"]),
        Route("/_fake/tokens", tokens, methods=["POST"]),
        Route("/_fake/organizations", organizations, methods=["POST"]),
        Route("/_fake/runs/{run_id}", run_history, methods=["GET"]),
    ]
