"""``make sim``: the demo plays its scenario, prints what happens as it happens, ends every
tenant as it expects, and writes the HTML report, printing where."""

from __future__ import annotations

import argparse

from sim.commands.demo import run as demo


def test_the_demo_passes_and_writes_its_report(tmp_path, capsys):
    report = tmp_path / "demo.html"
    assert demo(argparse.Namespace(report=str(report))) == 0
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
