"""``python -m sim run --backend ministack``: scenarios whose needs MiniStack meets are
played on it in real time and judged like on the embedded backend; the others are
skipped with the reason.

The command starts its own MiniStack (the module fixture of ``conftest.py`` is not
used), so the skip logic is the same as there: ``TENANT_SIM_SKIP_MINISTACK=1`` skips;
when MiniStack cannot be installed or started the test is skipped with the reason,
unless ``TENANT_SIM_REQUIRE_MINISTACK=1``, which makes it fail.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pytest

from sim.commands.run import run as run_command

from .conftest import TIMINGS

pytestmark = pytest.mark.ministack

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"
QUICK = LIBRARY / "quick-lifecycle-any-engine.yaml"
SIMULATED = LIBRARY / "decommission-skips-mid-update.yaml"


def test_run_on_ministack_plays_what_it_can_and_skips_the_rest(capsys, monkeypatch):
    if os.environ.get("TENANT_SIM_SKIP_MINISTACK") in ("1", "true"):
        pytest.skip("MiniStack unavailable: TENANT_SIM_SKIP_MINISTACK is set")
    monkeypatch.setenv("COLUMNS", "400")  # rich wraps at the terminal width otherwise
    args = argparse.Namespace(files=[str(QUICK), str(SIMULATED)], seed=None, trace=None, backend="ministack")
    t0 = time.monotonic()
    code = run_command(args)
    TIMINGS["scenarios"] = time.monotonic() - t0
    out = " ".join(capsys.readouterr().out.split())
    if "MiniStack unavailable" in out:
        if os.environ.get("TENANT_SIM_REQUIRE_MINISTACK") in ("1", "true"):
            pytest.fail(f"MiniStack unavailable (TENANT_SIM_REQUIRE_MINISTACK is set): {out}")
        pytest.skip(out[out.index("MiniStack unavailable"):])
    assert code == 0, out
    assert "PASS quick-lifecycle-any-engine" in out, out
    assert "SKIPPED decommission-skips-mid-update on ministack" in out, out
    assert "needs the simulated clock" in out, out
    assert "1 passed, 0 failed, 1 skipped" in out, out
