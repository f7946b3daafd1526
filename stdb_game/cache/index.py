"""Client-side indexes over a table's distinct rows: unique (key -> row) and non-unique buckets.

Equality is one dict hit. Range lookups need the keys in order; they are sorted lazily on
the first range call and from then on kept sorted incrementally (``bisect``), or dropped
and re-sorted on the next range call when one commit changes many keys. So bulk loads
never pay for ordering, and a game that calls ``range`` every frame while a few keys
change per frame pays O(log k) search plus a memmove per changed key.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Sequence
from operator import is_, itemgetter
from typing import Any, Generic, TypeVar

from .keys import KeyGetter, OrderKey

__all__ = ["MultiIndex", "UniqueIndex"]

RowT = TypeVar("RowT")

#: Up to this many key changes per commit (or 1/8 of the keys) are merged into the
#: sorted key list one by one; more and the list is rebuilt on the next range call.
_INCREMENTAL_KEY_CHANGES = 64


class _OrderedKeys:
    """The lazily sorted key list shared by both index kinds.

    With an ``order`` (see ``keys.column_order``) keys sort by ``order(key)``, kept in a
    parallel list for bisecting, because the raw values do not order right: NaN compares
    false both ways, ConnectionId and SumValue do not compare at all, None is not
    comparable to a value. Distinct keys may share one order key (several NaNs).
    """

    __slots__ = ("_order", "_order_keys", "_sorted", "_width")

    def __init__(self, order: OrderKey | None = None, width: int = 1) -> None:
        self._sorted: list[Any] | None = None
        self._order = order
        self._order_keys: list[Any] = []
        #: Columns per key: keys of a multi-column index are tuples this long.
        self._width = width

    def _sorted_keys(self, live: dict[Any, Any]) -> list[Any]:
        s = self._sorted
        if s is None:
            order = self._order
            if order is None:
                s = sorted(live)
            else:
                s = sorted(live, key=order)
                self._order_keys = list(map(order, s))
            self._sorted = s
        return s

    def _sync_sorted(self, removed: list[Any], added: list[Any], live: dict[Any, Any]) -> None:
        s = self._sorted
        if s is None or not (removed or added):
            return
        if len(removed) + len(added) > max(_INCREMENTAL_KEY_CHANGES, len(s) >> 3):
            self._sorted = None
            return
        if self._order is not None:
            self._sync_ordered(s, removed, added, live)
            return
        for k in removed:
            if k not in live:
                i = bisect_left(s, k)
                if i < len(s) and s[i] == k:
                    del s[i]
        for k in added:
            i = bisect_left(s, k)
            if i == len(s) or s[i] != k:
                s.insert(i, k)

    def _sync_ordered(
        self, s: list[Any], removed: list[Any], added: list[Any], live: dict[Any, Any]
    ) -> None:
        assert self._order is not None
        order = self._order
        ok = self._order_keys
        for k in removed:
            if k not in live:
                i = _find(s, ok, k, order(k))
                if i >= 0:
                    del s[i]
                    del ok[i]
        for k in added:
            o = order(k)
            if _find(s, ok, k, o) < 0:
                i = bisect_right(ok, o)
                s.insert(i, k)
                ok.insert(i, o)

    def _keys_between(
        self, live: dict[Any, Any], lo: Any, hi: Any, hi_inclusive: bool, prefix: tuple[Any, ...]
    ) -> list[Any]:
        """The live keys from ``lo`` to ``hi`` (under ``prefix``), in index order."""
        s = self._sorted_keys(live)
        start, end = self._bounds(s, lo, hi, hi_inclusive, prefix)
        return s[start:end]

    def _bounds(
        self, s: list[Any], lo: Any, hi: Any, hi_inclusive: bool, prefix: tuple[Any, ...] = ()
    ) -> tuple[int, int]:
        """The slice of sorted keys ``s`` from ``lo`` to ``hi``.

        With a ``prefix`` (multi-column keys), keys start with those values and ``lo``/``hi``
        bound the next column (None: every key with the prefix).
        """
        if prefix:
            lo = prefix if lo is None else (*prefix, lo)
            hi, hi_inclusive = (prefix, True) if hi is None else ((*prefix, hi), hi_inclusive)
        start = 0 if lo is None else self._cut(s, lo, False)
        end = len(s) if hi is None else self._cut(s, hi, hi_inclusive)
        return start, end

    def _cut(self, s: list[Any], bound: Any, after: bool) -> int:
        """Where ``bound`` cuts the sorted keys: before the keys equal to it, or ``after``.

        On multi-column keys a shorter tuple compares with the keys' first elements only,
        so ``(5,)`` is equal to every key starting with 5 (a prefix).
        """
        order = self._order
        if order is not None:
            s = self._order_keys
            bound = order(bound)
        key = None
        if self._width > 1 and len(bound) < self._width:
            key = itemgetter(slice(0, len(bound)))
        if after:
            return bisect_right(s, bound, key=key)
        return bisect_left(s, bound, key=key)


def _find(s: list[Any], ok: list[Any], key: Any, o: Any) -> int:
    """Position of ``key`` among the keys whose order key is ``o``, or -1."""
    i = bisect_left(ok, o)
    n = len(ok)
    while i < n and ok[i] == o:
        k = s[i]
        if k is key or k == key:
            return i
        i += 1
    return -1


class UniqueIndex(_OrderedKeys, Generic[RowT]):
    """Column value -> the one row holding it (primary key or unique constraint).

    A server never sends two rows with one key, but a drifted cache (see ``TableCache``)
    can hold them; then the newest answers lookups and the others wait in ``shadowed``,
    so removing one row never loses another that is still cached.
    """

    __slots__ = ("columns", "key_of", "rows_by_key", "shadowed")

    def __init__(
        self, columns: tuple[int, ...], key_of: KeyGetter, order: OrderKey | None = None
    ) -> None:
        super().__init__(order, len(columns))
        self.columns = columns
        self.key_of = key_of
        self.rows_by_key: dict[Any, RowT] = {}
        self.shadowed: dict[Any, list[RowT]] = {}

    def find(self, key: Any) -> RowT | None:
        return self.rows_by_key.get(key)

    def filter(self, key: Any) -> list[RowT]:
        row = self.rows_by_key.get(key)
        return [] if row is None else [row]

    def filter_prefix(self, prefix: tuple[Any, ...]) -> list[RowT]:
        """Rows whose (tuple) key starts with ``prefix``, in key order."""
        return self.range(prefix=prefix)

    def range(
        self,
        lo: Any = None,
        hi: Any = None,
        *,
        hi_inclusive: bool = False,
        prefix: tuple[Any, ...] = (),
    ) -> list[RowT]:
        by_key = self.rows_by_key
        return [by_key[k] for k in self._keys_between(by_key, lo, hi, hi_inclusive, prefix)]

    def update(
        self,
        removed_bytes: Sequence[bytes],
        removed_rows: Sequence[RowT],
        added_bytes: Sequence[bytes],
        added_rows: Sequence[RowT],
    ) -> None:
        """Drop ``removed_rows`` then add ``added_rows`` (the bytes are unused here)."""
        by_key = self.rows_by_key
        key_of = self.key_of
        if len(removed_rows) == 1 and len(added_rows) == 1 and not self.shadowed:
            # One row updated (the common game message): plain dict operations.
            old, new = removed_rows[0], added_rows[0]
            k_old, k_new = key_of(old), key_of(new)
            if by_key.get(k_old) is old and (k_new == k_old or k_new not in by_key):
                del by_key[k_old]
                by_key[k_new] = new
                if self._sorted is not None:
                    self._sync_sorted([k_old], [k_new], by_key)
                return
        removed: list[Any] = []
        if removed_rows:
            removed = list(map(key_of, removed_rows))
            # Normal case, checked and done in C: every key points at its removed row.
            try:
                if self.shadowed or not all(map(is_, map(by_key.get, removed), removed_rows)):
                    raise KeyError
                deque(map(by_key.__delitem__, removed), maxlen=0)
            except KeyError:
                removed = self._remove_checked(removed_rows)
        added = list(map(key_of, added_rows))
        fresh = set(added)
        if len(fresh) == len(added) and by_key.keys().isdisjoint(fresh):
            by_key.update(zip(added, added_rows))
        else:
            self._add_checked(added, added_rows)
        if self._sorted is not None:
            self._sync_sorted(removed, added, by_key)

    def staged_copy(self) -> UniqueIndex[RowT]:
        """A private copy to apply a commit's changes to ahead of time (``adopt`` it later)."""
        twin: UniqueIndex[RowT] = UniqueIndex(self.columns, self.key_of, self._order)
        twin.rows_by_key = dict(self.rows_by_key)
        twin.shadowed = {k: list(v) for k, v in self.shadowed.items()}
        twin._sorted = None if self._sorted is None else list(self._sorted)
        twin._order_keys = list(self._order_keys)  # kept in step with _sorted
        return twin

    def adopt(self, twin: UniqueIndex[RowT]) -> None:
        """Take over the state of a ``staged_copy`` that has had the commit applied."""
        self.rows_by_key = twin.rows_by_key
        self.shadowed = twin.shadowed
        self._sorted = twin._sorted
        self._order_keys = twin._order_keys

    def _remove_checked(self, removed_rows: Sequence[RowT]) -> list[Any]:
        """Row-by-row removal, idempotent; promotes a shadowed row when its twin leaves."""
        by_key = self.rows_by_key
        shadowed = self.shadowed
        key_of = self.key_of
        removed: list[Any] = []
        for row in removed_rows:
            k = key_of(row)
            hidden = shadowed.get(k)
            if by_key.get(k) is row:
                if hidden:
                    by_key[k] = hidden.pop()
                else:
                    del by_key[k]
                    removed.append(k)
            elif hidden:
                for i, other in enumerate(hidden):
                    if other is row:
                        del hidden[i]
                        break
            if hidden is not None and not hidden:
                del shadowed[k]
        return removed

    def _add_checked(self, keys: list[Any], rows: Sequence[RowT]) -> None:
        """Row-by-row insert that shadows, rather than drops, a row already under the key."""
        by_key = self.rows_by_key
        shadowed = self.shadowed
        for k, row in zip(keys, rows):
            current = by_key.get(k)
            if current is not None:
                shadowed.setdefault(k, []).append(current)
            by_key[k] = row

    def clear(self) -> None:
        self.rows_by_key.clear()
        self.shadowed.clear()
        self._sorted = None

    def __len__(self) -> int:
        return len(self.rows_by_key)


