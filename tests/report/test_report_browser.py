"""The report in a real browser (headless Chromium): its script runs without an error, and
what a person needs is on the page once it has: each tenant's lane and each failure.

Skipped, saying why, where Chromium is not installed (``.ci/run`` installs Debian's
``chromium`` package when it runs as root)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from sim.report import result_report, write_report
from sim.scenarios.runner import run_text

from report_helpers import TROUBLED, Elements

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium for the browser test: apt-get install -y chromium (what .ci/run does as root)"
)


def rendered_dom(page: Path) -> Elements:
    """The page's DOM after its scripts ran, with the network off (any fetch would fail)."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}", "--dump-dom", page.as_uri(),
            ],
            capture_output=True, text=True, timeout=120,
        )
    assert done.returncode == 0 and "<body" in done.stdout, done.stderr[-2000:]
    return Elements(done.stdout)


@pytest.fixture(scope="module")
def troubled_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Elements]:
    result = run_text(TROUBLED)
    page = write_report(tmp_path_factory.mktemp("report") / "troubled.html", result_report(result))
    return page, rendered_dom(page)


def test_the_script_ran_without_an_error(troubled_page):
    _, dom = troubled_page
    [html] = dom.find("html")
    [body] = dom.find("body")
    assert "data-errors" not in html, html
    assert body.get("data-ready") == "1", "the report's script did not finish"


def test_each_tenants_lane_and_each_failure_is_on_the_rendered_page(troubled_page):
    _, dom = troubled_page
    [body] = dom.find("body")
    assert body["data-lanes"] == "3"
    for code in ("acme", "beta", "gamma"):
        assert dom.find("div", cls="lane", data_tenant=code), code
    assert body["data-verdict"] == "fail"
    assert len(dom.find("tr", cls="fail")) == 2
    assert dom.find("rect", cls="m-dlq"), "beta's dead-lettered update"
    assert dom.find("path", cls="v-failed"), "acme's throttled Checks"


def test_a_script_error_would_be_caught(troubled_page, tmp_path):
    # The check above is worth something only if an error shows: break the page on purpose.
    page, _ = troubled_page
    broken = tmp_path / "broken.html"
    broken.write_text(page.read_text(encoding="utf-8").replace("</body>", "<script>notAFunction();</script></body>"), encoding="utf-8")
    [html] = rendered_dom(broken).find("html")
    assert html.get("data-errors") == "1"


DRIVE = """<script>
(function () {
  var lane = document.querySelector('.lane[data-tenant="beta"]');
  lane.querySelector('.m-dlq').dispatchEvent(new MouseEvent('click', {bubbles: true}));
  var panel = document.getElementById('panel');
  document.body.setAttribute('data-panel', panel.hidden ? '(hidden)' : document.getElementById('panel-body').textContent);
  var filter = document.getElementById('filter');
  filter.value = 'gam';
  filter.dispatchEvent(new Event('input'));
  var shown = Array.prototype.filter.call(document.querySelectorAll('.lane[data-tenant]'), function (n) { return !n.classList.contains('hidden'); });
  document.body.setAttribute('data-shown', shown.map(function (n) { return n.getAttribute('data-tenant'); }).join(','));
})();
</script></body>"""


def test_a_click_shows_the_details_and_the_filter_hides_other_tenants(troubled_page, tmp_path):
    page, _ = troubled_page
    driven = tmp_path / "driven.html"
    driven.write_text(page.read_text(encoding="utf-8").replace("</body>", DRIVE), encoding="utf-8")
    dom = rendered_dom(driven)
    [html] = dom.find("html")
    [body] = dom.find("body")
    assert "data-errors" not in html
    assert "dead-lettered: THROTTLING" in body["data-panel"] and "retry_attempts" in body["data-panel"]
    assert body["data-shown"] == "gamma"
