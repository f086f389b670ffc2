"""What a scenario needs from an engine; which engines have it is declared once, in
:mod:`sim.engines.features` (each need is a feature key there).

A scenario may declare ``needs``; the rest is inferred from what it does. On an engine
that lacks a need, the scenario is skipped with that reason, never silently passed.
"""

from __future__ import annotations

from sim.engines.features import feature
from sim.engines.registry import engine as find_engine

from .model import Scenario

#: Simulated seconds a scenario may span and still run in real time on a real engine.
REAL_TIME_LIMIT = 600.0

WHY: dict[str, str] = {
    "simulated_clock": "needs the simulated clock (its simulated span would take that long in real time)",
    "dlq": "needs EventBridge target retry and DLQs",
    "lambda_faults": "needs Lambda fault injection (throttles, errors per invocation)",
    "start_execution_faults": "needs StartExecution fault injection",
    "tfc_faults": "needs fault rules on the fake TFC",
    "alarms": "needs the stack's CloudWatch alarms evaluated and their states observed",
}


def required(sc: Scenario) -> set[str]:
    needs: set[str] = set(sc.needs)
    span = max((s.at for s in sc.steps), default=0.0) + sc.settings.run_for
    if span > REAL_TIME_LIMIT or sc.settings.wait_seconds > 60 or sc.settings.task_timeout is not None:
        needs.add("simulated_clock")  # task_timeout: a real engine deploys its own definition
    if sc.expect.dlq:
        needs.add("dlq")
    if sc.expect.alarms:
        needs.add("alarms")
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
        if f.dynamodb_conflict is not None or f.aws is not None or f.malformed_row is not None:
            # Timed by the embedded recorder, or injected at the embedded engine's own seams
            # (the control plane's AWS clients, its DynamoDB): the embedded engine's only.
            needs.add("simulated_clock")
    return needs


def unmet(sc: Scenario, engine: str) -> list[str]:
    """Why ``engine`` cannot run ``sc`` (empty: it can)."""
    find_engine(engine)  # refuses an unknown engine, naming the choices
    return [WHY[n] for n in sorted(required(sc)) if not feature(n).cell(engine).available]
