"""A small YAML writer that keeps comments: the scenario is written as text, a line at a
time, each value in JSON's flow form (which is YAML), each line with an optional comment
saying where its value came from."""

from __future__ import annotations

import json
import textwrap
from enum import Enum
from typing import Any


def flow(value: Any) -> str:
    """A value on one line: JSON is YAML's flow style."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    if isinstance(value, str) and _plain(value):
        return value
    return json.dumps(value, ensure_ascii=False)


def _key(key: Any) -> str:
    return str(key) if isinstance(key, str) and _plain(key) else json.dumps(str(key))


_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~", ""}


def _plain(text: str) -> bool:
    """A string YAML reads back as the same string without quotes."""
    if text.lower() in _RESERVED or text != text.strip():
        return False
    if not all(c.isalnum() or c in "-_." for c in text):
        return False
    try:
        float(text)
    except ValueError:
        return not text[0] in "-." and not text[0].isdigit()
    return False


class Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def comment(self, text: str, indent: int = 0) -> None:
        for para in text.split("\n"):
            follow = "  " if para.startswith("- ") else ""
            wrapped = textwrap.wrap(para, width=max(40, 96 - indent), subsequent_indent=follow, break_long_words=False, break_on_hyphens=False)
            for line in wrapped or [""]:
                self.lines.append(" " * indent + ("# " + line).rstrip())

    def line(self, indent: int, text: str, comment: str | None = None) -> None:
        comment = " ".join(comment.split()) if comment else None
        self.lines.append(" " * indent + text + (f"  # {comment}" if comment else ""))

    def field(self, indent: int, key: str, value: Any, comment: str | None = None) -> None:
        self.line(indent, f"{_key(key)}: {flow(value)}", comment)

    def blank(self) -> None:
        self.lines.append("")

    def text(self) -> str:
        return "\n".join(self.lines).rstrip() + "\n"
