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
    """PutEvents never acknowledged the event after resends (the API then rolls the request
    back if no flow took it up, and answers :class:`EventNotDelivered`)."""

    status = 503


class AwsUnavailable(ControlPlaneError):
    """An AWS call kept failing in a way that may be transient (no answer, a 5xx, throttling)
    and the control plane could not tell whether it took effect; retrying is safe."""

    status = 503


class EventNotDelivered(AwsUnavailable):
    """PutEvents never gave an answer that the event was put, and the request was rolled back
    before any flow took it up: nothing was changed and nothing will be provisioned."""


class MalformedRow(ControlPlaneError):
    """A tenant's stored row cannot be read (an unknown status, a missing field): only an
    operator can repair it. Listings and the decommission skip such rows and report them."""

    status = 500
