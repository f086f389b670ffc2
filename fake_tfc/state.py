"""State versions and their outputs: written by applies, read through the outputs API."""

from __future__ import annotations

import hashlib
import hmac
import string
from dataclasses import dataclass, field
from typing import Any

from .behaviour import OutputSpec


@dataclass
class StateOutput:
    id: str
    name: str
    value: Any
    sensitive: bool

    @property
    def type(self) -> str:
        return terraform_type(self.value)


@dataclass
class StateVersion:
    id: str
    workspace_id: str
    run_id: str
    serial: int
    created_at: float
    #: When output and resource extraction finishes (``resources-processed``).
    processed_at: float
    resources: int
    fingerprint: str
    outputs: list[StateOutput] = field(default_factory=list)

    def processed(self, now: float) -> bool:
        return now >= self.processed_at


def terraform_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def render_outputs(
    specs: dict[str, OutputSpec],
    variables: dict[str, str],
    workspace_name: str,
    workspace_id: str,
    secret_key: bytes = b"",
) -> list[tuple[str, Any, bool]]:
    """Derive output values from the run's variables. ``{uid}`` and ``{secret}`` depend only
    on the workspace, so re-applying never regenerates ids or credentials; ``{secret}`` is
    keyed by ``secret_key``, so knowing the workspace (or its public ``{uid}``) does not
    give it away."""
    context = _Blank(tenant_code=workspace_name)
    context.update(variables)
    context.update(
        workspace=workspace_name,
        workspace_id=workspace_id,
        uid=hashlib.sha256(workspace_id.encode()).hexdigest()[:12],
        secret=hmac.new(secret_key, workspace_id.encode(), hashlib.sha256).hexdigest()[:24],
    )
    formatter = string.Formatter()
    rendered = []
    for name, spec in specs.items():
        value = spec.value
        if isinstance(value, str):
            try:
                value = formatter.vformat(value, (), context)
            except (ValueError, IndexError, AttributeError, KeyError):
                pass  # a literal that merely contains braces
        rendered.append((name, value, spec.sensitive))
    return rendered
