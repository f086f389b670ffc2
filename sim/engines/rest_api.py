"""The control plane's REST API served over HTTP, for any engine: each request becomes an API
Gateway REST proxy event for the API function, and the function's result the HTTP answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .base import Backend
from .iam_auth import Caller, SignedRequest, authorize
from .gateway import MAX_PAYLOAD_BYTES, ApiResponse, payload_too_large, proxy_event


def _too_large() -> Response:
    resp = payload_too_large()
    return Response(resp.raw_body, status_code=resp.status, headers=resp.headers, media_type="application/json")


def rest_api_app(
    env: Backend, on_response: Callable[[str, str, ApiResponse], None] | None = None, *, auth: str | None = None,
    now: Callable[[], float] = time.time,
) -> Starlette:
    """HTTP in, API Gateway REST proxy event to the API function, HTTP out. ``on_response``
    is told each request's method, path and answer (``sim up``'s console). ``auth`` is the
    methods' authorization, ``iam`` or ``none`` (default: the stack's); with ``iam`` a
    request must be signed (SigV4) by a principal the resource policy allows (``now``: the
    wall clock the signature's date is checked against)."""

    async def proxy(request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > MAX_PAYLOAD_BYTES:
            return _too_large()
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_PAYLOAD_BYTES:  # read no further than the quota
                return _too_large()
            chunks.append(chunk)
        body = b"".join(chunks)
        if (auth or env.stack.auth) == "iam":
            signed = SignedRequest(request.method, request.url.path, request.url.query, dict(request.headers), body)
            outcome = await asyncio.to_thread(authorize, env.stack, signed, now)
            if not isinstance(outcome, Caller):
                denied = outcome.response()
                if on_response is not None:
                    on_response(request.method, request.url.path, denied)
                return Response(denied.raw_body, status_code=denied.status, headers=denied.headers, media_type="application/json")
        raw = body.decode("utf-8", "replace")
        event = proxy_event(request.method, request.url.path, query=dict(request.query_params) or None, raw_body=raw or None)
        event["headers"] = dict(request.headers)
        multi: dict[str, list[str]] = {}
        for name, value in request.headers.items():  # every value, as API Gateway's multiValueHeaders
            multi.setdefault(name, []).append(value)
        event["multiValueHeaders"] = multi
        resp = await asyncio.to_thread(env.invoke_api, event)
        if on_response is not None:
            on_response(request.method, request.url.path, resp)
        return Response(resp.raw_body, status_code=resp.status, headers=resp.headers, media_type="application/json")

    return Starlette(routes=[Route("/{path:path}", proxy, methods=["GET", "POST", "PATCH", "PUT", "DELETE"])])
