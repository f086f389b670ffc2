"""``FakeTFC``: the fake's whole state and every operation on it, with no HTTP.

The HTTP layer parses requests into typed inputs and calls these methods; tests and
the simulator may call them directly. All methods are thread-safe. Runs progress
lazily: before a workspace is read or changed, its runs are advanced to the clock's
``now`` (``settle``), so a virtual clock needs nothing but ``advance``.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable

from .behaviour import DEFAULT_SCRIPT, RunScript
from .clock import Clock, WallClock
from .errors import Conflict, InvalidAttribute, NotFound, ApiError
from .faults import FaultEngine
from .ids import IdFactory
from .inputs import RunInput, Token, VariableInput, WorkspaceInput
from .journal import Journal
from .runs import Phase, Run
from .state import StateOutput, StateVersion, render_outputs
from .statuses import RunStatus, VariableCategory
from .workspaces import WORKSPACE_DEFAULTS, Variable, Workspace, fingerprint

DEFAULT_ORGANIZATION = "example-org"


class FakeTFC:
    def __init__(
        self,
        clock: Clock | None = None,
        *,
        seed: int = 0,
        organizations: Iterable[str] = (DEFAULT_ORGANIZATION,),
        tokens: Iterable[str | Token] = (),
    ) -> None:
        self.clock: Clock = clock or WallClock()
        self.seed = seed
        self.lock = threading.RLock()
        self.journal = Journal()
        self.faults = FaultEngine(seed)
        #: The key of every sensitive default output: drawn at random (not from the seed,
        #: which traces print) and never shown, so no public value gives a secret away.
        self.secret_key = secrets.token_bytes(32)
        #: Every sensitive value the fake has held (outputs and variables), deleted ones
        #: too: what a no-secrets check must not find anywhere.
        self.sensitive_values: set[str] = set()
        self._initial_orgs = list(organizations)
        self._initial_tokens = [t if isinstance(t, Token) else Token(t) for t in tokens]
        self.reset()

    # ------------------------------------------------------------------ admin
    def reset(self) -> None:
        """Forget every workspace, run, script, fault and journal entry."""
        with self.lock:
            self.ids = IdFactory(self.seed)
            self.organizations: set[str] = set(self._initial_orgs)
            self.tokens: dict[str, Token] = {t.value: t for t in self._initial_tokens}
            self.workspaces: dict[str, Workspace] = {}
            self._by_name: dict[tuple[str, str], str] = {}
            self.runs: dict[str, Run] = {}
            self._phases: dict[str, str] = {}  # plan/apply id -> run id
            self.state_versions: dict[str, StateVersion] = {}
            self._outputs: dict[str, tuple[str, StateOutput]] = {}  # output id -> (sv id, output)
            self._var_owner: dict[str, str] = {}
            self.scripts: list[RunScript] = []
            # keyed by name, not id: a workspace deleted and created again (a tenant
            # decommissioned then re-created) goes on with the attempts it had
            self._attempts: dict[tuple[int, str, str], int] = {}
            self.faults.clear()
            self.journal.clear()

    def add_organization(self, name: str) -> None:
        with self.lock:
            self.organizations.add(name)

    def add_token(self, token: str | Token) -> Token:
        tok = token if isinstance(token, Token) else Token(token)
        with self.lock:
            self.tokens[tok.value] = tok
        return tok

    def set_script(self, script: RunScript) -> None:
        """Install a run script; the most recently set matching script wins."""
        with self.lock:
            self.scripts.append(script)

    def clear_scripts(self) -> None:
        with self.lock:
            self.scripts.clear()
            self._attempts.clear()

    def script_for(self, workspace_name: str) -> tuple[int, RunScript]:
        for index in range(len(self.scripts) - 1, -1, -1):
            if self.scripts[index].matches(workspace_name):
                return index, self.scripts[index]
        return -1, DEFAULT_SCRIPT

    # ------------------------------------------------------------- visibility
    def token(self, value: str | None) -> Token | None:
        return self.tokens.get(value) if value else None

    def workspace_by_name(self, token: Token, org: str, name: str) -> Workspace:
        with self.lock:
            ws_id = self._by_name.get((org, name))
            if ws_id is None or not token.can_see(org):
                raise NotFound()
            return self.settle(self.workspaces[ws_id])

    def workspace_by_id(self, token: Token, ws_id: str) -> Workspace:
        with self.lock:
            ws = self.workspaces.get(ws_id)
            if ws is None or not token.can_see(ws.organization):
                raise NotFound()
            return self.settle(ws)

    def list_workspaces(self, token: Token, org: str) -> list[Workspace]:
        with self.lock:
            if org not in self.organizations or not token.can_see(org):
                raise NotFound()
            return [self.settle(w) for w in self.workspaces.values() if w.organization == org]

    def run(self, token: Token, run_id: str) -> Run:
        with self.lock:
            run = self.runs.get(run_id)
            if run is None:
                raise NotFound()
            self.workspace_by_id(token, run.workspace_id)  # settles and checks visibility
            return run

    def phase(self, token: Token, phase_id: str) -> tuple[Run, Phase]:
        with self.lock:
            run_id = self._phases.get(phase_id)
            if run_id is None:
                raise NotFound()
            run = self.run(token, run_id)
            return run, run.plan if run.plan.id == phase_id else run.apply

    def workspace_name_of(self, kind: str, ident: str) -> tuple[str | None, str | None]:
        """(name, id) of the workspace a resource belongs to, for journals and faults."""
        with self.lock:
            ws_id: str | None = None
            if kind == "workspace":
                ws_id = ident
            elif kind == "run" and ident in self.runs:
                ws_id = self.runs[ident].workspace_id
            elif kind == "phase" and ident in self._phases:
                ws_id = self.runs[self._phases[ident]].workspace_id
            elif kind == "output" and ident in self._outputs:
                ws_id = self.state_versions[self._outputs[ident][0]].workspace_id
            ws = self.workspaces.get(ws_id) if ws_id else None
            return (ws.name, ws.id) if ws else (None, ws_id)

    def workspace_id_by_name(self, org: str, name: str) -> str | None:
        return self._by_name.get((org, name))

    # ------------------------------------------------------------- workspaces
    def create_workspace(self, token: Token, org: str, data: WorkspaceInput) -> Workspace:
        with self.lock:
            if org not in self.organizations or not token.can_see(org):
                raise NotFound()
            if not data.name:
                raise InvalidAttribute("Name can't be blank", pointer="/data/attributes/name")
            if (org, data.name) in self._by_name:
                raise InvalidAttribute("Name has already been taken", pointer="/data/attributes/name")
            now = self.clock.now()
            ws = Workspace(
                id=self.ids.new("ws"),
                name=data.name,
                organization=org,
                created_at=now,
                updated_at=now,
                free_since=now,
                settings={**WORKSPACE_DEFAULTS, **data.settings},
                configuration_version_id=self.ids.new("cv"),
            )
            self.workspaces[ws.id] = ws
            self._by_name[(org, ws.name)] = ws.id
            return ws

    def update_workspace(self, ws: Workspace, data: WorkspaceInput) -> Workspace:
        with self.lock:
            if data.name and data.name != ws.name:
                if (ws.organization, data.name) in self._by_name:
                    raise InvalidAttribute("Name has already been taken", pointer="/data/attributes/name")
                del self._by_name[(ws.organization, ws.name)]
                ws.name = data.name
                self._by_name[(ws.organization, ws.name)] = ws.id
            ws.settings.update(data.settings)
            ws.updated_at = self.clock.now()
            return ws

    def delete_workspace(self, ws: Workspace) -> None:
        """Force delete: removes the workspace whatever it manages."""
        with self.lock:
            self._forget(ws)

    def safe_delete_workspace(self, ws: Workspace) -> None:
        with self.lock:
            self.settle(ws)
            if ws.locked_by is not None:
                raise Conflict(
                    "Workspace is currently locked. Workspace must be unlocked before it can be safely deleted"
                )
            sv = self.current_state_version(ws)
            if sv is not None and not sv.processed(self.clock.now()):
                raise Conflict(
                    "Latest workspace state is being processed to discover resources, please try again later"
                )
            if sv is not None and sv.resources > 0:
                raise Conflict("workspace cannot be safely deleted because it is still managing resources")
            self._forget(ws)

    def _forget(self, ws: Workspace) -> None:
        del self.workspaces[ws.id]
        del self._by_name[(ws.organization, ws.name)]
        for var_id in ws.variables:
            self._var_owner.pop(var_id, None)
        for run_id in ws.run_ids:
            run = self.runs.pop(run_id)
            self._phases.pop(run.plan.id, None)
            self._phases.pop(run.apply.id, None)
        for sv_id in ws.state_version_ids:
            for out in self.state_versions.pop(sv_id).outputs:
                self._outputs.pop(out.id, None)

    # -------------------------------------------------------------- variables
    def create_variable(self, ws: Workspace, data: VariableInput) -> Variable:
        with self.lock:
            assert data.key is not None and data.category is not None
            if ws.find_variable(data.key, data.category) is not None:
                raise InvalidAttribute(
                    "Key has already been taken", pointer="/data/attributes/key"
                )
            var = Variable(
                id=self.ids.new("var"),
                key=data.key,
                value=data.value or "",
                category=data.category,
                description=data.description or "",
                hcl=bool(data.hcl),
                sensitive=bool(data.sensitive),
            )
            ws.variables[var.id] = var
            self._var_owner[var.id] = ws.id
            if var.sensitive:
                self.sensitive_values.add(var.value)
            return var

    def variable(self, ws: Workspace, var_id: str) -> Variable:
        var = ws.variables.get(var_id)
        if var is None:  # includes a var of another workspace (terraform#27298)
            raise NotFound()
        return var

    def update_variable(self, ws: Workspace, var_id: str, data: VariableInput) -> Variable:
        with self.lock:
            var = self.variable(ws, var_id)
            if var.sensitive:
                for attr in ("key", "category", "hcl"):
                    new = getattr(data, attr)
                    if new is not None and new != getattr(var, attr):
                        raise InvalidAttribute(
                            f"The {attr} of a sensitive variable cannot be changed",
                            pointer=f"/data/attributes/{attr}",
                        )
                if data.sensitive is False:
                    raise InvalidAttribute(
                        "A sensitive variable cannot be made non-sensitive",
                        pointer="/data/attributes/sensitive",
                    )
            key = data.key if data.key is not None else var.key
            category = data.category if data.category is not None else var.category
            other = ws.find_variable(key, category)
            if other is not None and other.id != var.id:
                raise InvalidAttribute("Key has already been taken", pointer="/data/attributes/key")
            changed = False
            for attr in ("key", "value", "category", "description", "hcl", "sensitive"):
                new = getattr(data, attr)
                if new is not None and new != getattr(var, attr):
                    setattr(var, attr, new)
                    changed = True
            if changed:
                var.version += 1
            if var.sensitive:
                self.sensitive_values.add(var.value)
            return var

    def delete_variable(self, ws: Workspace, var_id: str) -> None:
        with self.lock:
            self.variable(ws, var_id)
            del ws.variables[var_id]
            self._var_owner.pop(var_id, None)

    # ------------------------------------------------------------------- runs
    def create_run(self, token: Token, data: RunInput) -> Run:
        with self.lock:
            ws = self.workspace_by_id(token, data.workspace_id)
            if data.is_destroy and not ws.settings.get("allow-destroy-plan", True):
                raise InvalidAttribute(
                    "Destroy plans are not allowed on this workspace", pointer="/data/attributes/is-destroy"
                )
            index, script = self.script_for(ws.name)
            key = (index, ws.organization, ws.name)
            attempt = self._attempts.get(key, 0)
            self._attempts[key] = attempt + 1
            now = self.clock.now()
            run = Run(
                id=self.ids.new("run"),
                workspace_id=ws.id,
                created_at=now,
                behaviour=script.behaviour_for(attempt),
                script=script,
                plan=Phase(self.ids.new("plan")),
                apply=Phase(self.ids.new("apply")),
                variables=ws.variable_snapshot(),
                is_destroy=data.is_destroy,
                auto_apply=ws.auto_apply if data.auto_apply is None else data.auto_apply,
                plan_only=data.plan_only,
            )
            if data.message is not None:
                run.message = data.message
            self.runs[run.id] = run
            self._phases[run.plan.id] = run.id
            self._phases[run.apply.id] = run.id
            ws.run_ids.append(run.id)
            self.settle(ws)
            return run

    def run_action(self, token: Token, run_id: str, action: str) -> Run:
        with self.lock:
            run = self.run(token, run_id)
            now = self.clock.now()
            {
                "apply": run.confirm,
                "discard": run.discard,
                "cancel": run.cancel,
                "force-cancel": run.force_cancel,
            }[action](now)
            self.settle(self.workspaces[run.workspace_id])
            return run

    def settle(self, ws: Workspace) -> Workspace:
        """Advance the workspace's runs to now: the active run along its path, and the
        next queued run onto the workspace as soon as the active one finishes."""
        with self.lock:
            now = self.clock.now()
            while True:
                active = self.runs[ws.locked_by] if ws.locked_by else None
                if active is None:
                    active = self._start_next(ws, now)
                    if active is None:
                        return ws
                for status, t in active.advance(now):
                    if status == RunStatus.APPLIED or (status == RunStatus.ERRORED and active.apply.timestamps):
                        self._write_state(ws, active, t)
                if not active.terminal:
                    return ws
                ws.locked_by = None
                ws.free_since = active.finished_at or now

    def _start_next(self, ws: Workspace, now: float) -> Run | None:
        for run_id in ws.run_ids:
            run = self.runs[run_id]
            if run.terminal or run.active:
                continue
            start = max(ws.free_since, run.created_at)
            if start > now:
                return None
            sv = self.current_state_version(ws)
            run.activate(
                start,
                current_resources=sv.resources if sv else 0,
                state_fingerprint=sv.fingerprint if sv else None,
                my_fingerprint=fingerprint(run.variables),
            )
            ws.locked_by = run.id
            return run
        return None

    def _write_state(self, ws: Workspace, run: Run, t: float) -> None:
        """An apply finished (or errored part way): write the new state version."""
        previous = self.current_state_version(ws)
        errored = run.status == RunStatus.ERRORED
        if run.is_destroy:
            resources = previous.resources // 2 if (errored and previous) else 0
        else:
            resources = max(1, run.script.resource_count // 2) if errored else run.script.resource_count
        sv = StateVersion(
            id=self.ids.new("sv"),
            workspace_id=ws.id,
            run_id=run.id,
            serial=(previous.serial + 1) if previous else 1,
            created_at=t,
            processed_at=t + run.script.output_delay,
            resources=resources,
            # A partial state never matches a configuration, so the next plan has changes.
            fingerprint="partial" if errored else fingerprint(run.variables),
        )
        if not run.is_destroy and not errored:
            tf_vars = {k: v for (k, cat), (v, _) in run.variables.items() if cat == VariableCategory.TERRAFORM}
            for name, value, sensitive in render_outputs(run.script.outputs, tf_vars, ws.name, ws.id, self.secret_key):
                out = StateOutput(id=self.ids.new("wsout"), name=name, value=value, sensitive=sensitive)
                if sensitive:
                    self.sensitive_values.add(str(value))
                sv.outputs.append(out)
                self._outputs[out.id] = (sv.id, out)
        self.state_versions[sv.id] = sv
        ws.state_version_ids.append(sv.id)

    # ------------------------------------------------------------------ state
    def current_state_version(self, ws: Workspace) -> StateVersion | None:
        sv_id = ws.current_state_version_id
        return self.state_versions[sv_id] if sv_id else None

    def resource_count(self, ws: Workspace) -> int:
        sv = self.current_state_version(ws)
        return sv.resources if sv else 0

    def state_output(self, token: Token, output_id: str) -> StateOutput:
        with self.lock:
            found = self._outputs.get(output_id)
            if found is None:
                raise NotFound()
            sv = self.state_versions[found[0]]
            self.workspace_by_id(token, sv.workspace_id)
            return found[1]

    def check_runs_allowed(self, token: Token) -> None:
        """Organization tokens cannot use the run endpoints; TFC answers 404."""
        if token.kind == "organization":
            raise NotFound()


__all__ = ["FakeTFC", "ApiError", "DEFAULT_ORGANIZATION"]
