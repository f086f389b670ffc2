"""Lifecycle events published on the stack's SNS topic, read through an SQS
subscription: shared by the end-to-end tests of every engine."""

from __future__ import annotations

import json
from typing import Any, Protocol


class Engine(Protocol):
    stack: Any

    def client(self, service: str) -> Any: ...


class Lifecycle:
    def __init__(self, env: Engine) -> None:
        self._sqs = env.client("sqs")
        self._url = self._sqs.create_queue(QueueName="lifecycle-test-sub")["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        env.client("sns").subscribe(
            TopicArn=env.stack.topic_arn(), Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
        )
        self.seen: list[dict[str, Any]] = []

    def events(self) -> list[dict[str, Any]]:
        """Every event published so far (those already read included), in order."""
        while True:
            msgs = self._sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=10).get("Messages", [])
            if not msgs:
                return self.seen
            for m in msgs:
                self.seen.append(json.loads(m["Body"]))
                self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=m["ReceiptHandle"])
