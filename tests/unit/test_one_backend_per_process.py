"""A second EmbeddedBackend in one process is refused with AdapterBusy and its clean-up
leaves the first running. Before, the refused start's stop() uninstalled the adapter
globally and stopped moto's patching: the first backend's API then answered 502."""

from __future__ import annotations

import pytest

from sim.controlplane.statuses import TERMINAL
from sim.engines.embedded.environment import EmbeddedBackend, EmbeddedConfig
from sim.engines.embedded.moto_adapter import AdapterBusy


def test_a_refused_second_backend_leaves_the_first_working() -> None:
    first = EmbeddedBackend(EmbeddedConfig(stall_seconds=30)).start()
    try:
        machines = first.client("stepfunctions").list_state_machines()["stateMachines"]
        second = EmbeddedBackend()
        with pytest.raises(AdapterBusy):
            second.start()
        second.stop()  # what a `with` block or a fixture does after a failed start
        second.stop()

        assert first.client("stepfunctions").list_state_machines()["stateMachines"] == machines
        created = first.api("POST", "/tenants", {"tenant_code": "acme", "variables": {}, "decommission_date": "2027-01-01"})
        assert created.status == 202
        assert first.run_until(lambda: first.status("acme") in TERMINAL, max_seconds=6 * 3600)
        assert first.status("acme") == "ready"
    finally:
        first.stop()
    # Once the first has stopped, a backend starts again.
    EmbeddedBackend().start().stop()
