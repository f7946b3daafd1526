"""One table's client cache: a multiset of rows keyed by their BSATN bytes, plus indexes.

Every occurrence of a row (from overlapping queries or join duplicates) is one
reference; a row is visible while it holds at least one. Rows are decoded only when
their bytes first enter the cache, so deletes and repeated inserts never decode.

Counts are stored sparsely: ``_rows`` maps bytes -> decoded row for every visible row,
``_multi`` maps bytes -> count only for rows held more than once, so the common
count-of-one row costs one dict entry and bulk inserts run as C-level ``dict.update``.

Deletes that find no cached row (the cache had drifted from the server, e.g. a message
was lost or counts were mixed with the deprecated single-query path) are ignored: the
count never goes below zero, nothing fires, and ``TableDiff.missing_deletes`` counts
them so the session can log it and, if it wants, resynchronise.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any, Generic, TypeVar, Union

from ..errors import DecodeError, ProtocolError, SchemaError, StdbError
from ..sats.codec import get_codec
from ..sats.types import AlgebraicType, ProductType
from .diff import StaleDiffError, TableDiff, new_table_diff
from .gc_pause import GC_PAUSE_MIN_ROWS, GcPause
from .index import MultiIndex, UniqueIndex
from .keys import KeyGetter, column_getter, column_order, normalize_columns

__all__ = ["MissingIndexError", "RowDecoder", "TableCache"]

RowT = TypeVar("RowT")
#: Decodes one row's BSATN bytes (the whole buffer) into a row value.
RowDecoder = Callable[[bytes], Any]
_Index = Union[UniqueIndex[Any], MultiIndex[Any]]


class MissingIndexError(StdbError, LookupError):
    """A lookup named a primary key, unique column or index the table does not have."""


_new_table_diff = new_table_diff


#: A commit of at least this many rows, prepared in steps (``prepare_steps``), is applied
#: ahead, in steps, to copies of the table's maps, and the tick that commits swaps them in.
_STAGE_MIN_ROWS = GC_PAUSE_MIN_ROWS
#: ... when the table is small enough that copying it is cheap next to the writes: up to
#: this many rows, or up to this many times the rows the commit changes.
_STAGE_ANY_TABLE_ROWS = 131_072
_STAGE_TABLE_RATIO = 16
#: Rows written per staging step, in units of the decode chunk (the writes are C-level).
_STAGE_CHUNK_FACTOR = 16


def _as_plan(*plan: Any) -> tuple[Any, ...]:
    """``_prepare``'s ``finish`` for ``prepare_steps``: keep what ``_finish`` would decode."""
    return plan


def _occurrences(seq: Sequence[bytes]) -> dict[bytes, int]:
    """bytes -> number of occurrences; a plain ``fromkeys`` when there are no repeats."""
    counts = dict.fromkeys(seq, 1)
    if len(counts) != len(seq):
        return Counter(seq)
    return counts


