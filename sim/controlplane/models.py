"""Typed shapes at the control plane's boundaries: API bodies, the tenant row and the
bus event. One source of truth for each."""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import InvalidRequest, InvalidTenantCode
from .statuses import Action, TenantStatus

#: Names are checked with ``fullmatch``: ``re.match`` with ``$`` accepts a trailing newline
#: (``$`` matches before a final ``\n``), and ``"abc\n"`` is not a tenant code.
TENANT_CODE = re.compile(r"[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*")
VARIABLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
MAX_VARIABLES = 100
MAX_VALUE_LENGTH = 4096
#: Variables the control plane sets itself; a request may not override them.
RESERVED_VARIABLES = frozenset({"tenant_code"})


def validate_tenant_code(code: Any) -> str:
    if not isinstance(code, str):
        raise InvalidTenantCode("tenant_code must be a string", "tenant_code")
    if not 3 <= len(code) <= 32:
        raise InvalidTenantCode("tenant_code must be 3 to 32 characters long", "tenant_code")
    if not TENANT_CODE.fullmatch(code):
        raise InvalidTenantCode(
            "tenant_code must be lowercase letters, digits and single hyphens, starting with a letter "
            "and not ending with a hyphen",
            "tenant_code",
        )
    return code


#: A date is exactly ``YYYY-MM-DD`` in ASCII digits (``date.fromisoformat`` alone also takes
#: ``20270101``, ``2027-W01-1`` and, through ``int``, other scripts' digits).
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def is_text(value: str) -> bool:
    """Encodable as UTF-8: JSON's ``\\ud800`` escapes decode to lone surrogates, which no AWS
    service (nor TFC) can store."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_date(value: Any) -> date:
    if not isinstance(value, str) or not DATE.fullmatch(value):
        raise ValueError("must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a date YYYY-MM-DD that exists") from None


class SensitiveValue(BaseModel):
    """A sensitive variable as a request gives it: ``{"value": "...", "sensitive": true}``.
    Its value is kept in Secrets Manager, never in the row, an event or an execution."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str
    sensitive: Literal[True] = True

    def __repr__(self) -> str:  # never in a log line or a traceback
        return "SensitiveValue(value=<hidden>)"

    __str__ = __repr__


class SecretRef(BaseModel):
    """Where a sensitive value is kept: a version of a Secrets Manager secret. What the row
    and the bus event carry in place of a sensitive variable's value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sensitive: Literal[True] = True
    secret: str
    version: str


class OutputsRef(BaseModel):
    """Where a tenant's sensitive outputs are kept (the row holds this, not the values)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    secret: str
    version: str
    names: list[str]


#: How a response shows a sensitive variable or output: never its value.
REDACTED: dict[str, Any] = {"sensitive": True}

#: A variable as a request gives it, and as the row and the event keep it.
RequestVariable = str | SensitiveValue
StoredVariable = str | SecretRef


class _At(ValueError):
    """A validation error about one member of a field (``variables.x``)."""

    def __init__(self, member: str, message: str) -> None:
        super().__init__(message)
        self.member = member


_SHAPE = 'must be a string or {"value": "<string>", "sensitive": true}'


def _variable_value(key: str, val: Any) -> RequestVariable:
    if isinstance(val, dict):
        extra = sorted(set(val) - {"value", "sensitive"})
        if extra:
            raise _At(key, f"unknown member {str(extra[0])[:64]!r}: {_SHAPE}")
        if "value" not in val or not isinstance(val["value"], str):
            raise _At(key, f"value {_SHAPE}")
        if not isinstance(val.get("sensitive"), bool):
            raise _At(key, f"sensitive must be true or false: {_SHAPE}")
        text: str = val["value"]
        _check_value(key, text)
        return SensitiveValue(value=text) if val["sensitive"] else text
    if not isinstance(val, str):
        raise _At(key, _SHAPE)
    _check_value(key, val)
    return val


def _check_value(key: str, val: str) -> None:
    if len(val) > MAX_VALUE_LENGTH:
        raise ValueError(f"variable {key!r} is longer than {MAX_VALUE_LENGTH} characters")
    if not is_text(val):
        raise ValueError(f"variable {key!r} is not valid Unicode text (a lone surrogate)")


