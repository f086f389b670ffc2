"""``python -m sim export`` and the golden ``stack.json``: a wiring change must show in
review as a diff of that file, and the export must hold names, never a secret."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sim.__main__ import main
from sim.engines.embedded.environment import DEFAULT_TOKEN
from sim.stack.export import GOLDEN, export_json
from sim.stack.wiring import Stack

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = f"run `python -m sim export --out {GOLDEN}` and commit the diff"


def test_stack_json_is_the_current_export():
    golden = ROOT / GOLDEN
    assert golden.exists(), f"{GOLDEN} is missing: {REGENERATE}"
    assert golden.read_text(encoding="utf-8") == export_json(Stack()), f"{GOLDEN} differs from the stack's wiring: {REGENERATE}"


def test_the_export_shows_the_wiring_a_reviewer_checks():
    exported = json.loads(export_json(Stack()))
    assert exported["state_machine_definition"]["States"]
    for flow in exported["flows"]:
        target = flow["target"]
        assert set(target) >= {"InputTransformer", "RetryPolicy", "DeadLetterConfig"}
    assert exported["schedule"]["expression"] == Stack().schedule


def test_the_export_is_sorted_and_indented():
    text = export_json(Stack())
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_the_export_holds_no_secret():
    text = export_json(Stack())
    assert DEFAULT_TOKEN not in text
    assert not re.search(r"atlasv1|Bearer ", text)  # the shape of a TFC token or auth header
    assert json.loads(text)["secret"] == Stack().secret  # the secret's name only


def test_export_prints_to_stdout(capsys):
    assert main(["export"]) == 0
    assert capsys.readouterr().out == export_json(Stack())


def test_export_writes_the_file_given(tmp_path):
    out = tmp_path / "stack.json"
    assert main(["export", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == export_json(Stack())
