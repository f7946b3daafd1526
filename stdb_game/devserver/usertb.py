"""Tracebacks of module code without the dev server's own frames around them.

A game developer whose module raised wants to see their lines, not ``importlib`` or the
engine's call stack; both the dev server and ``stdb-game generate --module`` print these.
"""

from __future__ import annotations

import traceback
from pathlib import Path

__all__ = ["raised_in_user_code", "user_traceback"]

_PACKAGE = str(Path(__file__).resolve().parents[1])


def _ours(filename: str) -> bool:
    return filename.startswith("<frozen ") or filename.startswith(_PACKAGE)


def user_traceback(exc: BaseException) -> str:
    """``exc`` formatted like Python does, from the first frame outside stdb_game on."""
    te = traceback.TracebackException.from_exception(exc)
    frames = list(te.stack)
    start = next((i for i, f in enumerate(frames) if not _ours(f.filename)), len(frames))
    te.stack = traceback.StackSummary.from_list(frames[start:])
    return "".join(te.format())


def raised_in_user_code(exc: BaseException) -> bool:
    """Whether any frame of ``exc``'s traceback is outside stdb_game (module code ran)."""
    return any(not _ours(f.filename) for f in traceback.extract_tb(exc.__traceback__))
