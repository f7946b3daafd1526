"""The client cache: tables as multisets of rows keyed by BSATN bytes, indexes, message diffs."""

from __future__ import annotations

from .client_cache import ClientCache, TableRows
from .diff import MessageDiff, StaleDiffError, TableDiff
from .index import MultiIndex, UniqueIndex
from .table import MissingIndexError, RowDecoder, TableCache

__all__ = [
    "ClientCache",
    "MessageDiff",
    "MissingIndexError",
    "MultiIndex",
    "RowDecoder",
    "StaleDiffError",
    "TableCache",
    "TableDiff",
    "TableRows",
    "UniqueIndex",
]
