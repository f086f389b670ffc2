"""The trace: one ordered log of everything a scenario run did, each record with its
simulated time. JSON Lines; the first line carries the scenario text and the seed, so
that ``python -m sim replay`` can run it again and compare, record by record.

Records are written with sorted keys and no wall-clock values, so the same scenario and
seed give a byte-identical file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRACE_VERSION = 1


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Trace:
    """Records in order. ``t`` is simulated seconds since the scenario's start."""

    start: float
    records: list[dict[str, Any]] = field(default_factory=list)

    def add(self, now: float, kind: str, **fields: Any) -> dict[str, Any]:
        rec = {"seq": len(self.records) + 1, "t": round(now - self.start, 3), "kind": kind, **fields}
        self.records.append(rec)
        return rec

    def of(self, *kinds: str) -> Iterator[dict[str, Any]]:
        return (r for r in self.records if r["kind"] in kinds)

    def lines(self) -> list[str]:
        return [dumps(r) for r in self.records]

    def write(self, path: str | Path, header: dict[str, Any]) -> None:
        text = "\n".join([dumps({"kind": "header", "version": TRACE_VERSION, **header}), *self.lines()]) + "\n"
        Path(path).write_text(text, encoding="utf-8")


def read_trace(path: str | Path) -> tuple[dict[str, Any], list[str]]:
    """The header and the record lines of a trace file."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    if not lines:
        raise ValueError(f"{path}: empty trace")
    header = json.loads(lines[0])
    if header.get("kind") != "header":
        raise ValueError(f"{path}: the first line is not a trace header")
    if header.get("version") != TRACE_VERSION:
        raise ValueError(f"{path}: trace version {header.get('version')}, this tool reads {TRACE_VERSION}")
    return header, lines[1:]
