"""Replay reports the first divergence from a recorded trace; the published JSON Schema
is the one the scenario model gives, and every scenario file conforms to it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import yaml

from sim.scenarios.cli import replay_command, run_command, scenario_schema
from sim.scenarios.loader import ScenarioError, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "library" / "errored-apply-then-update.yaml"


def test_replay_of_an_untouched_trace_is_identical_and_a_changed_one_names_the_record(tmp_path, capsys):
    trace = tmp_path / "t.jsonl"
    assert run_command(argparse.Namespace(files=[str(SCENARIO)], seed=4, trace=str(trace), backend="embedded")) == 0
    assert replay_command(argparse.Namespace(trace=str(trace))) == 0
    assert "identical" in capsys.readouterr().out

    lines = trace.read_text().splitlines()
    record = json.loads(lines[10])
    record["t"] += 1  # as if that event had happened a second later
    lines[10] = json.dumps(record, sort_keys=True, separators=(",", ":"))
    trace.write_text("\n".join(lines) + "\n")
    assert replay_command(argparse.Namespace(trace=str(trace))) == 1
    out = capsys.readouterr().out
    assert "diverged at record 10" in out


def test_the_published_schema_is_current():
    published = json.loads((ROOT / "scenarios" / "schema.json").read_text())
    assert published == json.loads(json.dumps(scenario_schema())), "run: python -m sim schema --out scenarios/schema.json"


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").rglob("*.yaml")), ids=lambda p: p.stem)
def test_every_scenario_file_conforms_to_the_schema(path):
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(yaml.safe_load(path.read_text()), scenario_schema())


def test_a_bad_file_names_the_line_and_the_field():
    text = "name: x\nsteps:\n  - at: 10s\n    create: {tenant: acme}\n  - at: soon\n    delete: acme\n"
    with pytest.raises(ScenarioError, match=r"x.yaml:5: steps.1.at: 'soon' is not a duration"):
        parse_scenario(text, "x.yaml")
