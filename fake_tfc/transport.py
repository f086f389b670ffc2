"""A synchronous in-process httpx transport for any ASGI app.

``httpx.ASGITransport`` only works with ``httpx.AsyncClient``; synchronous code (the
control plane's Lambda handlers, pytfe-style clients) uses this instead:
``httpx.Client(transport=SyncASGITransport(app), base_url="http://fake-tfc")``.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading

import httpx
from starlette.types import ASGIApp


#: The calling client's read timeout (seconds) for the request being handled in-process.
#: The fake's injected latency passes on the simulated clock, where a real client's
#: timeout (real time) would never fire: the gateway cuts the latency at this timeout
#: and the client sees ``httpx.ReadTimeout``, as it would against a slow server.
CLIENT_READ_TIMEOUT: contextvars.ContextVar[float | None] = contextvars.ContextVar("client_read_timeout", default=None)


def _read_timeout(request: httpx.Request) -> float | None:
    timeout = request.extensions.get("timeout")
    read = timeout.get("read") if isinstance(timeout, dict) else None
    return float(read) if isinstance(read, (int, float)) else None


class SyncASGITransport(httpx.BaseTransport):
    def __init__(self, app: ASGIApp) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._loop = asyncio.new_event_loop()
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        async_request = httpx.Request(
            request.method, request.url, headers=request.headers, content=body, extensions=request.extensions
        )
        token = CLIENT_READ_TIMEOUT.set(_read_timeout(request))
        try:
            with self._lock:
                response = self._loop.run_until_complete(self._inner.handle_async_request(async_request))
                content = self._loop.run_until_complete(response.aread())
        finally:
            CLIENT_READ_TIMEOUT.reset(token)
        return httpx.Response(
            response.status_code, headers=response.headers, content=content, extensions=response.extensions
        )

    def close(self) -> None:
        with self._lock:
            if not self._loop.is_closed():
                self._loop.close()
