"""The state machine's Lambda tasks: Trigger, Check and Finalize.

Each receives the execution's state (the input transformer's output plus what earlier
tasks added) and returns a small result the definition puts back in place.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from .config import ControlPlaneSettings
from .errors import FlowSuperseded
from .flow import FlowConstants
from .metrics import FAILED_FLOWS, Metric, no_metric
from .models import OutputsRef, SecretRef, TenantEvent
from .secrets import TenantSecrets
from .statuses import TenantStatus
from .tenants import TenantStore
from .tfc_client import Output, RunState, TFCClient, TFCError, VariableSpec

log = logging.getLogger(__name__)


class ExecutionState(BaseModel):
    """What the definition passes to each task (``$``)."""

    model_config = ConfigDict(extra="ignore")

    detail: TenantEvent
    flow: FlowConstants
    run: dict[str, Any] | None = None
    poll: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    #: This execution's ARN (``$$.Execution.Id``, put in the state by Init).
    execution: str | None = None

    @property
    def owner(self) -> str:
        """Who acts for the request: the execution, or (a direct call) the request itself."""
        return self.execution or f"request {self.detail.request_id}"


@dataclass
class StepDeps:
    settings: ControlPlaneSettings
    store: TenantStore
    tfc: Callable[[], TFCClient]  # built lazily: reading the token costs a Secrets Manager call
    sns: Any
    now: Callable[[], str]
    #: Where sensitive variables are read from and sensitive outputs are kept.
    secrets: TenantSecrets
    #: Where Finalize counts failed flows (``FailedFlows``, which an alarm watches).
    metric: Metric = no_metric


def _marker(request_id: str) -> str:
    return f"tenant-sim request {request_id}"


def trigger(deps: StepDeps, payload: dict[str, Any]) -> dict[str, Any]:
    """Claim the request, ensure the workspace, upsert the variables, start the run. Safe
    to run twice for one request: a run already started for it is found (by its message)
    and reused. A request whose row is gone or has moved on (rolled back by the API, or
    superseded) is refused before anything is provisioned."""
    state = ExecutionState.model_validate(payload)
    ev = state.detail
    row = deps.store.claim(ev.tenant_code, ev.request_id, state.owner)
    tfc = deps.tfc()
    ws_id = tfc.ensure_workspace(deps.settings.workspace_name(ev.tenant_code))
    if row.run_id:
        return {"workspace_id": ws_id, "run_id": row.run_id}
    marker = _marker(ev.request_id)
    for run in tfc.runs(ws_id):
        if run["attributes"].get("message") == marker:
            run_id = run["id"]
            break
    else:
        if not state.flow.destroy:
            specs = [VariableSpec("tenant_code", ev.tenant_code)]
            read: dict[tuple[str, str], dict[str, Any]] = {}  # one read per secret version
            specs += [_spec(deps, k, v, read) for k, v in sorted(ev.variables.items())]
            tfc.upsert_variables(ws_id, specs)
        run_id = tfc.start_run(ws_id, destroy=state.flow.destroy, message=marker)
    deps.store.update_flow(ev.tenant_code, ev.request_id, {"workspace_id": ws_id, "run_id": run_id})
    return {"workspace_id": ws_id, "run_id": run_id}


def _spec(deps: StepDeps, key: str, value: str | SecretRef, read: dict[tuple[str, str], dict[str, Any]]) -> VariableSpec:
    """The TFC variable of one tenant variable: a sensitive one's value is read from the
    version of the secret its reference names, and written to TFC as sensitive."""
    if isinstance(value, str):
        return VariableSpec(key, value)
    where = (value.secret, value.version)
    if where not in read:
        read[where] = deps.secrets.read(*where)
    secret = read[where].get(key)
    if not isinstance(secret, str):
        raise KeyError(f"sensitive variable {key!r} is not in version {value.version} of {value.secret}")
    return VariableSpec(key, secret, sensitive=True)


def check(deps: StepDeps, payload: dict[str, Any]) -> dict[str, Any]:
    """Read the run once and classify it; count the poll."""
    run_id = payload["run_id"]
    count = int(payload.get("count", 0)) + 1
    run: RunState = deps.tfc().run(run_id)
    return {"count": count, "status": run.status, "finished": run.finished, "succeeded": run.succeeded}


def finalize(deps: StepDeps, payload: dict[str, Any]) -> dict[str, Any]:
    """Record the flow's terminal status and publish the lifecycle event."""
    state = ExecutionState.model_validate(payload)
    ev, flow = state.detail, state.flow
    poll = state.poll or {}
    run = state.run or {}
    outputs: dict[str, Any] = {}
    hidden: OutputsRef | None = None
    if state.error is not None:
        status, reason = TenantStatus.FAILED, f"task error: {_error_text(state.error)}"
    elif poll.get("succeeded"):
        tfc = deps.tfc()
        if flow.destroy:
            tfc.delete_workspace(run["workspace_id"])
            # Before the row says deleted: a failure here is retried by the flow.
            deps.secrets.delete(ev.tenant_code)
        else:
            outputs, hidden = _keep_outputs(deps, ev, tfc.state_outputs(run["workspace_id"]))
        status, reason = flow.success_status, None
    elif poll.get("finished"):
        status, reason = TenantStatus.FAILED, f"run {run.get('run_id')} ended {poll.get('status')}"
    else:
        status = TenantStatus.FAILED
        reason = f"poll budget exhausted: run {run.get('run_id')} still {poll.get('status')} after {poll.get('count')} polls"
        # The run is given up on: stop it, or it holds the workspace's queue and every later
        # run of this tenant waits behind it. What was done goes into the reason.
        stopped = _abandon(deps, run.get("run_id"), f"tenant-sim: poll budget exhausted for request {ev.request_id}")
        reason = f"{reason}; {stopped}"
    update: dict[str, Any] = {"status": status, "last_error": reason, "updated_at": deps.now(), "execution": state.owner}
    if status is TenantStatus.READY:
        update["outputs"] = outputs
        update["sensitive_outputs"] = hidden
    if status is TenantStatus.DELETED:
        update["outputs"] = {}
        update["sensitive_outputs"] = None
    try:
        deps.store.update_flow(ev.tenant_code, ev.request_id, update)
    except FlowSuperseded:
        row = deps.store.get(ev.tenant_code)
        if row is None or row.request_id != ev.request_id or row.execution != state.owner or row.status.in_progress:
            # Rolled back by the API (which answered 503), taken over by another execution
            # of the same request, or superseded: not this execution's to record.
            log.warning("tenant %s: request %s superseded; nothing recorded", ev.tenant_code, ev.request_id)
            return {"status": "superseded"}
        # This execution recorded the end already (a retry after a lost answer, or after
        # the publish failed): publish again. SNS standard topics deliver at least once, so
        # subscribers already deduplicate by request id.
        status, reason = row.status, row.last_error
    message = {
        "event": flow.event_name if status is not TenantStatus.FAILED else flow.action.failure_event,
        "tenant_code": ev.tenant_code,
        "request_id": ev.request_id,
        "status": status.value,
        "reason": reason,
    }
    if deps.settings.topic_arn:
        deps.sns.publish(
            TopicArn=deps.settings.topic_arn,
            Message=json.dumps(message),
            MessageAttributes={"event": {"DataType": "String", "StringValue": message["event"]}},
        )
    if status is TenantStatus.FAILED:
        deps.metric(FAILED_FLOWS, 1)
    return {"status": status.value}


