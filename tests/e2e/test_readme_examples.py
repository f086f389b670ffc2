"""The README's in-process examples run as written: a user who copies them gets what the
README says (each block's own asserts are the check, plus what the test reads after)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"


def block_after(heading: str, nth: int = 0) -> str:
    """The ``nth`` Python block after the first line that is ``heading``."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n")
    blocks = re.findall(r"```python\n(.*?)```", text[start:], re.S)
    return blocks[nth]


def run(code: str) -> dict[str, Any]:
    scope: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(code, str(README), "exec"), scope)
    return scope


def test_the_embedded_backend_example():
    scope = run(block_after("### Use it in-process (tests)"))
    assert scope["execution"]["status"] == "SUCCEEDED"
    assert scope["env"].fake.journal.entries(method="POST", path="/api/v2/runs")  # a run was started


def test_the_fake_tfc_in_process_example():
    scope = run(block_after("### Use it in-process"))
    assert scope["tfc"].get("/api/v2/ping").status_code == 204
    assert [e.path for e in scope["fake"].journal.entries()] == ["/api/v2/ping"]
