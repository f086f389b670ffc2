"""EventBridge event patterns: validated and matched as AWS does
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html),
checked case by case against the behaviour recorded on AWS
(``../shared/reference/aws-recorded/event_patterns.json``, ``tests/fidelity``).

moto 5.2.5's ``EventPattern`` is not used: it matches every event for an empty pattern,
takes booleans for numbers, never searches arrays of objects, treats ``{}`` as a leaf, and
accepts most patterns AWS refuses (one of them crashes it).

* :func:`compile_pattern` is what ``PutRule`` and ``TestEventPattern`` check: it raises
  :class:`InvalidEventPattern`, whose message is AWS's ("Event pattern is not valid.
  Reason: ..."), for every pattern AWS refuses.
* :func:`event_matches` answers whether an event matches a (valid) pattern.

Keys holding a dot are paths: AWS flattens both the pattern and the event into dotted
field names, so ``{"a.b": [1]}`` matches ``{"a": {"b": 1}}`` and ``{"a": {"b": [1]}}``
matches ``{"a.b": 1}`` (recorded cases ``dot_joining_*``).
"""

from __future__ import annotations

import ipaddress
import json
import math
import operator
import re
from collections.abc import Callable
from typing import Any, TypeGuard

__all__ = ["InvalidEventPattern", "compile_pattern", "event_matches", "valid_test_event"]

_REASON_PREFIX = "Event pattern is not valid. Reason: "
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, "=": operator.eq, ">=": operator.ge, ">": operator.gt,
}
_ANYTHING_BUT_OPERATORS = ("prefix", "suffix", "equals-ignore-case", "wildcard")
#: Above this the wildcards of one field are "too complex" (see _wildcard_complexity).
WILDCARD_COMPLEXITY_LIMIT = 10
#: The fields TestEventPattern requires of its event (recorded: an event without
#: ``resources``, ``version`` or ``detail`` is accepted; one without these is not).
_TEST_EVENT_FIELDS = ("id", "account", "source", "time", "region", "detail-type")


class InvalidEventPattern(ValueError):
    """AWS's InvalidEventPatternException. ``reason`` is what follows "Reason: "."""

    def __init__(self, reason: str) -> None:
        super().__init__(_REASON_PREFIX + reason)
        self.reason = reason


# --------------------------------------------------------------------------- parsing


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidEventPattern(_jackson_reason(text, exc)) from None


_VALUE_EXPECTED = "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"


def _jackson_reason(text: str, exc: json.JSONDecodeError) -> str:
    """The parse error in the words AWS uses (its parser is Jackson's; recorded cases
    ``invalid_json_pattern[...]``)."""
    pos = exc.pos
    char = text[pos] if pos < len(text) else None
    if char is None:
        return "Unexpected end-of-input"
    described = f"Unexpected character ('{char}' (code {ord(char)}))"
    if exc.msg.startswith("Expecting property name"):
        return f"{described}: was expecting double-quote to start field name"
    if exc.msg == "Expecting value":
        token = re.match(r"[A-Za-z0-9_$]+", text[pos:])
        if token is not None:
            return f"Unrecognized token '{token.group()}': was expecting {_VALUE_EXPECTED}"
        return f"{described}: expected a valid value {_VALUE_EXPECTED}"
    if exc.msg == "Extra data":
        return f"{described}: expected end of input"
    return f"{described}: {exc.msg}"


# --------------------------------------------------------------------------- validation


def compile_pattern(pattern: str | dict[str, Any]) -> dict[str, Any]:
    """The pattern as a dict, validated as ``PutRule`` validates it.

    Raises :class:`InvalidEventPattern` with AWS's reason for anything AWS refuses.
    """
    parsed = _parse(pattern) if isinstance(pattern, str) else pattern
    if not isinstance(parsed, dict):
        raise InvalidEventPattern("Filter is not an object")
    wildcards: dict[tuple[str, ...], list[str]] = {}
    _check_fields(parsed, (), wildcards)
    for patterns in wildcards.values():
        if _wildcard_complexity(patterns) > WILDCARD_COMPLEXITY_LIMIT:
            raise InvalidEventPattern(
                "Rule is too complex - try using fewer wildcard characters or fewer repeating character "
                "sequences after a wildcard character"
            )
    return parsed


