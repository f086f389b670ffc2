"""Engines are registered once and what each supports is declared once: the CLI, the
plugin and the scenario runner choose from the registry; the README's feature table and the
scenarios' needs are generated from the declaration."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

from sim.engines.features import COLUMNS, FEATURES, Support, feature, markdown_table
from sim.engines.registry import ENGINES, NAMES, engine
from sim.scenarios.model import Need
from sim.scenarios.needs import WHY

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_feature_table_is_generated_from_the_declaration():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- engine-features -->\n(.*?)<!-- /engine-features -->", readme, re.S)
    assert found, "README.md lacks the <!-- engine-features --> block"
    assert found.group(1) == markdown_table(), "regenerate: python -c 'from sim.engines.features import markdown_table; print(markdown_table())'"


def test_every_scenario_need_is_a_declared_feature_with_a_reason():
    assert set(get_args(Need)) == set(WHY)
    for need in get_args(Need):
        feature(need)  # raises if undeclared


def test_every_registered_engine_has_a_column_and_the_embedded_one_supports_every_need():
    assert set(NAMES) <= set(COLUMNS)
    assert all(engine("embedded").supports(n) for n in get_args(Need))
    assert not engine("ministack").supports("dlq")


def test_every_unsupported_cell_says_why():
    for f in FEATURES:
        for c in COLUMNS:
            cell = f.cell(c)
            if cell.support is Support.UNSUPPORTED and c != "aws":
                assert cell.note, f"{f.key} on {c}: say why it is not supported"


def test_an_unknown_engine_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="choose from embedded, ministack, localstack"):
        engine("docker")


def test_the_embedded_engine_is_the_simulated_one():
    assert [e.name for e in ENGINES.values() if e.simulated_time] == ["embedded"]


def test_export_loads_no_engine():
    code = "import sys, sim.__main__ as m; m.main(['export']); print('\\n'.join(sys.modules), file=sys.stderr)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    loaded = set(out.stderr.split())
    assert "moto" not in loaded and "sim.engines.embedded" not in loaded and "sim.engines.remote" not in loaded
    assert '"state_machine_definition"' in out.stdout
