"""A burst of tenants under TFC's real rate limit: "30 requests per second per user"; beyond
it TFC answers 429 with ``Retry-After`` and the ``X-RateLimit-*`` headers (TFC API
documentation, "API Rate Limiting"). Every Lambda of the control plane shares one token, so
a burst of creates meets thousands of 429s: the TFC client's jittered waits and its own
retry budget for 429s, then the flow's Retry, must bring every tenant to ``ready``.

``BURST_TENANTS`` sets the burst (default 200; ``BURST_TENANTS=1000`` for the large one).
How long it takes is a benchmark (``make bench``), not asserted here."""

from __future__ import annotations

import os

from sim.engines.embedded.environment import EmbeddedBackend, EmbeddedConfig

BURST = int(os.environ.get("BURST_TENANTS", "200"))


def statuses(env: EmbeddedBackend) -> dict[str, str]:
    db, out = env.client("dynamodb"), {}
    kwargs: dict = {"TableName": env.stack.table}
    while True:
        page = db.scan(**kwargs)
        out.update({i["tenant_code"]["S"]: i["status"]["S"] for i in page["Items"]})
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_a_burst_of_creates_under_tfcs_rate_limit_all_end_ready():
    with EmbeddedBackend(EmbeddedConfig(tfc_rate_limit=True, stall_seconds=120)) as env:
        for i in range(BURST):
            resp = env.api("POST", "/tenants", {"tenant_code": f"burst-{i:04d}", "variables": {"tier": "gold"}, "decommission_date": "2099-01-01"})
            assert resp.status == 202, resp.body
        finalized = lambda: sum(1 for inv in env.invocations if inv.function.endswith("-finalize")) >= BURST  # noqa: E731
        assert env.run_until(finalized, max_seconds=6 * 3600), "not every flow reached Finalize"
        found = statuses(env)
        assert sorted(set(found.values())) == ["ready"], {s: sum(1 for v in found.values() if v == s) for s in set(found.values())}
        assert len(found) == BURST
        throttled = env.fake.journal.entries(status=429)
        assert len(throttled) > BURST, "the rate limit was hardly met: the test tests nothing"
        assert env.queue_messages("dlq") == [] and env.queue_messages("flow_dlq") == []
