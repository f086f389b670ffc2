"""TFC's rate limit: 30 requests per second per user, answered with 429 beyond it."""

from __future__ import annotations

import threading
from collections import deque

from .errors import RateLimited

TFC_RATE_LIMIT = 30


class RateLimiter:
    """A sliding one-second window per token, on the fake's clock."""

    def __init__(self, limit: int = TFC_RATE_LIMIT) -> None:
        self.limit = limit
        self._windows: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, token: str, now: float) -> int:
        """Count a request; return the requests left in the window, or raise RateLimited."""
        with self._lock:
            window = self._windows.setdefault(token, deque())
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= self.limit:
                raise RateLimited(retry_after=window[0] + 1.0 - now, limit=self.limit)
            window.append(now)
            return self.limit - len(window)

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
