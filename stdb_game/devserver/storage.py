"""In-memory table storage: rows keyed by their BSATN bytes, with unique and btree indexes.

A table is a set of rows (as in SpacetimeDB): the BSATN bytes are the row's identity, so
inserting an identical row twice is a no-op and deleting by value is a dict lookup. Each row
also keeps its decoded column values (immutable tuples) for indexes and SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..sats import types as t
from ..sats.codec import Codec, get_codec
from .errors import UniqueViolation
from .moduledef import IndexDef, TableDef

__all__ = ["Index", "TableStore", "key_function"]

Row = tuple[Any, ...]


def _hashable(ty: t.AlgebraicType) -> bool:
    ty = ty.resolve()
    if isinstance(ty, t.ArrayType):
        return ty.is_bytes
    if isinstance(ty, t.ProductType):
        return all(_hashable(e.algebraic_type) for e in ty.elements)
    if isinstance(ty, t.SumType):
        return all(_hashable(v.algebraic_type) for v in ty.variants)
    return True


def key_function(ty: t.AlgebraicType) -> Callable[[Any], Any]:
    """Maps a stored column value to a dict key (the value, or its bytes if unhashable)."""
    if _hashable(ty):
        return lambda v: v
    enc = get_codec(ty).encode
    return enc


class Index:
    """A unique (value -> row) or non-unique (value -> ordered set of rows) index."""

    __slots__ = ("columns", "definition", "key", "keyfns", "map", "unique")

    def __init__(self, definition: IndexDef, table: TableDef) -> None:
        self.definition = definition
        self.columns = definition.columns
        self.unique = definition.unique
        keyfns = [key_function(table.columns[c].type) for c in self.columns]
        self.keyfns = keyfns
        cols = self.columns
        if len(cols) == 1:
            (c,) = cols
            kf = keyfns[0]
            self.key: Callable[[Row], Any] = lambda row: kf(row[c])
        else:
            self.key = lambda row: tuple(f(row[c]) for f, c in zip(keyfns, cols))
        self.map: dict[Any, Any] = {}

    def key_of(self, values: tuple[Any, ...]) -> Any:
        """The key of the stored-form values of this index's columns."""
        if len(self.keyfns) == 1:
            return self.keyfns[0](values[0])
        return tuple(f(v) for f, v in zip(self.keyfns, values))

    def rows_for(self, key: Any) -> list[bytes]:
        """Row keys whose indexed value equals ``key``."""
        hit = self.map.get(key)
        if hit is None:
            return []
        return [hit] if self.unique else list(hit)


class TableStore:
    """The rows of one table and its indexes; all changes go through ``add``/``remove``."""

    def __init__(self, table: TableDef) -> None:
        self.table = table
        self.name = table.name
        self.rows: dict[bytes, Row] = {}
        self.codec: Codec = get_codec(table.row_type)
        self.obj_codec: Codec = get_codec(table.obj_type)
        self.indexes: list[Index] = [Index(ix, table) for ix in table.indexes]
        self.unique_indexes = [ix for ix in self.indexes if ix.unique]
        self.plain_indexes = [ix for ix in self.indexes if not ix.unique]
        self.by_columns: dict[tuple[int, ...], Index] = {ix.columns: ix for ix in self.indexes}
        #: next value of each auto_inc column (position -> value)
        self.sequences: dict[int, int] = {c: 1 for c in table.sequences}

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[tuple[bytes, Row]]:
        return iter(self.rows.items())

    def check_unique(self, data: bytes, row: Row) -> None:
        """Raise UniqueViolation if ``row`` clashes with another row on a unique index."""
        for ix in self.unique_indexes:
            other = ix.map.get(ix.key(row))
            if other is not None and other != data:
                cols = ", ".join(self.table.columns[c].name for c in ix.columns)
                value = row[ix.columns[0]] if len(ix.columns) == 1 else ix.key(row)
                raise UniqueViolation(
                    f"duplicate value {value!r} for unique column ({cols}) of table {self.name}"
                )

    def add(self, data: bytes, row: Row) -> None:
        """Store a row (uniqueness already checked)."""
        self.rows[data] = row
        for ix in self.unique_indexes:
            ix.map[ix.key(row)] = data
        for ix in self.plain_indexes:
            k = ix.key(row)
            bucket = ix.map.get(k)
            if bucket is None:
                ix.map[k] = {data: None}
            else:
                bucket[data] = None

    def remove(self, data: bytes) -> Row:
        """Drop a row that is present; return its values."""
        row = self.rows.pop(data)
        for ix in self.unique_indexes:
            del ix.map[ix.key(row)]
        for ix in self.plain_indexes:
            k = ix.key(row)
            bucket = ix.map[k]
            del bucket[data]
            if not bucket:
                del ix.map[k]
        return row

    def rows_where(self, column: int, value: Any) -> list[bytes]:
        """Rows whose ``column`` equals ``value`` (a stored-form value): index if any, else scan."""
        ix = self.by_columns.get((column,))
        if ix is not None:
            return ix.rows_for(ix.key_of((value,)))
        kf = key_function(self.table.columns[column].type)
        k = kf(value)
        return [d for d, r in self.rows.items() if kf(r[column]) == k]
