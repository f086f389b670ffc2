"""The scenario file format: typed, strict (unknown keys are errors), published as a
JSON Schema (``scenarios/schema.json``, written by ``python -m sim schema``).

A scenario names its tenants and how TFC behaves for each, lists what happens at which
simulated time (API requests, faults, clock advances), and states what must be seen at
the end: final statuses and transitions, lifecycle events, DLQ messages.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, WithJsonSchema, field_validator, model_validator

from fake_tfc.behaviour import RunBehaviour
from fake_tfc.faults import FaultRule
from sim.controlplane.errors import ControlPlaneError
from sim.controlplane.flow import DEFAULT_POLL_BUDGET, DEFAULT_WAIT_SECONDS
from sim.controlplane.models import validate_tenant_code
from sim.controlplane.statuses import Action, TenantStatus
from sim.stack.wiring import DEFAULT_MAX_EVENT_AGE, DEFAULT_PREFIX, DEFAULT_RETRY_ATTEMPTS, Stack

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)d)?\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$")

#: What a scenario may need from an engine (an engine without it skips the scenario;
#: which engine has which is declared in :mod:`sim.engines.features`).
Need = Literal["simulated_clock", "dlq", "lambda_faults", "tfc_faults", "start_execution_faults", "alarms"]


#: The longest duration a scenario may name: two years of simulated time, finite.
MAX_DURATION = 2 * 366 * 86400.0


def parse_duration(value: Any) -> float:
    """Seconds from a number or a text like ``90s``, ``2h``, ``1d3h``, ``30d``."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a text like '2h' or '30d'")
    seconds: float | None = None
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        seconds = float(value)
    elif isinstance(value, str):
        m = _DURATION.fullmatch(value)
        if m and any(m.groups()):
            d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
            seconds = d * 86400 + h * 3600 + mi * 60 + s
    if seconds is None:
        raise ValueError(f"{value!r} is not a duration (use seconds, or e.g. '90s', '2h', '1d3h', '30d')")
    if not seconds <= MAX_DURATION:  # NaN and infinity fail too
        raise ValueError(f"a duration is at most {MAX_DURATION:g} seconds (two years)")
    return seconds


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
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TfcBehaviour(_Strict):
    """How TFC runs behave for one tenant's workspace: attempt *k* takes ``runs[k]``,
    later attempts take ``then`` (Step Functions Local's per-attempt mocks, for runs)."""

    runs: list[RunBehaviour] = Field(default_factory=list)
    then: RunBehaviour = RunBehaviour()
    durations: dict[str, float] = Field(default_factory=dict)
    output_delay: float = Field(default=2.0, ge=0, le=MAX_DURATION)


class TenantSpec(_Strict):
    tfc: TfcBehaviour = Field(default=TfcBehaviour(), description="how TFC runs behave in the tenant's workspace, named tenant-<code>")


# ------------------------------------------------------------------ steps
class SensitiveVariable(_Strict):
    """A variable the API keeps secret (Secrets Manager, a sensitive TFC variable): its value
    must appear nowhere the run records (the ``secrets_stay_secret`` invariant)."""

    value: str
    sensitive: bool = True


#: A variable as a request gives it: a string, or ``{value: ..., sensitive: true}``.
Variable = str | SensitiveVariable


class CreateStep(_Strict):
    tenant: TenantCode
    variables: dict[str, Variable] = Field(default_factory=dict)
    decommission_date: str = "2099-01-01"


class UpdateStep(_Strict):
    tenant: TenantCode
    variables: dict[str, Variable] | None = None
    decommission_date: str | None = None


class RawRequest(_Strict):
    """Any request to the REST API, for bad-input cases."""

    method: Literal["GET", "POST", "PATCH", "DELETE", "PUT"]
    path: str
    body: Any = None
    #: Request headers, e.g. ``Idempotency-Key`` (Content-Type is always application/json).
    headers: dict[str, str] | None = None
    expect_status: int | None = None
    #: Who signs the request (the REST API's method auth is AWS_IAM): ``operator`` (the
    #: default), ``reader``, or ``anonymous`` (unsigned).
    as_: Literal["operator", "reader", "anonymous"] | None = Field(default=None, alias="as")

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, populate_by_name=True)


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


