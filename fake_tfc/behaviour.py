"""What runs do, under the test's control: outcomes per run attempt, stage durations,
output-processing delay and the simulated Terraform configuration of a workspace."""

from __future__ import annotations

import fnmatch
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .statuses import RunStatus


class Outcome(StrEnum):
    SUCCESS = "success"
    NO_CHANGES = "no_changes"
    PLAN_ERROR = "plan_error"
    APPLY_ERROR = "apply_error"
    CANCELED = "canceled"
    POLICY_SOFT_FAIL = "policy_soft_fail"


#: Seconds spent in each timed status. ``pending`` counts from the moment the run
#: reaches the head of its workspace's queue; ``cancel`` is how long an interrupt takes.
DEFAULT_DURATIONS: dict[str, float] = {
    "pending": 1.0,
    "plan_queued": 1.0,
    "planning": 3.0,
    "cost_estimating": 1.0,
    "policy_checking": 1.0,
    "apply_queued": 1.0,
    "applying": 4.0,
    "cancel": 2.0,
}
#: TFC offers force-cancel some time after a cancel; OTF uses 10 s (not documented by TFC).
FORCE_CANCEL_COOL_OFF = 10.0

STUCKABLE = frozenset(
    {
        RunStatus.PENDING,
        RunStatus.PLAN_QUEUED,
        RunStatus.PLANNING,
        RunStatus.COST_ESTIMATING,
        RunStatus.POLICY_CHECKING,
        RunStatus.APPLY_QUEUED,
        RunStatus.APPLYING,
    }
)


#: The longest any stage may be told to take (30 days): finite, so that a script cannot make
#: a run that never moves by accident (``stuck_in`` says it on purpose).
MAX_DURATION = 30 * 86400.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _check_durations(value: dict[str, float]) -> dict[str, float]:
    for key, seconds in value.items():
        if key not in DEFAULT_DURATIONS:
            raise ValueError(f"unknown stage {key!r}; known: {', '.join(DEFAULT_DURATIONS)}")
        if not 0 <= seconds <= MAX_DURATION:  # NaN fails both comparisons
            raise ValueError(f"duration of {key!r} must be from 0 to {MAX_DURATION:g} seconds")
    return value


class RunBehaviour(_Strict):
    """What one run attempt does."""

    outcome: Outcome = Outcome.SUCCESS
    stuck_in: RunStatus | None = None
    #: Extra seconds spent in ``stuck_in``; ``None`` means forever.
    stuck_for: float | None = Field(default=None, ge=0, le=MAX_DURATION)
    durations: dict[str, float] = Field(default_factory=dict)

    @field_validator("durations")
    @classmethod
    def _durations(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_durations(v)

    @field_validator("stuck_in")
    @classmethod
    def _stuckable(cls, v: RunStatus | None) -> RunStatus | None:
        if v is not None and v not in STUCKABLE:
            raise ValueError(f"a run cannot be stuck in {v.value!r}; use one of {sorted(STUCKABLE)}")
        return v


class OutputSpec(_Strict):
    """One Terraform output; ``value`` is a template over the run's variables
    (``{tenant_code}``), plus ``{workspace}``, ``{workspace_id}``, ``{uid}`` (public: a
    hash of the workspace id) and ``{secret}`` (a keyed hash of the workspace id under a key
    the fake draws at random and never shows: not derivable from any public output)."""

    value: Any
    sensitive: bool = False


DEFAULT_OUTPUTS: dict[str, OutputSpec] = {
    "tenant_code": OutputSpec(value="{tenant_code}"),
    "endpoint": OutputSpec(value="https://{tenant_code}.tenants.example.test"),
    "tenant_id": OutputSpec(value="tnt-{uid}"),
    "admin_password": OutputSpec(value="pw-{secret}", sensitive=True),
}


class RunScript(_Strict):
    """Behaviour and configuration for every workspace whose name matches ``match``
    (a glob). Run attempt *k* of a workspace takes ``runs[k]``; later attempts take
    ``then``. Attempts are counted per workspace name from the moment the script is set (a
    workspace deleted and created again goes on counting)."""

    match: str = "*"
    runs: list[RunBehaviour] = Field(default_factory=list)
    then: RunBehaviour = RunBehaviour()
    durations: dict[str, float] = Field(default_factory=dict)
    output_delay: float = Field(default=2.0, ge=0, le=MAX_DURATION)
    resource_count: int = Field(default=3, ge=1, le=10_000)
    outputs: dict[str, OutputSpec] = Field(default_factory=lambda: dict(DEFAULT_OUTPUTS))
    cost_estimation: bool = False
    policy_check: bool = False
    #: Emit statuses pytfe 1.5.0 cannot parse (``plan_queueable``, ``force_canceled``).
    unknown_statuses: bool = False

    @field_validator("durations")
    @classmethod
    def _durations(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_durations(v)

    def matches(self, workspace_name: str) -> bool:
        return fnmatch.fnmatchcase(workspace_name, self.match)

    def behaviour_for(self, attempt: int) -> RunBehaviour:
        return self.runs[attempt] if attempt < len(self.runs) else self.then

    def duration(self, behaviour: RunBehaviour, stage: str) -> float:
        for source in (behaviour.durations, self.durations, DEFAULT_DURATIONS):
            if stage in source:
                return source[stage]
        return 0.0


DEFAULT_SCRIPT = RunScript()
