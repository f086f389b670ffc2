"""What a campaign runs: every scenario file with every seed, in one fixed order, split into
shards by position. The same command on N machines (a Kubernetes Indexed Job, a CI matrix,
pytest-xdist workers), each with its own shard, covers the work exactly once."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .machine import MACHINE_ITEM, PROPERTY
from .work import WorkItem


class PlanError(ValueError):
    """Bad campaign input: the message names the option."""


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (0-based) of ``count``: the items at positions ``index``,
    ``index + count``, ``index + 2 * count``..."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise PlanError(f"--shard: shard {self.index + 1} of {self.count} does not exist")

    def __str__(self) -> str:
        return f"{self.index + 1}/{self.count}"

    def select(self, items: list[WorkItem]) -> list[WorkItem]:
        return items[self.index :: self.count]


WHOLE = Shard(0, 1)


def parse_seeds(text: str) -> list[int]:
    """``0:100`` (a range, end excluded), ``1,5,9``, or ``20`` (seeds 0 to 19)."""
    text = text.strip()
    try:
        if ":" in text:
            start, _, stop = text.partition(":")
            seeds = list(range(int(start), int(stop)))
        elif "," in text:
            seeds = [int(s) for s in text.split(",") if s.strip()]
        else:
            seeds = list(range(int(text)))
    except ValueError:
        raise PlanError(f"--seeds: {text!r} is not START:STOP, a comma-separated list or a count") from None
    if not seeds:
        raise PlanError(f"--seeds: {text!r} gives no seed")
    if any(s < 0 for s in seeds):
        raise PlanError("--seeds: seeds are not negative")
    return sorted(set(seeds))


def parse_shard(text: str | None, shards: int | None = None, environ: Mapping[str, str] | None = None) -> Shard:
    """``--shard K/N`` (1-based, as CI matrices count), or ``--shards N`` with the
    ``JOB_COMPLETION_INDEX`` a Kubernetes Indexed Job sets (0-based); else the whole."""
    env = os.environ if environ is None else environ
    if text:
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not m:
            raise PlanError(f"--shard: {text!r} is not K/N (for example 2/4)")
        return Shard(int(m.group(1)) - 1, int(m.group(2)))
    index = env.get("JOB_COMPLETION_INDEX")
    if index is not None and index.strip():
        if not shards:
            raise PlanError("JOB_COMPLETION_INDEX is set: give --shards N (the Job's completions)")
        if not index.strip().isdigit():
            raise PlanError(f"JOB_COMPLETION_INDEX: {index!r} is not a number")
        return Shard(int(index), shards)
    if shards not in (None, 1):
        raise PlanError("--shards N needs JOB_COMPLETION_INDEX (or use --shard K/N)")
    return WHOLE


def scenario_files(paths: list[str]) -> list[Path]:
    """The scenario files named (a folder: every ``*.yaml`` under it); the word ``property``
    stands for the property-based lifecycle machine."""
    out: list[Path] = []
    for p in map(Path, paths):
        if str(p) == PROPERTY:
            out.append(Path(MACHINE_ITEM))
        elif p.is_dir():
            out += sorted(p.rglob("*.yaml"))
        elif p.is_file():
            out.append(p)
        else:
            raise PlanError(f"{p}: no such file or directory")
    if not out:
        raise PlanError("no scenario files given")
    return out


def plan(files: list[Path], seeds: list[int]) -> list[WorkItem]:
    """Every file with every seed, ordered by seed then file, so that a time budget that
    cuts the campaign short still covers every file with the first seeds."""
    return [WorkItem(str(f), s) for s in seeds for f in files]