class AwsFaultSpec(_Strict):
    """A control-plane function's AWS call refused (503, no effect) or its answer lost (it
    took effect; the caller sees no answer), after ``latency`` simulated seconds."""

    service: Literal["dynamodb", "events", "sns", "secretsmanager", "stepfunctions", "sqs"]
    operation: str = Field(default="*", min_length=1, max_length=64, pattern=r"^[A-Za-z*?]+$")
    effect: Literal["lost", "refused"] = "lost"
    times: int = Field(default=1, ge=-1)  # -1: every call
    latency: Duration = 0.0


class Fault(_Strict):
    tfc: FaultRule | None = Field(
        default=None, description="a fault rule of the fake TFC; its workspace glob matches workspace names, tenant-<code> (e.g. tenant-acme)"
    )
    aws: AwsFaultSpec | None = None
    lambda_: LambdaFaultSpec | None = Field(default=None, alias="lambda")
    start_execution: StartExecutionFaultSpec | None = None
    delete_state_machine: Action | None = None
    #: A concurrent writer bumps the tenant row just before the next write of this
    #: tenant's flow, so that write's conditional check fails.
    dynamodb_conflict: TenantCode | None = None
    #: Someone writes a row the control plane cannot read for this code (an unknown status,
    #: due for decommission): listings and the decommission must skip it, not fail.
    malformed_row: TenantCode | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _exactly_one(self) -> Fault:
        given = [k for k in FAULT_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a fault names exactly one of: tfc, aws, lambda, start_execution, delete_state_machine, dynamodb_conflict, malformed_row")
        return self


FAULT_KINDS = ("tfc", "aws", "lambda_", "start_execution", "delete_state_machine", "dynamodb_conflict", "malformed_row")


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
    #: An operator invokes the control plane's redrive function on these DLQs.
    redrive: Literal["dlq", "flow_dlq", "all"] | None = None
    note: str | None = Field(default=None, description="what the step is for, in words (`sim demo` prints it)")
    expect_status: int | None = Field(
        default=None, ge=100, le=599,
        description="create, update, delete, get: the HTTP status the API must answer. Without it any refusal "
        "(4xx, 5xx) fails the scenario at this step, e.g. a delete while the tenant is creating (409).",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        given = [k for k in STEP_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a step does exactly one of: {', '.join(STEP_KINDS)}")
        if self.expect_status is not None and given[0] not in API_STEP_KINDS:
            hint = " (a request says it in request.expect_status)" if given[0] == "request" else ""
            raise ValueError(f"expect_status goes with a {', '.join(API_STEP_KINDS)} step, not {given[0]}{hint}")
        return self

    def tenants(self) -> set[str]:
        """The tenant codes this step names."""
        codes = {
            self.create.tenant if self.create else None, self.update.tenant if self.update else None, self.delete, self.get,
            self.tfc_variable.tenant if self.tfc_variable else None, self.fault.dynamodb_conflict if self.fault else None,
            *(self.tfc or {}),
        }
        if self.request is not None:
            m = re.match(r"^/tenants/([^/?]+)", self.request.path)
            codes.add(m.group(1) if m else None)
            if isinstance(self.request.body, dict) and isinstance(self.request.body.get("tenant_code"), str):
                codes.add(self.request.body["tenant_code"])
        return {c for c in codes if c}

    @property
    def kind(self) -> str:
        for k in STEP_KINDS:
            if getattr(self, k) is not None:
                return k
        raise AssertionError("validated")


STEP_KINDS = ("create", "update", "delete", "get", "request", "fault", "clear_faults", "tfc", "tfc_variable", "redrive")
#: The steps that are one call of the REST API with a tenant's code (``request`` is any call).
API_STEP_KINDS = ("create", "update", "delete", "get")


# ------------------------------------------------------------ expectations
class TenantExpectation(_Strict):
    status: TenantStatus | None = None
    transitions: list[TenantStatus] | None = None
    last_error_contains: str | None = None
    outputs: dict[str, Any] | None = None  # a subset that must match
    workspace_exists: bool | None = None


#: The lifecycle events Finalize publishes on SNS, one per flow that ends.
LIFECYCLE_EVENTS = tuple(name for action in Action for name in (action.success_event, action.failure_event))


class EventExpectation(_Strict):
    tenant: TenantCode
    event: str = Field(description=f"a lifecycle event: {', '.join(LIFECYCLE_EVENTS)}")

    @field_validator("event")
    @classmethod
    def _known(cls, event: str) -> str:
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"{event!r} is not a lifecycle event; they are: {', '.join(LIFECYCLE_EVENTS)}")
        return event


#: The stack's alarms (a scenario runs the default stack): what ``expect.alarms`` may name,
#: by full name or by what follows ``tenant-sim-`` (``create-executions-failed``).
ALARMS = tuple(a.name for a in Stack().alarms)
AlarmStateName = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]


def alarm_name(key: str) -> str:
    """The full name of the stack's alarm ``key`` names (its full name, or the suffix)."""
    return key if key in ALARMS else f"{DEFAULT_PREFIX}-{key}"


class AlarmExpectation(_Strict):
    #: The alarm's state at the end of the run.
    state: AlarmStateName | None = None
    #: The states it changed to, in order, after it settled (its first evaluation, out of
    #: INSUFFICIENT_DATA into OK, is not listed): ``[ALARM, OK]`` fires then clears,
    #: ``[ALARM]`` fires and stays, ``[]`` never fires.
    states: list[AlarmStateName] | None = None


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
    #: The stack's CloudWatch alarms, by name or by the part after ``tenant-sim-``.
    alarms: dict[str, AlarmExpectation] | None = None

    @field_validator("alarms")
    @classmethod
    def _known_alarms(cls, alarms: dict[str, AlarmExpectation] | None) -> dict[str, AlarmExpectation] | None:
        unknown = [k for k in alarms or {} if alarm_name(k) not in ALARMS]
        if unknown:
            names = ", ".join(a.removeprefix(f"{DEFAULT_PREFIX}-") for a in ALARMS)
            raise ValueError(f"{', '.join(map(repr, unknown))}: no such alarm; the stack's alarms are {names}")
        return alarms


class Settings(_Strict):
    wait_seconds: int = Field(default=DEFAULT_WAIT_SECONDS, ge=0, le=99_999_999)  # Step Functions' Wait maximum
    poll_budget: int = Field(default=DEFAULT_POLL_BUDGET, ge=1, le=10_000)
    start: str = "2026-01-01T00:00:00Z"
    #: Simulated time the run goes on after the last step (flows finish, days pass).
    run_for: Duration = 86400.0
    retry_attempts: int = Field(default=DEFAULT_RETRY_ATTEMPTS, ge=0, le=DEFAULT_RETRY_ATTEMPTS)
    max_event_age: int = Field(default=DEFAULT_MAX_EVENT_AGE, ge=60, le=DEFAULT_MAX_EVENT_AGE)
    #: TimeoutSeconds on the definition's Lambda Tasks (none by default).
    task_timeout: int | None = Field(default=None, ge=1)


class Scenario(_Strict):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=20_000)
    seed: int = Field(default=0, ge=-(2**63), le=2**63 - 1)
    needs: list[Need] = Field(default_factory=list)
    settings: Settings = Settings()
    tenants: dict[TenantCode, TenantSpec] = Field(
        default_factory=dict, description="per tenant code, how TFC behaves for it (its workspace is named tenant-<code>)"
    )
    steps: list[Step] = Field(min_length=1)
    expect: Expectations = Expectations()

    @field_validator("expect")
    @classmethod
    def _expected_tenants_are_in_the_steps(cls, expect: Expectations, info: ValidationInfo) -> Expectations:
        steps: list[Step] = info.data.get("steps") or []
        named = set().union(*(s.tenants() for s in steps)) if steps else set()
        where = [
            *(f"expect.tenants.{c}" for c in expect.tenants),
            *(f"expect.events.{i}.tenant" for i, e in enumerate(expect.events or [])),
            *(f"expect.tfc_runs.{c}" for c in expect.tfc_runs or {}),
            *(f"expect.tfc_variables.{c}" for c in expect.tfc_variables or {}),
        ]
        codes = [*expect.tenants, *(e.tenant for e in expect.events or []), *(expect.tfc_runs or {}), *(expect.tfc_variables or {})]
        missing = [f"{w}: tenant {c!r}" for w, c in zip(where, codes) if c not in named]
        if missing:
            listed = ", ".join(sorted(named)) or "none"
            raise ValueError(f"{'; '.join(missing)} appears in no step (the steps name: {listed})")
        return expect

    @model_validator(mode="after")
    def _ordered(self) -> Scenario:
        times = [s.at for s in self.steps]
        if times != sorted(times):
            raise ValueError("steps must be in order of their 'at' times")
        return self
