"""The request journal: every request the fake answered, for tests to assert on."""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    time: float
    method: str
    path: str
    query: str
    status: int
    workspace: str | None
    workspace_id: str | None
    fault: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Journal:
    def __init__(self) -> None:
        self._entries: list[JournalEntry] = []
        self._seq = 0  # entries recorded since the last clear (dropped old ones included)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[JournalEntry], None]] = []

    def subscribe(self, listener: Callable[[JournalEntry], None]) -> None:
        """Call ``listener`` with every entry as it is recorded (a simulator's trace)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[JournalEntry], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def record(
        self,
        *,
        time: float,
        method: str,
        path: str,
        query: str,
        status: int,
        workspace: str | None,
        workspace_id: str | None,
        fault: str | None,
    ) -> JournalEntry:
        with self._lock:
            self._seq += 1
            entry = JournalEntry(
                seq=self._seq,
                time=time,
                method=method,
                path=path,
                query=query,
                status=status,
                workspace=workspace,
                workspace_id=workspace_id,
                fault=fault,
            )
            self._entries.append(entry)
        for listener in self._listeners:
            listener(entry)
        return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._seq = 0

    def forget_before(self, time: float) -> int:
        """Drop the entries recorded before ``time`` (a retention limit); how many. Later
        entries keep their ``seq``."""
        with self._lock:
            keep = [e for e in self._entries if e.time >= time]
            dropped = len(self._entries) - len(keep)
            self._entries[:] = keep
        return dropped

    def entries(
        self,
        method: str | None = None,
        path: str | None = None,
        workspace: str | None = None,
        status: int | None = None,
    ) -> list[JournalEntry]:
        """Entries in order, filtered by method, path glob, workspace name and status."""
        with self._lock:
            found = list(self._entries)
        return [
            e
            for e in found
            if (method is None or e.method == method.upper())
            and (path is None or fnmatch.fnmatchcase(e.path, path))
            and (workspace is None or e.workspace == workspace)
            and (status is None or e.status == status)
        ]
