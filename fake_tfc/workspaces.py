"""Workspaces and their variables, as plain data."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from .statuses import VariableCategory


@dataclass
class Variable:
    id: str
    key: str
    value: str
    category: VariableCategory
    description: str = ""
    hcl: bool = False
    sensitive: bool = False
    version: int = 1

    @property
    def version_id(self) -> str:
        return hashlib.sha256(f"{self.id}:{self.version}".encode()).hexdigest()[:40]


#: Workspace settings the fake stores and echoes back, with their defaults.
WORKSPACE_DEFAULTS: dict[str, Any] = {
    "auto-apply": False,
    "auto-apply-run-trigger": False,
    "allow-destroy-plan": True,
    "assessments-enabled": False,
    "description": None,
    "execution-mode": "remote",
    "file-triggers-enabled": True,
    "global-remote-state": False,
    "queue-all-runs": False,
    "source-name": None,
    "source-url": None,
    "speculative-enabled": True,
    "structured-run-output-enabled": True,
    "terraform-version": "1.9.8",
    "trigger-prefixes": [],
    "trigger-patterns": [],
    "tag-names": [],
    "working-directory": "",
}


@dataclass
class Workspace:
    id: str
    name: str
    organization: str
    created_at: float
    settings: dict[str, Any] = field(default_factory=lambda: dict(WORKSPACE_DEFAULTS))
    updated_at: float = 0.0
    variables: dict[str, Variable] = field(default_factory=dict)
    run_ids: list[str] = field(default_factory=list)
    #: The run holding the workspace lock (the active run), if any.
    locked_by: str | None = None
    #: When the workspace last became free for the next queued run.
    free_since: float = 0.0
    state_version_ids: list[str] = field(default_factory=list)
    configuration_version_id: str = ""

    @property
    def auto_apply(self) -> bool:
        return bool(self.settings["auto-apply"])

    @property
    def current_state_version_id(self) -> str | None:
        return self.state_version_ids[-1] if self.state_version_ids else None

    def find_variable(self, key: str, category: VariableCategory) -> Variable | None:
        for var in self.variables.values():
            if var.key == key and var.category == category:
                return var
        return None

    def variable_snapshot(self) -> dict[tuple[str, str], tuple[str, bool]]:
        """The values a run is pinned to at creation: (key, category) -> (value, hcl)."""
        return {(v.key, v.category.value): (v.value, v.hcl) for v in self.variables.values()}


def fingerprint(snapshot: dict[tuple[str, str], tuple[str, bool]]) -> str:
    """What a plan compares against the current state to decide whether anything changes."""
    items = sorted((k, c, v, h) for (k, c), (v, h) in snapshot.items())
    return hashlib.sha256(repr(items).encode()).hexdigest()
