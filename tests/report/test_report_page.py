"""The HTML report: one self-contained file (nothing fetched), every tenant's lane, every
failure with what was expected and what was got, no secret, a few hundred KB for fifty
tenants; and the commands that write it (``sim run --report``, ``sim report``, ``make sim``)."""

from __future__ import annotations

import argparse
import re

import pytest

from sim.commands.report import run as report_command
from sim.commands.run import run as run_command
from sim.engines.embedded.environment import DEFAULT_TOKEN
from sim.report import result_report, trace_report
from sim.scenarios.runner import run_text

from report_helpers import TROUBLED, Elements

from tests.scenarios.test_determinism import many_tenants


@pytest.fixture(scope="module")
def troubled():
    result = run_text(TROUBLED, source="troubled.yaml")
    return result, result_report(result, secrets=(DEFAULT_TOKEN,), trace_path="t.jsonl")


def test_the_page_fetches_nothing(troubled):
    _, html = troubled
    page = Elements(html)
    assert not [a for t, a in page.tags if t in ("link", "img", "iframe", "object", "embed")]
    assert not [a for t, a in page.tags if t == "script" and "src" in a]
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)
    assert "@import" not in html and "url(http" not in html


def test_every_tenant_has_a_lane_and_a_card(troubled):
    result, html = troubled
    page = Elements(html)
    for code in ("acme", "beta", "gamma"):
        assert page.find("div", cls="lane", data_tenant=code), code
        assert page.find("details", id=f"tenant-{code}"), code
    assert page.find("div", cls="lane", data_tenant="beta")[0]["data-troubled"] == "1"


def test_failures_show_what_was_expected_and_what_was_got(troubled):
    result, html = troubled
    assert not result.passed
    page = Elements(html)
    assert page.find("span", id="verdict")[0]["class"] == "verdict fail"
    assert len(page.find("tr", cls="fail")) == 2  # beta's status, gamma's admin_password
    assert "<code>tenants.beta.status</code></td><td>ready</td><td>updating</td>" in html
    assert page.find("rect", cls="m-dlq") and page.find("path", cls="m-refused") and page.find("path", cls="v-failed")
    assert "dead-lettered" in html and "Check throttled ×2" in html


def test_no_secret_reaches_the_page(troubled):
    result, html = troubled
    # The API shows the sensitive output redacted; its value (pw- and 24 hex digits, from
    # the fake TFC) is in Secrets Manager only, and never on the page.
    assert result.observed.rows["gamma"]["outputs"]["admin_password"] == {"sensitive": True}
    assert not re.search(r"pw-[0-9a-f]{24}", html) and not re.search(r"pw-[0-9a-f]{24}", result.report)
    assert DEFAULT_TOKEN not in html
    assert "a value not shown (sensitive)" in html


def test_the_seed_and_the_replay_command_are_shown(troubled):
    _, html = troubled
    assert "python -m sim run troubled.yaml --seed 0 --report report.html" in html
    assert "python -m sim replay t.jsonl" in html


def test_fifty_tenants_make_a_few_hundred_kilobytes():
    result = run_text(many_tenants(50), seed=11)
    html = result_report(result)
    assert len(Elements(html).find("div", cls="lane")) == 1 + 1 + 50  # the axis, the system lane, 50 tenants
    assert 50_000 < len(html.encode()) < 600_000, len(html.encode())


def test_sim_run_writes_the_report_and_sim_report_renders_the_saved_trace(tmp_path, capsys):
    scenario = tmp_path / "troubled.yaml"
    scenario.write_text(TROUBLED)
    trace, report = tmp_path / "t.jsonl", tmp_path / "r.html"
    args = argparse.Namespace(files=[str(scenario)], seed=None, trace=str(trace), backend="embedded", report=str(report), verbose=True)
    assert run_command(args) == 1
    out = capsys.readouterr().out
    assert f"report: {report}" in out and "✘ tenants.beta.status: expected ready, got updating" in out
    assert "✔ steps.4.delete DELETE /tenants/gamma: 409" in out
    assert 'data-tenant="gamma"' in report.read_text()

    assert report_command(argparse.Namespace(trace=str(trace), out=None)) == 0
    saved = (tmp_path / "t.html").read_text()
    assert "<code>tenants.beta.status</code></td><td>ready</td><td>updating</td>" in saved
    # What the trace does not hold is said to be unjudged, not failed.
    assert "tenants.gamma.outputs.admin_password" in saved and "Not judged from the trace alone" in saved
    assert saved.count('class="lane"') == result_lanes(report.read_text())


def result_lanes(html: str) -> int:
    return html.count('class="lane"')


def test_sim_report_refuses_a_file_that_is_not_a_trace(tmp_path, capsys):
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"kind": "api"}\n')
    assert report_command(argparse.Namespace(trace=str(bad), out=None)) == 2
    assert "not a trace header" in capsys.readouterr().out


def test_a_saved_trace_renders_the_same_timeline_as_the_run(tmp_path):
    result = run_text(TROUBLED)
    path = tmp_path / "t.jsonl"
    result.trace.write(path, result.header())
    direct, saved = result_report(result), trace_report(path)
    lanes = re.compile(r'<div class="lane" data-tenant=.*?</div></div>|<div class="lane" data-tenant=.*?</svg></div>', re.S)
    assert lanes.findall(direct) == lanes.findall(saved)
