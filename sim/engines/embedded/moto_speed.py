"""Speed-only replacements of moto 5.2.5 internals: each gives the answer moto's own code
gives, cheaper, and a test compares the two (``tests/unit/test_moto_speed.py``). The
adapter (:mod:`moto_adapter`) checks the seams and installs them; ``FAST_MOTO_INTERNALS``
off puts moto's own code back in the path for that comparison."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

FAST_MOTO_INTERNALS = True


def cached_method_names(original: Callable[[object], list[str]]) -> Callable[[object], list[str]]:
    """moto lists a response class's methods (``inspect.getmembers``) for every request it
    answers, to check the action is one; a class's methods do not change while it serves."""
    cached = functools.lru_cache(maxsize=None)(original)

    def method_names(clazz: object) -> list[str]:
        return list(cached(clazz)) if FAST_MOTO_INTERNALS else original(clazz)

    return method_names


def filtered_scan(original: Callable[..., Any], result_size_limit: int) -> Callable[..., Any]:
    """``Table.scan`` as moto 5.2.5 writes it, except that a FilterExpression is evaluated
    on each item *before* it is copied out, not on the copies of every item read: moto
    deep-copied the whole table on every Scan (the control plane's reconcile and daily
    decommission scan the tenant table). What is read and counted is unchanged: Limit and
    the 1 MB page count the items read before the filter, as DynamoDB counts them
    ("Scan", "Filter expressions for scan" in the DynamoDB developer guide), and
    LastEvaluatedKey is the last item read. Index scans and legacy ScanFilter take moto's
    own code."""

    def scan(
        self: Any,
        filters: dict[str, Any],
        limit: int,
        exclusive_start_key: dict[str, Any],
        filter_expression: Any = None,
        index_name: str | None = None,
        consistent_read: bool = False,
        projection_expression: list[list[str]] | None = None,
        segments: tuple[Any, Any] = (None, None),
    ) -> tuple[list[Any], int, dict[str, Any] | None]:
        if not FAST_MOTO_INTERNALS or index_name or filters:
            answer: tuple[list[Any], int, dict[str, Any] | None] = original(
                self, filters, limit, exclusive_start_key, filter_expression, index_name, consistent_read, projection_expression, segments
            )
            return answer
        hash_attrs = [self.hash_key_attr]
        range_attrs = [self.range_key_attr]
        results: list[Any] = []
        read = 0
        last_read: Any = None
        result_size = 0
        last_evaluated_key = None
        processing_previous_page = exclusive_start_key is not None
        for item in self.all_items():
            if not item.is_within_segment(segments):
                continue
            if processing_previous_page:
                if self._item_comes_before_dct(item, exclusive_start_key, hash_attrs, range_attrs, True):
                    continue
                processing_previous_page = False
            size = item.size()
            if read == limit or result_size + size > result_size_limit:
                last_evaluated_key = self._get_last_evaluated_key(last_read, index_name)
                break
            read += 1
            last_read = item
            result_size += size
            if filter_expression is None or filter_expression.expr(item):
                results.append(copy.deepcopy(item))
        if projection_expression:
            results = [r.project(projection_expression) for r in results]
        return results, read, last_evaluated_key

    return scan


def attribute_size(original: Callable[[Any], int]) -> Callable[[Any], int]:
    """``DynamoType.size`` for a string, number, boolean or null written directly; moto walks
    its type checks for every attribute of every item each Scan reads (for the 1 MB page)
    and each write checks (for the 400 KB item). Sets, lists, maps and binary take moto's
    code."""

    def size(self: Any) -> int:
        kind, value = self.type, self.value
        if FAST_MOTO_INTERNALS:
            if kind == "S" and type(value) is str:
                return len(value) if value.isascii() else len(value.encode("utf-8"))
            if kind == "N" and type(value) is str:
                return len(value)
            if (kind == "BOOL" or kind == "NULL") and type(value) is bool:
                return 1
        return original(self)

    return size
