"""Play a scenario on the embedded backend, record its trace, compare what was seen with
what the scenario expects, and check the invariants over the whole run."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from collections.abc import Callable
from typing import Any

from fake_tfc import FakeTFC, RunScript
from fake_tfc.inputs import VariableInput
from fake_tfc.statuses import VariableCategory
from sim.controlplane.statuses import Action
from sim.embedded.environment import EmbeddedBackend, EmbeddedConfig
from sim.embedded.faults import LambdaFault, LambdaFaultKind, StartExecutionFault
from sim.stack import Stack

from . import invariants
from .loader import load_scenario, parse_scenario
from .model import Scenario, Step, TfcBehaviour
from .recorder import Recorder
from .trace import Trace


@dataclass
class Observed:
    transitions: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    dlq: list[dict[str, Any]] = field(default_factory=list)
    flow_dlq: int = 0
    tfc_runs: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    workspaces: dict[str, bool] = field(default_factory=dict)
    tfc_variables: dict[str, dict[str, str]] = field(default_factory=dict)


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

    @property
    def passed(self) -> bool:
        return not self.failures and not self.violations

    @property
    def report(self) -> str:
        lines = [f"{'PASS' if self.passed else 'FAIL'} {self.scenario.name} ({self.source}, seed {self.seed}, {len(self.trace.records)} trace records)"]
        lines += [f"  expectation: {f}" for f in self.failures]
        lines += [f"  invariant:   {v}" for v in self.violations]
        return "\n".join(lines)

    def header(self) -> dict[str, Any]:
        return {"scenario": self.scenario.name, "source": self.source, "seed": self.seed, "text": self.text}


def workspace_of(code: str) -> str:
    return f"tenant-{code}"


def observe_trace(trace: Trace, run_ids: dict[str, set[str]]) -> Observed:
    """What the trace shows: transitions and lifecycle events per tenant, DLQ writes,
    and the runs TFC held per tenant (``run_ids`` by workspace name)."""
    obs = Observed()
    for r in trace.of("status"):
        obs.transitions[r["tenant"]].append(r["to"])
    for r in trace.of("sns"):
        if r.get("tenant_code"):
            obs.events[r["tenant_code"]].append(r["event"])
    obs.dlq = list(trace.of("dlq"))
    obs.flow_dlq = sum(1 for _ in trace.of("flow_dlq"))
    for name, ids in run_ids.items():
        if name.startswith("tenant-"):
            obs.tfc_runs[name.removeprefix("tenant-")] = len(ids)
    return obs


def observe_tenants(obs: Observed, scenario: Scenario, tenant: Callable[[str], dict[str, Any] | None], fake: FakeTFC, org: str) -> None:
    """Each tenant's row (read through the API) and its workspace as TFC holds it."""
    for code in sorted(set(obs.transitions) | set(scenario.expect.tenants)):
        row = tenant(code)
        if row is not None:
            obs.rows[code] = row
        with fake.lock:
            ws_id = fake.workspace_id_by_name(org, workspace_of(code))
            obs.workspaces[code] = ws_id is not None
            if ws_id is not None:
                obs.tfc_variables[code] = {
                    var.key: var.value for var in fake.workspaces[ws_id].variables.values()
                    if var.category is VariableCategory.TERRAFORM and not var.sensitive
                }


def write_tfc_variable(fake: FakeTFC, org: str, step: Step) -> str | None:
    """Edit a workspace variable in TFC directly (a ``tfc_variable`` step); the failure
    to report, if the workspace does not exist."""
    v = step.tfc_variable
    ws_id = fake.workspace_id_by_name(org, workspace_of(v.tenant))
    if ws_id is None:
        return f"tfc_variable at t={step.at:g}: tenant {v.tenant}'s workspace does not exist yet"
    ws = fake.workspaces[ws_id]
    current = ws.find_variable(v.key, VariableCategory.TERRAFORM)
    if current is None:
        fake.create_variable(ws, VariableInput(key=v.key, value=v.value, category=VariableCategory.TERRAFORM))
    else:
        fake.update_variable(ws, current.id, VariableInput(value=v.value))
    return None


def _script(code: str, tfc: TfcBehaviour) -> RunScript:
    return RunScript(match=workspace_of(code), runs=tfc.runs, then=tfc.then, durations=tfc.durations, output_delay=tfc.output_delay)


def _epoch(start: str) -> float:
    return datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp()