def _check_variables(value: Any) -> dict[str, RequestVariable] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("must be an object of variable names to values")
    if len(value) > MAX_VARIABLES:
        raise ValueError(f"at most {MAX_VARIABLES} variables")
    out: dict[str, RequestVariable] = {}
    for key, val in value.items():
        if not isinstance(key, str) or not VARIABLE_KEY.fullmatch(key):
            shown = key if is_text(key) else key.encode("utf-8", "backslashreplace").decode("ascii")
            raise ValueError(f"variable name {shown[:64]!r} must match {VARIABLE_KEY.pattern}")
        if key in RESERVED_VARIABLES:
            raise ValueError(f"variable {key!r} is set by the control plane")
        out[key] = _variable_value(key, val)
    return out


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    # strict: "3" is not a date and 5 is not a string; the before-validators parse dates.

    @classmethod
    def parse(cls, data: Any) -> Self:
        if not isinstance(data, dict):
            raise InvalidRequest("the body must be a JSON object", "body")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = [str(p) for p in first["loc"]]
            error = (first.get("ctx") or {}).get("error")
            if isinstance(error, _At):
                loc.append(error.member)
            field = ".".join(loc) or "body"
            if not is_text(field):  # an unknown member named with a lone surrogate
                field = field.encode("utf-8", "backslashreplace").decode("ascii")
            field = field[:200]
            msg = first["msg"].removeprefix("Value error, ")
            raise InvalidRequest(f"{field}: {msg}", field) from None


class CreateTenantRequest(_Body):
    tenant_code: str
    variables: dict[str, RequestVariable] = Field(default_factory=dict)
    decommission_date: date

    @field_validator("tenant_code", mode="before")
    @classmethod
    def _code(cls, v: Any) -> str:
        return validate_tenant_code(v)

    @field_validator("variables", mode="plain")
    @classmethod
    def _vars(cls, v: Any) -> dict[str, RequestVariable]:
        return _check_variables(v) or {}

    @field_validator("decommission_date", mode="before")
    @classmethod
    def _date(cls, v: Any) -> Any:
        return parse_date(v)


class UpdateTenantRequest(_Body):
    variables: dict[str, RequestVariable] | None = None
    decommission_date: date | None = None

    @field_validator("variables", mode="plain")
    @classmethod
    def _vars(cls, v: Any) -> dict[str, RequestVariable] | None:
        return _check_variables(v)

    @field_validator("decommission_date", mode="before")
    @classmethod
    def _date(cls, v: Any) -> Any:
        return None if v is None else parse_date(v)


class TenantEvent(BaseModel):
    """The ``detail`` of the event put on an action's bus."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_code: str
    action: Action
    request_id: str
    actor: str
    #: Sensitive variables travel as :class:`SecretRef`, never as values.
    variables: dict[str, StoredVariable] = Field(default_factory=dict)
    requested_at: str
    #: The client's ``Idempotency-Key`` of the request, if it gave one (for tracing: the
    #: flow is fenced by ``request_id``, which a redelivered event carries too).
    idempotency_key: str | None = None
    #: The W3C ``traceparent`` of the request that put the event (absent when nothing is
    #: traced): the flow's Lambda spans join the request's trace through it.
    traceparent: str | None = None


class TenantRecord(BaseModel):
    """One DynamoDB row per tenant, keyed by ``tenant_code``."""

    model_config = ConfigDict(extra="ignore")

    tenant_code: str
    status: TenantStatus
    #: Sensitive variables are kept as :class:`SecretRef` (the value is in Secrets Manager).
    variables: dict[str, StoredVariable] = Field(default_factory=dict)
    decommission_date: date
    created_at: str
    updated_at: str
    request_id: str
    action: Action
    workspace_id: str | None = None
    run_id: str | None = None
    #: The workspace's outputs TFC does not mark sensitive.
    outputs: dict[str, Any] = Field(default_factory=dict)
    #: Where the outputs TFC marks sensitive are kept (Secrets Manager), and their names.
    sensitive_outputs: OutputsRef | None = None
    last_error: str | None = None
    #: The Step Functions execution that took up ``request_id`` (set by Trigger's claim,
    #: and by Finalize to the execution that recorded the end).
    execution: str | None = None
    version: int = 1

    def public(self) -> dict[str, Any]:
        """What ``GET /tenants/{code}`` returns: sensitive variables and outputs show as
        :data:`REDACTED`, never their values (``GET /tenants/{code}/secrets`` reveals outputs)."""
        hidden = self.sensitive_outputs.names if self.sensitive_outputs else []
        return {
            "tenant_code": self.tenant_code,
            "status": self.status.value,
            "variables": {k: v if isinstance(v, str) else dict(REDACTED) for k, v in self.variables.items()},
            "decommission_date": self.decommission_date.isoformat(),
            "outputs": {**self.outputs, **{name: dict(REDACTED) for name in hidden}},
            "last_error": self.last_error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "action": self.action.value,
            "request_id": self.request_id,
        }
