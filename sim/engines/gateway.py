"""API Gateway's REST API proxy integration, as every engine uses it: the proxy event a request
becomes for the API function, and the response API Gateway makes of the function's result.
Engines invoke the function through their own Lambda API; this module holds only the mapping."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


#: API Gateway's REST API payload quota: 10 MB, not adjustable ("Amazon API Gateway quotas",
#: API Gateway developer guide). A bigger request never reaches the function.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024


@dataclass
class ApiResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: str = ""


def payload_too_large() -> ApiResponse:
    """What API Gateway answers for a request over its payload quota (the function is not invoked)."""
    raw = json.dumps({"message": "Request Too Long"})
    return ApiResponse(413, json.loads(raw), {"Content-Type": "application/json"}, raw)


def proxy_response(payload: bytes, function_error: str | None) -> ApiResponse:
    """What API Gateway's proxy integration answers for the API function's invoke result."""
    if function_error:
        # What API Gateway answers when the integration fails.
        raw = json.dumps({"message": "Internal server error"})
        return ApiResponse(502, json.loads(raw), {"Content-Type": "application/json"}, raw)
    result = json.loads(payload or b"null")
    raw = result.get("body") or "null"
    return ApiResponse(int(result.get("statusCode", 502)), json.loads(raw), result.get("headers") or {}, raw)


def proxy_event(
    method: str, path: str, body: Any = None, query: dict[str, str] | None = None, raw_body: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST API proxy integration event (the fields the handler reads and a
    few more so that real handler code finds them where AWS puts them). ``headers`` come
    as API Gateway passes them: in ``headers`` (the last value of each) and in
    ``multiValueHeaders`` (every value)."""
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    sent = {"Content-Type": "application/json", **(headers or {})}
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method.upper(),
        "headers": sent,
        "multiValueHeaders": {k: [v] for k, v in sent.items()},
        "queryStringParameters": query or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "requestContext": {"stage": "local", "httpMethod": method.upper(), "path": path},
        "body": text,
        "isBase64Encoded": False,
    }