class MultiIndex(_OrderedKeys, Generic[RowT]):
    """Column value(s) -> the rows holding them, as an insertion-ordered bucket per key.

    A bucket is a ``dict`` keyed by row bytes so a row leaves it in O(1). Cost per row
    inserted: one key extraction and one or two dict operations; a new key also
    allocates its bucket.
    """

    __slots__ = ("buckets", "columns", "key_of")

    def __init__(
        self, columns: tuple[int, ...], key_of: KeyGetter, order: OrderKey | None = None
    ) -> None:
        super().__init__(order, len(columns))
        self.columns = columns
        self.key_of = key_of
        self.buckets: dict[Any, dict[bytes, RowT]] = {}

    def filter(self, key: Any) -> list[RowT]:
        bucket = self.buckets.get(key)
        return [] if bucket is None else list(bucket.values())

    def filter_prefix(self, prefix: tuple[Any, ...]) -> list[RowT]:
        """Rows whose (tuple) key starts with ``prefix``, in key order (a btree prefix scan)."""
        return self.range(prefix=prefix)

    def range(
        self,
        lo: Any = None,
        hi: Any = None,
        *,
        hi_inclusive: bool = False,
        prefix: tuple[Any, ...] = (),
    ) -> list[RowT]:
        buckets = self.buckets
        out: list[RowT] = []
        extend = out.extend
        for k in self._keys_between(buckets, lo, hi, hi_inclusive, prefix):
            extend(buckets[k].values())
        return out

    def update(
        self,
        removed_bytes: Sequence[bytes],
        removed_rows: Sequence[RowT],
        added_bytes: Sequence[bytes],
        added_rows: Sequence[RowT],
    ) -> None:
        """Drop ``removed_rows`` then add ``added_rows`` (row bytes identify bucket members)."""
        buckets = self.buckets
        key_of = self.key_of
        emptied: list[Any] = []
        created: list[Any] = []
        for b, row in zip(removed_bytes, removed_rows):
            k = key_of(row)
            bucket = buckets.get(k)
            if bucket is not None and bucket.pop(b, None) is not None and not bucket:
                del buckets[k]
                emptied.append(k)
        for b, row in zip(added_bytes, added_rows):
            k = key_of(row)
            bucket = buckets.get(k)
            if bucket is None:
                buckets[k] = {b: row}
                created.append(k)
            else:
                bucket[b] = row
        if self._sorted is not None:
            self._sync_sorted(emptied, created, buckets)

    def clear(self) -> None:
        self.buckets.clear()
        self._sorted = None

    def __len__(self) -> int:
        return len(self.buckets)
