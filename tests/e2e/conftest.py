"""An embedded backend per test, with helpers to read what the control plane did."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sim.embedded.environment import EmbeddedBackend, EmbeddedConfig

#: Simulated seconds a flow may take before a test calls it lost.
FLOW_DEADLINE = 6 * 3600


class Lifecycle:
    """Lifecycle events published on the SNS topic, read through an SQS subscription."""

    def __init__(self, env: EmbeddedBackend) -> None:
        self._sqs = env.client("sqs")
        sns = env.client("sns")
        self._url = self._sqs.create_queue(QueueName="lifecycle-test-sub")["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=env.stack.topic_arn(), Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
        self.seen: list[dict[str, Any]] = []

    def events(self) -> list[dict[str, Any]]:
        while True:
            msgs = self._sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=10).get("Messages", [])
            if not msgs:
                return self.seen
            for m in msgs:
                self.seen.append(json.loads(m["Body"]))
                self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=m["ReceiptHandle"])


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
    terminal = {"ready", "failed", "deleted"}
    assert env.run_until(lambda: env.status(code) in terminal, max_seconds=max_seconds), (
        f"{code} still {env.status(code)} after {max_seconds}s simulated"
    )
    row = env.tenant(code)
    assert row is not None
    return row
