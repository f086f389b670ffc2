"""Run a scenario on the embedded engine: :func:`run_file`, :func:`run_text`,
:func:`run_scenario`, or :class:`ScenarioRun` to drive it step by step."""

from __future__ import annotations

from pathlib import Path

from sim.engines.embedded.environment import EmbeddedBackend

from .embedded_stage import EmbeddedStage
from .loader import load_scenario, parse_scenario
from .model import Scenario
from .player import Player, ScenarioResult


class ScenarioRun(Player):
    """A scenario on its own embedded backend (started by :meth:`open`)."""

    stage: EmbeddedStage

    def __init__(self, scenario: Scenario, seed: int, *, tracing: bool = False) -> None:
        super().__init__(scenario, EmbeddedStage(scenario, seed, tracing=tracing), seed)

    @property
    def env(self) -> EmbeddedBackend:
        return self.stage.env


def run_scenario(
    scenario: Scenario, text: str, *, seed: int | None = None, source: str = "<scenario>", tracing: bool = False
) -> ScenarioResult:
    """``tracing``: record the control plane's spans (the result's ``spans``)."""
    seed = scenario.seed if seed is None else seed
    run = ScenarioRun(scenario, seed, tracing=tracing)
    obs = run.play()
    failures, violations = run.finish(obs)
    return ScenarioResult(scenario, seed, source, text, run.trace, obs, failures, violations, run.env.spans)


def run_file(path: str | Path, seed: int | None = None, *, tracing: bool = False) -> ScenarioResult:
    scenario, text = load_scenario(path)
    return run_scenario(scenario, text, seed=seed, source=str(path), tracing=tracing)


def run_text(text: str, seed: int | None = None, source: str = "<scenario>", *, tracing: bool = False) -> ScenarioResult:
    return run_scenario(parse_scenario(text, source), text, seed=seed, source=source, tracing=tracing)
