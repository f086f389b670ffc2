"""The ASGI app factory: ``create_app(fake)`` for in-process use with
``httpx.ASGITransport``, or served by uvicorn (``python -m fake_tfc``)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from . import http_admin, http_api
from .backend import FakeTFC
from .errors import ApiError, error_for_status
from .gateway import Gateway


async def _tfc_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return http_api.jsonapi(exc.document(), status=exc.status, headers=exc.headers())


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/_fake"):
        return http_admin.AdminError(exc.status_code, str(exc.detail)).response()
    # Unknown paths and methods look like TFC's catch-all: a JSON:API 404.
    err = error_for_status(404 if exc.status_code in (404, 405) else exc.status_code)
    return http_api.jsonapi(err.document(), status=err.status)


async def _admin_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, http_admin.AdminError)
    return exc.response()


def create_app(fake: FakeTFC | None = None, *, rate_limit: bool = False, admin_from_anywhere: bool = False) -> Gateway:
    """An ASGI app serving ``fake`` (a new one on the wall clock if not given).

    ``rate_limit`` enforces TFC's 30 requests/second per token; it is on when served
    from the command line and off by default in-process, where a virtual clock that
    does not move would make every request fall in the same second.
    ``admin_from_anywhere`` lets clients other than loopback use the ``/_fake`` admin API
    (refused with 403 otherwise: it mints tokens and reveals sensitive outputs).
    """
    fake = fake or FakeTFC()
    app = Starlette(
        routes=http_api.routes() + http_admin.routes(),
        exception_handlers={
            ApiError: _tfc_error,
            HTTPException: _http_error,
            http_admin.AdminError: _admin_error,
        },
    )
    app.state.fake = fake
    return Gateway(app, fake, rate_limit=rate_limit, admin_from_anywhere=admin_from_anywhere)
