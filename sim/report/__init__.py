"""The HTML run report: one self-contained page showing what a scenario run did to each
tenant, on the simulated time axis, with the state machine's graph and the run's checks.

    html = result_report(result)                 # a run just played (sim run --report)
    html = trace_report("run.jsonl")             # any saved trace (sim report)

Rendered from the trace's records (:mod:`sim.scenarios.trace`) and the verdict
(:mod:`sim.scenarios.verdict`); :mod:`.timeline` derives the story, :mod:`.page` draws it,
:mod:`.reports` puts them together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .reports import live_report, result_report, trace_report, write_report

__all__ = ["live_report", "result_report", "trace_report", "write_report"]


def __getattr__(name: str) -> Any:
    # The page, its graph and the scenario checks load when a report is first made: the
    # live console (``sim up``) needs only the time axis's formatting (``.axis``).
    if name in __all__:
        from . import reports

        return getattr(reports, name)
    raise AttributeError(f"module 'sim.report' has no attribute {name!r}")
