"""What start-up shares: the cyclic garbage collector paused while a process builds the
heap it keeps (imported modules, moto's backends, botocore's models, the parsed state
machine definition)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The collector's full passes over a heap growing by tens of megabytes were a quarter
    of start-up and found nothing to free: what start-up builds is kept. Reference counting
    frees as usual meanwhile; the collector resumes as it was (left off if it was off)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
