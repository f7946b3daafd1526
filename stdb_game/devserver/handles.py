"""``ctx.db``: table handles reducers use (insert, delete, iter, count, index accessors).

Rows handed out are fresh objects decoded from the stored bytes, so a reducer mutating a row
it read changes nothing until it calls ``update``/``insert`` with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from operator import attrgetter
from typing import Any

from ..sats import types as t
from ..sats.codec import get_codec
from .errors import ReducerError
from .storage import Index, TableStore
from .transaction import Transaction

__all__ = ["DbView", "IndexAccessor", "TableHandle", "UniqueAccessor"]


def _simple(ty: t.AlgebraicType) -> bool:
    """Whether a Python value of ``ty`` is already in stored form (no re-decoding needed)."""
    ty = ty.resolve()
    if isinstance(ty, t.PrimitiveType):
        return ty.kind != "F32"
    if isinstance(ty, t.ProductType):
        return ty.special in ("identity", "connection_id", "timestamp", "time_duration")
    if isinstance(ty, t.SumType):
        if ty.special == "option":
            inner = ty.variants[0].algebraic_type.resolve()
            return not (isinstance(inner, t.SumType) and inner.special == "option") and _simple(
                inner
            )
        return ty.special == "schedule_at"
    return False


def normalizer(ty: t.AlgebraicType) -> Callable[[Any], Any]:
    """Turns a value a reducer passes into the stored form of a column of type ``ty``."""
    if _simple(ty):
        return lambda v: v
    codec = get_codec(ty)
    return lambda v: codec.decode(codec.encode(v))


class _Access:
    """Shared plumbing: the transaction in progress and row decoding."""

    __slots__ = ("_current", "_store")

    def __init__(self, store: TableStore, current: Callable[[], Transaction]) -> None:
        self._store = store
        self._current = current

    def _obj(self, data: bytes) -> Any:
        return self._store.obj_codec.decode(data)


class UniqueAccessor(_Access):
    """``ctx.db.<table>.<unique column>``: find / update / delete by that column's value."""

    __slots__ = ("_get", "_index", "_norm")

    def __init__(self, store: TableStore, current: Callable[[], Transaction], index: Index) -> None:
        super().__init__(store, current)
        self._index = index
        cols = [store.table.columns[c] for c in index.columns]
        norms = [normalizer(c.type) for c in cols]
        if len(cols) == 1:
            n0 = norms[0]
            self._norm: Callable[[Any], Any] = lambda v: index.key_of((n0(v),))
            self._get: Callable[[Any], Any] = attrgetter(cols[0].name)
        else:
            self._norm = lambda v: index.key_of(tuple(f(x) for f, x in zip(norms, v)))
            self._get = attrgetter(*(c.name for c in cols))

    def find(self, value: Any) -> Any | None:
        """The row whose column equals ``value``, or None."""
        self._current()
        data = self._index.map.get(self._norm(value))
        return None if data is None else self._obj(data)

    def delete(self, value: Any) -> bool:
        """Delete the row whose column equals ``value``; False if there is none."""
        tx = self._current()
        data = self._index.map.get(self._norm(value))
        return data is not None and tx.delete(self._store, data)

    def update(self, row: Any) -> Any:
        """Replace the row with the same value in this column by ``row`` (must exist)."""
        tx = self._current()
        old = self._index.map.get(self._norm(self._get(row)))
        if old is None:
            cols = ", ".join(self._store.table.columns[c].name for c in self._index.columns)
            raise ReducerError(
                f"update: no row in {self._store.name} with ({cols}) = {self._get(row)!r}"
            )
        codec = self._store.codec
        data = codec.encode(row)
        values = codec.decode(data)
        tx.delete(self._store, old)
        tx.insert(self._store, data, values)
        return row


