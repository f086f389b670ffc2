"""What a scenario needs from an engine, and which engines have it (issue 5).

A scenario may declare ``needs``; the rest is inferred from what it does. On an engine
that lacks a need, the scenario is skipped with that reason, never silently passed.
"""

from __future__ import annotations

from typing import get_args

from .model import Need, Scenario

#: Simulated seconds a scenario may span and still run in real time on a real engine.
REAL_TIME_LIMIT = 600.0

ENGINES = ("embedded", "ministack", "localstack")

#: What each engine offers (see the README's feature table for the evidence).
FEATURES: dict[str, frozenset[str]] = {
    "embedded": frozenset(get_args(Need)),
    # The fake TFC is ours on every engine, so its faults are available everywhere.
    "ministack": frozenset({"tfc_faults"}),
    "localstack": frozenset({"tfc_faults"}),
}

WHY: dict[str, str] = {
    "simulated_clock": "needs the simulated clock (its simulated span would take that long in real time)",
    "dlq": "needs EventBridge target retry and DLQs",
    "lambda_faults": "needs Lambda fault injection (throttles, errors per invocation)",
    "start_execution_faults": "needs StartExecution fault injection",
    "tfc_faults": "needs fault rules on the fake TFC",
}


def required(sc: Scenario) -> set[str]:
    needs = set(sc.needs)
    span = max((s.at for s in sc.steps), default=0.0) + sc.settings.run_for
    if span > REAL_TIME_LIMIT or sc.settings.wait_seconds > 60:
        needs.add("simulated_clock")
    if sc.expect.dlq:
        needs.add("dlq")
    for step in sc.steps:
        f = step.fault
        if f is None:
            continue
        if f.lambda_ is not None:
            needs.add("lambda_faults")
        if f.start_execution is not None:
            needs |= {"start_execution_faults", "dlq"}
        if f.delete_state_machine is not None:
            needs.add("dlq")
        if f.tfc is not None:
            needs.add("tfc_faults")
        if f.dynamodb_conflict is not None:
            needs.add("simulated_clock")  # the conflict is timed by the embedded recorder
    return needs


def unmet(sc: Scenario, engine: str) -> list[str]:
    """Why ``engine`` cannot run ``sc`` (empty: it can)."""
    if engine not in FEATURES:
        raise ValueError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    return [WHY[n] for n in sorted(required(sc) - FEATURES[engine])]