class TableCache(Generic[RowT]):
    """The cached rows of one table (by name), their reference counts and indexes."""

    __slots__ = (
        "_by_columns",
        "_decode",
        "_decode_fixed",
        "_decode_list",
        "_fixed_size",
        "_indexes",
        "_multi",
        "_pk_index",
        "_pk_of",
        "_rows",
        "_unique",
        "_version",
        "name",
        "primary_key",
        "row_type",
    )

    def __init__(
        self,
        name: str,
        row_type: AlgebraicType,
        *,
        primary_key: int | None = None,
        unique_columns: Sequence[int] = (),
        indexes: Sequence[int | Sequence[int]] = (),
        decoder: RowDecoder | None = None,
    ) -> None:
        resolved = row_type.resolve()
        if not isinstance(resolved, ProductType):
            raise SchemaError(f"table {name!r}: rows must be a product type, got {resolved!r}")
        self.name = name
        self.row_type = resolved
        self.primary_key = primary_key
        # Fixed-width rows decode in one struct.iter_unpack pass over the joined bytes.
        self._fixed_size = 0
        self._decode_fixed: Callable[[bytes, int], list[Any]] | None = None
        # Other rows decode in one generated loop over the row list (no call per row).
        self._decode_list: Callable[[Sequence[bytes]], list[Any]] | None = None
        if decoder is None:
            codec = get_codec(resolved)
            decoder = codec.decode
            self._decode_list = codec.decode_rows_list
            if codec.fixed_size:
                self._fixed_size = codec.fixed_size
                self._decode_fixed = codec.decode_rows_fixed
        self._decode: RowDecoder = decoder
        self._rows: dict[bytes, RowT] = {}
        self._multi: dict[bytes, int] = {}
        self._version = 0

        # One UniqueIndex per unique column (the primary key is one), one MultiIndex per
        # other declared index; an index declared on a unique column reuses its dict.
        self._unique: dict[int, UniqueIndex[RowT]] = {}
        self._by_columns: dict[tuple[int, ...], _Index] = {}
        unique_cols = list(unique_columns)
        if primary_key is not None:
            unique_cols.insert(0, primary_key)
        for col in unique_cols:
            if col not in self._unique:
                idx: UniqueIndex[RowT] = UniqueIndex(
                    (col,), column_getter(resolved, (col,)), column_order(resolved, (col,))
                )
                self._unique[col] = idx
                self._by_columns[(col,)] = idx
        for cols in indexes:
            key = normalize_columns(cols)
            if key not in self._by_columns:
                self._by_columns[key] = MultiIndex(
                    key, column_getter(resolved, key), column_order(resolved, key)
                )
        self._indexes: tuple[_Index, ...] = tuple(self._by_columns.values())
        self._pk_index = self._unique[primary_key] if primary_key is not None else None
        self._pk_of: KeyGetter | None = (
            self._pk_index.key_of if self._pk_index is not None else None
        )

    # ---- two-phase apply --------------------------------------------------------------

    def prepare(self, deletes: Sequence[bytes], inserts: Sequence[bytes]) -> TableDiff[RowT]:
        """The net effect of one message's deletes and inserts on this table; changes nothing.

        Per distinct row bytes the count changes by (#inserts - #deletes), applied as
        inserts first and clamped at zero. Only new rows are decoded.
        """
        diff: TableDiff[RowT]
        if len(deletes) + len(inserts) < GC_PAUSE_MIN_ROWS:
            diff = self._prepare(deletes, inserts)  # small: no pause, no context manager
        else:
            with GcPause(len(deletes) + len(inserts)):
                diff = self._prepare(deletes, inserts)
        return diff

    def prepare_steps(
        self, deletes: Sequence[bytes], inserts: Sequence[bytes], chunk_rows: int = 2048
    ) -> Generator[None, None, TableDiff[RowT]]:
        """``prepare`` in steps: a generator that yields after each ``chunk_rows`` rows it
        decodes and returns the same diff ``prepare`` would (``yield from`` it).

        For a game loop that spreads a huge message over several frames. The table must
        not change until the diff is committed (``commit`` refuses a stale diff).
        """
        n = len(deletes) + len(inserts)
        if n < GC_PAUSE_MIN_ROWS:
            plan = self._prepare(deletes, inserts, _as_plan)
        else:
            with GcPause(n):
                plan = self._prepare(deletes, inserts, _as_plan)
        new_bytes, new_multi, gone_bytes, gone_rows, recount, missing = plan
        if len(new_bytes) <= chunk_rows:
            diff = self._finish(new_bytes, new_multi, gone_bytes, gone_rows, recount, missing)
        else:
            new_rows: list[RowT] = []
            for start in range(0, len(new_bytes), chunk_rows):
                yield
                chunk = new_bytes[start : start + chunk_rows]
                with GcPause(len(chunk)):
                    try:
                        new_rows += self._decode_rows(chunk)
                    except DecodeError as e:
                        what = f"row of table {self.name}"
                        raise ProtocolError(str(e), what=what, cause=e) from e
            yield
            with GcPause(len(new_rows)):
                diff = self._diff(
                    new_bytes, new_multi, gone_bytes, gone_rows, recount, missing, new_rows
                )
        changed = len(diff._new_bytes) + len(diff._gone_bytes)
        if changed >= _STAGE_MIN_ROWS and len(self._rows) <= max(
            _STAGE_ANY_TABLE_ROWS, _STAGE_TABLE_RATIO * changed
        ):
            yield from self._stage_steps(diff, chunk_rows * _STAGE_CHUNK_FACTOR)
        return diff

    def _stage_steps(self, diff: TableDiff[RowT], chunk: int) -> Generator[None, None, None]:
        """Apply ``diff`` to private copies of the row maps and unique indexes, ``chunk``
        rows per step, for ``commit`` to swap in (``_commit``): the tick that applies a big
        message then writes almost nothing. The live table is not touched. If it changes
        meanwhile the copies are dropped and ``commit`` (which then refuses the stale diff)
        never sees them."""
        version = self._version
        yield
        if self._version != version:
            return
        rows = dict(self._rows)  # a C-level copy: a few ns per row, against ~100 to apply one
        multi = dict(self._multi)
        uniques = [
            (idx, idx.staged_copy()) for idx in self._indexes if isinstance(idx, UniqueIndex)
        ]
        # The same writes as _commit, in the same order, a chunk per step.
        gone_bytes, gone_rows = diff._gone_bytes, diff._gone_rows
        for start in range(0, len(gone_bytes), chunk):
            yield
            if self._version != version:
                return
            part = gone_bytes[start : start + chunk]
            deque(map(rows.__delitem__, part), maxlen=0)
            if multi:
                for b in part:
                    multi.pop(b, None)
            if uniques:
                gone_part = gone_rows[start : start + chunk]
                for _idx, twin in uniques:
                    twin.update((), gone_part, (), ())
        for b, count in diff._recount.items():
            if count == 1:
                multi.pop(b, None)
            else:
                multi[b] = count
        new_bytes, new_rows = diff._new_bytes, diff._new_rows
        for start in range(0, len(new_bytes), chunk):
            yield
            if self._version != version:
                return
            new_part = new_rows[start : start + chunk]
            rows.update(zip(new_bytes[start : start + chunk], new_part))
            for _idx, twin in uniques:
                twin.update((), (), (), new_part)
        if diff._new_multi:
            multi.update(diff._new_multi)
        diff._staged = (rows, multi, uniques)

    def _prepare(
        self, deletes: Sequence[bytes], inserts: Sequence[bytes], finish: Any = None
    ) -> Any:
        """The diff (``finish`` is ``_finish``) or, for ``prepare_steps``, the plan that
        ``_finish`` would decode (``finish`` is ``_as_plan``)."""
        if finish is None:
            finish = self._finish
        rows = self._rows
        multi = self._multi
        ins = dict.fromkeys(inserts, 1)
        if len(ins) != len(inserts):
            ins = Counter(inserts)
        if not deletes:
            if rows.keys().isdisjoint(ins):
                # Initial subscription or pure inserts of unseen rows: all C-level.
                new_multi = (
                    {} if len(ins) == len(inserts) else {b: n for b, n in ins.items() if n > 1}
                )
                return finish(list(ins), new_multi, [], [], {}, 0)
            dels: dict[bytes, int] = {}
        else:
            dels = _occurrences(deletes)
            if (
                len(dels) == len(deletes)
                and len(ins) == len(inserts)
                and rows.keys().isdisjoint(ins)
                and multi.keys().isdisjoint(dels)
            ):
                # Typical transaction: every delete hits a row held once, every insert is new
                # (so deletes, all cached, cannot overlap inserts, none cached).
                try:
                    gone_rows = list(map(rows.__getitem__, dels))
                except KeyError:
                    pass
                else:
                    return finish(list(ins), {}, list(dels), gone_rows, {}, 0)
        return self._prepare_general(ins, dels, finish)

    def _prepare_general(self, ins: dict[bytes, int], dels: dict[bytes, int], finish: Any) -> Any:
        """Any mix of repeats, overlaps and missing rows, one dict lookup per distinct row.

        Consumes ``dels``.
        """
        rows_get = self._rows.get
        multi_get = self._multi.get
        new_bytes: list[bytes] = []
        new_multi: dict[bytes, int] = {}
        gone_bytes: list[bytes] = []
        gone_rows: list[RowT] = []
        recount: dict[bytes, int] = {}
        missing = 0
        dels_pop = dels.pop
        for b, n in ins.items():
            d = dels_pop(b, 0)
            row = rows_get(b)
            if row is None:
                net = n - d
                if net > 0:
                    new_bytes.append(b)
                    if net > 1:
                        new_multi[b] = net
                else:
                    # 0 -> n -> 0: the row came and went within the message, no event.
                    missing -= net
            elif n != d:
                old = multi_get(b, 1)
                count = old + n - d
                if count > 0:
                    recount[b] = count
                else:
                    gone_bytes.append(b)
                    gone_rows.append(row)
                    missing -= count
        for b, d in dels.items():
            row = rows_get(b)
            if row is None:
                missing += d
                continue
            count = multi_get(b, 1) - d
            if count > 0:
                recount[b] = count
            else:
                gone_bytes.append(b)
                gone_rows.append(row)
                missing -= count
        return finish(new_bytes, new_multi, gone_bytes, gone_rows, recount, missing)

    def _finish(
        self,
        new_bytes: list[bytes],
        new_multi: dict[bytes, int],
        gone_bytes: list[bytes],
        gone_rows: list[RowT],
        recount: dict[bytes, int],
        missing: int,
    ) -> TableDiff[RowT]:
        """Decode the new rows, pair deletes with inserts by primary key, build the diff."""
        try:
            if self._decode_fixed is None and self._decode_list is not None:
                new_rows: list[RowT] = self._decode_list(new_bytes)  # the usual case, inlined
            else:
                new_rows = self._decode_rows(new_bytes)
        except DecodeError as e:
            raise ProtocolError(str(e), what=f"row of table {self.name}", cause=e) from e
        return self._diff(new_bytes, new_multi, gone_bytes, gone_rows, recount, missing, new_rows)

    def _diff(
        self,
        new_bytes: list[bytes],
        new_multi: dict[bytes, int],
        gone_bytes: list[bytes],
        gone_rows: list[RowT],
        recount: dict[bytes, int],
        missing: int,
        new_rows: list[RowT],
    ) -> TableDiff[RowT]:
        """Pair deletes with inserts by primary key and build the diff of decoded rows."""
        pk_of = self._pk_of
        if pk_of is not None and gone_rows and new_rows:
            inserts, deletes, updates = _pair_by_key(pk_of, gone_rows, new_rows)
        else:
            inserts, deletes, updates = list(new_rows), list(gone_rows), []
        return _new_table_diff(
            self.name,
            inserts,
            deletes,
            updates,
            missing,
            self,
            self._version,
            new_bytes,
            new_rows,
            new_multi,
            gone_bytes,
            gone_rows,
            recount,
        )

    def _decode_rows(self, new_bytes: list[bytes]) -> list[RowT]:
        size = self._fixed_size
        decode_fixed = self._decode_fixed
        if decode_fixed is not None and len(new_bytes) > 1 and set(map(len, new_bytes)) == {size}:
            return decode_fixed(b"".join(new_bytes), size)
        if self._decode_list is not None:
            return self._decode_list(new_bytes)
        return list(map(self._decode, new_bytes))

    def commit(self, diff: TableDiff[RowT]) -> None:
        """Write a diff from ``prepare``/``reconcile`` of this table, unchanged since then."""
        if diff._table is not self or diff._version != self._version:
            self.check_fresh(diff)  # raises the right StaleDiffError
        rows = len(diff._new_bytes) + len(diff._gone_bytes)
        if rows < GC_PAUSE_MIN_ROWS:
            self._commit(diff)
        else:
            with GcPause(rows):
                self._commit(diff)
        diff._version = -1  # a diff commits once

    def _commit(self, diff: TableDiff[RowT]) -> None:
        staged = diff._staged
        if staged is not None:
            # Built by _stage_steps from this very version of the table: swap it in.
            diff._staged = None
            self._rows, self._multi, uniques = staged
            for idx, twin in uniques:
                idx.adopt(twin)
            for other in self._indexes:
                if not isinstance(other, UniqueIndex):
                    other.update(diff._gone_bytes, diff._gone_rows, diff._new_bytes, diff._new_rows)
            self._version += 1
            return
        rows = self._rows
        multi = self._multi
        gone_bytes = diff._gone_bytes
        if gone_bytes:
            # deque(maxlen=0) drains the map in C: one del per row without a Python loop.
            deque(map(rows.__delitem__, gone_bytes), maxlen=0)
            if multi:
                for b in gone_bytes:
                    multi.pop(b, None)
        for b, count in diff._recount.items():
            if count == 1:
                multi.pop(b, None)
            else:
                multi[b] = count
        new_bytes = diff._new_bytes
        if new_bytes:
            rows.update(zip(new_bytes, diff._new_rows))
            if diff._new_multi:
                multi.update(diff._new_multi)
        for idx in self._indexes:
            idx.update(gone_bytes, diff._gone_rows, new_bytes, diff._new_rows)
        self._version += 1

    def check_fresh(self, diff: TableDiff[RowT]) -> None:
        """Raise ``StaleDiffError`` unless ``diff`` was prepared on this table as it is now."""
        if diff._table is not self:
            raise StaleDiffError(f"diff of table {diff.table_name!r} given to {self.name!r}")
        if diff._version != self._version:
            raise StaleDiffError(
                f"diff of table {self.name!r} is stale (already committed, or the table "
                "changed after prepare)"
            )

    def apply(self, deletes: Sequence[bytes], inserts: Sequence[bytes]) -> TableDiff[RowT]:
        """``prepare`` then ``commit``, for callers with nothing to do in between."""
        diff = self.prepare(deletes, inserts)
        self.commit(diff)
        return diff

    def reconcile(self, all_rows: Sequence[bytes]) -> TableDiff[RowT]:
        """The diff that turns this cache into exactly ``all_rows`` (counted per occurrence).

        For reconnects: the new subscriptions' full initial rows are compared with what is
        cached, so unchanged rows fire nothing and changed ones fire insert/delete/update.
        ``reconcile(())`` is a two-phase ``clear``. Commit it like any diff.
        """
        with GcPause(len(all_rows) + len(self._rows)):
            return self._reconcile(all_rows)

    def _reconcile(self, all_rows: Sequence[bytes]) -> TableDiff[RowT]:
        full = _occurrences(all_rows)
        rows = self._rows
        multi_get = self._multi.get
        new_bytes = [b for b in full if b not in rows]
        new_multi = {b: full[b] for b in new_bytes if full[b] > 1}
        gone_bytes = [b for b in rows if b not in full]
        gone_rows = [rows[b] for b in gone_bytes]
        recount = {b: n for b, n in full.items() if b in rows and multi_get(b, 1) != n}
        return self._finish(new_bytes, new_multi, gone_bytes, gone_rows, recount, 0)

    def clear(self) -> list[RowT]:
        """Forget every row (all subscriptions dropped, or a reset); returns the rows removed."""
        removed = list(self._rows.values())
        self._rows.clear()
        self._multi.clear()
        for idx in self._indexes:
            idx.clear()
        self._version += 1
        return removed

    # ---- reads ------------------------------------------------------------------------

    def count(self) -> int:
        """Distinct visible rows."""
        return len(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def iter(self) -> Iterator[RowT]:
        """Visible rows, in the order their current occurrence first arrived."""
        return iter(self._rows.values())

    def __iter__(self) -> Iterator[RowT]:
        return iter(self._rows.values())

    def contains_bytes(self, row_bytes: bytes) -> bool:
        return row_bytes in self._rows

    def ref_count(self, row_bytes: bytes) -> int:
        """How many occurrences of these row bytes the cache holds (0 when absent)."""
        if row_bytes not in self._rows:
            return 0
        return self._multi.get(row_bytes, 1)

    def find(self, pk_value: Any) -> RowT | None:
        """The row whose primary key equals ``pk_value``, or None (also for a value of
        another type: it equals no key)."""
        idx = self._pk_index
        if idx is None:
            raise MissingIndexError(f"table {self.name!r} has no primary key")
        try:
            return idx.rows_by_key.get(pk_value)
        except TypeError as exc:  # unhashable
            raise self._bad_value("find", idx.columns, [(idx.columns[0], pk_value)], exc) from None

    def find_unique(self, column: int, value: Any) -> RowT | None:
        """The row whose unique ``column`` equals ``value``, or None."""
        idx = self._unique.get(column)
        if idx is None:
            raise MissingIndexError(
                f"table {self.name!r} has no unique column {self._names((column,))}; "
                f"{self._index_list()}"
            )
        try:
            return idx.rows_by_key.get(value)
        except TypeError as exc:
            raise self._bad_value("find", idx.columns, [(column, value)], exc) from None

    def filter(self, columns: int | Sequence[int], value: Any) -> list[RowT]:
        """Rows whose indexed column(s) equal ``value``.

        ``columns`` (positions) name an index's columns, or the leading part of a
        multi-column index's columns (a btree prefix scan, as SpacetimeDB's indexes allow).
        For an index on exactly ``columns``, ``value`` is its key: the bare value for one
        column, a tuple for several. For a leading part, ``value`` is a tuple with one
        value per column of ``columns``; a one-column part also takes the bare value.
        Example, an index on (x, y) = columns (2, 3): ``filter((2, 3), (5, 1))`` and
        ``filter((2,), 5)`` (every row with x == 5, in (x, y) order).
        """
        key = normalize_columns(columns)
        idx = self._by_columns.get(key)
        if idx is not None:
            try:
                return idx.filter(value)
            except TypeError as exc:  # unhashable
                pairs = [(key[0], value)] if len(key) == 1 else _pairs(key, value)
                raise self._bad_value("filter", key, pairs, exc) from None
        idx = self._prefix_index(key)
        prefix = self._prefix_value(key, value, "filter")
        try:
            return idx.filter_prefix(prefix)
        except (TypeError, AttributeError) as exc:  # values that do not compare with the keys
            pairs = list(zip(key, prefix))
            raise self._bad_value("filter", key, pairs, exc, idx.columns) from None

    def range(
        self,
        columns: int | Sequence[int],
        lo: Any = None,
        hi: Any = None,
        *,
        hi_inclusive: bool = False,
        prefix: Sequence[Any] = (),
    ) -> list[RowT]:
        """Rows with ``lo <= key < hi`` (``<= hi`` if ``hi_inclusive``), in key order.

        Key order is SpacetimeDB's btree order (``keys.column_order``): NaN after every
        number, a ``None`` option after every value, sums by variant then payload,
        Identity and ConnectionId by value. ``None`` leaves a bound open.

        ``columns`` names an index's columns or their leading part (as for ``filter``).
        On several columns the bounds are tuples compared column by column; a shorter
        tuple compares with the keys' first columns only: on (x, y), ``range((2, 3),
        (5,), (6,), hi_inclusive=True)`` is every row with 5 <= x <= 6.

        ``prefix`` fixes the first columns and ranges over the next one: ``columns`` is
        then the fixed columns plus the ranged one, and ``lo``/``hi`` are values of the
        ranged column. ``range((2, 3), 0, 10, prefix=(5,))``: x == 5 and 0 <= y < 10.
        A bound of the wrong type raises ``TypeError`` naming the index and its types
        (when the cache has keys to compare it with).
        """
        key = normalize_columns(columns)
        fixed = tuple(prefix)
        if fixed and len(fixed) != len(key) - 1:
            raise TypeError(
                f"table {self.name!r}: range over {self._names(key)} with prefix={fixed!r}: "
                f"give one prefix value per column but the last ({len(key) - 1}), got "
                f"{len(fixed)}"
            )
        idx = self._by_columns.get(key)
        if idx is None:
            idx = self._prefix_index(key)
            if len(key) == 1:  # one leading column of a multi-column index: 1-tuple bounds
                lo = None if lo is None else _as_tuple(lo, 1)
                hi = None if hi is None else _as_tuple(hi, 1)
        try:
            return idx.range(lo, hi, hi_inclusive=hi_inclusive, prefix=fixed)
        except (TypeError, AttributeError) as exc:  # bounds that do not compare with the keys
            pairs = list(zip(key, fixed))
            for bound in (lo, hi):
                if bound is None:
                    pass
                elif fixed or len(idx.columns) == 1:
                    pairs.append((key[-1], bound))  # a value of the ranged column
                else:
                    pairs.extend(_pairs(key, bound))
            raise self._bad_value("range", key, pairs, exc, idx.columns) from None

    def _index(self, columns: int | Sequence[int]) -> _Index:
        key = normalize_columns(columns)
        idx = self._by_columns.get(key)
        if idx is None:
            return self._prefix_index(key)
        return idx

    def _prefix_index(self, key: tuple[int, ...]) -> _Index:
        """The index with the fewest columns whose leading columns are ``key``."""
        best: _Index | None = None
        n = len(key)
        for idx in self._indexes:
            cols = idx.columns
            if (
                len(cols) > n
                and cols[:n] == key
                and (best is None or len(cols) < len(best.columns))
            ):
                best = idx
        if best is None:
            raise MissingIndexError(
                f"table {self.name!r} has no index on {self._names(key)} (nor one that "
                f"starts with it); {self._index_list()}"
            )
        return best

    def _prefix_value(self, key: tuple[int, ...], value: Any, what: str) -> tuple[Any, ...]:
        if len(key) == 1:
            return _as_tuple(value, 1)
        if not isinstance(value, (tuple, list)) or len(value) != len(key):
            raise TypeError(
                f"table {self.name!r}: {what} on {self._names(key)} takes a tuple of "
                f"{len(key)} values ({self._types(key)}), got {value!r}"
            )
        return tuple(value)

    # ---- error messages -----------------------------------------------------------------

    def _names(self, columns: Sequence[int]) -> str:
        """Columns by name, for messages: ``(x, y)``."""
        elements = self.row_type.elements
        names = [
            (elements[c].name or f"#{c}") if 0 <= c < len(elements) else f"#{c}" for c in columns
        ]
        return f"({', '.join(names)})"

    def _types(self, columns: Sequence[int]) -> str:
        elements = self.row_type.elements
        return ", ".join(
            f"{elements[c].name or f'#{c}'}: {elements[c].algebraic_type.describe()}"
            for c in columns
            if 0 <= c < len(elements)
        )

    def _index_list(self) -> str:
        """``its indexes: (id) primary key, (x, y)``, for MissingIndexError."""
        if not self._indexes:
            return "it has no index (use a scan: [r for r in table.iter() if ...])"
        parts = []
        for idx in self._indexes:
            label = self._names(idx.columns)
            if idx is self._pk_index:
                label += " primary key"
            elif isinstance(idx, UniqueIndex):
                label += " unique"
            parts.append(label)
        return "its indexes: " + ", ".join(parts)

    def _bad_value(
        self,
        what: str,
        columns: tuple[int, ...],
        pairs: list[tuple[int, Any]],
        exc: BaseException,
        index: tuple[int, ...] | None = None,
    ) -> TypeError:
        """The TypeError for lookup values that do not fit the index's column types:
        ``pairs`` are (column, value) as given (column -1: a bound that is not a tuple)."""
        from ..sats.codec import explain_encode_failure

        elements = self.row_type.elements
        why = None
        for c, v in pairs:
            if c == -1:
                why = (
                    f"bounds on several columns are tuples ({self._types(columns)}), got "
                    f"{type(v).__name__} {v!r}; to fix the first columns use prefix="
                )
                break
            if 0 <= c < len(elements):
                el = elements[c]
                why = explain_encode_failure(el.algebraic_type, v, el.name or f"#{c}")
                if why:
                    break
        if why is None:
            why = f"{exc} (the index's columns are {self._types(columns)})"
        where = f"index {self._names(columns)}"
        if index is not None and index != columns:
            where = f"{self._names(columns)}, the leading part of index {self._names(index)}"
        return TypeError(f"table {self.name!r}: {what} on {where}: {why}")


def _pairs(columns: tuple[int, ...], value: Any) -> list[tuple[int, Any]]:
    """(column, value) for a multi-column key, for error messages."""
    if isinstance(value, tuple):
        return list(zip(columns, value))
    return [(-1, value)]


def _as_tuple(value: Any, n: int) -> tuple[Any, ...]:
    """A one-column prefix given bare or as a 1-tuple, as the 1-tuple the keys start with."""
    if n == 1 and not (type(value) is tuple and len(value) == 1):
        return (value,)
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _pair_by_key(
    key_of: KeyGetter, gone_rows: list[RowT], new_rows: list[RowT]
) -> tuple[list[RowT], list[RowT], list[tuple[RowT, RowT]]]:
    """Split row events into (inserts, deletes, updates): a delete and an insert sharing a
    primary key is one update (old, new)."""
    old_keys = list(map(key_of, gone_rows))
    new_keys = list(map(key_of, new_rows))
    if old_keys == new_keys:
        # Every row updated in place, listed in the same order on both sides.
        return [], [], list(zip(gone_rows, new_rows))
    old_by_key: dict[Any, RowT] = dict(zip(old_keys, gone_rows))
    if len(old_by_key) != len(gone_rows):
        return _pair_by_key_repeated(key_of, gone_rows, new_rows)
    if len(new_keys) == len(old_by_key) and old_by_key.keys() == set(new_keys):
        # Every row updated in place, in another order: pair in C.
        return [], [], list(zip(map(old_by_key.__getitem__, new_keys), new_rows))
    inserts: list[RowT] = []
    updates: list[tuple[RowT, RowT]] = []
    pop = old_by_key.pop
    for k, row in zip(new_keys, new_rows):
        old = pop(k, None)
        if old is None:
            inserts.append(row)
        else:
            updates.append((old, row))
    return inserts, list(old_by_key.values()), updates


def _pair_by_key_repeated(
    key_of: KeyGetter, gone_rows: list[RowT], new_rows: list[RowT]
) -> tuple[list[RowT], list[RowT], list[tuple[RowT, RowT]]]:
    """``_pair_by_key`` for a drifted cache holding two deleted rows under one key."""
    olds: dict[Any, list[RowT]] = {}
    for row in gone_rows:
        olds.setdefault(key_of(row), []).append(row)
    inserts: list[RowT] = []
    updates: list[tuple[RowT, RowT]] = []
    for row in new_rows:
        same_key = olds.get(key_of(row))
        if same_key:
            updates.append((same_key.pop(0), row))
        else:
            inserts.append(row)
    deletes = [row for rows in olds.values() for row in rows]
    return inserts, deletes, updates
