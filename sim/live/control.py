"""``sim up``'s control API, under ``/_sim/`` beside the fake TFC's ``/_fake/`` (same port,
loopback only, no auth: the network is the boundary):

=========================================  ==================================================
``GET /_sim/endpoints``                    where the AWS endpoint, the REST API and the fake TFC listen
``GET /_sim/clock``                        simulated now, elapsed, paused, time scale
``POST /_sim/clock/advance``               ``{"seconds": n}``: run everything due in n seconds
``POST /_sim/clock/pause``, ``/resume``    stop and restart simulated time flowing
``POST /_sim/clock/scale``                 ``{"time_scale": x}``: simulated seconds per real second
``GET/POST/DELETE /_sim/faults``           list, inject (as a scenario's ``fault``, or
                                           ``{"put_events": {"times": n}}``), clear
``GET /_sim/tenants``                      what the console shows, as JSON
``GET /_sim/report``                       the HTML report of the run so far
=========================================  ==================================================

Bad input gets 400 (not JSON) or 422 naming the field: ``{"error", "field"}``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from ..scenarios.model import Fault
from .run import LiveRun, PutEventsFaultSpec


class _Advance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(ge=0)


class _Scale(BaseModel):
    model_config = ConfigDict(extra="forbid")
    time_scale: float = Field(gt=0)


class _Refused(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.message, **({"field": self.field} if self.field else {})}, status_code=self.status)


async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw or b"{}")
    except ValueError as exc:
        raise _Refused(400, f"body is not valid JSON: {exc}", "body") from None


def _validated(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-"))) or None
        raise _Refused(422, f"{field or 'body'}: {first['msg'].removeprefix('Value error, ')}", field) from None


def control_app(run: LiveRun, tfc_app: ASGIApp) -> Starlette:
    """The control API, with everything else passed on to ``tfc_app`` (the fake TFC)."""

    def handle(fn: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                result = await fn(request)
            except _Refused as refused:
                return refused.response()
            return result if isinstance(result, Response) else JSONResponse(result)

        return endpoint

    async def clock(request: Request) -> Any:
        return run.clock_state()

    async def endpoints(request: Request) -> Any:
        return {**run.endpoints, "region": run.env.stack.region, "tfc_organization": run.env.config.tfc_organization}

    async def advance(request: Request) -> Any:
        body = _validated(_Advance, await _json(request))
        await asyncio.to_thread(run.advance, body.seconds)
        return run.clock_state()

    async def pause(request: Request) -> Any:
        run.pause()
        return run.clock_state()

    async def resume(request: Request) -> Any:
        run.resume()
        return run.clock_state()

    async def scale(request: Request) -> Any:
        run.set_time_scale(_validated(_Scale, await _json(request)).time_scale)
        return run.clock_state()

    async def faults(request: Request) -> Any:
        if request.method == "GET":
            return run.faults()
        if request.method == "DELETE":
            await asyncio.to_thread(run.clear_faults)
            return Response(status_code=204)
        data = await _json(request)
        if isinstance(data, dict) and set(data) == {"put_events"}:
            fault: Fault | PutEventsFaultSpec = _validated(PutEventsFaultSpec, data["put_events"])
        else:
            fault = _validated(Fault, data)
        details = await asyncio.to_thread(run.inject, fault)
        return JSONResponse(details, status_code=201)

    async def tenants(request: Request) -> Any:
        return {code: asdict(row) for code, row in run.board.snapshot().items()}

    async def report(request: Request) -> Any:
        from ..report import live_report

        c = run.env.config
        html = await asyncio.to_thread(
            lambda: live_report(run.trace, seed=c.seed, start=c.start, wait_seconds=c.wait_seconds, poll_budget=c.poll_budget, secrets=(c.tfc_token,))
        )
        return HTMLResponse(html)

    routes = [
        Route("/_sim/endpoints", handle(endpoints), methods=["GET"]),
        Route("/_sim/clock", handle(clock), methods=["GET"]),
        Route("/_sim/clock/advance", handle(advance), methods=["POST"]),
        Route("/_sim/clock/pause", handle(pause), methods=["POST"]),
        Route("/_sim/clock/resume", handle(resume), methods=["POST"]),
        Route("/_sim/clock/scale", handle(scale), methods=["POST"]),
        Route("/_sim/faults", handle(faults), methods=["GET", "POST", "DELETE"]),
        Route("/_sim/tenants", handle(tenants), methods=["GET"]),
        Route("/_sim/report", handle(report), methods=["GET"]),
        Mount("/", app=tfc_app),
    ]
    return Starlette(routes=routes)
