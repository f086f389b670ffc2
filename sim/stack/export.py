"""The stack's wiring as sorted, indented JSON (state machine definition, rules with their
input transformers, retry policies, DLQs), so that a wiring change is a readable diff of
``stack.json`` in review. Names only: no secret value."""

from __future__ import annotations

import json

from .wiring import Stack

#: The golden export at the repository root, checked by ``tests/unit/test_export.py``.
GOLDEN = "stack.json"


def export_json(stack: Stack) -> str:
    return json.dumps(stack.export(), indent=2, sort_keys=True) + "\n"
