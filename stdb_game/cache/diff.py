"""What one server message does to the cache: row events to fire, and what commit must write."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

from ..errors import StdbError

__all__ = ["MessageDiff", "StaleDiffError", "TableDiff"]

RowT = TypeVar("RowT")


class StaleDiffError(StdbError, RuntimeError):
    """A diff was committed twice, to another table, or after the table changed since prepare."""


class TableDiff(Generic[RowT]):
    """The net effect of one message on one table.

    ``inserts``, ``deletes`` and ``updates`` are the row events (0 -> >0, >0 -> 0, and a
    delete paired with an insert of the same primary key); ``missing_deletes`` counts delete
    occurrences that found no cached row and were ignored. The ``_``-prefixed fields are
    what ``TableCache.commit`` writes; treat the whole object as read-only.
    """

    __slots__ = (
        "_gone_bytes",
        "_gone_rows",
        "_new_bytes",
        "_new_multi",
        "_new_rows",
        "_recount",
        "_staged",
        "_table",
        "_version",
        "deletes",
        "inserts",
        "missing_deletes",
        "table_name",
        "updates",
    )

    def __init__(
        self,
        table_name: str,
        inserts: list[RowT],
        deletes: list[RowT],
        updates: list[tuple[RowT, RowT]],
        missing_deletes: int,
        *,
        table: object,
        version: int,
        new_bytes: list[bytes],
        new_rows: list[RowT],
        new_multi: dict[bytes, int],
        gone_bytes: list[bytes],
        gone_rows: list[RowT],
        recount: dict[bytes, int],
    ) -> None:
        self.table_name = table_name
        self.inserts = inserts
        self.deletes = deletes
        self.updates = updates
        self.missing_deletes = missing_deletes
        self._table = table
        self._version = version
        self._new_bytes = new_bytes
        self._new_rows = new_rows
        self._new_multi = new_multi
        self._gone_bytes = gone_bytes
        self._gone_rows = gone_rows
        self._recount = recount
        #: What ``commit`` swaps in when ``TableCache.prepare_steps`` built it ahead.
        self._staged: Any = None

    @property
    def is_empty(self) -> bool:
        """True when no row event fires (counts may still change)."""
        return not (self.inserts or self.deletes or self.updates)

    @property
    def changes_cache(self) -> bool:
        """True when commit writes anything (an event or a reference-count change)."""
        return bool(self._new_bytes or self._gone_bytes or self._recount)

    def __repr__(self) -> str:
        return (
            f"TableDiff({self.table_name!r}, inserts={len(self.inserts)}, "
            f"deletes={len(self.deletes)}, updates={len(self.updates)}, "
            f"missing_deletes={self.missing_deletes})"
        )


_obj_new = object.__new__


def new_table_diff(
    table_name: str,
    inserts: list[Any],
    deletes: list[Any],
    updates: list[tuple[Any, Any]],
    missing_deletes: int,
    table: object,
    version: int,
    new_bytes: list[bytes],
    new_rows: list[Any],
    new_multi: dict[bytes, int],
    gone_bytes: list[bytes],
    gone_rows: list[Any],
    recount: dict[bytes, int],
) -> TableDiff[Any]:
    """``TableDiff(...)`` with positional fields: skips keyword handling on the hot path."""
    d: TableDiff[Any] = _obj_new(TableDiff)
    d.table_name = table_name
    d.inserts = inserts
    d.deletes = deletes
    d.updates = updates
    d.missing_deletes = missing_deletes
    d._table = table
    d._version = version
    d._new_bytes = new_bytes
    d._new_rows = new_rows
    d._new_multi = new_multi
    d._gone_bytes = gone_bytes
    d._gone_rows = gone_rows
    d._recount = recount
    d._staged = None
    return d


class MessageDiff:
    """The per-table diffs of one server message, committed together before any callback."""

    __slots__ = ("tables",)

    def __init__(self, tables: Mapping[str, TableDiff[Any]]) -> None:
        self.tables: dict[str, TableDiff[Any]] = dict(tables)

    @property
    def missing_deletes(self) -> int:
        """Ignored delete occurrences over all tables (non-zero means the cache had drifted)."""
        total = 0
        for d in self.tables.values():
            total += d.missing_deletes
        return total

    @property
    def is_empty(self) -> bool:
        return all(d.is_empty for d in self.tables.values())

    def __getitem__(self, table_name: str) -> TableDiff[Any]:
        return self.tables[table_name]

    def __iter__(self) -> Iterator[TableDiff[Any]]:
        return iter(self.tables.values())

    def __len__(self) -> int:
        return len(self.tables)

    def __repr__(self) -> str:
        return f"MessageDiff({list(self.tables.values())!r})"
