"""Expose a running embedded backend on loopback ports (``python -m sim up``):

* the AWS endpoint (moto's server, sharing the in-process state) where LocalStack
  listens, so ``localstack-client``, ``awslocal`` and boto3 with ``endpoint_url`` work;
* the control plane's REST API with API Gateway proxy semantics;
* the fake TFC.

Loopback only, on purpose: the original API is private and "the network is the boundary".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fake_tfc.server import serve_in_thread

from .environment import EmbeddedBackend, proxy_event

LOOPBACK = "127.0.0.1"
DEFAULT_AWS_PORT = 4566
DEFAULT_API_PORT = 8080
DEFAULT_TFC_PORT = 8484


@dataclass(frozen=True)
class Endpoints:
    aws: str
    api: str
    tfc: str


def rest_api_app(env: EmbeddedBackend) -> Starlette:
    """HTTP in, API Gateway REST proxy event to the API function, HTTP out."""

    async def proxy(request: Request) -> Response:
        raw = (await request.body()).decode("utf-8", "replace")
        event = proxy_event(request.method, request.url.path, query=dict(request.query_params) or None, raw_body=raw or None)
        event["headers"] = dict(request.headers)
        resp = await asyncio.to_thread(env.invoke_api, event)
        return Response(resp.raw_body, status_code=resp.status, headers=resp.headers, media_type="application/json")

    return Starlette(routes=[Route("/{path:path}", proxy, methods=["GET", "POST", "PATCH", "PUT", "DELETE"])])


@contextlib.contextmanager
def serve(env: EmbeddedBackend, *, aws_port: int = DEFAULT_AWS_PORT, api_port: int = DEFAULT_API_PORT, tfc_port: int = DEFAULT_TFC_PORT) -> Iterator[Endpoints]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per AWS call is noise here
    moto_server = ThreadedMotoServer(ip_address=LOOPBACK, port=aws_port, verbose=False)
    moto_server.start()
    try:
        with serve_in_thread(env.tfc_app, LOOPBACK, tfc_port) as tfc_url, serve_in_thread(rest_api_app(env), LOOPBACK, api_port) as api_url:
            yield Endpoints(aws=f"http://{LOOPBACK}:{aws_port}", api=api_url, tfc=tfc_url)
    finally:
        moto_server.stop()
