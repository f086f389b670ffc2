"""Everywhere a run leaves something behind besides the trace, kept as text for the
``secrets_stay_secret`` invariant: every tenant row written to DynamoDB, every Lambda
invocation's input and result, every lifecycle event and DLQ message, the control plane's log
lines, and at the end every execution's input, output and history and the fake TFC's journal.

Two things are left out, by design: the API function's *input* (the client's request: it
carries a sensitive value in, as it must) and the *result* of ``GET /tenants/{code}/secrets``
(the separately authorized path whose answer is the values). The trace file's header holds
the scenario file as written, its input, and is not searched either.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

#: Where the control plane's modules log (``logging.getLogger(__name__)``).
CONTROL_PLANE_LOGGER = "sim.controlplane"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


class Recorded(logging.Handler):
    """What a run recorded, as (where, text) pairs. Also a logging handler: attached to the
    control plane's logger, it keeps each log line the run wrote (at the level it was
    written, as Lambda would keep it)."""

    def __init__(self) -> None:
        super().__init__()
        self._items: list[tuple[str, str]] = []
        self._guard = threading.Lock()
        #: Off until a scenario run turns it on (``sim up`` runs for hours: it keeps nothing).
        self.keeping = False

    def add(self, where: str, value: Any) -> None:
        if not self.keeping:
            return
        text = _text(value)
        with self._guard:
            self._items.append((where, text))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a broken log call is the logger's problem, not a secret
            line = str(record.msg)
        self.add(f"a log line of {record.name}", line)

    def attach(self) -> None:
        self.keeping = True
        logging.getLogger(CONTROL_PLANE_LOGGER).addHandler(self)

    def detach(self) -> None:
        self.keeping = False
        logging.getLogger(CONTROL_PLANE_LOGGER).removeHandler(self)

    def items(self) -> list[tuple[str, str]]:
        with self._guard:
            return list(self._items)


def is_reveal(event: Any) -> bool:
    """An API Gateway proxy event for ``GET /tenants/{code}/secrets``."""
    if not isinstance(event, dict):
        return False
    parts = str(event.get("path") or "").strip("/").split("/")
    return event.get("httpMethod") == "GET" and len(parts) == 3 and parts[0] == "tenants" and parts[2] == "secrets"


def executions(sfn: Any, state_machine_arns: list[str]) -> Iterator[tuple[str, Any]]:
    """Each execution's description (input, output) and history, as (where, value). A state
    machine that is gone (a scenario's fault deletes one) has none to read."""
    for machine in state_machine_arns:
        kwargs: dict[str, Any] = {"stateMachineArn": machine}
        while True:
            try:
                page = sfn.list_executions(**kwargs)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "StateMachineDoesNotExist":
                    raise
                break
            for ex in page.get("executions", []):
                arn = ex["executionArn"]
                name = arn.rsplit(":", 1)[-1]
                yield f"execution {name}'s input and output", sfn.describe_execution(executionArn=arn)
                hist: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
                while True:
                    events = sfn.get_execution_history(**hist)
                    yield f"execution {name}'s history", events.get("events", [])
                    if not events.get("nextToken"):
                        break
                    hist["nextToken"] = events["nextToken"]
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
