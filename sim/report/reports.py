"""The reports themselves: of a run just played, of a saved trace, of ``sim up``'s run so far
(re-exported by :mod:`sim.report`)."""

from __future__ import annotations

import json
from pathlib import Path

from sim.controlplane.models import REDACTED

from ..scenarios.expectations import SENSITIVE_KEY
from ..scenarios.invariants import scenario_secrets
from ..scenarios.loader import parse_scenario
from ..scenarios.model import Scenario
from ..scenarios.observe import Observed, trace_observed
from ..scenarios.player import ScenarioResult
from ..scenarios.trace import Record, StatusRecord, Trace, read_trace, record_from_json
from ..scenarios.verdict import Verdict, judge, verdict_of
from .axis import clock
from .page import Page, render
from .timeline import build_timeline

__all__ = ["live_report", "result_report", "trace_report", "write_report"]

#: Expectations a saved trace does not hold the answer to (per tenant, and whole fields).
NOT_IN_TRACE_PER_TENANT = ("outputs", "workspace_exists")
NOT_IN_TRACE = ("tfc_runs", "tfc_variables")


def _end(scenario: Scenario) -> float:
    return scenario.steps[-1].at + scenario.settings.run_for


def _page(
    scenario: Scenario, records: list[Record], verdict: Verdict | None, *, source: str, seed: int, engine: str,
    trace_path: str | None, secrets: tuple[str, ...], problems: list[str], note: str = "",
) -> Page:
    tl = build_timeline(records, _end(scenario) if engine == "embedded" else None)
    commands = [f"python -m sim run {source} --seed {seed}" + ("" if engine == "embedded" else f" --backend {engine}") + " --report report.html"]
    if trace_path:
        commands += [f"python -m sim replay {trace_path}", f"python -m sim trace show {trace_path}", f"python -m sim report {trace_path}"]
    meta = [
        ("seed", str(seed)),
        ("source", source),
        ("engine", engine),
        ("simulated span", clock(tl.end)),
        ("starts at", scenario.settings.start),
        ("tenants", str(len(tl.lanes))),
        ("flows", str(len(tl.flows))),
        ("trace records", str(len(records))),
    ]
    return Page(
        title=scenario.name, timeline=tl, verdict=verdict, meta=meta, commands=commands,
        description=scenario.description.strip(), problems=problems, secrets=secrets, note=note,
    )


def result_report(
    result: ScenarioResult, *, engine: str = "embedded", secrets: tuple[str, ...] = (), trace_path: str | None = None,
    problems: list[str] | None = None,
) -> str:
    """The report of a run just played. ``secrets``: strings that must not appear (the TFC
    token); ``problems``: failures found outside the run's own verdict (a property test's model)."""
    verdict = verdict_of(result, engine=engine)
    secrets = (*secrets, *_sensitive_outputs(result.observed), *scenario_secrets(result.scenario))
    page = _page(
        result.scenario, result.trace.records, verdict, source=result.source, seed=result.seed, engine=engine,
        trace_path=trace_path, secrets=secrets, problems=list(problems or []),
    )
    return render(page)


def _sensitive_outputs(obs: Observed) -> tuple[str, ...]:
    """The values of outputs whose names say they are secrets, should a row show one (the API
    shows the outputs TFC marks sensitive redacted, as ``{"sensitive": true}``): never shown."""
    return tuple(
        str(v) for row in obs.rows.values() for k, v in (row.get("outputs") or {}).items()
        if SENSITIVE_KEY.search(k) and v and v != REDACTED
    )


def write_report(path: str | Path, html: str) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    # A lone surrogate (a hostile client's string, seen in a trace) is written escaped.
    out.write_text(html, encoding="utf-8", errors="backslashreplace")
    return out


def trace_report(path: str | Path) -> str:
    """The report of a saved trace: everything the trace shows, judged as far as it can be
    (final outputs, workspaces and TFC variables are not in a trace)."""
    header, lines = read_trace(path)
    scenario = parse_scenario(header["text"], header.get("source", "<trace>"))
    trace = Trace(start=0.0, records=[record_from_json(json.loads(line)) for line in lines])
    obs = observed_from_trace(trace)
    verdict = judge(
        scenario, trace, obs, [], [],
        unjudged=tuple(f"tenants.{c}.{k}" for c in scenario.expect.tenants for k in NOT_IN_TRACE_PER_TENANT) + NOT_IN_TRACE,
        invariant_names=[n for n in _invariant_names() if n not in ("no_secrets", "secrets_stay_secret")],
    )
    page = _page(
        scenario, trace.records, verdict, source=header.get("source", "<trace>"), seed=int(header.get("seed", 0)),
        engine="embedded", trace_path=str(path), secrets=(), problems=[],
        note="Rendered from a saved trace: what the trace does not hold (final outputs, workspaces, TFC variables, "
        "the run's secrets) is not judged here.",
    )
    return render(page)


def _invariant_names() -> list[str]:
    from ..scenarios.invariants import DESCRIPTIONS

    return list(DESCRIPTIONS)


def observed_from_trace(trace: Trace) -> Observed:
    """What the expectations compare, as far as the trace holds it (each row as its last
    status record left it)."""
    obs = trace_observed(trace)
    obs.rows = {r.tenant: {"status": r.to, "last_error": r.last_error} for r in trace.of(StatusRecord)}
    return obs




def live_report(trace: Trace, *, seed: int, start: float, wait_seconds: int, poll_budget: int, secrets: tuple[str, ...] = ()) -> str:
    """The report of a run still going (``sim up``): no scenario, so no steps or expectations;
    the invariants, as far as they can be judged yet."""
    from datetime import datetime, timezone

    from ..scenarios.invariants import checked
    from ..scenarios.model import Expectations, Settings

    settings = Settings(
        wait_seconds=wait_seconds, poll_budget=poll_budget, start=datetime.fromtimestamp(start, timezone.utc).isoformat().replace("+00:00", "Z"),
    )
    scenario = Scenario.model_construct(
        name="sim up", description="", seed=seed, needs=[], settings=settings, tenants={}, steps=[], expect=Expectations(),
    )
    records = list(trace.records)
    so_far = Trace(start=trace.start, records=records)
    invariants = checked(scenario, so_far, observed_from_trace(so_far), secrets=secrets)
    tl = build_timeline(records)
    meta = [("seed", str(seed)), ("engine", "embedded (served)"), ("simulated time so far", clock(tl.end)),
            ("started at", settings.start), ("tenants", str(len(tl.lanes))), ("flows", str(len(tl.flows))), ("trace records", str(len(records)))]
    page = Page(
        title="sim up: the run so far", timeline=tl, verdict=Verdict([], [], invariants), meta=meta, commands=[],
        description="Everything the served backend did since it started, as the trace recorded it. Reload for more.",
        secrets=secrets,
    )
    return render(page)