def _check_fields(pattern: dict[str, Any], path: tuple[str, ...], wildcards: dict[tuple[str, ...], list[str]]) -> None:
    for key, spec in pattern.items():
        if key == "$or":
            if not isinstance(spec, list) or len(spec) < 2 or not all(isinstance(p, dict) and p for p in spec):
                raise InvalidEventPattern("Value of $or must be an array of at least two non-empty objects")
            for alternative in spec:
                _check_fields(alternative, path, wildcards)
            continue
        where = (*path, *key.split("."))
        if isinstance(spec, dict):
            _check_fields(spec, where, wildcards)
        elif isinstance(spec, list):
            if not spec:
                raise InvalidEventPattern("Empty arrays are not allowed")
            for f in spec:
                _check_filter(f, where, wildcards)
        else:
            raise InvalidEventPattern(f'"{key}" must be an object or an array')


def _check_filter(f: Any, path: tuple[str, ...], wildcards: dict[tuple[str, ...], list[str]]) -> None:
    if f is None or isinstance(f, (str, bool)) or _is_number(f):
        return
    if not isinstance(f, dict):
        raise InvalidEventPattern("Match value must be String, number, true, false, or null")
    if len(f) != 1:
        raise InvalidEventPattern("Only one key allowed in match expression")
    ((op, arg),) = f.items()
    if op in ("prefix", "suffix"):
        if not (isinstance(arg, str) or _ignore_case_arg(arg)):
            raise InvalidEventPattern(f"{op} match pattern must be a string")
    elif op == "equals-ignore-case":
        if not isinstance(arg, str):
            raise InvalidEventPattern("equals-ignore-case match pattern must be a string")
    elif op == "wildcard":
        if not isinstance(arg, str):
            raise InvalidEventPattern("wildcard match pattern must be a string")
        _check_wildcard(arg)
        wildcards.setdefault(path, []).append(arg)
    elif op == "exists":
        if not isinstance(arg, bool):
            raise InvalidEventPattern("exists match pattern must be either true or false.")
    elif op == "numeric":
        _check_numeric(arg)
    elif op == "cidr":
        _check_cidr(arg)
    elif op == "anything-but":
        _check_anything_but(arg, path, wildcards)
    else:
        raise InvalidEventPattern(f"Unrecognized match type {op}")


def _ignore_case_arg(arg: Any) -> bool:
    return isinstance(arg, dict) and list(arg) == ["equals-ignore-case"] and isinstance(arg["equals-ignore-case"], str)


def _check_numeric(arg: Any) -> None:
    """event-ruler's numeric grammar: ``[op, n]`` or ``[">"|">=", low, "<"|"<=", high]``."""
    if not isinstance(arg, list):
        raise InvalidEventPattern("Value of numeric must be an array.")
    if not arg:
        raise InvalidEventPattern("Invalid member in numeric match: ]")
    terms = list(arg)
    first = terms.pop(0)
    if not isinstance(first, str):
        raise InvalidEventPattern(f"Invalid member in numeric match: {json.dumps(first)}")
    if first not in _COMPARE:
        raise InvalidEventPattern(f"Unrecognized numeric range operator: {first}")
    low = terms.pop(0) if terms else None
    if not _is_number(low):
        raise InvalidEventPattern(f"Value of {'equals' if first == '=' else first} must be numeric")
    if not terms:
        return
    if first not in (">", ">="):
        raise InvalidEventPattern("Too many elements in numeric expression")
    second = terms.pop(0)
    if not isinstance(second, str):
        raise InvalidEventPattern(f"Bad value in numeric range: {json.dumps(second)}")
    if second not in ("<", "<="):
        raise InvalidEventPattern(f"Bad numeric range operator: {second}")
    high = terms.pop(0) if terms else None
    if not _is_number(high):
        raise InvalidEventPattern(f"Value of {second} must be numeric")
    if high <= low:
        raise InvalidEventPattern("Bottom must be less than top")
    if terms:
        raise InvalidEventPattern("Too many terms in numeric range expression")


def _check_cidr(arg: Any) -> None:
    if not isinstance(arg, str):
        # what AWS says for a cidr that is not a string (recorded: content_ip_address_type_EXC)
        raise InvalidEventPattern("prefix match pattern must be a string")
    parts = arg.split("/")
    if len(parts) != 2:
        raise InvalidEventPattern("Malformed CIDR, one '/' required")
    address, bits = parts
    if not re.fullmatch(r"\d+", bits):
        raise InvalidEventPattern("Malformed CIDR, mask bits must be an integer")
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise InvalidEventPattern(f"Nonstandard IP address: {address}") from None
    try:
        ipaddress.ip_network(arg, strict=False)
    except ValueError:
        raise InvalidEventPattern(f"Malformed CIDR, mask bits out of range: {bits}") from None


