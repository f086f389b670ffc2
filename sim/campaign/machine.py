"""The property-based lifecycle machine as campaign work: one hypothesis seed, a number of
generated programs (requests, faults, clock moves, concurrent bursts) checked against the
model of what the control plane may do. The machine lives with the tests
(``tests/property/test_lifecycle_machine.py``) and is loaded from the repository; it needs
hypothesis (``pip install 'tenant-sim[test]'``, which ``make`` installs).

Unlike a scenario, a machine run is not byte-replayable (its bursts race real threads), so it
has no trace hash and is not re-run for determinism; a failure is shrunk by hypothesis and
written as a regression scenario, which is.
"""

from __future__ import annotations

import contextlib
import importlib.util
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from .ledger import LedgerEntry

#: How the campaign names the machine (instead of a scenario file): ``sim campaign property``.
PROPERTY = "property"
MACHINE_ITEM = "property:lifecycle-machine"
#: Generated programs per seed (each up to 20 steps).
EXAMPLES_PER_SEED = 10
MACHINE_FILE = Path(__file__).resolve().parents[2] / "tests" / "property" / "test_lifecycle_machine.py"


class MachineUnavailable(RuntimeError):
    """The machine cannot be loaded here (no repository tests, no hypothesis)."""


_loaded: ModuleType | None = None


def load_machine() -> ModuleType:
    global _loaded
    if _loaded is not None:
        return _loaded
    if not MACHINE_FILE.is_file():
        raise MachineUnavailable(f"the property machine is not here ({MACHINE_FILE}): it runs from a clone of the repository")
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        raise MachineUnavailable("the property machine needs hypothesis: pip install 'tenant-sim[test]' (make installs it)") from None
    spec = importlib.util.spec_from_file_location("tenant_sim_lifecycle_machine", MACHINE_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _loaded = module
    return module


@contextlib.contextmanager
def hypothesis_seed(seed: int) -> Iterator[None]:
    """Hypothesis draws from ``seed`` while the block runs (what pytest's ``--hypothesis-seed``
    sets), then from what it drew from before."""
    from hypothesis import core

    kept = core.global_force_seed
    setattr(core, "global_force_seed", seed)
    try:
        yield
    finally:
        setattr(core, "global_force_seed", kept)


def run_machine(seed: int, examples: int = EXAMPLES_PER_SEED, *, shrink: bool = True) -> tuple[LedgerEntry, Counter[str], str | None]:
    """Run the machine for ``examples`` programs drawn from ``seed``: the ledger entry, the
    coverage it reached (``property:<what>``), and for a failure the regression scenario
    (the shrunk program, unless ``shrink`` is off)."""
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis.stateful import run_state_machine_as_test

    t0 = time.perf_counter()
    module: Any
    try:
        module = load_machine()
    except MachineUnavailable as exc:
        return LedgerEntry(MACHINE_ITEM, seed, "error", "", 0, 0.0, [str(exc)]), Counter(), None
    seen_before = Counter(module.SEEN)
    chosen = settings(
        max_examples=examples, stateful_step_count=20, deadline=None, derandomize=False, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much], print_blob=True,
        phases=list(Phase) if shrink else [Phase.generate],
    )
    problems: list[str] = []
    regression: str | None = None
    with tempfile.TemporaryDirectory(prefix="tenant-sim-machine-") as folder:
        kept_folder, module.REGRESSIONS = module.REGRESSIONS, Path(folder)  # this run's failure, not another worker's
        try:
            with hypothesis_seed(seed):
                run_state_machine_as_test(module.LifecycleMachine, settings=chosen)
        except Exception as exc:  # noqa: BLE001 - a failing program, or a flaky one: both are findings
            problems = [_first_line(exc)]
            written = Path(folder) / "lifecycle-machine-latest.yaml"
            if written.is_file():
                regression = written.read_text(encoding="utf-8")
        finally:
            module.REGRESSIONS = kept_folder
    coverage = Counter({f"property:{k}": v for k, v in (Counter(module.SEEN) - seen_before).items()})
    verdict: Any = "fail" if problems else "pass"
    return LedgerEntry(MACHINE_ITEM, seed, verdict, "", 0, round(time.perf_counter() - t0, 3), problems), coverage, regression


def _first_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
