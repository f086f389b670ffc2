"""``make fidelity`` (python -m sim.engines.embedded.fidelity) on a clone without
``../shared``: it says the recordings are absent and where it looked, and exits 0."""

from __future__ import annotations

from pathlib import Path

from sim.engines.embedded import fidelity


def test_without_the_recordings_it_says_they_are_absent(monkeypatch, tmp_path: Path) -> None:
    missing = tmp_path / "shared" / "reference" / "aws-recorded"
    monkeypatch.setattr(fidelity, "RECORDED_DIR", missing)
    lines: list[str] = []
    assert fidelity.recorded_available() is False
    assert fidelity.cases("event_patterns") == []
    assert fidelity.main([], out=lines.append) == 0
    assert len(lines) == 1 and "absent" in lines[0]
    assert str(missing) in lines[0]


def test_the_recordings_are_looked_for_beside_the_clone() -> None:
    assert fidelity.RECORDED_DIR == fidelity.REPO_ROOT.parent / "shared" / "reference" / "aws-recorded"
    assert (fidelity.REPO_ROOT / "pyproject.toml").is_file()
