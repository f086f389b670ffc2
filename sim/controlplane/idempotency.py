"""Idempotency keys for the REST API's unsafe methods (``POST /tenants``, ``PATCH`` and
``DELETE /tenants/{code}``), after the IETF HTTPAPI draft "The Idempotency-Key HTTP Header
Field" (draft-ietf-httpapi-idempotency-key-header).

A client names one request with a key of its own choosing and may send that request again
(a retry after a timeout, a 5xx, a dropped connection) with the same key:

- the same key with the same request (method, path, an equivalent JSON body) within
  :data:`KEY_TTL_SECONDS` gets the first answer again (status and body), with the header
  ``Idempotent-Replayed: true``, and nothing is done a second time;
- the same key with a different request: :class:`IdempotencyKeyReused` (422);
- the same key while the first request is still being handled: :class:`IdempotentRequestInProgress` (409);
- a malformed key: :class:`InvalidIdempotencyKey` (400).

Only a success (2xx) is remembered. A request that ends in an error answer is one that
changed nothing, or one the control plane says is safe to retry (4xx: refused; 503: the
event was not delivered and the write was rolled back, or AWS did not answer): its key
record is deleted, so that the client may retry with the same key (the draft lets a server
do this).

The records live in their own DynamoDB table, one item per key, written conditionally so
that of two requests racing with one key exactly one goes on. The table expires items
through DynamoDB Time to Live on ``expires_at``; since DynamoDB deletes expired items
lazily (within days, and reads still return them until then), an item whose
``expires_at`` has passed is treated here as absent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict

from .aws import describe, no_answer, transient
from .errors import AwsUnavailable, IdempotencyKeyReused, IdempotentRequestInProgress, InvalidIdempotencyKey

log = logging.getLogger(__name__)

#: The request header, and the response header a replayed answer carries.
HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
#: The methods a key applies to (GET is idempotent already; the header is ignored there).
KEYED_METHODS = frozenset({"POST", "PATCH", "DELETE"})
#: The longest key taken, in characters (printable ASCII: one byte each). A UUID is 36.
MAX_KEY_LENGTH = 255
#: How long a key's answer is kept: the draft's example window, and what Stripe keeps.
KEY_TTL_SECONDS = 24 * 3600
#: How long a record without an answer blocks its key. It must outlast the API function's
#: timeout (30 s in the stack): past it, the request that wrote the record is surely dead
#: (its answer lost with its invocation), and a retry takes the key over instead of
#: getting 409 for a day.
LEASE_SECONDS = 60
#: The table's partition key.
KEY_ATTRIBUTE = "idempotency_key"
#: The attribute DynamoDB Time to Live reads (epoch seconds).
TTL_ATTRIBUTE = "expires_at"

_PRINTABLE = re.compile(r"[\x20-\x7e]+")
_ser = TypeSerializer()
_de = TypeDeserializer()


def validate_key(value: Any) -> str:
    """The key, if well-formed: 1 to :data:`MAX_KEY_LENGTH` printable ASCII characters
    (surrounding blanks, which HTTP does not count as part of a field value, removed). The
    value is taken as it comes, quotes included: the draft's structured-field form
    ``"8e03978e"`` is one key and ``8e03978e`` another."""
    if not isinstance(value, str):
        raise InvalidIdempotencyKey(f"{HEADER} must be a string", HEADER)
    key = value.strip(" \t")
    if not key:
        raise InvalidIdempotencyKey(f"{HEADER} must not be empty", HEADER)
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidIdempotencyKey(f"{HEADER} must be at most {MAX_KEY_LENGTH} characters long", HEADER)
    if not _PRINTABLE.fullmatch(key):
        raise InvalidIdempotencyKey(f"{HEADER} must be printable ASCII characters (no control characters)", HEADER)
    return key


def key_of(event: Mapping[str, Any]) -> str | None:
    """The ``Idempotency-Key`` of an API Gateway proxy event, or None if it has none.

    Header names are case-insensitive. ``multiValueHeaders`` holds every value a header was
    sent with, ``headers`` only the last one: a key sent twice with different values is
    refused (which one did the client mean?)."""
    wanted = HEADER.lower()
    values: list[Any] = []
    multi = event.get("multiValueHeaders")
    if isinstance(multi, Mapping):
        for name, vs in multi.items():
            if isinstance(name, str) and name.lower() == wanted:
                values += vs if isinstance(vs, list) else [vs]
    if not values:
        single = event.get("headers")
        if isinstance(single, Mapping):
            values = [v for name, v in single.items() if isinstance(name, str) and name.lower() == wanted]
    if not values:
        return None
    keys = {validate_key(v) for v in values}
    if len(keys) > 1:
        raise InvalidIdempotencyKey(f"{HEADER} is given more than once, with different values", HEADER)
    return keys.pop()


def fingerprint(method: str, path: str, body: Any, raw: str | None = None) -> str:
    """What makes two requests the same request: the method, the path and the body as
    canonical JSON (keys sorted, no blanks), so that ``{"a":1,"b":2}`` and
    ``{ "b": 2, "a": 1 }`` are one body. ``body`` is the parsed JSON (or None); a body
    too deep to serialise again is compared as its ``raw`` text."""
    try:
        canonical = json.dumps([method.upper(), path, body], sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    except (RecursionError, ValueError, TypeError):
        canonical = json.dumps([method.upper(), path, "raw", raw], ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


class IdempotencyRecord(BaseModel):
    """One key's item in the key table: whose request it names, and its answer once given."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    idempotency_key: str
    fingerprint: str
    method: str
    path: str
    #: A fresh id per writer: tells this writer's item from a concurrent one's.
    owner: str
    created_at: int
    expires_at: int
    lease_until: int
    response_status: int | None = None
    #: The answer's body, as the JSON text that was sent.
    response_body: str | None = None

    @property
    def answered(self) -> bool:
        return self.response_status is not None

    def expired(self, now: float) -> bool:
        """Past its window (DynamoDB TTL's test: ``expires_at`` earlier than now)."""
        return self.expires_at < int(now)

    def abandoned(self, now: float) -> bool:
        """Unanswered past its lease: the request that wrote it is gone."""
        return not self.answered and self.lease_until < int(now)

    def replay(self) -> dict[str, Any]:
        """The first answer again, marked as a replay."""
        return {
            "statusCode": self.response_status,
            "headers": {"Content-Type": "application/json", REPLAYED_HEADER: "true"},
            "body": self.response_body,
        }


