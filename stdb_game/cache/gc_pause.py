"""Pause CPython's cyclic garbage collector while a large row batch is built.

Decoding a batch allocates one tuple per row and links them into lists and dicts that
are still young; every automatic collection meanwhile re-traverses those growing
containers, which measured at about half the cost of a 100k-row update. The batch
creates no reference cycles, so nothing is lost by collecting after it instead.
The previous state is always restored; small batches are left alone.
"""

from __future__ import annotations

import gc
from types import TracebackType

__all__ = ["GC_PAUSE_MIN_ROWS", "GcPause"]

#: Batches with fewer rows run with the collector untouched.
GC_PAUSE_MIN_ROWS = 2048


class GcPause:
    """``with GcPause(n_rows):`` disables the collector for the block if ``n_rows`` is large."""

    __slots__ = ("_paused",)

    def __init__(self, n_rows: int) -> None:
        self._paused = n_rows >= GC_PAUSE_MIN_ROWS and gc.isenabled()

    def __enter__(self) -> None:
        if self._paused:
            gc.disable()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._paused:
            gc.enable()
