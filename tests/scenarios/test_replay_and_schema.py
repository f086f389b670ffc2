"""Replay reports the first divergence from a recorded trace; the published JSON Schema
is the one the scenario model gives, and every scenario file conforms to it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from sim.commands.replay import run as replay_command
from sim.commands.run import run as run_command
from sim.scenarios.schema import scenario_schema
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
    # Field by field: only the time differs.
    diff = [line for line in out.splitlines() if line.startswith("  ") and not line.startswith(("  recorded:", "  replayed:"))]
    assert diff == [f"  t: recorded {record['t']}, replayed {record['t'] - 1}"], out


def test_trace_show_prints_a_line_per_record_and_filters(tmp_path, capsys):
    from sim.commands.trace import run as trace_command

    trace = tmp_path / "t.jsonl"
    assert run_command(argparse.Namespace(files=[str(SCENARIO)], seed=None, trace=str(trace), backend="embedded")) == 0
    capsys.readouterr()
    assert trace_command(argparse.Namespace(file=str(trace), kind=["status"], tenant=None, plain=True)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("# errored-apply-then-update (seed 0")
    assert [line.split("\t")[1:] for line in lines[1:]] == [
        ["0:00:00", "status", "acme", "status (new) -> creating"],
        ["0:02:00", "status", "acme", "status creating -> failed (run run-XuAtSrRH9KImlto1 ended errored)"],
        ["1:00:00", "status", "acme", "status failed -> updating"],
        ["1:02:00", "status", "acme", "status updating -> ready"],
    ]
    assert trace_command(argparse.Namespace(file=str(tmp_path / "missing.jsonl"), kind=None, tenant=None, plain=True)) == 2


def test_the_published_schema_is_current():
    published = json.loads((ROOT / "scenarios" / "schema.json").read_text())
    assert published == json.loads(json.dumps(scenario_schema())), "run: python -m sim schema --out scenarios/schema.json"


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").rglob("*.yaml")), ids=lambda p: p.stem)
def test_every_scenario_file_conforms_to_the_schema(path):
    jsonschema.validate(yaml.safe_load(path.read_text()), scenario_schema())


def test_a_bad_file_names_the_line_and_the_field():
    text = "name: x\nsteps:\n  - at: 10s\n    create: {tenant: acme}\n  - at: soon\n    delete: acme\n"
    with pytest.raises(ScenarioError, match=r"x.yaml:5: steps.1.at: 'soon' is not a duration"):
        parse_scenario(text, "x.yaml")
