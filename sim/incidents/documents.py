"""Reading the operator's files: each holds one or more JSON documents (concatenated, or a
JSON array of them), and each document is recognised by its shape:

==============================  ==========================================================
document                        recognised by
==============================  ==========================================================
execution history page          ``events`` (a GetExecutionHistory response; ``nextToken`` on
                                every page but the last)
describe-execution              ``executionArn`` + ``stateMachineArn`` + ``status`` + ``input``
TFC run(s)                      JSON:API ``data`` of type ``runs`` (one or a list; ``included``
                                plans and applies with ``include=plan,apply``)
SQS message(s)                  ``Messages`` (``aws sqs receive-message``) or one message
                                (``Body`` + ``MessageId``): the rule's DLQ or the flow DLQ
EventBridge event               ``detail-type`` + ``detail`` + ``source`` (an archive, put-events)
==============================  ==========================================================

Anything else is refused, naming the file and what was found.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from .errors import IncidentInputError

Kind = Literal["history", "describe", "runs", "message", "event"]


@dataclass
class Document:
    kind: Kind
    source: str  # the file (and the document's place in it when there are several)
    data: dict[str, Any]


@dataclass
class Inputs:
    """Every document of every file, by kind; history pages stay grouped per file."""

    histories: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    describes: list[Document] = field(default_factory=list)
    runs: list[Document] = field(default_factory=list)
    messages: list[Document] = field(default_factory=list)
    events: list[Document] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.histories or self.describes or self.runs or self.messages or self.events)


def split_json(text: str, source: str) -> list[Any]:
    """The JSON documents in ``text``: one, several back to back (pages appended to one
    file), or a JSON array of documents (a top-level list of objects)."""
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        try:
            doc, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise IncidentInputError(f"{source}: not JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        docs.append(doc)
    if not docs:
        raise IncidentInputError(f"{source}: empty file")
    out: list[Any] = []
    for doc in docs:
        if isinstance(doc, list) and doc and all(isinstance(d, dict) for d in doc) and not _is_event_list(doc):
            out.extend(doc)
        else:
            out.append(doc)
    return out


def _is_event_list(doc: list[Any]) -> bool:
    """A bare list of history events (``--query events``) is one page, not several documents."""
    return all("type" in d and "id" in d and "timestamp" in d for d in doc)


def classify(doc: Any, source: str) -> Document:
    if isinstance(doc, list) and doc and _is_event_list(doc):
        return Document("history", source, {"events": doc})
    if not isinstance(doc, dict):
        raise IncidentInputError(f"{source}: a JSON {type(doc).__name__}, not a document the importer reads (an execution history, describe-execution, TFC runs, an SQS message, an EventBridge event)")
    if "events" in doc and isinstance(doc["events"], list):
        return Document("history", source, doc)
    if {"executionArn", "stateMachineArn", "status", "input"} <= doc.keys():
        return Document("describe", source, doc)
    if "errors" in doc and "data" not in doc:
        first = (doc.get("errors") or [{}])[0]
        first = first if isinstance(first, dict) else {}
        raise IncidentInputError(f"{source}: a TFC error document ({first.get('status', '?')} {first.get('title', '')}: {first.get('detail', '')}), not a run: the request failed")
    if "data" in doc:
        data = doc["data"]
        items = data if isinstance(data, list) else [data]
        types = sorted({str(item.get("type")) for item in items if isinstance(item, dict)})
        if items and types != ["runs"]:
            raise IncidentInputError(f"{source}: a JSON:API document of {', '.join(types) or 'nothing'}, not of runs (give GET /api/v2/runs/:id or GET /api/v2/workspaces/:id/runs)")
        return Document("runs", source, doc)
    if "Messages" in doc and isinstance(doc["Messages"], list):
        return Document("message", source, doc)
    if "Body" in doc and ("MessageId" in doc or "MessageAttributes" in doc):
        return Document("message", source, {"Messages": [doc]})
    if {"detail-type", "detail", "source"} <= doc.keys():
        return Document("event", source, doc)
    keys = ", ".join(sorted(doc)[:8])
    raise IncidentInputError(f"{source}: not a document the importer reads (keys: {keys}); it reads execution histories, describe-execution, TFC runs, SQS messages and EventBridge events")


def read_inputs(files: list[tuple[str, str]]) -> Inputs:
    """``files``: (name, text) pairs. History pages are kept per file: one file holds one
    execution's history (its pages in any order, concatenated or as a JSON array)."""
    inputs = Inputs()
    for name, text in files:
        docs = split_json(text, name)
        pages: list[dict[str, Any]] = []
        for i, raw in enumerate(docs, 1):
            where = name if len(docs) == 1 else f"{name} (document {i})"
            doc = classify(raw, where)
            if doc.kind == "history":
                pages.append(doc.data)
            else:
                getattr(inputs, {"describe": "describes", "runs": "runs", "message": "messages", "event": "events"}[doc.kind]).append(doc)
        if pages:
            inputs.histories.append((name, pages))
    if inputs.empty:
        raise IncidentInputError("no input documents given")
    return inputs


def read_files(paths: list[str | Path]) -> Inputs:
    files = []
    for p in paths:
        try:
            files.append((str(p), Path(p).read_text(encoding="utf-8")))
        except OSError as exc:
            raise IncidentInputError(f"{p}: cannot read: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise IncidentInputError(f"{p}: not UTF-8 text (a JSON file is expected)") from None
    return read_inputs(files)


def epoch(value: Any, what: str) -> float:
    """Seconds since the epoch from what the APIs and CLIs give: a datetime (boto3), a
    number (the JSON API, CLI v1), or an ISO 8601 text (CLI v2, TFC)."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(value, bool):
        raise IncidentInputError(f"{what}: {value!r} is not a time")
    if isinstance(value, int | float):
        return float(value) / (1000.0 if value > 1e11 else 1.0)  # SQS gives milliseconds
    if isinstance(value, str):
        text = value.strip()
        try:
            return epoch(float(text), what)
        except ValueError:
            pass
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise IncidentInputError(f"{what}: {value!r} is not a time") from None
        return epoch(dt, what)
    raise IncidentInputError(f"{what}: {value!r} is not a time")


def iso(ts: float) -> str:
    """``2026-01-01T00:00:00.000Z``: how the control plane writes times."""
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
