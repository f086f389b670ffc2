"""Serve an ASGI app with uvicorn on a background thread (tests, benchmarks, ``sim up``)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from contextlib import contextmanager
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp


class ServerFailedToStart(RuntimeError):
    pass


def exposure_warning(host: str) -> str | None:
    """What to tell whoever serves the fake on an address other hosts can reach."""
    from .gateway import is_loopback

    if is_loopback(host):
        return None
    return (
        f"warning: the fake TFC listens on {host}, beyond loopback: other hosts can reach its API "
        "(its /_fake admin API still answers loopback clients only, unless --admin-from-anywhere)"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_in_thread(
    app: ASGIApp, host: str = "127.0.0.1", port: int | None = None, *, timeout: float = 10.0
) -> Iterator[str]:
    """Yield the base URL once the server accepts connections; stop it on exit."""
    port = port or free_port(host)
    warning = exposure_warning(host)
    if warning:
        logging.getLogger(__name__).warning(warning)
    config = uvicorn.Config(app, host=host, port=port, log_level="critical", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise ServerFailedToStart(f"server on {host}:{port} did not start within {timeout} s")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
