"""The seed ledger: one JSON Lines entry per (scenario, seed) run, so that a campaign split
across processes, machines or CI jobs can be merged and compared. Durations differ from run to
run; everything else in an entry is a function of the scenario file and the seed."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

Verdict = Literal["pass", "fail", "error"]
VERDICTS: tuple[Verdict, ...] = ("pass", "fail", "error")


class LedgerError(ValueError):
    """A ledger file that is not one: the message names the file and line."""


@dataclass(frozen=True)
class LedgerEntry:
    scenario: str
    seed: int
    verdict: Verdict
    #: sha256 of the trace's lines: equal hashes, byte-identical traces.
    trace_hash: str
    records: int
    duration: float
    #: The first expectation failures and invariant violations (or the error), for reading.
    problems: list[str] = field(default_factory=list)
    #: Re-runs of this seed whose trace was not byte-identical to this one.
    nondeterministic: bool = False

    @property
    def key(self) -> tuple[str, int]:
        return (self.scenario, self.seed)

    def comparable(self) -> tuple[str, int, str, str, int, tuple[str, ...], bool]:
        """The entry without its duration: what two runs of the same work must agree on."""
        return (self.scenario, self.seed, self.verdict, self.trace_hash, self.records, tuple(self.problems), self.nondeterministic)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


def read_ledger(path: str | Path) -> list[LedgerEntry]:
    entries = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if data.get("verdict") not in VERDICTS:
                raise LedgerError(f"verdict {data.get('verdict')!r} is not one of {', '.join(VERDICTS)}")
            entries.append(LedgerEntry(**data))
        except (ValueError, TypeError) as exc:
            raise LedgerError(f"{path}:{n}: not a ledger entry: {exc}") from None
    return entries


def write_ledger(path: str | Path, entries: Iterable[LedgerEntry]) -> None:
    Path(path).write_text("".join(e.to_json() + "\n" for e in sorted(entries, key=lambda e: e.key)), encoding="utf-8")


def merge(ledgers: Iterable[list[LedgerEntry]]) -> list[LedgerEntry]:
    """One entry per (scenario, seed), sorted. The same work in two ledgers must agree
    (apart from its duration): otherwise the campaign was not deterministic, which is
    itself a finding, so the merged entry says so."""
    merged: dict[tuple[str, int], LedgerEntry] = {}
    for entries in ledgers:
        for e in entries:
            seen = merged.get(e.key)
            if seen is None:
                merged[e.key] = e
            elif seen.comparable() != e.comparable():
                merged[e.key] = LedgerEntry(
                    e.scenario, e.seed, "fail", seen.trace_hash, seen.records, seen.duration,
                    [*seen.problems, f"another shard's run of this seed differs (trace {e.trace_hash[:12]} vs {seen.trace_hash[:12]})"],
                    nondeterministic=True,
                )
    return sorted(merged.values(), key=lambda e: e.key)
