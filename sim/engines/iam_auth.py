"""API Gateway's ``AWS_IAM`` method authorization, as the simulator's API Gateway layer does it
in front of the API function (the control plane's Lambda does not change): a request signed
with Signature Version 4 (service ``execute-api``, the stack's region) is checked by
recomputing its signature with botocore and the secret of its access key (the stack's
credentials table, :attr:`sim.stack.wiring.Stack.principals`), its date against the WALL
clock (clients sign with real time; API Gateway allows 5 minutes either way), then the
stack's resource policy is evaluated for ``execute-api:Invoke`` on the method's ARN.

Both the served REST API (:mod:`sim.engines.rest_api`) and the in-process
:meth:`sim.engines.base.BackendBase.api` call :func:`authorize`; :func:`sign` is what the
in-process helpers sign with. Secret keys are never logged nor put in a message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .gateway import ApiResponse

if TYPE_CHECKING:
    from sim.stack.wiring import Principal, Stack

SERVICE = "execute-api"
ACTION = "execute-api:Invoke"
ALGORITHM = "AWS4-HMAC-SHA256"
#: API Gateway (as every SigV4 service) refuses a signature dated more than 5 minutes from now.
MAX_SKEW = timedelta(minutes=5)
AMZ_DATE = "%Y%m%dT%H%M%SZ"
#: Who an in-process call is made as by default; ``None`` (or ``"anonymous"``) sends it unsigned.
DEFAULT_PRINCIPAL = "operator"
ANONYMOUS = "anonymous"

BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True)
class Denied:
    """API Gateway's 403 for a request the authorization refused: its JSON ``message`` and
    the ``x-amzn-ErrorType`` header it sends with it."""

    message: str
    error_type: str
    status: int = 403

    def response(self) -> ApiResponse:
        raw = json.dumps({"message": self.message})
        return ApiResponse(self.status, json.loads(raw), {"Content-Type": "application/json", "x-amzn-ErrorType": self.error_type}, raw)


@dataclass(frozen=True)
class Caller:
    """Who a request with a valid signature comes from."""

    principal: Principal
    arn: str  # arn:aws:sts::{account}:assumed-role/{role}/{session}
    role_arn: str  # arn:aws:iam::{account}:role/{role}


@dataclass(frozen=True)
class SignedRequest:
    """An HTTP request as the authorization reads it: ``path`` without the query, ``query``
    the raw query string, header names in any case, ``body`` the exact bytes sent."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers.items():
            if k.lower() == name:
                return v
        return None


# ----------------------------------------------------------------- signature


def _signature(req: SignedRequest, signed: list[str], host: str, secret: str, access_key: str, region: str, amz_date: str) -> str:
    """botocore's SigV4 signature of ``req`` over exactly the ``signed`` headers."""
    headers = {name: (req.header(name) or "") for name in signed}
    headers["host"] = host
    if "x-amz-content-sha256" in headers:
        # botocore trusts this header as the payload's hash; recompute it from the bytes
        # received so that a tampered body cannot ride on the original hash.
        headers["x-amz-content-sha256"] = hashlib.sha256(req.body).hexdigest()
    url = f"http://{host}{_text(req.path)}" + (f"?{_text(req.query)}" if req.query else "")
    aws = AWSRequest(method=req.method.upper(), url=url, headers=headers, data=req.body)
    aws.context["timestamp"] = amz_date
    auth = SigV4Auth(Credentials(access_key, secret), SERVICE, region)
    canonical = auth.canonical_request(aws)
    return str(auth.signature(auth.string_to_sign(aws, canonical), aws))


def sign(
    principal: Principal, region: str, method: str, url: str, headers: Mapping[str, str] | None = None, body: bytes = b"",
    *, at: datetime | None = None,
) -> dict[str, str]:
    """The headers to add to a request for it to be signed as ``principal`` (``Authorization``,
    ``X-Amz-Date``, ``host``): what botocore's ``SigV4Auth`` signs, at ``at`` (default now)."""
    aws = AWSRequest(method=method.upper(), url=url, headers=dict(headers or {}), data=body)
    when = (at or datetime.now(timezone.utc)).strftime(AMZ_DATE)
    aws.headers["X-Amz-Date"] = when
    aws.context["timestamp"] = when
    auth = SigV4Auth(Credentials(principal.access_key_id, principal.secret_access_key), SERVICE, region)
    to_sign = auth.headers_to_sign(aws)
    signature = auth.signature(auth.string_to_sign(aws, auth.canonical_request(aws)), aws)
    return {
        "Authorization": f"{ALGORITHM} Credential={auth.scope(aws)}, SignedHeaders={auth.signed_headers(to_sign)}, Signature={signature}",
        "X-Amz-Date": when,
        "host": to_sign["host"],
    }