class ScenarioRun:
    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario = scenario
        s = scenario.settings
        config = EmbeddedConfig(seed=seed, start=_epoch(s.start), wait_seconds=s.wait_seconds, poll_budget=s.poll_budget)
        stack = Stack(
            wait_seconds=s.wait_seconds, poll_budget=s.poll_budget, tfc_organization=config.tfc_organization,
            retry_attempts=s.retry_attempts, max_event_age=s.max_event_age,
        )
        self.env = EmbeddedBackend(config, stack)
        self.trace = Trace(start=config.start)
        self.step_failures: list[str] = []

    def play(self) -> Observed:
        self.open()
        try:
            for step in self.scenario.steps:
                self.apply(step)
            return self.close(self.scenario.steps[-1].at + self.scenario.settings.run_for)
        finally:
            self.env.stop()

    # Incremental use (the property tests drive a run step by step).
    def open(self) -> None:
        self.env.start()
        self.rec = Recorder(self.env, self.trace)
        for code, spec in self.scenario.tenants.items():
            self.env.fake.set_script(_script(code, spec.tfc))

    def apply(self, step: Step) -> Any:
        """Advance to the step's time, do it, run what falls due; the API response if any."""
        self.env.clock.advance_to(self.trace.start + step.at)
        resp = self._do(self.rec, step)
        self.env.clock.run_due()
        return resp

    def close(self, until: float) -> Observed:
        """Run to ``until`` (seconds from the start) and collect what was seen. The backend
        keeps running; the caller stops it."""
        env = self.env
        env.clock.advance_to(self.trace.start + until)
        self.rec.flow_dlq()
        obs = observe_trace(self.trace, self.rec.run_ids)
        observe_tenants(obs, self.scenario, env.tenant, env.fake, env.stack.tfc_organization)
        return obs

    # ------------------------------------------------------------- steps
    def _api(self, rec: Recorder, method: str, path: str, body: Any = None) -> Any:
        resp = self.env.api(method, path, body)
        rec.api(method, path, resp.status, resp.body)
        return resp

    def _do(self, rec: Recorder, step: Step) -> Any:
        env = self.env
        kind = step.kind
        if kind == "create":
            c = step.create
            return self._api(rec, "POST", "/tenants", {"tenant_code": c.tenant, "variables": c.variables, "decommission_date": c.decommission_date})
        if kind == "update":
            u = step.update
            body = {k: v for k, v in (("variables", u.variables), ("decommission_date", u.decommission_date)) if v is not None}
            return self._api(rec, "PATCH", f"/tenants/{u.tenant}", body)
        if kind == "delete":
            return self._api(rec, "DELETE", f"/tenants/{step.delete}")
        if kind == "get":
            return self._api(rec, "GET", f"/tenants/{step.get}")
        if kind == "request":
            r = step.request
            resp = self._api(rec, r.method, r.path, r.body)
            if r.expect_status is not None and resp.status != r.expect_status:
                self.step_failures.append(f"request {r.method} {r.path} at t={step.at:g}: expected status {r.expect_status}, got {resp.status} {resp.body}")
            return resp
        elif kind == "tfc":
            for code, behaviour in step.tfc.items():
                env.fake.set_script(_script(code, behaviour))
            rec.step("tfc", tenants=sorted(step.tfc))
        elif kind == "tfc_variable":
            self._tfc_variable(rec, step)
        elif kind == "clear_faults":
            env.faults.clear()
            env.fake.faults.clear()
            rec.conflicts.pending.clear()
            rec.step("clear_faults")
        elif kind == "fault":
            self._fault(rec, step)
        return None

    def _tfc_variable(self, rec: Recorder, step: Step) -> None:
        problem = write_tfc_variable(self.env.fake, self.env.stack.tfc_organization, step)
        if problem:
            self.step_failures.append(problem)
            return
        rec.step("tfc_variable", tenant=step.tfc_variable.tenant, key=step.tfc_variable.key)

    def _fault(self, rec: Recorder, step: Step) -> None:
        f, env = step.fault, self.env
        if f.tfc is not None:
            env.fake.faults.add(f.tfc)
            rec.step("fault", fault="tfc", rule=f.tfc.model_dump(mode="json", exclude_none=True))
        elif f.lambda_ is not None:
            lf = f.lambda_
            env.faults.lambdas.append(
                LambdaFault(
                    lf.function, LambdaFaultKind(lf.kind), times=lf.times,
                    on_invocations=frozenset(lf.on_invocations) if lf.on_invocations else None, error_type=lf.error_type,
                )
            )
            rec.step("fault", fault="lambda", function=lf.function, effect=lf.kind, times=lf.times)
        elif f.start_execution is not None:
            se = f.start_execution
            env.faults.start_execution.append(StartExecutionFault(env.stack.flow(se.action).state_machine, se.error, times=se.times))
            rec.step("fault", fault="start_execution", action=se.action.value, error=se.error, times=se.times)
        elif f.delete_state_machine is not None:
            env.client("stepfunctions").delete_state_machine(stateMachineArn=env.stack.state_machine_arn(f.delete_state_machine))
            rec.step("fault", fault="delete_state_machine", action=f.delete_state_machine.value)
        elif f.dynamodb_conflict is not None:
            rec.conflicts.pending.add(f.dynamodb_conflict)
            rec.step("fault", fault="dynamodb_conflict", tenant=f.dynamodb_conflict)

    # ------------------------------------------------------------- results
    def finish(self, obs: Observed) -> tuple[list[str], list[str]]:
        return self.step_failures + expectation_failures(self.scenario, obs), invariants.check(self.scenario, self.trace, obs, secrets=(self.env.config.tfc_token,))