def _check_anything_but(arg: Any, path: tuple[str, ...], wildcards: dict[tuple[str, ...], list[str]]) -> None:
    if isinstance(arg, dict):
        if len(arg) != 1:
            raise InvalidEventPattern("Only one key allowed in match expression")
        ((op, inner),) = arg.items()
        if op not in _ANYTHING_BUT_OPERATORS:
            raise InvalidEventPattern(f"Unsupported anything-but pattern: {op}")
        values = inner if isinstance(inner, list) else [inner]
        if op in ("prefix", "suffix"):
            if isinstance(inner, dict):
                raise InvalidEventPattern("Value of anything-but must be an array or single string/number value.")
            if not values or not all(isinstance(v, str) for v in values):
                raise InvalidEventPattern("prefix/suffix match pattern must be a string")
            if any(v == "" for v in values):
                raise InvalidEventPattern("Null prefix/suffix not allowed")
        elif op == "equals-ignore-case":
            if not values or not all(isinstance(v, str) for v in values):
                raise InvalidEventPattern(
                    "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
                )
        else:  # wildcard
            if not values or not all(isinstance(v, str) for v in values):
                raise InvalidEventPattern("wildcard match pattern must be a string")
            for v in values:
                _check_wildcard(v)
            wildcards.setdefault(path, []).extend(values)
        return
    if isinstance(arg, list):
        if not arg:
            raise InvalidEventPattern("Empty arrays are not allowed")
        if not all(isinstance(v, str) or _is_number(v) for v in arg):
            raise InvalidEventPattern("Inside anything but list, start|null|boolean is not supported.")
        # AWS documents lists "that contain only strings, or only numbers"
        if not (all(isinstance(v, str) for v in arg) or all(_is_number(v) for v in arg)):
            raise InvalidEventPattern("Inside anything but list, strings and numbers cannot be mixed.")
        return
    if not (isinstance(arg, str) or _is_number(arg)):
        raise InvalidEventPattern("Value of anything-but must be an array or single string/number value.")


def _check_wildcard(pattern: str) -> None:
    previous_star = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            previous_star = False
            continue
        if char == "*":
            if previous_star:
                raise InvalidEventPattern(f"Consecutive wildcard characters at pos {i}")
            previous_star = True
        else:
            previous_star = False
        i += 1


def _wildcard_tokens(pattern: str) -> list[str | None]:
    """Characters of a wildcard pattern; None for an (unescaped) ``*``."""
    out: list[str | None] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(pattern[i + 1])
            i += 2
            continue
        out.append(None if pattern[i] == "*" else pattern[i])
        i += 1
    return out


def _wildcard_complexity(patterns: list[str]) -> int:
    """How many wildcard-pattern states one input value can keep open at once.

    AWS refuses a rule whose wildcards are "too complex" and does not publish the measure.
    Its matcher (event-ruler) evaluates it on the field's automaton: the most states that
    can be active together and still lead to a wildcard match. This is that idea on a plain
    NFA per field (every state after a pattern's first ``*`` counts), with a limit chosen
    between what AWS was recorded to accept and to refuse: ``*:*:*:*:*:event-bus/*`` scores
    12 (refused), ``["*/init/*", "*/dir/*"]`` 8 and ``/Users/*/dir/dir/dir/dir/dir/doc.txt``
    7 (accepted). A model, not AWS's algorithm: patterns near the limit may be judged
    differently (the README's fidelity table says so).
    """
    tokens = [_wildcard_tokens(p) for p in patterns]
    first_star = [next((i for i, t in enumerate(ts) if t is None), len(ts)) for ts in tokens]

    def closure(states: set[tuple[int, int]]) -> frozenset[tuple[int, int]]:
        out, stack = set(states), list(states)
        while stack:
            k, i = stack.pop()
            if i < len(tokens[k]) and tokens[k][i] is None and (k, i + 1) not in out:
                out.add((k, i + 1))
                stack.append((k, i + 1))
        return frozenset(out)

    alphabet: set[str | None] = {t for ts in tokens for t in ts if t is not None} | {None}
    start = closure({(k, 0) for k in range(len(tokens))})
    seen, todo, best = {start}, [start], 0
    while todo and len(seen) < 20_000:
        states = todo.pop()
        best = max(best, sum(1 for k, i in states if i > first_star[k]))
        if best > WILDCARD_COMPLEXITY_LIMIT:
            return best
        for char in alphabet:  # None stands for any character no pattern names
            moved: set[tuple[int, int]] = set()
            for k, i in states:
                if i < len(tokens[k]):
                    t = tokens[k][i]
                    if t is None:
                        moved.add((k, i))
                    elif t == char:
                        moved.add((k, i + 1))
            nxt = closure(moved)
            if nxt and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return best