def api_host(stack: Stack) -> str:
    """The host in-process calls are signed for (the API's execute-api domain)."""
    return f"{stack.api_id}.execute-api.{stack.region}.amazonaws.com"


def sign_call(
    stack: Stack, principal: str, method: str, path: str, query: Mapping[str, str] | None, headers: Mapping[str, str], body: bytes
) -> dict[str, str]:
    """``headers`` plus the signature of an in-process call as the stack's ``principal``."""
    url = f"https://{api_host(stack)}{_text(path)}" + (f"?{query_string(query)}" if query else "")
    return {**headers, **sign(stack.principal(principal), stack.region, method, url, headers, body)}


def query_string(query: Mapping[str, str] | None) -> str:
    """An in-process call's query as it would be sent (a lone surrogate percent-encoded as-is)."""
    return urlencode(query or {}, errors="surrogatepass")


def _text(s: str) -> str:
    """``s`` as botocore can quote it: in-process calls may carry lone surrogates (bad-input
    tests), which no HTTP request can; they are signed and checked as U+FFFD alike."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


_PARAM = re.compile(r"(\w+)=([^,\s]*)")


def verify(stack: Stack, req: SignedRequest, now: Callable[[], float] = time.time) -> Caller | Denied:
    """Check the request's SigV4 signature; who signed it, or API Gateway's 403."""
    authorization = req.header("authorization")
    if not authorization:
        return Denied("Missing Authentication Token", "MissingAuthenticationTokenException")
    algorithm, _, rest = authorization.strip().partition(" ")
    params = dict(_PARAM.findall(rest))
    if algorithm != ALGORITHM or not {"Credential", "SignedHeaders", "Signature"} <= params.keys():
        return Denied(
            f"Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters with algorithm "
            f"{ALGORITHM}. Authorization={authorization}", "IncompleteSignatureException",
        )
    scope = params["Credential"].split("/")
    amz_date = req.header("x-amz-date") or ""
    if len(scope) != 5 or scope[4] != "aws4_request":
        return Denied("Credential should be scoped to a valid region. ", "IncompleteSignatureException")
    key_id, day, region, service, _ = scope
    try:
        signed_at = datetime.strptime(amz_date, AMZ_DATE).replace(tzinfo=timezone.utc)
    except ValueError:
        return Denied(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
            f"Authorization={authorization}", "IncompleteSignatureException",
        )
    if region != stack.region:
        return Denied(f"Credential should be scoped to a valid region, not '{region}'. ", "InvalidSignatureException")
    if service != SERVICE:
        return Denied(f"Credential should be scoped to correct service: '{SERVICE}'. ", "InvalidSignatureException")
    if day != amz_date[:8]:
        return Denied(f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{day}' != '{amz_date[:8]}', from '{amz_date}'.", "InvalidSignatureException")
    principal = stack.principal_by_key(key_id)
    if principal is None:
        return Denied("The security token included in the request is invalid.", "UnrecognizedClientException")
    wall = datetime.fromtimestamp(now(), timezone.utc).replace(microsecond=0)
    if signed_at < wall - MAX_SKEW:
        return Denied(
            f"Signature expired: {amz_date} is now earlier than {(wall - MAX_SKEW).strftime(AMZ_DATE)} "
            f"({wall.strftime(AMZ_DATE)} - 5 min.)", "InvalidSignatureException",
        )
    if signed_at > wall + MAX_SKEW:
        return Denied(
            f"Signature not yet current: {amz_date} is still later than {(wall + MAX_SKEW).strftime(AMZ_DATE)} "
            f"({wall.strftime(AMZ_DATE)} + 5 min.)", "InvalidSignatureException",
        )
    signed = [h.strip().lower() for h in params["SignedHeaders"].split(";") if h.strip()]
    host = req.header("host")
    if "host" not in signed or host is None:
        return Denied(BAD_SIGNATURE, "InvalidSignatureException")
    expected = _signature(req, signed, host, principal.secret_access_key, key_id, stack.region, amz_date)
    if not hmac.compare_digest(expected.encode(), params["Signature"].encode()):
        return Denied(BAD_SIGNATURE, "InvalidSignatureException")
    return Caller(principal, stack.caller_arn(principal), stack.principal_role_arn(principal))


# ----------------------------------------------------------------- resource policy


class Decision(Enum):
    ALLOW = "allow"
    IMPLICIT_DENY = "implicit deny"
    EXPLICIT_DENY = "explicit deny"


def _matches(pattern: str, value: str, *, case: bool = True) -> bool:
    """IAM's wildcards: ``*`` any run of characters (``/`` included), ``?`` one character."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    # DOTALL: IAM's wildcards match any character, a newline in a path included.
    return re.fullmatch(rx, value, re.DOTALL if case else re.DOTALL | re.IGNORECASE) is not None