class IndexAccessor(_Access):
    """``ctx.db.<table>.<indexed column or index name>``: filter / delete by value."""

    __slots__ = ("_index", "_norms")

    def __init__(self, store: TableStore, current: Callable[[], Transaction], index: Index) -> None:
        super().__init__(store, current)
        self._index = index
        self._norms = [normalizer(store.table.columns[c].type) for c in index.columns]

    def _matches(self, value: Any) -> list[bytes]:
        ix = self._index
        if len(ix.columns) == 1:
            return ix.rows_for(ix.key_of((self._norms[0](value),)))
        vals = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        if len(vals) == len(ix.columns):
            return ix.rows_for(ix.key_of(tuple(f(v) for f, v in zip(self._norms, vals))))
        if not 0 < len(vals) < len(ix.columns):
            raise ReducerError(f"filter: {len(vals)} values for an index on {len(ix.columns)}")
        prefix = tuple(ix.keyfns[i](self._norms[i](v)) for i, v in enumerate(vals))
        out: list[bytes] = []
        for key, hit in ix.map.items():
            if key[: len(prefix)] == prefix:
                out.extend([hit] if ix.unique else hit)
        return out

    def filter(self, value: Any) -> list[Any]:
        """Rows whose indexed column(s) equal ``value`` (a tuple, or a prefix, for multi-column)."""
        self._current()
        return [self._obj(d) for d in self._matches(value)]

    def delete(self, value: Any) -> int:
        """Delete the rows ``filter(value)`` would return; how many were deleted."""
        tx = self._current()
        n = 0
        for d in self._matches(value):
            n += tx.delete(self._store, d)
        return n


class TableHandle(_Access):
    """``ctx.db.<table>``: insert, delete, iter, count and the index accessors as attributes."""

    __slots__ = ("__dict__", "_getter", "_seq")

    def __init__(self, store: TableStore, current: Callable[[], Transaction]) -> None:
        super().__init__(store, current)
        table = store.table
        self._seq = list(table.sequences)
        self._getter = attrgetter(*(c.name for c in table.columns))
        for ix in store.indexes:
            acc: Any = (
                UniqueAccessor(store, current, ix)
                if ix.unique
                else IndexAccessor(store, current, ix)
            )
            name = ix.definition.accessor
            if name not in ("insert", "delete", "iter", "count", "index"):
                setattr(self, name, acc)
            self.__dict__.setdefault("_accessors", {})[name] = acc

    def index(self, name: str) -> Any:
        """The accessor called ``name`` (for names that clash with methods)."""
        return self.__dict__["_accessors"][name]

    def insert(self, row: Any) -> Any:
        """Insert ``row``; 0 in an auto_inc column takes the next value. Returns the stored row."""
        tx = self._current()
        store = self._store
        codec = store.codec
        if self._seq:
            values = row if isinstance(row, tuple) else self._getter(row)
            vals = list(values) if isinstance(values, tuple) else [values]
            filled = False
            for c in self._seq:
                if vals[c] == 0:
                    vals[c] = tx.next_sequence(store, c)
                    filled = True
            data = codec.encode(tuple(vals))
            tx.insert(store, data, codec.decode(data))
            return self._obj(data) if filled else row
        data = codec.encode(row)
        tx.insert(store, data, codec.decode(data))
        return row

    def delete(self, row: Any) -> bool:
        """Delete the row equal to ``row``; False if there is none."""
        tx = self._current()
        return tx.delete(self._store, self._store.codec.encode(row))

    def iter(self) -> list[Any]:
        """All rows (a snapshot list, safe to modify the table while looping)."""
        self._current()
        dec = self._store.obj_codec.decode
        return [dec(d) for d in self._store.rows]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.iter())

    def count(self) -> int:
        """Number of rows."""
        self._current()
        return len(self._store.rows)

    def __len__(self) -> int:
        return self.count()


class DbView:
    """``ctx.db``: one attribute per table (``ctx.db.user``), also ``ctx.db["user"]``."""

    def __init__(self, handles: dict[str, TableHandle]) -> None:
        self._handles = handles
        for name, h in handles.items():
            if name.isidentifier() and not name.startswith("_"):
                setattr(self, name, h)

    def __getitem__(self, name: str) -> TableHandle:
        return self._handles[name]

    def __getattr__(self, name: str) -> TableHandle:
        try:
            return self.__dict__["_handles"][name]  # type: ignore[no-any-return]
        except KeyError:
            raise AttributeError(f"no table named {name!r}") from None
