"""``--expect current``: production ran an older definition whose Retry did not cover Lambda
throttles, so a throttled Check failed the create. The imported scenario (production's
expectations) fails on today's control plane, naming what differs; the one written with
``--expect current`` passes, and the two files differ in their expectations only."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from sim.__main__ import main
from sim.controlplane import definition
from sim.scenarios.runner import run_text

from .recording import Recorded, operator_files, record_embedded

THROTTLED = """
name: throttled-check
settings: {run_for: 1h}
steps:
  - at: 0
    fault:
      lambda: {function: check, kind: throttle, times: 1}
  - at: 0
    create: {tenant: acme, variables: {tier: gold}}
"""


@pytest.fixture(scope="module")
def production() -> Recorded:
    """The incident, on a control plane whose Task Retry lacked Lambda.TooManyRequestsException."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(definition, "TRANSIENT_TASK_ERRORS", [e for e in definition.TRANSIENT_TASK_ERRORS if e != "Lambda.TooManyRequestsException"])
        recorded = record_embedded(THROTTLED)
    assert recorded.observed is not None and recorded.observed.transitions["acme"] == ["creating", "failed"]
    return recorded


def test_recorded_fails_on_todays_control_plane_and_current_passes(production: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = []
    for name, text in operator_files(production):
        path = tmp_path / name
        path.write_text(text)
        inputs.append(str(path))
    recorded, current = tmp_path / "incident.yaml", tmp_path / "incident-current.yaml"
    assert main(["import", *inputs, "--out", str(recorded)]) == 0
    assert main(["import", *inputs, "--out", str(current), "--expect", "current"]) == 0
    capsys.readouterr()

    before = run_text(recorded.read_text(), source="incident.yaml")
    assert not before.passed
    assert "tenants.acme.status: expected failed, got ready" in before.report
    assert "last_error: expected to contain 'task error: Lambda.TooManyRequestsException'" in before.report

    after = run_text(current.read_text(), source="incident-current.yaml")
    assert after.passed, after.report

    # The diff is the fix: the expectations, and the note saying how they differ.
    def data_lines(path: Path) -> list[str]:  # comments say where values came from: left out here
        return [ln.split("  # ")[0] for ln in path.read_text().splitlines() if not ln.lstrip().startswith("#")]

    changed = {
        ln[1:].strip().split(":")[0]
        for ln in difflib.unified_diff(data_lines(recorded), data_lines(current), lineterm="", n=0)
        if ln[:1] in "+-" and ln[:3] not in ("+++", "---")
    }
    diff = list(difflib.unified_diff(recorded.read_text().splitlines(), current.read_text().splitlines(), lineterm="", n=0))
    assert changed == {"status", "transitions", "last_error_contains", "events"}, "\n".join(diff)
    assert any("does not end as production did" in ln for ln in diff)
    assert any("tenants.acme.status: expected failed, got ready" in ln for ln in diff)
    assert "  # what the current control plane reaches" in current.read_text()


def test_current_of_an_unchanged_incident_says_so(tmp_path: Path) -> None:
    recorded = record_embedded(THROTTLED)  # today's definition retries the throttle
    from sim.incidents import import_incident
    from sim.incidents.current import expect_current

    imported = import_incident(operator_files(recorded))
    again = expect_current(imported)
    assert "The current control plane ends as production did." in again.text
    assert run_text(again.text).passed


README = Path(__file__).resolve().parents[2] / "README.md"
README_NAMES = {"history-create-1.json": "history.json", "describe-create-1.json": "describe.json"}


def test_the_readme_walk_through_shows_what_the_tool_writes(production: Recorded) -> None:
    """The README's excerpt and `sim run` output are this test's incident, as written."""
    import re

    from sim.incidents import import_incident

    files = []
    for name, text in operator_files(production):
        if name.startswith("runs-list-"):
            files.append(("runs.json", text))
        elif name.startswith("run-run-"):
            files.append(("run.json", text))
        else:
            files.append((README_NAMES[name], text))
    imported = import_incident(sorted(files, key=lambda f: ["history.json", "describe.json", "run.json", "runs.json"].index(f[0])))
    section = README.read_text(encoding="utf-8").split("## Replay a production incident", 1)[1]
    excerpt = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert excerpt, "the README's walk-through has no yaml excerpt"
    actual = imported.text.splitlines()
    for line in excerpt.group(1).splitlines():
        assert any(a == line or a.split("  # ")[0] == line for a in actual), f"README line not in the import: {line!r}"
    report = run_text(imported.text, source="incident.yaml").report
    for line in re.search(r"\$ \.venv/bin/python -m sim run incident\.yaml\n(.*?)```", section, re.S).group(1).splitlines()[1:]:  # type: ignore[union-attr]
        assert line in report, f"README line not in the report: {line!r}\n{report}"
