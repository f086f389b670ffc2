"""What the report tests share: scenario texts, and a page's elements."""

from __future__ import annotations

from html.parser import HTMLParser

#: Three tenants and something for every section of a report: an errored apply retried by
#: an update, a Check throttled and retried, an update event dead-lettered, a refused
#: request, and one expectation that is wrong on purpose (so the verdict is FAIL).
TROUBLED = """
name: troubled
description: three tenants, each in a different kind of trouble
settings: {retry_attempts: 2, max_event_age: 600, run_for: 2h}
tenants:
  acme: {tfc: {runs: [{outcome: apply_error}]}}
steps:
  - at: 0
    fault: {lambda: {function: check, kind: throttle, times: 2}}
  - at: 0
    create: {tenant: acme, variables: {tier: gold}}
  - at: 0
    create: {tenant: beta, variables: {tier: gold}}
  - at: 0
    create: {tenant: gamma, variables: {tier: gold}}
  - at: 30
    delete: gamma
    expect_status: 409
  - at: 1h
    update: {tenant: acme, variables: {tier: platinum}}
  - at: 1h
    fault: {start_execution: {action: update, times: -1}}
  - at: 1h
    update: {tenant: beta, variables: {tier: silver}}
expect:
  tenants:
    acme: {status: ready, transitions: [creating, failed, updating, ready]}
    beta: {status: ready}
    gamma: {status: ready, outputs: {admin_password: not-the-password}}
"""


class Elements(HTMLParser):
    """Every start tag with its attributes (the parts of the page a test looks for)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def find(self, tag: str, cls: str | None = None, **wanted: str) -> list[dict[str, str]]:
        """Tags with the class ``cls`` (among others) and these attributes (``data_x`` is ``data-x``)."""
        attrs_wanted = {k.replace("_", "-"): v for k, v in wanted.items()}
        return [
            a for t, a in self.tags
            if t == tag and (cls is None or cls in a.get("class", "").split()) and all(a.get(k) == v for k, v in attrs_wanted.items())
        ]
