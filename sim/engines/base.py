"""What every engine offers a caller (the :class:`Backend` protocol), and the part of it that
is the same on every engine (:class:`BackendBase`): the REST API through the API function's
proxy integration, tenant rows read through that API, and queues drained through SQS."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

from botocore.exceptions import BotoCoreError, ClientError

from .iam_auth import ANONYMOUS, DEFAULT_PRINCIPAL, Caller, SignedRequest, authorize, query_string, sign_call
from .gateway import MAX_PAYLOAD_BYTES, ApiResponse, payload_too_large, proxy_event, proxy_response

if TYPE_CHECKING:
    from fake_tfc import FakeTFC
    from sim.stack.deploy import Deployed
    from sim.stack.wiring import Stack


log = logging.getLogger(__name__)


class EngineUnavailable(RuntimeError):
    """The engine could not be started or reached; the message says why."""


@runtime_checkable
class Backend(Protocol):
    """The control plane deployed on one engine, with the fake TFC it drives.

    ``run_until`` is simulated time on the embedded engine and real time (bounded) on the
    others; callers written for one work on the other."""

    stack: Stack
    fake: FakeTFC
    deployed: Deployed | None

    def start(self) -> Self: ...
    def stop(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...
    def client(self, service: str) -> Any: ...
    def api(
        self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None, headers: dict[str, str] | None = None,
        *, principal: str | None = DEFAULT_PRINCIPAL,
    ) -> ApiResponse: ...
    def invoke_api(self, event: dict[str, Any]) -> ApiResponse: ...
    def tenant(self, code: str) -> dict[str, Any] | None: ...
    def status(self, code: str) -> str | None: ...
    def run_until(self, predicate: Callable[[], bool], *, max_seconds: float) -> bool: ...
    def queue_messages(self, queue: str) -> list[dict[str, Any]]: ...


class TenantReads:
    """A tenant's row and status, read through the REST API (whatever carries the calls)."""

    def api(
        self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None, headers: dict[str, str] | None = None,
        *, principal: str | None = DEFAULT_PRINCIPAL,
    ) -> ApiResponse:
        raise NotImplementedError

    def tenant(self, code: str) -> dict[str, Any] | None:
        r = self.api("GET", f"/tenants/{code}")
        return r.body if r.status == 200 else None

    def status(self, code: str) -> str | None:
        t = self.tenant(code)
        return t["status"] if t else None


class BackendBase(TenantReads):
    """The engine-independent half of :class:`Backend`; a subclass provides ``client``,
    ``stack`` and ``deployed``."""

    stack: Stack
    deployed: Deployed | None

    def client(self, service: str) -> Any:
        raise NotImplementedError

    def api(
        self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None, headers: dict[str, str] | None = None,
        *, principal: str | None = DEFAULT_PRINCIPAL,
    ) -> ApiResponse:
        """Call the control plane's REST API as API Gateway's proxy integration does: the
        request becomes a proxy event for the API function. When the stack's auth is
        ``iam`` the call is signed as ``principal`` (a role of the stack's credentials table;
        ``None`` or ``"anonymous"``: unsigned) and API Gateway's AWS_IAM check runs first."""
        event = proxy_event(method, path, body, query, headers=headers)
        if self.stack.auth != "iam":
            return self.invoke_api(event)
        raw = (event["body"] or "").encode("utf-8", "surrogatepass")
        sent: dict[str, str] = dict(event["headers"])
        if principal not in (None, ANONYMOUS):
            assert principal is not None
            sent = sign_call(self.stack, principal, method, path, query, sent, raw)
            event = proxy_event(method, path, body, query, headers=sent)
        outcome = authorize(self.stack, SignedRequest(method, path, query_string(query), sent, raw))
        if not isinstance(outcome, Caller):
            return outcome.response()
        return self.invoke_api(event)

    def invoke_api(self, event: dict[str, Any]) -> ApiResponse:
        body = event.get("body") or ""
        if len(body) > MAX_PAYLOAD_BYTES and len(body.encode("utf-8", "surrogatepass")) > MAX_PAYLOAD_BYTES:
            return payload_too_large()
        try:
            resp = self.client("lambda").invoke(FunctionName=self.stack.function_name("api"), Payload=json.dumps(event).encode())
        except (ClientError, BotoCoreError) as exc:
            # The integration failed (no such function after a reset, a throttle): API
            # Gateway answers 502 with its generic JSON body, never a plain-text 500.
            log.error("the API function could not be invoked: %s", exc)
            return proxy_response(b"", "Unhandled")
        return proxy_response(resp["Payload"].read(), resp.get("FunctionError"))

    def queue_messages(self, queue: str) -> list[dict[str, Any]]:
        """Take every message from one of the stack's queues: the rule targets' DLQ
        (``"dlq"``) or the flow DLQ (``"flow_dlq"``)."""
        if self.deployed is None:
            raise RuntimeError("the backend is not started")
        sqs = self.client("sqs")
        url = self.deployed.queue_urls[queue]
        out: list[dict[str, Any]] = []
        while True:
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages", [])
            if not msgs:
                return out
            for m in msgs:
                out.append(m)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
