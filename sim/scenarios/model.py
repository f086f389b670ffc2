"""The scenario file format: typed, strict (unknown keys are errors), published as a
JSON Schema (``scenarios/schema.json``, written by ``python -m sim schema``).

A scenario names its tenants and how TFC behaves for each, lists what happens at which
simulated time (API requests, faults, clock advances), and states what must be seen at
the end: final statuses and transitions, lifecycle events, DLQ messages.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from fake_tfc.behaviour import RunBehaviour
from fake_tfc.faults import FaultRule
from sim.controlplane.errors import ControlPlaneError
from sim.controlplane.models import validate_tenant_code
from sim.controlplane.statuses import Action, TenantStatus

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)d)?\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$")

#: What a scenario may need from an engine (issue 5: engines without them skip it).
Need = Literal["simulated_clock", "dlq", "lambda_faults", "tfc_faults", "start_execution_faults"]


def parse_duration(value: Any) -> float:
    """Seconds from a number or a text like ``90s``, ``2h``, ``1d3h``, ``30d``."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a text like '2h' or '30d'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m and any(m.groups()):
            d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
            return d * 86400 + h * 3600 + mi * 60 + s
    raise ValueError(f"{value!r} is not a duration (use seconds, or e.g. '90s', '2h', '1d3h', '30d')")


def _tenant_code(value: Any) -> str:
    try:
        return validate_tenant_code(value)
    except ControlPlaneError as exc:  # the API's own rule, as a validation error here
        raise ValueError(exc.message) from None


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": _DURATION.pattern}], "description": "seconds, or e.g. '90s', '2h', '1d3h', '30d'"}),
]
TenantCode = Annotated[
    str,
    BeforeValidator(_tenant_code),
    WithJsonSchema({"type": "string", "pattern": "^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){2,31}$", "description": "lowercase letters, digits and single hyphens, starting with a letter, 3 to 32 characters"}),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TfcBehaviour(_Strict):
    """How TFC runs behave for one tenant's workspace: attempt *k* takes ``runs[k]``,
    later attempts take ``then`` (Step Functions Local's per-attempt mocks, for runs)."""

    runs: list[RunBehaviour] = Field(default_factory=list)
    then: RunBehaviour = RunBehaviour()
    durations: dict[str, float] = Field(default_factory=dict)
    output_delay: float = Field(default=2.0, ge=0)


class TenantSpec(_Strict):
    tfc: TfcBehaviour = TfcBehaviour()


# ------------------------------------------------------------------ steps
class CreateStep(_Strict):
    tenant: TenantCode
    variables: dict[str, str] = Field(default_factory=dict)
    decommission_date: str = "2099-01-01"


class UpdateStep(_Strict):
    tenant: TenantCode
    variables: dict[str, str] | None = None
    decommission_date: str | None = None


class RawRequest(_Strict):
    """Any request to the REST API, for bad-input cases."""

    method: Literal["GET", "POST", "PATCH", "DELETE", "PUT"]
    path: str
    body: Any = None
    expect_status: int | None = None


class LambdaFaultSpec(_Strict):
    function: Literal["api", "trigger", "check", "finalize", "decommission"]
    kind: Literal["throttle", "error"]
    times: int = Field(default=1, ge=1)
    on_invocations: list[int] | None = None
    error_type: str = "InjectedError"


class StartExecutionFaultSpec(_Strict):
    action: Action
    error: str = "ExecutionLimitExceeded"
    times: int = Field(default=1, ge=-1)  # -1: every call


class Fault(_Strict):
    tfc: FaultRule | None = None  # the fake TFC's own fault rule
    lambda_: LambdaFaultSpec | None = Field(default=None, alias="lambda")
    start_execution: StartExecutionFaultSpec | None = None
    delete_state_machine: Action | None = None
    #: A concurrent writer bumps the tenant row just before the next write of this
    #: tenant's flow, so that write's conditional check fails.
    dynamodb_conflict: TenantCode | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _exactly_one(self) -> Fault:
        given = [k for k in ("tfc", "lambda_", "start_execution", "delete_state_machine", "dynamodb_conflict") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a fault names exactly one of: tfc, lambda, start_execution, delete_state_machine, dynamodb_conflict")
        return self


class TfcVariableStep(_Strict):
    """Someone edits a variable in TFC directly (an operator, another tool): the
    control plane must leave what it does not own alone."""

    tenant: TenantCode
    key: str = Field(min_length=1)
    value: str


class Step(_Strict):
    """One thing that happens at simulated time ``at`` (from the scenario's start)."""

    at: Duration = 0.0
    create: CreateStep | None = None
    update: UpdateStep | None = None
    delete: TenantCode | None = None
    get: TenantCode | None = None
    request: RawRequest | None = None
    fault: Fault | None = None
    clear_faults: bool | None = None
    tfc: dict[TenantCode, TfcBehaviour] | None = None  # change a tenant's TFC behaviour from now on
    tfc_variable: TfcVariableStep | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        given = [k for k in STEP_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a step does exactly one of: {', '.join(STEP_KINDS)}")
        return self

    @property
    def kind(self) -> str:
        for k in STEP_KINDS:
            if getattr(self, k) is not None:
                return k
        raise AssertionError("validated")


STEP_KINDS = ("create", "update", "delete", "get", "request", "fault", "clear_faults", "tfc", "tfc_variable")


# ------------------------------------------------------------ expectations
class TenantExpectation(_Strict):
    status: TenantStatus | None = None
    transitions: list[TenantStatus] | None = None
    last_error_contains: str | None = None
    outputs: dict[str, Any] | None = None  # a subset that must match
    workspace_exists: bool | None = None


class EventExpectation(_Strict):
    tenant: TenantCode
    event: str


class DlqExpectation(_Strict):
    error_code: str
    exhausted: str | None = None
    retry_attempts: int | None = None
    action: Action | None = None


class Expectations(_Strict):
    tenants: dict[TenantCode, TenantExpectation] = Field(default_factory=dict)
    #: Lifecycle events, in order per tenant (only the tenants named are compared).
    events: list[EventExpectation] | None = None
    dlq: list[DlqExpectation] | None = None
    flow_dlq: int | None = Field(default=None, ge=0)
    tfc_runs: dict[TenantCode, int] | None = None  # runs created per tenant's workspace
    #: Terraform variables the tenant's workspace must hold at the end (a subset).
    tfc_variables: dict[TenantCode, dict[str, str]] | None = None


class Settings(_Strict):
    wait_seconds: int = Field(default=120, ge=0)
    poll_budget: int = Field(default=96, ge=1)
    start: str = "2026-01-01T00:00:00Z"
    #: Simulated time the run goes on after the last step (flows finish, days pass).
    run_for: Duration = 86400.0
    retry_attempts: int = Field(default=185, ge=0, le=185)
    max_event_age: int = Field(default=86400, ge=60, le=86400)


class Scenario(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    seed: int = 0
    needs: list[Need] = Field(default_factory=list)
    settings: Settings = Settings()
    tenants: dict[TenantCode, TenantSpec] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1)
    expect: Expectations = Expectations()

    @model_validator(mode="after")
    def _ordered(self) -> Scenario:
        times = [s.at for s in self.steps]
        if times != sorted(times):
            raise ValueError("steps must be in order of their 'at' times")
        return self
