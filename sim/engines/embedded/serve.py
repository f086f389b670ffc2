"""Expose a running embedded backend on loopback ports (``python -m sim up``):

* the AWS endpoint (moto's server, sharing the in-process state) where LocalStack
  listens, so ``localstack-client``, ``awslocal`` and boto3 with ``endpoint_url`` work;
* the control plane's REST API with API Gateway proxy semantics;
* the fake TFC.

Loopback only, on purpose: the original API is private and "the network is the boundary".
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp

from fake_tfc.server import serve_in_thread

from ..ports import DEFAULT_API_PORT, DEFAULT_AWS_PORT, DEFAULT_TFC_PORT, LOOPBACK
from ..rest_api import rest_api_app
from .environment import EmbeddedBackend



@dataclass(frozen=True)
class Endpoints:
    aws: str
    api: str
    tfc: str


RESET_NOTICE = (
    "THE SIMULATION WAS WIPED: someone called POST /moto-api/reset on the AWS endpoint. Every "
    "table, bus, state machine and function of the control plane is gone; the REST API answers "
    "502 until tenant-sim is restarted (Ctrl-C, then `python -m sim up` again)."
)


def _loud(message: str) -> None:
    sys.stderr.write(f"\n!!! {message}\n\n")
    sys.stderr.flush()


class ResetWatch:
    """WSGI middleware in front of moto's server: moto's ``POST /moto-api/reset`` wipes every
    backend, the running simulation's included. It still does (it is moto's API, and clients
    such as test harnesses call it on purpose), but never silently: ``notify`` is told."""

    def __init__(self, app: Any, notify: Callable[[str], None]) -> None:
        self.app = app
        self.notify = notify

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        result: Iterable[bytes] = self.app(environ, start_response)
        if environ.get("REQUEST_METHOD") == "POST" and str(environ.get("PATH_INFO", "")).rstrip("/") == "/moto-api/reset":
            self.notify(RESET_NOTICE)
        return result


@contextlib.contextmanager
def serve(
    env: EmbeddedBackend,
    *,
    aws_port: int = DEFAULT_AWS_PORT,
    api_port: int = DEFAULT_API_PORT,
    tfc_port: int = DEFAULT_TFC_PORT,
    tfc_app: ASGIApp | None = None,
    api_app: ASGIApp | None = None,
    notify: Callable[[str], None] = _loud,
) -> Iterator[Endpoints]:
    """``tfc_app``, ``api_app``: what to serve instead of the fake TFC and the REST API
    (``sim up`` serves them wrapped: its control API beside ``/_fake/``, its console told of
    each request). ``notify`` is told, loudly, of what breaks the running simulation from
    outside (default: standard error, which the ``sim up`` console shows)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per AWS call is noise here
    moto_server = ThreadedMotoServer(ip_address=LOOPBACK, port=aws_port, verbose=False)
    moto_server.start()
    server = moto_server._server
    assert server is not None
    server.app = ResetWatch(server.app, notify)
    try:
        with serve_in_thread(tfc_app or env.tfc_app, LOOPBACK, tfc_port) as tfc_url, serve_in_thread(api_app or rest_api_app(env), LOOPBACK, api_port) as api_url:
            yield Endpoints(aws=f"http://{LOOPBACK}:{aws_port}", api=api_url, tfc=tfc_url)
    finally:
        moto_server.stop()
