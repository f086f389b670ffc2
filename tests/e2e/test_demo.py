"""``make sim``: the demo plays its scenario, prints what happens as it happens, ends every
tenant as it expects, and writes the HTML report, printing where."""

from __future__ import annotations

import argparse
import json

from sim.commands.demo import run as demo


def test_the_demo_passes_and_writes_its_report(tmp_path, capsys):
    report, otlp = tmp_path / "demo.html", tmp_path / "demo.otlp.json"
    assert demo(argparse.Namespace(report=str(report), otlp=str(otlp))) == 0
    out = capsys.readouterr().out
    assert "POST /tenants (acme) -> 202 creating" in out
    assert "DLQ: umbrella update event, THROTTLING" in out
    assert "daily decommission: deleting hooli" in out
    assert f"report: {report.resolve()}" in out.replace("\n", "")
    html = report.read_text(encoding="utf-8")
    assert 'id="verdict">PASS' in html
    for code in ("acme", "globex", "initech", "umbrella", "hooli"):
        assert f'class="lane" data-tenant="{code}"' in html, code
    assert "tenant-sim.atlasv1" not in html  # the TFC token
    # The idempotent retry replayed, the alarms fired and cleared, the spans written.
    assert "Idempotent-Replayed" in out
    assert "PATCH /tenants/acme -> 403 Missing Authentication Token" in out
    assert "alarm tenant-sim-failed-flows: OK -> ALARM" in out and "alarm tenant-sim-failed-flows: ALARM -> OK" in out
    assert "alarm tenant-sim-events-dlq-messages: OK -> ALARM" in out
    spans = [s for rs in json.loads(otlp.read_text())["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    names = {s["name"] for s in spans}
    assert {"Trigger", "Check", "Finalize"} <= names, names
    assert "tenant-sim.atlasv1" not in otlp.read_text()
