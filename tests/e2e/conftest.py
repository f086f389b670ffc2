"""An embedded backend per test, with helpers to read what the control plane did."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sim.controlplane.statuses import TERMINAL, Action
from sim.engines.embedded.environment import EmbeddedBackend, EmbeddedConfig
from tests.lifecycle_events import Lifecycle

#: Simulated seconds a flow may take before a test calls it lost.
FLOW_DEADLINE = 6 * 3600


@pytest.fixture
def env() -> Iterator[EmbeddedBackend]:
    with EmbeddedBackend(EmbeddedConfig(stall_seconds=30)) as backend:
        yield backend


@pytest.fixture
def lifecycle(env: EmbeddedBackend) -> Lifecycle:
    return Lifecycle(env)


def create(env: EmbeddedBackend, code: str, variables: dict[str, str] | None = None, decommission_date: str = "2027-01-01") -> Any:
    return env.api("POST", "/tenants", {"tenant_code": code, "variables": variables or {"tier": "gold"}, "decommission_date": decommission_date})


def settle(env: EmbeddedBackend, code: str, max_seconds: float = FLOW_DEADLINE) -> dict[str, Any]:
    """Drive the clock until the tenant leaves its in-progress status; return its row."""
    assert env.run_until(lambda: env.status(code) in TERMINAL, max_seconds=max_seconds), (
        f"{code} still {env.status(code)} after {max_seconds}s simulated"
    )
    row = env.tenant(code)
    assert row is not None
    return row


def audit_queues(env: EmbeddedBackend) -> dict[Action, str]:
    """A second consumer on each bus (what SYSTEM.md calls "subscribe to a bus"): an SQS
    queue per action receiving every event the API puts there; the queues' URLs."""
    sqs, events = env.client("sqs"), env.client("events")
    urls = {}
    for action in Action:
        bus = env.stack.flow(action).bus
        url = sqs.create_queue(QueueName=f"audit-{action.value}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=f"audit-{action.value}", EventBusName=bus, EventPattern=json.dumps({"source": ["tenant-sim.api"]}))
        events.put_targets(Rule=f"audit-{action.value}", EventBusName=bus, Targets=[{"Id": "audit", "Arn": arn}])
        urls[action] = url
    return urls