def _keep_outputs(deps: StepDeps, ev: TenantEvent, found: dict[str, Output]) -> tuple[dict[str, Any], OutputsRef | None]:
    """The outputs the row may hold (those TFC does not mark sensitive), and where the
    sensitive ones were kept: a version of the tenant's outputs secret named by the request
    id (a retried Finalize writes the same version again, a no-op)."""
    plain = {k: o.value for k, o in found.items() if not o.sensitive}
    sensitive = {k: o.value for k, o in found.items() if o.sensitive}
    if not sensitive:
        return plain, None
    name, version = deps.secrets.write(ev.tenant_code, "outputs", sensitive, ev.request_id)
    return plain, OutputsRef(secret=name, version=version, names=sorted(sensitive))


def _abandon(deps: StepDeps, run_id: Any, comment: str) -> str:
    if not isinstance(run_id, str) or not run_id:
        return "no run to stop"
    try:
        return deps.tfc().abandon(run_id, comment)
    except TFCError as exc:  # recorded, not raised: the flow's end must be recorded anyway
        return f"run {run_id} could not be stopped: {type(exc).__name__}: {exc}"[:300]


def _error_text(error: dict[str, Any]) -> str:
    name = error.get("Error", "error")
    cause = error.get("Cause", "")
    try:
        cause = json.loads(cause).get("errorMessage", cause)
    except (ValueError, AttributeError):
        pass
    return f"{name}: {cause}"[:500]
