"""The one step player: plays a scenario's steps on any engine, records what it did in the
trace, and judges the run. What differs per engine (how time passes, what can be observed and
injected) is a :class:`Stage`: :mod:`sim.scenarios.embedded_stage` (simulated time, every
seam observed) and :mod:`sim.scenarios.remote_stage` (real time, observed from outside)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from fake_tfc import FakeTFC, RunScript
from fake_tfc.inputs import VariableInput
from fake_tfc.statuses import VariableCategory
from sim.controlplane.config import workspace_name
from sim.engines.base import Backend
from sim.engines.gateway import ApiResponse

from .expectations import expectation_failures
from .model import API_STEP_KINDS, Fault, Scenario, Step, TfcBehaviour, TfcVariableStep, Variable
from .observe import Observed, TfcWatch, observe
from .trace import ApiRecord, Record, StepRecord, Trace

if TYPE_CHECKING:
    from sim.tracing import SpanRecorder


#: How the failures of a step (not of an expectation) begin.
STEP_FAILURE_PREFIXES = ("steps.", "request ", "tfc_variable at", "fault at")


class FaultNotSupported(Exception):
    """The engine cannot inject this fault (the scenario's needs should have kept it away)."""


class Stage(Protocol):
    """An engine as a scenario sees it."""

    @property
    def backend(self) -> Backend: ...

    @property
    def trace(self) -> Trace: ...

    def open(self) -> None:
        """Start (or reset) the engine and attach the observers."""

    def now(self) -> float:
        """The engine's clock, as an epoch."""

    def wait_until(self, at: float) -> None:
        """Let time pass until ``at`` seconds after the scenario's start."""

    def settled(self) -> None:
        """After a step: let what fell due run, read what changed."""

    def script(self, code: str, tfc: TfcBehaviour) -> RunScript:
        """The fake TFC's script for a tenant's behaviour on this engine."""

    def inject(self, fault: Fault) -> dict[str, Any]:
        """Inject a fault; the step record's details. Raises :class:`FaultNotSupported`."""

    def clear_faults(self) -> None: ...

    def finish(self, until: float) -> None:
        """Run to ``until`` seconds after the start and take in what is left (the flow DLQ)."""

    def violations(self, scenario: Scenario, obs: Observed) -> list[str]:
        """The invariants this engine's trace can show, checked."""

    def stop(self) -> None: ...


@dataclass
class ScenarioResult:
    scenario: Scenario
    seed: int
    source: str
    text: str
    trace: Trace
    observed: Observed
    failures: list[str]
    violations: list[str]
    #: The control plane's spans (a ``SpanRecorder``), when the run was traced.
    spans: SpanRecorder | None = None

    @property
    def passed(self) -> bool:
        return not self.failures and not self.violations

    @property
    def report(self) -> str:
        lines = [f"{'PASS' if self.passed else 'FAIL'} {self.scenario.name} ({self.source}, seed {self.seed}, {len(self.trace.records)} trace records)"]
        lines += [f"  {'step:       ' if f.startswith(STEP_FAILURE_PREFIXES) else 'expectation: '}{f}" for f in self.failures]
        lines += [f"  invariant:   {v}" for v in self.violations]
        return "\n".join(lines)

    def header(self) -> dict[str, Any]:
        return {"scenario": self.scenario.name, "source": self.source, "seed": self.seed, "text": self.text}


def write_tfc_variable(fake: FakeTFC, org: str, v: TfcVariableStep) -> bool:
    """Edit a workspace variable in TFC directly; False if the workspace does not exist."""
    ws_id = fake.workspace_id_by_name(org, workspace_name(v.tenant))
    if ws_id is None:
        return False
    ws = fake.workspaces[ws_id]
    current = ws.find_variable(v.key, VariableCategory.TERRAFORM)
    if current is None:
        fake.create_variable(ws, VariableInput(key=v.key, value=v.value, category=VariableCategory.TERRAFORM))
    else:
        fake.update_variable(ws, current.id, VariableInput(value=v.value))
    return True


def is_api_step(step: Step) -> bool:
    return step.request is not None or step.kind in API_STEP_KINDS


def api_step_problem(index: int, step: Step, status: int, body: Any) -> str | None:
    """Why an API step's answer fails the scenario, or None: a ``request`` must get its
    ``expect_status`` if it names one; any other API step its ``expect_status``, and
    without one it must not be refused (4xx, 5xx)."""
    if step.request is not None:
        r = step.request
        if r.expect_status is not None and status != r.expect_status:
            return f"request {r.method} {r.path} at t={step.at:g}: expected status {r.expect_status}, got {status} {body}"
        return None
    what = f"steps.{index}.{step.kind} {step.tenants().pop() if step.tenants() else ''} at t={step.at:g}"
    if step.expect_status is not None:
        if status != step.expect_status:
            return f"{what}: expected status {step.expect_status}, got {status} {body}"
        return None
    if status >= 400:
        error = body.get("error") if isinstance(body, dict) else None
        return f"{what}: refused {status}" + (f" ({error})" if error else "") + f"; if that is expected, add `expect_status: {status}` to the step"
    return None


class Player:
    """Plays ``scenario`` on ``stage``: :meth:`play` all at once, or :meth:`open`,
    :meth:`apply` per step and :meth:`close` (the property tests drive it step by step)."""

    def __init__(self, scenario: Scenario, stage: Stage, seed: int) -> None:
        self.scenario = scenario
        self.stage = stage
        self.seed = seed
        self.trace = stage.trace
        self.step_failures: list[str] = []
        self._tfc: TfcWatch | None = None
        self._index = -1

    @property
    def backend(self) -> Backend:
        return self.stage.backend

    def play(self) -> Observed:
        self.open()
        try:
            for step in self.scenario.steps:
                self.apply(step)
            return self.close(self.scenario.steps[-1].at + self.scenario.settings.run_for)
        finally:
            self.stage.stop()

    def open(self) -> None:
        self.stage.open()
        self.backend.fake.faults.seed = self.seed  # probability faults draw from (seed, rule, workspace)
        self._tfc = TfcWatch(self.backend.fake, self.trace)
        for code, spec in self.scenario.tenants.items():
            self.backend.fake.set_script(self.stage.script(code, spec.tfc))

    def apply(self, step: Step) -> ApiResponse | None:
        """Wait for the step's time, do it, let what falls due run; the API response if any."""
        self._index += 1
        self.stage.wait_until(step.at)
        resp = self._do(step)
        if resp is not None and is_api_step(step):
            problem = api_step_problem(self._index, step, resp.status, resp.body)
            if problem:
                self.step_failures.append(problem)
        self.stage.settled()
        return resp

    def close(self, until: float) -> Observed:
        """Run to ``until`` (seconds from the start) and collect what was seen. The engine
        keeps running; the caller stops it."""
        self.stage.finish(until)
        assert self._tfc is not None, "open() first"
        self._tfc.close()
        b = self.backend
        return observe(self.trace, self._tfc.run_ids, self.scenario, b.tenant, b.fake, b.stack.tfc_organization)

    def finish(self, obs: Observed) -> tuple[list[str], list[str]]:
        """The expectations that failed and the invariants violated."""
        return self.step_failures + expectation_failures(self.scenario, obs), self.stage.violations(self.scenario, obs)

    # ------------------------------------------------------------- steps
    def _record(self, record: Record) -> None:
        self.trace.add(self.stage.now(), record)

    def _api(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, principal: str | None = "operator"
    ) -> ApiResponse:
        resp = self.backend.api(method, path, body, headers=headers, principal=principal)
        self._record(ApiRecord.of(method, path, resp.status, resp.body, resp.headers))
        return resp

    def _step(self, kind: str, **details: Any) -> None:
        self._record(StepRecord(step=kind, details=details))

    def _do(self, step: Step) -> ApiResponse | None:
        b = self.backend
        if step.create is not None:
            c = step.create
            return self._api("POST", "/tenants", {"tenant_code": c.tenant, "variables": _wire(c.variables), "decommission_date": c.decommission_date})
        if step.update is not None:
            u = step.update
            wire = None if u.variables is None else _wire(u.variables)
            body = {k: v for k, v in (("variables", wire), ("decommission_date", u.decommission_date)) if v is not None}
            return self._api("PATCH", f"/tenants/{u.tenant}", body)
        if step.delete is not None:
            return self._api("DELETE", f"/tenants/{step.delete}")
        if step.get is not None:
            return self._api("GET", f"/tenants/{step.get}")
        if step.request is not None:
            r = step.request
            return self._api(r.method, r.path, r.body, r.headers, r.as_ or "operator")
        if step.tfc is not None:
            for code, behaviour in step.tfc.items():
                b.fake.set_script(self.stage.script(code, behaviour))
            self._step("tfc", tenants=sorted(step.tfc))
        elif step.tfc_variable is not None:
            v = step.tfc_variable
            if write_tfc_variable(b.fake, b.stack.tfc_organization, v):
                self._step("tfc_variable", tenant=v.tenant, key=v.key)
            else:
                self.step_failures.append(f"tfc_variable at t={step.at:g}: tenant {v.tenant}'s workspace does not exist yet")
        elif step.redrive is not None:
            queues = ["dlq", "flow_dlq"] if step.redrive == "all" else [step.redrive]
            resp = b.client("lambda").invoke(FunctionName=b.stack.function_name("redrive"), Payload=json.dumps({"queues": queues}).encode())
            report = json.loads(resp["Payload"].read() or b"{}")
            if resp.get("FunctionError"):
                self.step_failures.append(f"redrive at t={step.at:g}: the function failed: {report.get('errorType')}")
            self._step("redrive", queues=queues, redriven=len(report.get("redriven") or []), stale=len(report.get("stale") or {}))
        elif step.clear_faults is not None:
            self.stage.clear_faults()
            self._step("clear_faults")
        elif step.fault is not None:
            try:
                details = self.stage.inject(step.fault)
            except FaultNotSupported as exc:
                self.step_failures.append(f"fault at t={step.at:g}: {exc}")
                return None
            self._step("fault", **details)
        return None


def _wire(variables: dict[str, Variable]) -> dict[str, Any]:
    """A step's variables as the API takes them (a sensitive one as its object form)."""
    return {k: v if isinstance(v, str) else v.model_dump() for k, v in variables.items()}
