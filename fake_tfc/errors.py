"""The fake's error hierarchy. Each error maps to exactly one HTTP status and renders
as a JSON:API error document (``{"errors": [{status, title, detail, source}]}``)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status: int = 500
    title: str = "internal error"

    def __init__(
        self, detail: str | None = None, *, pointer: str | None = None, parameter: str | None = None
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.pointer = pointer
        self.parameter = parameter

    def document(self) -> dict[str, Any]:
        err: dict[str, Any] = {"status": str(self.status), "title": self.title}
        if self.detail:
            err["detail"] = self.detail
        if self.pointer is not None:  # "" points at the whole document
            err["source"] = {"pointer": self.pointer}
        elif self.parameter:
            err["source"] = {"parameter": self.parameter}
        return {"errors": [err]}

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(ApiError):
    """The body could not be parsed at all."""

    status = 400
    title = "bad request"


class Unauthorized(ApiError):
    status = 401
    title = "unauthorized"


class Forbidden(ApiError):
    status = 403
    title = "forbidden"


class NotFound(ApiError):
    """Missing, or not visible to this token: TFC does not tell the two apart."""

    status = 404
    title = "not found"


class Conflict(ApiError):
    status = 409
    title = "conflict"


class TransitionNotAllowed(Conflict):
    title = "transition not allowed"


class InvalidAttribute(ApiError):
    status = 422
    title = "invalid attribute"


class RateLimited(ApiError):
    status = 429
    title = "Too many requests"

    def __init__(self, retry_after: float, limit: int, detail: str | None = None) -> None:
        super().__init__(detail or "You have exceeded the API's rate limit.")
        self.retry_after = retry_after
        self.limit = limit

    def headers(self) -> dict[str, str]:
        return rate_limit_headers(self.limit, 0, self.retry_after)


class ServiceUnavailable(ApiError):
    status = 503
    title = "service unavailable"


def rate_limit_headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    """Both client families' headers: pytfe reads Retry-After, go-tfe X-RateLimit-Reset."""
    reset_s = f"{max(reset, 0.0):.3f}"
    return {
        "Retry-After": reset_s,
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": reset_s,
    }


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: InvalidAttribute,
    503: ServiceUnavailable,
}


def error_for_status(status: int, detail: str | None = None) -> ApiError:
    """An error of the right class for an arbitrary injected status code."""
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls(detail)
    err = ApiError(detail)
    err.status = status
    err.title = {500: "internal error", 502: "bad gateway", 504: "gateway timeout"}.get(
        status, f"error {status}"
    )
    return err
