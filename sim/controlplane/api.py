"""The API Lambda: API Gateway REST proxy events in, JSON out. Thin and asynchronous:
validate, write the desired state (conditionally), put the event on the action's bus,
answer 202 with the in-progress status. It never calls Terraform Cloud."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .config import ControlPlaneSettings
from .aws import describe, no_answer
from .errors import (
    AwsUnavailable,
    ControlPlaneError,
    EventNotAccepted,
    EventNotDelivered,
    IdempotencyNotConfigured,
    InvalidRequest,
    TenantNotFound,
)
from .models import (
    CreateTenantRequest,
    RequestVariable,
    SecretRef,
    SensitiveValue,
    StoredVariable,
    TenantEvent,
    TenantRecord,
    UpdateTenantRequest,
    validate_tenant_code,
)
from .secrets import TenantSecrets
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .idempotency import KEYED_METHODS, IdempotencyStore, fingerprint, key_of, once
from .statuses import Action
from .tenants import TenantStore, allowed

log = logging.getLogger(__name__)

SOURCE = "tenant-sim.api"
MAX_PAGE = 100
LIMIT = re.compile(r"[0-9]{1,3}")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class ApiDeps:
    settings: ControlPlaneSettings
    store: TenantStore
    events: Any  # a boto3 EventBridge client
    #: Where sensitive variables are kept and sensitive outputs are read back from.
    secrets: TenantSecrets
    now: Callable[[], str] = utc_now
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())
    #: The idempotency key table (None: not configured; a request with a key is refused).
    keys: IdempotencyStore | None = None
    #: The current trace's W3C ``traceparent``, carried in the event (None: not traced).
    traceparent: Callable[[], str | None] = lambda: None


def response(status: int, body: Any) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def put_event(deps: ApiDeps, event: TenantEvent) -> None:
    """Put one event on its action's bus, resending a failed entry; raise
    :class:`EventNotAccepted` if it never lands. An entry PutEvents reports failed
    (``FailedEntryCount``) was not put; a call that got no answer may have put it, so the
    message says so (the caller's rollback is fenced against a flow that took it up)."""
    entry = {
        "Source": SOURCE,
        "DetailType": event.action.detail_type,
        "Detail": event.model_dump_json(exclude_none=True),
        "EventBusName": deps.settings.buses[event.action],
    }
    last = "no attempt"
    for _ in range(deps.settings.put_events_attempts):
        try:
            resp = deps.events.put_events(Entries=[entry])
        except Exception as exc:  # a throttled, failed or unanswered call is resent like a failed entry
            last = f"{describe(exc)}{' (no answer: it may have been put)' if no_answer(exc) else ''}"
            continue
        if resp.get("FailedEntryCount", 0) == 0:
            return
        failed = resp["Entries"][0]
        last = f"{failed.get('ErrorCode')}: {failed.get('ErrorMessage')}"
    raise EventNotAccepted(f"the {event.action.value} event was not accepted ({last}); nothing was changed")


def start_flow(
    deps: ApiDeps, action: Action, record: TenantRecord, previous: TenantRecord | None, actor: str, key: str | None = None
) -> TenantRecord:
    """Write the desired state, put the event; undo the write if the event never lands.

    The undo is fenced: it succeeds only while no flow has claimed the request (Trigger's
    first act, :meth:`TenantStore.claim`). If an event whose answer was lost did land and
    its flow has begun, the undo fails, the request stands and the answer is 202: a 503
    always means that nothing was changed and nothing will be provisioned."""
    deps.store.begin(record, previous)
    event = TenantEvent(
        tenant_code=record.tenant_code,
        action=action,
        request_id=record.request_id,
        actor=actor,
        variables=record.variables,
        requested_at=record.updated_at,
        idempotency_key=key,
        traceparent=deps.traceparent(),
    )
    try:
        put_event(deps, event)
    except EventNotAccepted as exc:
        if deps.store.restore(record, previous):
            raise EventNotDelivered(exc.message, exc.field) from None
        log.warning("tenant %s: request %s stands: its event was not acknowledged but a flow took it up", record.tenant_code, record.request_id)
        return deps.store.get(record.tenant_code) or record
    return record


def _not_past(deps: ApiDeps, when: date | None) -> None:
    """A decommission date is today or later (UTC, on the control plane's clock). Today means
    "at the next daily run"; a past date would provision a tenant only for the next run to
    destroy it, so it is refused."""
    today = date.fromisoformat(deps.now()[:10])
    if when is not None and when < today:
        raise InvalidRequest(f"decommission_date {when.isoformat()} is in the past (today is {today.isoformat()})", "decommission_date")


def create(deps: ApiDeps, body: Any, key: str | None = None) -> dict[str, Any]:
    req = CreateTenantRequest.parse(body)
    _not_past(deps, req.decommission_date)
    previous = deps.store.get(req.tenant_code)
    now = deps.now()
    request_id = deps.new_id()
    allowed(Action.CREATE, req.tenant_code, previous)
    variables = _kept(deps, req.tenant_code, request_id, req.variables, {})
    record = TenantRecord(
        tenant_code=req.tenant_code,
        status=Action.CREATE.in_progress_status,
        variables=variables,
        decommission_date=req.decommission_date,
        created_at=now,
        updated_at=now,
        request_id=request_id,
        action=Action.CREATE,
        version=(previous.version + 1) if previous else 1,
    )
    record = start_flow(deps, Action.CREATE, record, previous, actor="api", key=key)
    return response(202, record.public())


def _kept(
    deps: ApiDeps, code: str, request_id: str, given: dict[str, RequestVariable], previous: dict[str, StoredVariable]
) -> dict[str, StoredVariable]:
    """The variables as the row keeps them. Sensitive values given are written first, as a
    new version of the tenant's variables secret, and the row keeps references to it.

    A new version holds every sensitive value the tenant has, the ones this request does
    not change read back from the version the row names, so that every reference in the
    row names the one version written for this request. Written before the row (its
    version id is what the row names): a request refused after this leaves a version that
    no row names, never a row naming a version that is not there."""
    for key, value in given.items():
        if isinstance(previous.get(key), SecretRef) and not isinstance(value, SensitiveValue):
            raise InvalidRequest(
                f'variables.{key}: variable {key!r} is sensitive; it stays so (give {{"value": ..., "sensitive": true}})',
                f"variables.{key}",
            )
    merged: dict[str, StoredVariable] = {**previous, **{k: v for k, v in given.items() if isinstance(v, str)}}
    new = {k: v.value for k, v in given.items() if isinstance(v, SensitiveValue)}
    if not new:
        return merged
    secrets = deps.secrets
    values: dict[str, str] = {}
    kept = {k: v for k, v in previous.items() if isinstance(v, SecretRef) and k not in new}
    try:
        for ref in sorted({(v.secret, v.version) for v in kept.values()}):
            values.update({k: v for k, v in secrets.read(*ref).items() if k in kept})
        values.update(new)
        name, version = secrets.write(code, "variables", values, request_id)
    except (ClientError, BotoCoreError, AwsUnavailable) as exc:
        why = exc.message if isinstance(exc, AwsUnavailable) else describe(exc)
        raise AwsUnavailable(f"the sensitive variables could not be kept ({why}); nothing was changed", "variables") from None
    for key in values:
        merged[key] = SecretRef(secret=name, version=version)
    return merged


def update(deps: ApiDeps, code: str, body: Any, key: str | None = None) -> dict[str, Any]:
    req = UpdateTenantRequest.parse(body)
    if req.variables is None and req.decommission_date is None:
        raise InvalidRequest("give variables and/or decommission_date", "body")
    _not_past(deps, req.decommission_date)
    previous = _existing(deps, code)
    request_id = deps.new_id()
    allowed(Action.UPDATE, code, previous)
    variables = _kept(deps, code, request_id, req.variables or {}, previous.variables)
    record = previous.model_copy(
        update={
            "status": Action.UPDATE.in_progress_status,
            "variables": variables,
            "decommission_date": req.decommission_date or previous.decommission_date,
            "updated_at": deps.now(),
            "request_id": request_id,
            "action": Action.UPDATE,
            "last_error": None,
            "run_id": None,  # the new flow starts its own run
            "execution": None,  # and no flow has taken it up yet
            "version": previous.version + 1,
        }
    )
    record = start_flow(deps, Action.UPDATE, record, previous, actor="api", key=key)
    return response(202, record.public())


def delete(deps: ApiDeps, code: str, actor: str = "api", key: str | None = None) -> TenantRecord:
    previous = _existing(deps, code)
    record = previous.model_copy(
        update={
            "status": Action.DELETE.in_progress_status,
            "updated_at": deps.now(),
            "request_id": deps.new_id(),
            "action": Action.DELETE,
            "last_error": None,
            "run_id": None,  # the new flow starts its own run
            "execution": None,  # and no flow has taken it up yet
            "version": previous.version + 1,
        }
    )
    return start_flow(deps, Action.DELETE, record, previous, actor=actor, key=key)


def _existing(deps: ApiDeps, code: str) -> TenantRecord:
    validate_tenant_code(code)
    found = deps.store.get(code)
    if found is None:
        raise TenantNotFound(f"tenant {code!r} does not exist", "tenant_code")
    return found


def list_tenants(deps: ApiDeps, query: dict[str, str]) -> dict[str, Any]:
    raw = query.get("limit", "20")
    # ASCII digits only: str.isdigit() is true for "²" (int() refuses it) and "٣" (int()
    # takes it), and int() refuses more than 4,300 digits.
    if not isinstance(raw, str) or not LIMIT.fullmatch(raw) or not 1 <= int(raw) <= MAX_PAGE:
        raise InvalidRequest(f"limit must be an integer from 1 to {MAX_PAGE}", "limit")
    start = query.get("next")
    if start is not None:
        validate_tenant_code(start)
    items, nxt = deps.store.page(int(raw), start)
    return response(200, {"tenants": [r.public() for r in items], "next": nxt})


def reveal(deps: ApiDeps, code: str) -> dict[str, Any]:
    """``GET /tenants/{code}/secrets``: the tenant's sensitive outputs, read from Secrets
    Manager. Its own path (and API Gateway method) so that a policy can grant it apart from
    ``GET /tenants/{code}``. Sensitive variables are write-only, as in TFC: never shown."""
    row = _existing(deps, code)
    ref = row.sensitive_outputs
    values = deps.secrets.outputs(ref) if ref is not None else {}
    return {"tenant_code": row.tenant_code, "outputs": {k: values.get(k) for k in (ref.names if ref else [])}}


def _path(event: dict[str, Any]) -> str:
    return (event.get("path") or "/").rstrip("/") or "/"


def route(deps: ApiDeps, event: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    method = event.get("httpMethod", "")
    path = _path(event)
    parts = path.strip("/").split("/")
    if len(parts) == 3 and parts[0] == "tenants" and parts[2] == "secrets":
        if method != "GET":
            return response(405, {"error": f"{method} is not allowed on {path}"})
        return response(200, reveal(deps, parts[1]))
    if parts[0] != "tenants" or len(parts) > 2:
        return response(404, {"error": f"no route for {method} {path}"})
    code = parts[1] if len(parts) == 2 else None
    query = event.get("queryStringParameters") or {}
    if code is None and method == "GET":
        return list_tenants(deps, query)
    if code is None and method == "POST":
        return create(deps, _json_body(event), key)
    if code is not None and method == "GET":
        return response(200, _existing(deps, code).public())
    if code is not None and method == "PATCH":
        return update(deps, code, _json_body(event), key)
    if code is not None and method == "DELETE":
        return response(202, delete(deps, code, key=key).public())
    return response(405, {"error": f"{method} is not allowed on {path}"})


def _json_body(event: dict[str, Any]) -> Any:
    raw = event.get("body")
    if raw is None or raw == "":
        raise InvalidRequest("a JSON body is required", "body")
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidRequest("the body is not base64-encoded UTF-8", "body") from None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}", "body") from None
    except RecursionError:
        raise InvalidRequest("the body is not valid JSON: nested too deeply", "body") from None


def _error(err: ControlPlaneError) -> dict[str, Any]:
    body = {"error": err.message}
    if err.field:
        body["field"] = err.field
    return response(err.status, body)


def _answer(deps: ApiDeps, event: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    try:
        return route(deps, event, key)
    except ControlPlaneError as err:
        return _error(err)


def request_fingerprint(event: dict[str, Any]) -> str:
    """The request as an idempotency key names it: method, path, body (parsed JSON; a body
    that does not parse is compared as its text, and refused by the route anyway)."""
    try:
        body = _json_body(event) if event.get("body") not in (None, "") else None
    except InvalidRequest:
        body = {"unparsed": event.get("body")}
    return fingerprint(str(event.get("httpMethod", "")), _path(event), body, event.get("body"))


def handle(deps: ApiDeps, event: dict[str, Any]) -> dict[str, Any]:
    """Answer one proxy event. A POST, PATCH or DELETE with an ``Idempotency-Key`` is
    answered at most once per key (see :mod:`.idempotency`); without one, as always."""
    method = str(event.get("httpMethod", ""))
    if method not in KEYED_METHODS:
        return _answer(deps, event)
    try:
        key = key_of(event)
        if key is None:
            return _answer(deps, event)
        if deps.keys is None:
            raise IdempotencyNotConfigured(f"this deployment keeps no idempotency keys; send the request without {IDEMPOTENCY_HEADER}", IDEMPOTENCY_HEADER)
        return once(deps.keys, key, request_fingerprint(event), method, _path(event), lambda: _answer(deps, event, key))
    except ControlPlaneError as err:
        return _error(err)
