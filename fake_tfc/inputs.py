"""Typed inputs to the fake's domain operations (what the wire layer parses bodies into)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .statuses import VariableCategory


class TokenKind(StrEnum):
    USER = "user"
    TEAM = "team"
    ORGANIZATION = "organization"


@dataclass(frozen=True)
class Token:
    value: str
    #: Organizations the token can see; ``None`` means all.
    organizations: frozenset[str] | None = None
    kind: TokenKind = TokenKind.USER

    def can_see(self, organization: str) -> bool:
        return self.organizations is None or organization in self.organizations


@dataclass
class WorkspaceInput:
    name: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class VariableInput:
    """For create, ``key`` and ``category`` are required; for update, ``None`` = unchanged."""

    key: str | None = None
    value: str | None = None
    category: VariableCategory | None = None
    description: str | None = None
    hcl: bool | None = None
    sensitive: bool | None = None


@dataclass
class RunInput:
    workspace_id: str
    is_destroy: bool = False
    auto_apply: bool | None = None
    message: str | None = None
    plan_only: bool = False
