"""What start-up shares: the cyclic garbage collector paused while a process builds the
heap it keeps (imported modules, moto's backends, botocore's models, the parsed state
machine definition), and that heap kept out of the collector's later passes."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused(*, keep: bool = False) -> Iterator[None]:
    """The collector's full passes over a heap growing by tens of megabytes were a quarter
    of start-up and found nothing to free: what start-up builds is kept. Reference counting
    frees as usual meanwhile; the collector resumes as it was (left off if it was off).

    ``keep``: what exists when the block ends without error is frozen (``gc.freeze``), so
    that the collector's next full pass, due at once after so much allocation, does not
    walk it again; :func:`release_kept` hands it back."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        if keep:
            gc.freeze()
    finally:
        if enabled:
            gc.enable()


def release_kept() -> None:
    """Hand what :func:`collector_paused` kept back to the collector (all frozen objects)."""
    gc.unfreeze()