def expectation_failures(sc: Scenario, obs: Observed) -> list[str]:
    out: list[str] = []
    for code, exp in sc.expect.tenants.items():
        seen = obs.transitions.get(code, [])
        final = seen[-1] if seen else None
        if exp.status is not None and final != exp.status.value:
            out.append(f"tenants.{code}.status: expected {exp.status.value}, got {final}")
        if exp.transitions is not None and seen != [s.value for s in exp.transitions]:
            out.append(f"tenants.{code}.transitions: expected {' -> '.join(s.value for s in exp.transitions)}, got {' -> '.join(seen) or '(none)'}")
        row = obs.rows.get(code) or {}
        if exp.last_error_contains is not None and exp.last_error_contains not in (row.get("last_error") or ""):
            out.append(f"tenants.{code}.last_error: expected to contain {exp.last_error_contains!r}, got {row.get('last_error')!r}")
        if exp.outputs is not None:
            outputs = row.get("outputs") or {}
            for k, v in exp.outputs.items():
                if outputs.get(k) != v:
                    out.append(f"tenants.{code}.outputs.{k}: expected {v!r}, got {outputs.get(k)!r}")
        if exp.workspace_exists is not None and obs.workspaces.get(code) != exp.workspace_exists:
            out.append(f"tenants.{code}.workspace_exists: expected {exp.workspace_exists}, got {obs.workspaces.get(code)}")
    if sc.expect.events is not None:
        wanted: dict[str, list[str]] = defaultdict(list)
        for e in sc.expect.events:
            wanted[e.tenant].append(e.event)
        if not sc.expect.events:  # "events: []" means none at all
            wanted = defaultdict(list, {code: [] for code in obs.events})
        for code, events in wanted.items():
            if obs.events.get(code, []) != events:
                out.append(f"events.{code}: expected {events}, got {obs.events.get(code, [])}")
    if sc.expect.dlq is not None:
        got = [{"error_code": d["error_code"], "exhausted": d["exhausted"], "retry_attempts": d["retry_attempts"], "action": d["action"]} for d in obs.dlq]
        if len(got) != len(sc.expect.dlq):
            out.append(f"dlq: expected {len(sc.expect.dlq)} message(s), got {len(got)}: {got}")
        for i, (exp, g) in enumerate(zip(sc.expect.dlq, got)):
            for key in ("error_code", "exhausted", "retry_attempts", "action"):
                want = getattr(exp, key)
                want = want.value if isinstance(want, Action) else want
                if want is not None and g[key] != want:
                    out.append(f"dlq[{i}].{key}: expected {want!r}, got {g[key]!r}")
    if sc.expect.flow_dlq is not None and obs.flow_dlq != sc.expect.flow_dlq:
        out.append(f"flow_dlq: expected {sc.expect.flow_dlq} message(s), got {obs.flow_dlq}")
    if sc.expect.tfc_variables is not None:
        for code, wanted_vars in sc.expect.tfc_variables.items():
            held = obs.tfc_variables.get(code, {})
            for key, value in wanted_vars.items():
                if held.get(key) != value:
                    out.append(f"tfc_variables.{code}.{key}: expected {value!r}, got {held.get(key)!r}")
    if sc.expect.tfc_runs is not None:
        for code, n in sc.expect.tfc_runs.items():
            if obs.tfc_runs.get(code, 0) != n:
                out.append(f"tfc_runs.{code}: expected {n}, got {obs.tfc_runs.get(code, 0)}")
    return out


def run_scenario(scenario: Scenario, text: str, *, seed: int | None = None, source: str = "<scenario>") -> ScenarioResult:
    seed = scenario.seed if seed is None else seed
    run = ScenarioRun(scenario, seed)
    obs = run.play()
    failures, violations = run.finish(obs)
    return ScenarioResult(scenario, seed, source, text, run.trace, obs, failures, violations)


def run_file(path: str | Path, seed: int | None = None) -> ScenarioResult:
    scenario, text = load_scenario(path)
    return run_scenario(scenario, text, seed=seed, source=str(path))


def run_text(text: str, seed: int | None = None, source: str = "<scenario>") -> ScenarioResult:
    return run_scenario(parse_scenario(text, source), text, seed=seed, source=source)
