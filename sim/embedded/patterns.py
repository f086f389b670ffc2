"""EventBridge event patterns, matched as AWS documents them
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html).

moto 5.2.5's ``EventPattern`` is not used: it matches every event for an empty pattern,
takes booleans for numbers, never searches arrays of objects, and treats ``{}`` as a leaf.
"""

from __future__ import annotations

import ipaddress
import json
import math
import operator
import re
from collections.abc import Callable
from typing import Any

_UNARY_OPERATORS = ("prefix", "suffix", "equals-ignore-case", "wildcard", "cidr")
_ANYTHING_BUT_OPERATORS = ("prefix", "suffix", "equals-ignore-case", "wildcard")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, "=": operator.eq, ">=": operator.ge, ">": operator.gt,
}


def event_matches(pattern: str | dict[str, Any] | None, event: dict[str, Any]) -> bool:
    """Whether ``event`` matches an EventBridge event pattern.

    A rule without a pattern (schedule-only) matches no PutEvents event; moto 5.2.5
    matches every event there. An empty pattern is treated the same way. A pattern AWS
    would reject with InvalidEventPatternException raises ValueError.
    """
    if not pattern:
        return False
    parsed = json.loads(pattern) if isinstance(pattern, str) else pattern
    if not isinstance(parsed, dict):
        raise ValueError("An event pattern must be a JSON object")
    if not parsed:
        return False
    _check_fields(parsed, "")
    return _match_fields(parsed, event)


def _check_fields(pattern: dict[str, Any], where: str) -> None:
    for key, spec in pattern.items():
        path = f"{where}.{key}" if where else key
        if key == "$or":
            if not isinstance(spec, list) or not spec or not all(isinstance(p, dict) and p for p in spec):
                raise ValueError(f"'{path}' must be an array of non-empty objects")
            for alternative in spec:
                _check_fields(alternative, where)
        elif isinstance(spec, dict):
            _check_fields(spec, path)
        elif isinstance(spec, list) and spec:
            for f in spec:
                _check_filter(f, path)
        else:
            raise ValueError(f"'{path}' must be an object or a non-empty array")


def _check_filter(f: Any, path: str) -> None:
    if isinstance(f, list):
        raise ValueError(f"'{path}' holds a nested array")
    if not isinstance(f, dict):
        return
    if len(f) != 1:
        raise ValueError(f"'{path}': a filter object holds exactly one operator, got {sorted(f)}")
    (op, arg), = f.items()
    ok = {
        "exists": lambda: isinstance(arg, bool),
        "numeric": lambda: _valid_numeric(arg),
        "anything-but": lambda: _valid_anything_but(arg),
        "cidr": lambda: isinstance(arg, str) and _valid_network(arg),
        "prefix": lambda: isinstance(arg, str) or _ignore_case_arg(arg),
        "suffix": lambda: isinstance(arg, str) or _ignore_case_arg(arg),
        "equals-ignore-case": lambda: isinstance(arg, str),
        "wildcard": lambda: isinstance(arg, str),
    }.get(op)
    if ok is None:
        raise ValueError(f"'{path}': unrecognised match type {op}")
    if not ok():
        raise ValueError(f"'{path}': invalid argument for {op}: {arg!r}")


def _ignore_case_arg(arg: Any) -> bool:
    return isinstance(arg, dict) and list(arg) == ["equals-ignore-case"] and isinstance(arg["equals-ignore-case"], str)


def _valid_numeric(arg: Any) -> bool:
    if not isinstance(arg, list) or len(arg) not in (2, 4):
        return False
    ops, bounds = arg[::2], arg[1::2]
    return all(op in _COMPARE for op in ops) and all(_is_number(b) for b in bounds)


def _valid_anything_but(arg: Any) -> bool:
    if isinstance(arg, dict):
        if len(arg) != 1:
            return False
        (op, inner), = arg.items()
        values = inner if isinstance(inner, list) else [inner]
        return op in _ANYTHING_BUT_OPERATORS and bool(values) and all(isinstance(v, str) for v in values)
    values = arg if isinstance(arg, list) else [arg]
    # AWS: a list of strings only, or of numbers only
    return bool(values) and (all(isinstance(v, str) for v in values) or all(_is_number(v) for v in values))


def _valid_network(arg: str) -> bool:
    try:
        ipaddress.ip_network(arg, strict=False)
    except ValueError:
        return False
    return True


def _match_fields(pattern: dict[str, Any], node: Any) -> bool:
    return all(_match_field(key, spec, node) for key, spec in pattern.items())


def _match_field(key: str, spec: Any, node: Any) -> bool:
    if key == "$or":
        return any(_match_fields(alternative, node) for alternative in spec)
    values = _flatten(node[key]) if isinstance(node, dict) and key in node else []
    if isinstance(spec, dict):
        # In an array of objects the whole sub-pattern must hold within one element.
        # An absent or scalar node is matched as {} so that {"exists": false} holds below it.
        objects = [v for v in values if isinstance(v, dict)] or [{}]
        return any(_match_fields(spec, obj) for obj in objects)
    # Filters apply to leaves only: an object where a leaf is expected counts as absent.
    leaves = [v for v in values if not isinstance(v, dict)]
    return any(_match_filter(f, leaves) for f in spec)


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [leaf for item in value for leaf in _flatten(item)]
    return [value]


def _match_filter(f: Any, leaves: list[Any]) -> bool:
    if not isinstance(f, dict):
        return any(_same(f, leaf) for leaf in leaves)
    (op, arg), = f.items()
    if op == "exists":
        return bool(leaves) == arg
    return any(_apply(op, arg, leaf) for leaf in leaves)


def _apply(op: str, arg: Any, value: Any) -> bool:
    if op == "numeric":
        return _is_number(value) and all(_COMPARE[o](value, b) for o, b in zip(arg[::2], arg[1::2], strict=True))
    if op == "anything-but":
        if isinstance(arg, dict):
            (inner_op, inner), = arg.items()
            options = inner if isinstance(inner, list) else [inner]
            return not any(_apply(inner_op, o, value) for o in options)
        options = arg if isinstance(arg, list) else [arg]
        return not any(_same(o, value) for o in options)
    if op == "cidr":
        return isinstance(value, str) and _in_network(value, arg)
    if not isinstance(value, str):
        return False
    if isinstance(arg, dict):  # {"prefix"|"suffix": {"equals-ignore-case": ...}}
        value, arg = value.lower(), arg["equals-ignore-case"].lower()
    if op == "prefix":
        return value.startswith(arg)
    if op == "suffix":
        return value.endswith(arg)
    if op == "equals-ignore-case":
        return value.lower() == arg.lower()
    return _wildcard(arg).fullmatch(value) is not None


def _is_number(value: Any) -> bool:
    # bool is an int subclass in Python; in JSON true is not a number
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _same(expected: Any, actual: Any) -> bool:
    """JSON equality: true is not 1 and "1" is not 1 (moto 5.2.5 says true == 1)."""
    if _is_number(expected) and _is_number(actual):
        return bool(expected == actual)
    return type(expected) is type(actual) and expected == actual


def _in_network(value: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def _wildcard(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\\\*|\*)", pattern)  # \* is a literal star
    regex = "".join(".*" if p == "*" else re.escape("*" if p == "\\*" else p) for p in parts)
    return re.compile(regex, re.DOTALL)
