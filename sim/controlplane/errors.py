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


class InvalidIdempotencyKey(InvalidRequest):
    """The ``Idempotency-Key`` header is empty, too long, not printable ASCII, or given
    more than once with different values."""


class IdempotencyKeyReused(ControlPlaneError):
    """The key was first used with a different request (method, path or body): a key names
    one request. The IETF HTTPAPI draft "The Idempotency-Key HTTP Header Field" answers 422."""

    status = 422


class IdempotentRequestInProgress(ControlPlaneError):
    """The first request with this key is still being handled (its record holds no answer
    yet): retry later with the same key."""

    status = 409


class IdempotencyNotConfigured(ControlPlaneError):
    """A request carries an ``Idempotency-Key`` but this deployment has no key table: the
    request is refused rather than handled without the guarantee the client asked for."""

    status = 501
