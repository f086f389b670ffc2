"""Deterministic, TFC-looking resource ids (``ws-`` + 16 base62 characters)."""

from __future__ import annotations

import hashlib
import itertools

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class IdFactory:
    """Ids depend only on the seed and creation order, so a replay yields the same ids."""

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._counter = itertools.count(1)

    def new(self, prefix: str) -> str:
        n = next(self._counter)
        digest = hashlib.sha256(f"{self._seed}:{prefix}:{n}".encode()).digest()
        body = "".join(_ALPHABET[b % 62] for b in digest[:16])
        return f"{prefix}-{body}"
