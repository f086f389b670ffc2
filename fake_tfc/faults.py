"""Fault rules: make matching requests fail, slow down or lose their connection.

A rule fires for the next ``count`` matching calls, or with ``probability`` drawn
from a random stream keyed by (seed, rule, workspace): the same seed gives the same
faults for a workspace whatever traffic other workspaces send.
"""

from __future__ import annotations

import fnmatch
import hashlib
import random
import threading
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


#: Bounds of a fault's waits: an hour of latency, a day of Retry-After. Finite on purpose:
#: ``latency: Infinity`` would be a request that never answers, and ``retry_after: 1e300``
#: a header no client can honour.
MAX_LATENCY = 3600.0
MAX_RETRY_AFTER = 86400.0


class FaultRule(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str | None = Field(default=None, max_length=200)
    #: HTTP method to match, or ``*``.
    method: str = Field(default="*", max_length=16)
    #: Glob over the request path, e.g. ``/api/v2/runs/*`` or ``*/current-state-version-outputs``.
    path: str = Field(default="*", max_length=1000)
    #: Glob over the workspace name the request concerns (``None``: any request).
    workspace: str | None = Field(default=None, max_length=200)
    status: int | None = Field(default=None, ge=400, le=599)
    #: ``Retry-After`` (and ``X-RateLimit-Reset``) seconds sent with a 429 or 503.
    retry_after: float = Field(default=1.0, ge=0, le=MAX_RETRY_AFTER)
    detail: str | None = Field(default=None, max_length=2000)
    #: Seconds added before the response (on the fake's clock).
    latency: float = Field(default=0.0, ge=0, le=MAX_LATENCY)
    #: Close the connection instead of answering.
    drop: bool = False
    #: Apply the fault after the request has taken effect (a lost response).
    after: bool = False
    count: int | None = Field(default=None, ge=1, le=1_000_000_000)
    probability: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _one_effect(self) -> FaultRule:
        if self.status is None and not self.drop and self.latency == 0:
            raise ValueError("a fault rule needs at least one of: status, drop, latency")
        if self.status is not None and self.drop:
            raise ValueError("status and drop are exclusive")
        if self.count is not None and self.probability is not None:
            raise ValueError("count and probability are exclusive")
        return self


@dataclass
class FiredFault:
    rule: FaultRule
    name: str


class FaultEngine:
    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._rules: list[tuple[str, FaultRule]] = []
        self._remaining: dict[str, int] = {}
        self._streams: dict[tuple[str, str], random.Random] = {}
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> str:
        with self._lock:
            name = rule.name or f"fault-{len(self._rules) + 1}"
            if any(n == name for n, _ in self._rules):
                raise ValueError(f"a fault rule named {name!r} already exists")
            self._rules.append((name, rule))
            if rule.count is not None:
                self._remaining[name] = rule.count
            return name

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._remaining.clear()
            self._streams.clear()

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"name": n, **r.model_dump(exclude={"name"}), "remaining": self._remaining.get(n)}
                for n, r in self._rules
            ]

    def __bool__(self) -> bool:
        return bool(self._rules)

    def match(self, method: str, path: str, workspace: str | None) -> FiredFault | None:
        """The first rule that fires for this request, consuming its count or draw."""
        with self._lock:
            for name, rule in self._rules:
                if rule.method != "*" and rule.method.upper() != method:
                    continue
                if not fnmatch.fnmatchcase(path, rule.path):
                    continue
                if rule.workspace is not None and (
                    workspace is None or not fnmatch.fnmatchcase(workspace, rule.workspace)
                ):
                    continue
                if rule.count is not None:
                    if self._remaining.get(name, 0) <= 0:
                        continue
                    self._remaining[name] -= 1
                elif rule.probability is not None:
                    if self._stream(name, workspace).random() >= rule.probability:
                        continue
                return FiredFault(rule, name)
            return None

    def _stream(self, rule_name: str, workspace: str | None) -> random.Random:
        key = (rule_name, workspace or "")
        stream = self._streams.get(key)
        if stream is None:
            digest = hashlib.sha256(f"{self.seed}:{rule_name}:{workspace or ''}".encode()).digest()
            stream = self._streams[key] = random.Random(int.from_bytes(digest[:8], "big"))
        return stream
