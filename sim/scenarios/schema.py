"""The scenario files' JSON Schema, generated from the pydantic model (``scenarios/schema.json`` is
the published copy, checked to be current)."""

from __future__ import annotations

from typing import Any

from .model import Scenario


def scenario_schema() -> dict[str, Any]:
    schema = Scenario.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "tenant-sim scenario"
    return schema