def _as_list(v: Any) -> list[str]:
    return [v] if isinstance(v, str) else list(v or [])


def _principal_matches(statement: Mapping[str, Any], caller: Caller, account: str) -> bool:
    p = statement.get("Principal", "*")
    if p == "*":
        return True
    wanted = _as_list(p.get("AWS")) if isinstance(p, Mapping) else []
    return any(
        w == "*" or w in (caller.arn, caller.role_arn, account, f"arn:aws:iam::{account}:root") for w in wanted
    )


def evaluate(policy: Mapping[str, Any], caller: Caller, action: str, resource: str, account: str) -> Decision:
    """IAM's evaluation of one resource policy: an explicit Deny wins, then an Allow; with
    neither, the request is denied (implicitly)."""
    allowed = False
    for st in _as_list_of_statements(policy.get("Statement")):
        if not _principal_matches(st, caller, account):
            continue
        if not any(_matches(a, action, case=False) for a in _as_list(st.get("Action"))):
            continue
        if not any(_matches(r, resource) for r in _as_list(st.get("Resource"))):
            continue
        if st.get("Effect") == "Deny":
            return Decision.EXPLICIT_DENY
        if st.get("Effect") == "Allow":
            allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def _as_list_of_statements(v: Any) -> list[Mapping[str, Any]]:
    return [v] if isinstance(v, Mapping) else list(v or [])


def authorize(stack: Stack, req: SignedRequest, now: Callable[[], float] = time.time) -> Caller | Denied:
    """API Gateway's AWS_IAM check of one request: its signature, then the resource policy."""
    caller = verify(stack, req, now)
    if isinstance(caller, Denied):
        return caller
    resource = stack.method_arn(req.method, req.path)
    decision = evaluate(stack.resource_policy(), caller, ACTION, resource, stack.account)
    if decision is Decision.ALLOW:
        return caller
    tail = " with an explicit deny" if decision is Decision.EXPLICIT_DENY else ""
    return Denied(
        f"User: {caller.arn} is not authorized to perform: {ACTION} on resource: {resource}{tail}", "AccessDeniedException"
    )



class HttpxSigV4(httpx.Auth):
    """An ``httpx`` auth that signs each request as ``principal`` (SigV4, ``execute-api``):
    ``httpx.Client(base_url=..., auth=HttpxSigV4(stack.principal("operator"), stack.region))``.
    Signs the host and the date only, so that whatever headers httpx adds do not matter."""

    requires_request_body = True

    def __init__(self, principal: Principal, region: str) -> None:
        self.principal, self.region = principal, region

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(sign(self.principal, self.region, request.method, str(request.url), {}, request.content))
        yield request


def httpx_auth(role: str = DEFAULT_PRINCIPAL, stack: Stack | None = None) -> HttpxSigV4:
    """Signing as ``role`` of ``stack`` (default: the stack ``sim up`` serves)."""
    from sim.stack.wiring import Stack as _Stack

    s = stack or _Stack()
    return HttpxSigV4(s.principal(role), s.region)
