"""Metrics the control plane emits, as CloudWatch embedded metric format (EMF) lines.

On Lambda, a JSON object written to standard output in EMF becomes a metric with no API
call ("Embedded metric format specification", CloudWatch user guide: "the `_aws` root
node", one ``CloudWatchMetrics`` directive naming the namespace, dimensions and metrics). A
simulator gives the handlers its own sink instead (:class:`sim.controlplane.handlers.Platform`
``metric``), so that tests can count them.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

NAMESPACE = "tenant-sim"

#: A tenant row that could not be read (unknown status, a missing or ill-typed field) was
#: skipped by a listing or the decommission.
MALFORMED_ROWS = "MalformedTenantRows"
#: The reconciler restarted the flow of a request left in progress with no live execution.
RECONCILER_RESTARTED = "ReconcilerRestartedFlows"
#: The reconciler ended a request left in progress for good: ``failed``, with the reason.
RECONCILER_FAILED = "ReconcilerFailedTenants"
#: DLQ messages the redrive put back on their bus or state machine.
REDRIVEN = "RedrivenMessages"
#: A flow ended ``failed``: one per failure lifecycle event Finalize published.
FAILED_FLOWS = "FailedFlows"

Metric = Callable[[str, float], None]


def no_metric(name: str, value: float) -> None:
    """A sink that drops everything (a caller that counts nothing)."""


def emf_line(name: str, value: float, function: str, now: float | None = None) -> str:
    """One EMF document: ``value`` of ``name`` (a count) for ``function``."""
    doc = {
        "_aws": {
            "Timestamp": int((time.time() if now is None else now) * 1000),
            "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [["Function"]], "Metrics": [{"Name": name, "Unit": "Count"}]}],
        },
        "Function": function,
        name: value,
    }
    return json.dumps(doc, separators=(",", ":"))


def stdout_metric(function: str) -> Metric:
    """What a handler on Lambda emits through: EMF on standard output."""

    def emit(name: str, value: float) -> None:
        sys.stdout.write(emf_line(name, value, function) + "\n")
        sys.stdout.flush()

    return emit
