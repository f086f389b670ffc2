"""The control plane's errors, each mapped to exactly one HTTP status (see ``api``)."""

from __future__ import annotations


class ControlPlaneError(Exception):
    status = 500

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidRequest(ControlPlaneError):
    status = 400


class InvalidTenantCode(InvalidRequest):
    pass


class TenantNotFound(ControlPlaneError):
    status = 404


class TenantConflict(ControlPlaneError):
    """A flow is already in progress, or the action is not allowed from the status."""

    status = 409


class FlowSuperseded(TenantConflict):
    """The tenant row has moved on to another request (or out of progress): the flow
    that tried to write must not act."""


class EventNotAccepted(ControlPlaneError):
    """EventBridge did not take the event after retries; the write was rolled back."""

    status = 503
