"""How the control plane tells an AWS call that may have taken effect from one that did not.

Botocore raises a ``ClientError`` when AWS answered (the call was refused, or failed on AWS's
side) and a ``BotoCoreError`` when no answer came (a dropped connection, a read timeout):
then the call may have taken effect, and only reading the state back tells. The SDKs retry
the same errors on their own ("Retry behavior" in the AWS SDKs and Tools reference guide:
transient errors are connection errors and HTTP 500, 502, 503 and 504; throttling errors
are 400/429 with a throttling code), so an answer that was lost and then retried by the SDK
arrives as the answer to the *retry* (a conditional write that took effect the first time
fails its condition the second time): callers must read back, not trust the code.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

#: Error codes AWS documents as throttling or transient server-side failures.
TRANSIENT_CODES = frozenset(
    {
        "InternalServerError",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "LimitExceededException",
    }
)


def no_answer(exc: BaseException) -> bool:
    """No answer came: the call may or may not have taken effect."""
    return isinstance(exc, BotoCoreError)


def transient(exc: BaseException) -> bool:
    """Worth another try: no answer, or an answer that says "not now"."""
    if no_answer(exc):
        return True
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return err.get("Code") in TRANSIENT_CODES or status >= 500
    return False


def describe(exc: BaseException) -> str:
    """A short name for an AWS failure, for error messages (never a request's content)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or type(exc).__name__)
    return type(exc).__name__