def _to_item(rec: IdempotencyRecord) -> dict[str, Any]:
    return {k: _ser.serialize(v) for k, v in rec.model_dump().items() if v is not None}


def _from_item(item: dict[str, Any]) -> IdempotencyRecord:
    data = {k: _de.deserialize(v) for k, v in item.items()}
    return IdempotencyRecord.model_validate({k: int(v) if k in _NUMBERS and v is not None else v for k, v in data.items()})


_NUMBERS = frozenset({"created_at", "expires_at", "lease_until", "response_status"})

#: A new request may take a key whose item is absent, past its window, or unanswered past
#: its lease.
_TAKEABLE = "attribute_not_exists(#k) OR #exp < :now OR (attribute_not_exists(#st) AND #lease < :now)"
_NAMES = {"#k": KEY_ATTRIBUTE, "#exp": TTL_ATTRIBUTE, "#st": "response_status", "#lease": "lease_until"}
#: Tries of one DynamoDB call that failed transiently (the SDK's own retries come on top).
ATTEMPTS = 4


def _conditional_failed(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class IdempotencyStore:
    """The key table. ``now`` is the control plane's clock in epoch seconds."""

    def __init__(
        self,
        dynamodb: Any,
        table: str,
        now: Callable[[], float],
        *,
        new_owner: Callable[[], str] = lambda: str(uuid.uuid4()),
        ttl: int = KEY_TTL_SECONDS,
        lease: int = LEASE_SECONDS,
        attempts: int = ATTEMPTS,
    ) -> None:
        self._db = dynamodb
        self._table = table
        self._now = now
        self._new_owner = new_owner
        self._ttl = ttl
        self._lease = lease
        self._attempts = attempts

    def get(self, key: str) -> IdempotencyRecord | None:
        """The key's live record (None when absent or past its window)."""
        rec = self._read(key)
        return None if rec is None or rec.expired(self._now()) else rec

    def begin(self, key: str, fingerprint: str, method: str, path: str) -> tuple[IdempotencyRecord, bool]:
        """Take the key for a new request, or find who holds it. Returns the record and
        whether it is this caller's (then the caller handles the request and must
        :meth:`complete` or :meth:`release` it); otherwise the record of the request that
        holds the key."""
        last: BaseException | None = None
        for _ in range(self._attempts):
            now = int(self._now())
            mine = IdempotencyRecord(
                idempotency_key=key, fingerprint=fingerprint, method=method, path=path, owner=self._new_owner(),
                created_at=now, expires_at=now + self._ttl, lease_until=now + self._lease,
            )
            try:
                self._db.put_item(
                    TableName=self._table, Item=_to_item(mine), ConditionExpression=_TAKEABLE,
                    ExpressionAttributeNames=_NAMES, ExpressionAttributeValues={":now": {"N": str(now)}},
                )
                return mine, True
            except (ClientError, BotoCoreError) as exc:
                conflict = _conditional_failed(exc)
                if not conflict and not transient(exc):
                    raise
                last = exc
            # A failed condition or a lost answer: the write may have landed all the same
            # (the SDK's own retry of a write that had landed fails its condition).
            found = self._read(key)
            if found is not None and found.owner == mine.owner:
                return mine, True
            if conflict and found is not None and not found.expired(now) and not found.abandoned(now):
                return found, False
            # Gone (released or swept) or takeable since: try to take it again.
        assert last is not None
        if _conditional_failed(last):
            raise IdempotentRequestInProgress(f"the record of this {HEADER} kept changing; retry with the same key", HEADER)
        kind = "no answer" if no_answer(last) else describe(last)
        raise AwsUnavailable(f"the idempotency key table did not answer PutItem ({kind}); retry", HEADER)

    def complete(self, record: IdempotencyRecord, status: int, body: str) -> None:
        """Remember the answer to the request that holds the key (only while it still does)."""
        self._write(
            "update_item", record,
            UpdateExpression="SET #st = :s, #body = :b",
            ExpressionAttributeNames={"#st": "response_status", "#body": "response_body", "#o": "owner"},
            ExpressionAttributeValues={":s": {"N": str(status)}, ":b": {"S": body}, ":o": {"S": record.owner}},
        )

    def release(self, record: IdempotencyRecord) -> None:
        """Forget the key (only while this request still holds it): the client may use it again."""
        self._write(
            "delete_item", record,
            ExpressionAttributeNames={"#o": "owner"}, ExpressionAttributeValues={":o": {"S": record.owner}},
        )

    def _write(self, operation: str, record: IdempotencyRecord, **kwargs: Any) -> None:
        """A write conditional on ``record`` still holding its key; safe to repeat (a repeat
        of a write that landed writes the same thing, or fails its condition harmlessly)."""
        last: BaseException | None = None
        for _ in range(self._attempts):
            try:
                getattr(self._db, operation)(
                    TableName=self._table, Key={KEY_ATTRIBUTE: {"S": record.idempotency_key}},
                    ConditionExpression="#o = :o", **kwargs,
                )
                return
            except (ClientError, BotoCoreError) as exc:
                if _conditional_failed(exc):
                    # Taken over (this request outlived its lease) or already deleted.
                    log.warning("idempotency key record %s no longer belongs to this request; %s skipped", record.owner, operation)
                    return
                if not transient(exc):
                    raise
                last = exc
        assert last is not None
        raise AwsUnavailable(f"the idempotency key table did not answer {operation} ({describe(last)})", HEADER)

    def _read(self, key: str) -> IdempotencyRecord | None:
        last: BaseException | None = None
        for _ in range(self._attempts):
            try:
                item = self._db.get_item(TableName=self._table, Key={KEY_ATTRIBUTE: {"S": key}}, ConsistentRead=True).get("Item")
                return _from_item(item) if item else None
            except (ClientError, BotoCoreError) as exc:
                if not transient(exc):
                    raise
                last = exc
        assert last is not None
        raise AwsUnavailable(f"the idempotency key table did not answer GetItem ({describe(last)}); retry", HEADER)


def once(store: IdempotencyStore, key: str, print_: str, method: str, path: str, answer: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Answer a keyed request: replay the key's answer, refuse a clash, or handle the
    request with ``answer`` (a proxy response; errors already turned into answers) and
    remember a success / forget the key after an error answer."""
    record, mine = store.begin(key, print_, method, path)
    if not mine:
        if record.fingerprint != print_:
            raise IdempotencyKeyReused(
                f"{HEADER} was first used for another request (its method, path or body differ); use a new key for a new request",
                HEADER,
            )
        if not record.answered:
            raise IdempotentRequestInProgress(f"the request with this {HEADER} is still being handled; retry with the same key", HEADER)
        return record.replay()
    try:
        resp = answer()
    except BaseException:
        _quietly(store.release, record)
        raise
    status = int(resp.get("statusCode", 500))
    if 200 <= status < 300:
        # The request took effect: its answer stands even if it cannot be remembered (the
        # record is then unanswered; past its lease a retry takes the key over and meets
        # the tenant's new state, e.g. 409, instead of a second flow).
        _quietly(store.complete, record, status, str(resp.get("body") or "null"))
    else:
        _quietly(store.release, record)
    return resp


def _quietly(fn: Callable[..., None], *args: Any) -> None:
    try:
        fn(*args)
    except (AwsUnavailable, ClientError, BotoCoreError) as exc:
        log.warning("idempotency key table: %s failed (%s); the lease ends the record", getattr(fn, "__name__", "write"), describe(exc))
