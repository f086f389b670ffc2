"""Replaying a production incident: turn what production recorded (an execution's history
and describe-execution, the TFC runs it drove, a DLQ message) into a scenario file that
reproduces it (``python -m sim import``; :func:`import_incident`)."""

from __future__ import annotations

from pathlib import Path

from .build import Imported, build
from .documents import read_files, read_inputs
from .errors import IncidentInputError

__all__ = ["Imported", "IncidentInputError", "import_files", "import_incident"]


def import_incident(files: list[tuple[str, str]], *, name: str | None = None, tenant: str | None = None) -> Imported:
    """The scenario (text and notes) for ``files``: (name, JSON text) pairs. Raises
    :class:`IncidentInputError` naming the file and what is wrong."""
    return _checked(build(read_inputs(files), name=name, tenant=tenant))


def import_files(paths: list[str | Path], *, name: str | None = None, tenant: str | None = None) -> Imported:
    return _checked(build(read_files(paths), name=name, tenant=tenant))


def _checked(imported: Imported) -> Imported:
    """The scenario must load like any other (a failure here is the importer's bug)."""
    from sim.scenarios.loader import ScenarioError, parse_scenario

    try:
        parse_scenario(imported.text, "<imported scenario>")
    except ScenarioError as exc:
        raise AssertionError(f"the importer wrote a scenario the loader refuses:\n{exc}\n---\n{imported.text}") from None
    return imported
