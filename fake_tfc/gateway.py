"""What happens to every ``/api/v2`` request before and after its handler:
injected faults, authentication, the rate limit, and the journal.

A pure ASGI middleware (no per-request middleware stack), so the fake stays cheap
enough never to be a simulation's bottleneck.
"""

from __future__ import annotations

import ipaddress
import json
import re
import urllib.parse
from typing import Any

import httpx
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .backend import FakeTFC
from .errors import ApiError, Unauthorized, error_for_status, rate_limit_headers
from .faults import FiredFault
from .http_api import HEADERS, MEDIA_TYPE
from .ratelimit import RateLimiter
from .transport import CLIENT_READ_TIMEOUT


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised by the app to drop the connection mid-response. A server closes the
    socket; an in-process ``httpx.ASGITransport`` client sees a transport error."""


class ClientTimedOut(httpx.ReadTimeout):
    """Raised when injected latency outlasts the in-process client's read timeout: the
    client gives up after its timeout (on the simulated clock) and the request is not
    handled. (A real server might still handle it after the client has gone; the fake
    does not, so a timed-out request never takes effect.)"""


_RESOURCE_PATHS = [
    (re.compile(r"^/api/v2/organizations/([^/]+)/workspaces/([^/]+)"), "by-name"),
    (re.compile(r"^/api/v2/workspaces/([^/]+)"), "workspace"),
    (re.compile(r"^/api/v2/runs/([^/]+)"), "run"),
    (re.compile(r"^/api/v2/(?:plans|applies)/([^/]+)"), "phase"),
    (re.compile(r"^/api/v2/state-version-outputs/([^/]+)"), "output"),
]
_CREATE_WORKSPACE = re.compile(r"^/api/v2/organizations/([^/]+)/workspaces$")


def _error_body(err: ApiError) -> bytes:
    return json.dumps(err.document(), separators=(",", ":")).encode()


def is_loopback(host: str | None) -> bool:
    """A loopback address (127.0.0.0/8, ::1, or IPv4 loopback mapped into IPv6)."""
    if not host:
        return False
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost"
    mapped = getattr(addr, "ipv4_mapped", None)
    return bool(addr.is_loopback or (mapped is not None and mapped.is_loopback))


ADMIN_REFUSED = (
    b'{"error":"the /_fake admin API answers loopback clients only: anyone who reaches it can mint '
    b'tokens, reveal sensitive outputs or reset everything (start the fake with --admin-from-anywhere '
    b'to allow other clients)"}'
)


class Gateway:
    def __init__(self, app: ASGIApp, fake: FakeTFC, *, rate_limit: bool, admin_from_anywhere: bool = False) -> None:
        self.app = app
        self.fake = fake
        self.limiter = RateLimiter() if rate_limit else None
        self.admin_from_anywhere = admin_from_anywhere

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/_fake") and not self.admin_from_anywhere:
            client = scope.get("client")
            if not is_loopback(client[0] if client else None):
                await send({"type": "http.response.start", "status": 403, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(ADMIN_REFUSED)).encode())]})
                await send({"type": "http.response.body", "body": ADMIN_REFUSED})
                return
        if scope["type"] != "http" or not scope["path"].startswith("/api/v2"):
            await self.app(scope, receive, send)
            return
        fake = self.fake
        method: str = scope["method"]
        path: str = scope["path"]
        try:
            body = await _read_body(receive, MAX_BODY_BYTES)
        except BodyTooLarge:
            err = error_for_status(413, f"request body larger than {MAX_BODY_BYTES} bytes")
            err.title = "payload too large"
            await _send_error(send, err)
            return
        scope["fake_tfc.body"] = body
        ws_name, ws_id = self._workspace_of(method, path, body)
        fired: FiredFault | None = fake.faults.match(method, path, ws_name) if fake.faults else None
        # A latency-only rule slows the request down and lets it through.
        failure = fired if fired is not None and (fired.rule.status is not None or fired.rule.drop) else None
        status_box = [0]
        timed_out = False

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
            await send(message)

        try:
            if fired is not None and fired.rule.latency:
                patience = CLIENT_READ_TIMEOUT.get()
                if patience is not None and fired.rule.latency > patience:
                    await fake.clock.sleep(patience)
                    timed_out = True
                    raise ClientTimedOut(f"fake_tfc fault {fired.name}: no answer within the client's {patience:g} s timeout")
                await fake.clock.sleep(fired.rule.latency)
            if failure is not None and not failure.rule.after:
                await self._inject(failure, recording_send)
                return
            token = fake.token(_bearer(scope))
            if token is None:
                if self.limiter is not None:
                    # Wrong tokens are rate limited too, per client address: guessing
                    # tokens costs as much as using one.
                    client = scope.get("client")
                    self.limiter.check(f"unauthenticated:{client[0] if client else '?'}", fake.clock.now())
                raise Unauthorized()
            extra: dict[str, str] = {}
            if self.limiter is not None:
                remaining = self.limiter.check(token.value, fake.clock.now())
                extra = {"X-RateLimit-Limit": str(self.limiter.limit), "X-RateLimit-Remaining": str(remaining)}
            scope["fake_tfc.token"] = token
            if failure is not None:  # an "after" fault: the request takes effect, its answer is lost
                await self.app(scope, _replay(body), _discard)
                await self._inject(failure, recording_send)
                return
            await self.app(scope, _replay(body), _with_headers(recording_send, extra) if extra else recording_send)
        except ApiError as err:
            await _send_error(recording_send, err)
        finally:
            fake.journal.record(
                time=fake.clock.now(),
                method=method,
                path=path,
                query=redact_query(scope.get("query_string", b"").decode("latin-1")),
                status=0 if timed_out or (fired is not None and fired.rule.drop) else status_box[0],
                workspace=ws_name,
                workspace_id=ws_id,
                fault=fired.name if fired else None,
            )

    async def _inject(self, fired: FiredFault, send: Send) -> None:
        rule = fired.rule
        if rule.drop:
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]})
            raise ConnectionDropped(f"fake_tfc fault {fired.name}: connection dropped")
        assert rule.status is not None
        if rule.status == 429:
            err: ApiError = error_for_status(429, rule.detail or "You have exceeded the API's rate limit.")
            err.title = "Too many requests"
            headers = rate_limit_headers(30, 0, rule.retry_after)
        else:
            err = error_for_status(rule.status, rule.detail)
            headers = {"Retry-After": f"{rule.retry_after:.3f}"} if rule.status == 503 else {}
        await _send_error(send, err, headers)

    def _workspace_of(self, method: str, path: str, body: bytes) -> tuple[str | None, str | None]:
        fake = self.fake
        if method == "POST" and path == "/api/v2/runs":
            ws_id = _dig(body, "data", "relationships", "workspace", "data", "id")
            return fake.workspace_name_of("workspace", ws_id) if isinstance(ws_id, str) else (None, None)
        m = _CREATE_WORKSPACE.match(path)
        if m and method == "POST":
            name = _dig(body, "data", "attributes", "name")
            return (name, None) if isinstance(name, str) else (None, None)
        for pattern, kind in _RESOURCE_PATHS:
            m = pattern.match(path)
            if m is None:
                continue
            if kind == "by-name":
                return m.group(2), fake.workspace_id_by_name(m.group(1), m.group(2))
            return fake.workspace_name_of(kind, m.group(1))
        return None, None


def _dig(body: bytes, *keys: str) -> Any:
    try:
        # As strict as ``parsing.parse_json``: a name the handler will refuse (a lone
        # surrogate, say) must not reach the journal, which could not serialize it.
        node: Any = orjson.loads(body) if body else None
    except ValueError:
        return None
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            text: str = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                return text[7:].strip()
            return None
    return None


#: The largest request body the fake reads (TFC documents no limit; the calls a control
#: plane makes are a few kB). Beyond it: 413, and the rest is not read.
MAX_BODY_BYTES = 5 * 1024 * 1024

#: Query parameters whose values the journal never keeps (a token sent as ``?token=``
#: must not be served back by ``GET /_fake/journal``).
_SECRET_PARAM = re.compile(r"token|secret|password|passwd|auth|key|credential|signature", re.IGNORECASE)


class BodyTooLarge(Exception):
    pass


def redact_query(query: str) -> str:
    """The query string with the values of secret-looking parameters replaced."""
    if not query:
        return query
    parts = []
    for part in query.split("&"):
        name, sep, _ = part.partition("=")
        parts.append(f"{name}{sep}REDACTED" if sep and _SECRET_PARAM.search(urllib.parse.unquote_plus(name)) else part)
    return "&".join(parts)


async def _read_body(receive: Receive, limit: int = MAX_BODY_BYTES) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _discard(message: Message) -> None:
    return None


def _with_headers(send: Send, extra: dict[str, str]) -> Send:
    encoded = [(k.lower().encode(), v.encode()) for k, v in extra.items()]

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": list(message.get("headers", [])) + encoded}
        await send(message)

    return wrapped


async def _send_error(send: Send, err: ApiError, headers: dict[str, str] | None = None) -> None:
    body = _error_body(err)
    all_headers = {**HEADERS, **err.headers(), **(headers or {})}
    raw = [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in all_headers.items()]
    await send({"type": "http.response.start", "status": err.status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
