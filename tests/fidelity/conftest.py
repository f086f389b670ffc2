"""The recorded-on-AWS oracle: every case of ``<repo>/../shared/reference/aws-recorded``,
run through the embedded backend's functions and through its APIs. Skipped, saying why,
when the recordings are not beside the clone (CI puts a copy of shared/ there)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sim.engines.embedded.environment import EmbeddedBackend, EmbeddedConfig
from sim.engines.embedded.fidelity import ABSENT_REASON, ApiHarness, cases, recorded_available


def recorded_params(name: str, kind: str | None = None) -> list[Any]:
    """One pytest param per recorded case of ``name``.json (id: the case's name), or a single
    param skipped with the reason when the recordings are absent."""
    if not recorded_available():
        return [pytest.param(None, marks=pytest.mark.skip(reason=ABSENT_REASON), id="recordings-absent")]
    return [pytest.param(c, id=c["name"]) for c in cases(name) if kind is None or c["kind"] == kind]


@pytest.fixture(scope="module")
def harness() -> Iterator[ApiHarness]:
    with EmbeddedBackend(EmbeddedConfig(stall_seconds=30)) as env:
        yield ApiHarness(env)
