"""All tables of one connection, keyed by name, applied one whole server message at a time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Generator, Iterator, Mapping, Sequence
from typing import Any

from ..errors import ProtocolError, SchemaError
from ..sats.types import AlgebraicType
from .diff import MessageDiff, TableDiff
from .table import RowDecoder, TableCache

__all__ = ["ClientCache", "TableRows"]

_obj_new = object.__new__


def _message_diff(tables: dict[str, TableDiff[Any]]) -> MessageDiff:
    """``MessageDiff(tables)`` taking ownership of a fresh dict instead of copying it."""
    m: MessageDiff = _obj_new(MessageDiff)
    m.tables = tables
    return m


def _still_cached(table: TableCache[Any], rows: Sequence[bytes]) -> list[bytes]:
    """``rows`` capped, per distinct row, at the occurrences the table still holds."""
    ref_count = table.ref_count
    return [b for b, n in Counter(rows).items() for _ in range(min(n, ref_count(b)))]


def _assumed_old(old: Sequence[bytes], maybe: Sequence[bytes], new: Sequence[bytes]) -> list[bytes]:
    """``old`` plus each ``maybe`` occurrence up to the count ``new`` gives its row beyond ``old``.

    A row the layer may or may not have gained since is taken as the layer's exactly when
    the new rows keep it as often: re-sending the same queries then changes no count, and a
    row the new rows lack is never taken from another holder.
    """
    if not maybe:
        return list(old)
    held = Counter(old)
    want = Counter(new)
    out = list(old)
    for b, n in Counter(maybe).items():
        out.extend([b] * min(n, max(want[b] - held[b], 0)))
    return out


#: One table's part of a message: (deletes, inserts), each a sequence of row BSATN bytes.
TableRows = tuple[Sequence[bytes], Sequence[bytes]]


class ClientCache:
    """Table caches by table name (ids change across module updates; names do not).

    Rows of a table that was never registered cannot be decoded, so a message naming one
    is refused with ``ProtocolError`` before any table changes: the session's schema and
    the server disagree, and silently keeping opaque rows would hide that.
    """

    __slots__ = ("_tables",)

    def __init__(self) -> None:
        self._tables: dict[str, TableCache[Any]] = {}

    def add_table(
        self,
        name: str,
        row_type: AlgebraicType,
        *,
        primary_key: int | None = None,
        unique_columns: Sequence[int] = (),
        indexes: Sequence[int | Sequence[int]] = (),
        decoder: RowDecoder | None = None,
    ) -> TableCache[Any]:
        """Register a table (once per name) and return its cache."""
        if name in self._tables:
            raise SchemaError(f"table {name!r} is already registered")
        table: TableCache[Any] = TableCache(
            name,
            row_type,
            primary_key=primary_key,
            unique_columns=unique_columns,
            indexes=indexes,
            decoder=decoder,
        )
        self._tables[name] = table
        return table

    def table(self, name: str) -> TableCache[Any]:
        """The cache of table ``name``; ``KeyError`` if it was never registered."""
        try:
            return self._tables[name]
        except KeyError:
            raise KeyError(f"no table named {name!r} is registered") from None

    def get(self, name: str) -> TableCache[Any] | None:
        return self._tables.get(name)

    def tables(self) -> list[TableCache[Any]]:
        return list(self._tables.values())

    def __contains__(self, name: object) -> bool:
        return name in self._tables

    def __iter__(self) -> Iterator[TableCache[Any]]:
        return iter(self._tables.values())

    def __len__(self) -> int:
        return len(self._tables)

    def prepare_message(self, updates: Mapping[str, TableRows]) -> MessageDiff:
        """Every table's diff for one message, computed before anything changes.

        ``updates`` maps table name -> (deletes, inserts) with all of the message's query
        updates for that table concatenated. Raises ``ProtocolError`` for an unknown table
        or an undecodable row; then nothing has changed.
        """
        tables = self._tables
        diffs: dict[str, TableDiff[Any]] = {}
        for name, (deletes, inserts) in updates.items():
            table = tables.get(name)
            if table is None:
                raise ProtocolError(
                    f"rows for table {name!r}, which the client has no schema for",
                    what=f"table update of {name}",
                )
            diffs[name] = table.prepare(deletes, inserts)
        return _message_diff(diffs)

    def prepare_message_steps(
        self, updates: Mapping[str, TableRows], chunk_rows: int = 2048
    ) -> Generator[None, None, MessageDiff]:
        """``prepare_message`` in steps (see ``TableCache.prepare_steps``): yields between
        chunks of decoded rows, returns the same ``MessageDiff``. Nothing changes meanwhile."""
        tables = self._tables
        diffs: dict[str, TableDiff[Any]] = {}
        for name, (deletes, inserts) in updates.items():
            table = tables.get(name)
            if table is None:
                raise ProtocolError(
                    f"rows for table {name!r}, which the client has no schema for",
                    what=f"table update of {name}",
                )
            diffs[name] = yield from table.prepare_steps(deletes, inserts, chunk_rows)
        return _message_diff(diffs)

    def commit(self, diff: MessageDiff) -> None:
        """Write every table's diff; all are checked first so a stale one changes nothing."""
        tables = self._tables
        pairs = []
        for name, d in diff.tables.items():
            table = tables.get(name)
            if table is None:
                table = self.table(name)  # raises the KeyError
            if d._table is not table or d._version != table._version:
                table.check_fresh(d)  # raises the StaleDiffError
            pairs.append((table, d))
        for table, d in pairs:
            table.commit(d)

    def apply_message(self, updates: Mapping[str, TableRows]) -> MessageDiff:
        """``prepare_message`` then ``commit``."""
        diff = self.prepare_message(updates)
        self.commit(diff)
        return diff

    def reconcile(self, full_rows: Mapping[str, Sequence[bytes]]) -> MessageDiff:
        """Diff every registered table against its complete new row set (after a reconnect).

        A registered table missing from ``full_rows`` is taken as now empty. Unknown
        names raise ``ProtocolError``. Commit the result with ``commit``.
        """
        for name in full_rows:
            if name not in self._tables:
                raise ProtocolError(
                    f"rows for table {name!r}, which the client has no schema for",
                    what=f"table update of {name}",
                )
        return MessageDiff(
            {name: t.reconcile(full_rows.get(name, ())) for name, t in self._tables.items()}
        )

    def replace_layer(
        self,
        old_rows: Mapping[str, Sequence[bytes]],
        new_rows: Mapping[str, Sequence[bytes]],
        *,
        maybe_old: Mapping[str, Sequence[bytes]] | None = None,
        whole: Collection[str] = (),
    ) -> MessageDiff:
        """The diff swapping one subscription's rows ``old_rows`` for ``new_rows``.

        For a subscription replaced whole (legacy ``Subscribe``) while others stay: its old
        rows are deleted and the new inserted, refcounted, so a row another subscription
        also holds stays. ``maybe_old`` are occurrences that may be this subscription's or
        another's (rows transactions inserted since into a table both read): each counts as
        old only while ``new_rows`` has its row more often than ``old_rows`` does, so the
        same rows re-sent change no count and a row the new rows lack is never dropped from
        another holder. Old occurrences no longer cached (a transaction removed them since)
        are skipped, not reported as missing. Tables in ``whole`` are this subscription's
        alone: each is reconciled to exactly its ``new_rows`` (empty when absent), which
        also catches rows transactions added since. Tables come in the order of
        ``new_rows``, then the others. Unknown names raise ``ProtocolError``. Commit the
        result with ``commit``.
        """
        tables = self._tables
        maybe = maybe_old or {}
        for name in new_rows:
            if name not in tables:
                raise ProtocolError(
                    f"rows for table {name!r}, which the client has no schema for",
                    what=f"table update of {name}",
                )
        diffs: dict[str, TableDiff[Any]] = {}
        # Tables in message order (row callbacks follow it), then the rest this touches.
        names = [*new_rows, *old_rows, *maybe, *(n for n in tables if n in whole)]
        for name in dict.fromkeys(names):
            table = tables.get(name)
            if table is None:
                continue  # old rows of a table no longer registered: nothing cached to drop
            new = new_rows.get(name, ())
            if name in whole:
                diffs[name] = table.reconcile(new)
            else:
                old = _assumed_old(old_rows.get(name, ()), maybe.get(name, ()), new)
                diffs[name] = table.prepare(_still_cached(table, old), new)
        return _message_diff(diffs)

    def clear(self) -> dict[str, list[Any]]:
        """Forget every row of every table; returns the removed rows per table name."""
        return {name: t.clear() for name, t in self._tables.items()}

    def __repr__(self) -> str:
        return f"ClientCache({list(self._tables)!r})"
