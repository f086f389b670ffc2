"""A small HTTP/1.1 keep-alive load generator on raw asyncio streams.

httpx costs more per request than the fake does, so measuring the served fake with
httpx would measure httpx; this sends pipelined-free, keep-alive GETs over N
connections and times each request."""

from __future__ import annotations

import asyncio
import time


async def _worker(host: str, port: int, request: bytes, deadline: float, latencies: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:].strip())
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if not status_line.startswith(b"HTTP/1.1 200"):
                errors.append(1)
    finally:
        writer.close()


async def load(host: str, port: int, path: str, token: str, *, seconds: float, connections: int) -> tuple[list[float], int, float]:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: application/vnd.api+json\r\n\r\n"
    ).encode()
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(_worker(host, port, request, deadline, latencies, errors) for _ in range(connections)))
    return latencies, len(errors), time.perf_counter() - start