def valid_test_event(event: Any) -> bool:
    """Whether ``TestEventPattern`` takes ``event`` (else AWS answers ValidationException
    "Parameter Event is not valid."): a JSON object with the envelope fields."""
    return isinstance(event, dict) and all(f in event for f in _TEST_EVENT_FIELDS)


# --------------------------------------------------------------------------- matching


def event_matches(pattern: str | dict[str, Any] | None, event: dict[str, Any]) -> bool:
    """Whether ``event`` matches an EventBridge event pattern.

    A rule without a pattern (schedule-only) matches no PutEvents event; moto 5.2.5
    matches every event there. An empty pattern is treated the same way. A pattern AWS
    would refuse raises :class:`InvalidEventPattern`.
    """
    if not pattern:
        return False
    parsed = compile_pattern(pattern)
    if not parsed:
        return False
    return _match_fields(_expand_pattern(parsed), _expand_event(event))


class _Nested(list):  # type: ignore[type-arg]
    """A nested pattern's (key, spec) pairs, where a field's spec is not a filter list."""


def _expand_pattern(pattern: dict[str, Any]) -> _Nested:
    """The pattern as (key, spec) pairs with dotted keys split into nested ones. Pairs, not
    a dict: ``{"a.b": [1], "a": {"c": [2]}}`` holds two conditions under ``a``."""
    out = _Nested()
    for key, spec in pattern.items():
        if key == "$or":
            out.append((key, [_expand_pattern(p) for p in spec]))
            continue
        inner: Any = _expand_pattern(spec) if isinstance(spec, dict) else spec
        *parents, leaf = key.split(".")
        node: tuple[str, Any] = (leaf, inner)
        for parent in reversed(parents):
            node = (parent, _Nested([node]))
        out.append(node)
    return out


def _expand_event(value: Any) -> Any:
    """The event with dotted keys split into nested objects, merged with their siblings;
    two values for one path become a list (either may match)."""
    if isinstance(value, list):
        return [_expand_event(v) for v in value]
    if not isinstance(value, dict):
        return value
    if not any("." in k for k in value) and not any(isinstance(v, (dict, list)) for v in value.values()):
        return value
    out: dict[str, Any] = {}
    for key, v in value.items():
        expanded = _expand_event(v)
        *parents, leaf = key.split(".")
        for parent in reversed(parents):
            expanded = {leaf: expanded}
            leaf = parent
        out[leaf] = _merge(out[leaf], expanded) if leaf in out else expanded
    return out


def _merge(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        merged = dict(a)
        for k, v in b.items():
            merged[k] = _merge(merged[k], v) if k in merged else v
        return merged
    return (a if isinstance(a, list) else [a]) + (b if isinstance(b, list) else [b])


def _match_fields(pattern: list[tuple[str, Any]], node: Any) -> bool:
    return all(_match_field(key, spec, node) for key, spec in pattern)


def _match_field(key: str, spec: Any, node: Any) -> bool:
    if key == "$or":
        return any(_match_fields(alternative, node) for alternative in spec)
    values = _flatten(node[key]) if isinstance(node, dict) and key in node else []
    if isinstance(spec, _Nested):
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
    ((op, arg),) = f.items()
    if op == "exists":
        wanted: bool = arg  # validated as a bool
        return bool(leaves) == wanted
    return any(_apply(op, arg, leaf) for leaf in leaves)


def _apply(op: str, arg: Any, value: Any) -> bool:
    if op == "numeric":
        return _is_number(value) and all(_COMPARE[o](value, b) for o, b in zip(arg[::2], arg[1::2], strict=True))
    if op == "anything-but":
        if isinstance(arg, dict):
            ((inner_op, inner),) = arg.items()
            options = inner if isinstance(inner, list) else [inner]
            return not any(_apply(inner_op, o, value) for o in options)
        options = arg if isinstance(arg, list) else [arg]
        return not any(_same(o, value) for o in options)
    if op == "cidr":
        return isinstance(value, str) and _in_network(value, arg)
    if not isinstance(value, str):
        return False
    text: str
    pattern: str
    if isinstance(arg, dict):  # {"prefix"|"suffix": {"equals-ignore-case": ...}}
        text, pattern = value.lower(), arg["equals-ignore-case"].lower()
    else:
        text, pattern = value, arg
    if op == "prefix":
        return text.startswith(pattern)
    if op == "suffix":
        return text.endswith(pattern)
    if op == "equals-ignore-case":
        return text.lower() == pattern.lower()
    return _wildcard(pattern).fullmatch(text) is not None


def _is_number(value: Any) -> TypeGuard[int | float]:
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
    regex = "".join(".*" if t is None else re.escape(t) for t in _wildcard_tokens(pattern))
    return re.compile(regex, re.DOTALL)
