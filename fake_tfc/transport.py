"""A synchronous in-process httpx transport for any ASGI app.

``httpx.ASGITransport`` only works with ``httpx.AsyncClient``; synchronous code (the
control plane's Lambda handlers, pytfe-style clients) uses this instead:
``httpx.Client(transport=SyncASGITransport(app), base_url="http://fake-tfc")``.
"""

from __future__ import annotations

import asyncio
import threading

import httpx


class SyncASGITransport(httpx.BaseTransport):
    def __init__(self, app) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._loop = asyncio.new_event_loop()
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        async_request = httpx.Request(
            request.method, request.url, headers=request.headers, content=body, extensions=request.extensions
        )
        with self._lock:
            response = self._loop.run_until_complete(self._inner.handle_async_request(async_request))
            content = self._loop.run_until_complete(response.aread())
        return httpx.Response(
            response.status_code, headers=response.headers, content=content, extensions=response.extensions
        )

    def close(self) -> None:
        with self._lock:
            if not self._loop.is_closed():
                self._loop.close()
