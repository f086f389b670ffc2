"""Start-up imports only what the embedded backend uses: moto's Step Functions parser no
longer drags in moto.batch's models and moto.ec2 (about a second of a fresh start), and moto's
Batch backend is still there for anyone who calls it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout


def test_a_started_backend_has_not_imported_batch_models_or_ec2():
    out = _run(
        "import sys\n"
        "from sim.engines.embedded.environment import EmbeddedBackend\n"
        "with EmbeddedBackend() as env:\n"
        "    env.api('GET', '/tenants')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('moto.batch.models', 'moto.ec2'))))\n"
    )
    assert out.strip() == "[]"


def test_a_started_backend_loads_the_fake_tfcs_http_layer_only_when_tfc_is_first_called():
    out = _run(
        "import sys\n"
        "from sim.engines.embedded.environment import EmbeddedBackend\n"
        "layer = ('fake_tfc.app', 'fake_tfc.http_admin', 'fake_tfc.http_api')\n"
        "with EmbeddedBackend() as env:\n"
        "    print(sorted(m for m in sys.modules if m in layer))\n"
        "    env.tfc_transport().handle_request(__import__('httpx').Request('GET', 'http://tfc/_fake/clock'))\n"
        "    print(sorted(m for m in sys.modules if m in layer))\n"
    )
    assert out.splitlines() == ["[]", "['fake_tfc.app', 'fake_tfc.http_admin', 'fake_tfc.http_api']"]


def test_batch_still_works_when_asked_for():
    out = _run(
        "import boto3\n"
        "from sim.engines.embedded.environment import EmbeddedBackend\n"
        "with EmbeddedBackend() as env:\n"
        "    print(env.client('batch').describe_compute_environments()['computeEnvironments'])\n"
    )
    assert out.strip() == "[]"


def test_start_leaves_the_garbage_collector_as_it_found_it():
    # start() pauses the cyclic collector while it builds the backend's long-lived heap.
    out = _run(
        "import gc\n"
        "from sim.engines.embedded.environment import EmbeddedBackend\n"
        "with EmbeddedBackend() as env:\n"
        "    print(gc.isenabled())\n"
        "gc.disable()\n"
        "with EmbeddedBackend() as env:\n"
        "    print(gc.isenabled())\n"
    )
    assert out.split() == ["True", "False"]


def test_a_running_backend_keeps_its_start_up_heap_out_of_the_collectors_passes_until_it_stops():
    out = _run(
        "import gc\n"
        "from sim.engines.embedded.environment import EmbeddedBackend\n"
        "with EmbeddedBackend() as env:\n"
        "    print(gc.get_freeze_count() > 100_000)\n"
        "print(gc.get_freeze_count())\n"
    )
    assert out.split() == ["True", "0"]


def test_sim_ups_modules_leave_the_html_report_to_the_first_report_asked_for():
    out = _run(
        "import sys\n"
        "import sim.commands.up, sim.live.run, sim.live.control, sim.engines.embedded.serve\n"
        "print(sorted(m for m in sys.modules if m in ('sim.report.reports', 'sim.report.page')))\n"
        "from sim.report import live_report\n"
        "print(sorted(m for m in sys.modules if m in ('sim.report.reports', 'sim.report.page')))\n"
    )
    assert out.splitlines() == ["[]", "['sim.report.page', 'sim.report.reports']"]
