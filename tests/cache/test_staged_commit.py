"""A big commit prepared in steps is written ahead into copies and swapped in at commit.

``TableCache.prepare_steps`` builds, for a diff of thousands of rows, the row map and the
unique indexes the commit would leave, a chunk per step, off to the side; ``commit`` then
swaps them in. Nothing may tell the two apart: same rows in the same order, same reference
counts, same lookups, and a table that changed meanwhile still refuses the stale diff
without taking any of the staged state.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
from cache_helpers import ITEM, enc, events, item

from stdb_game.cache import StaleDiffError, TableCache
from stdb_game.sats import types as t

N = 3000  # above the staging threshold (2048 changed rows)


def table() -> TableCache[Any]:
    # A primary key, a unique column and two non-unique indexes (one on two columns).
    return TableCache("item", ITEM, primary_key=0, unique_columns=[2], indexes=[(1,), (1, 3)])


def drive(steps: Generator[None, None, Any], stop_after: int | None = None) -> Any:
    """Run a step generator to its end (or ``stop_after`` steps: then return the generator)."""
    n = 0
    while True:
        if stop_after is not None and n == stop_after:
            return steps
        try:
            next(steps)
        except StopIteration as done:
            return done.value
        n += 1


def count_steps(steps: Generator[None, None, Any]) -> int:
    n = 0
    for _ in steps:
        n += 1
    return n


def filled() -> TableCache[Any]:
    t = table()
    rows = [item(i, i % 37, f"k{i}", i % 5) for i in range(N)]
    rows += rows[:10]  # ten rows held twice (reference counts above one)
    t.apply([], rows)
    t.range(0, 100, 200)  # sorted keys exist, so commits must keep them right
    t.range((1, 3), (3,), (4,))
    return t


def change() -> tuple[list[bytes], list[bytes]]:
    """Delete every other row (updating half of them), drop a reference of the twice-held
    rows, insert new rows: every kind of write."""
    deletes = [item(i, i % 37, f"k{i}", i % 5) for i in range(0, N, 2)]
    deletes += [item(i, i % 37, f"k{i}", i % 5) for i in range(1, 10, 2)]
    inserts = [item(i, (i + 1) % 37, f"k{i}", (i + 2) % 5) for i in range(0, N, 4)]
    inserts += [item(i, 3, f"new{i}", 2) for i in range(N, N + 1500)]
    return deletes, inserts


def state(t: TableCache[Any]) -> dict[str, Any]:
    """Everything a reader can see, order included."""
    return {
        "rows": [tuple(r) for r in t.iter()],
        "refs": [t.ref_count(item(i, i % 37, f"k{i}", i % 5)) for i in range(0, 20)],
        "pk": [t.find(i) for i in range(0, N + 1600, 7)],
        "unique": [t.find_unique(2, f"k{i}") for i in range(0, N, 11)],
        "filter": [[tuple(r) for r in t.filter(1, k)] for k in range(37)],
        "range_pk": [tuple(r) for r in t.range(0, 100, 900)],
        "range_multi": [tuple(r) for r in t.range((1, 3), (3,), (4,))],
        "count": t.count(),
    }


def test_a_staged_commit_leaves_exactly_what_an_in_place_commit_leaves() -> None:
    deletes, inserts = change()
    reference = filled()
    ref_diff = reference.prepare(deletes, inserts)
    reference.commit(ref_diff)

    staged = filled()
    before = state(staged)
    diff = drive(staged.prepare_steps(deletes, inserts, chunk_rows=64))
    assert diff._staged is not None  # it was built ahead (the point of this test)
    assert state(staged) == before  # and nothing showed before the commit
    staged.commit(diff)

    assert events(diff) == events(ref_diff)
    assert state(staged) == state(reference)
    # The tables keep working alike after the swap.
    more = [item(i, 5, f"more{i}", 1) for i in range(N + 2000, N + 2100)]
    staged.apply([item(N, 3, f"new{N}", 2)], more)
    reference.apply([item(N, 3, f"new{N}", 2)], more)
    assert state(staged) == state(reference)


def test_a_table_changed_after_staging_refuses_the_diff_and_keeps_none_of_it() -> None:
    deletes, inserts = change()
    t = filled()
    diff = drive(t.prepare_steps(deletes, inserts, chunk_rows=64))
    other = [item(i, 1, f"other{i}", 1) for i in range(N + 5000, N + 5003)]
    t.apply([], other)
    expected = filled()
    expected.apply([], other)
    with pytest.raises(StaleDiffError):
        t.commit(diff)
    assert state(t) == state(expected)


def test_a_table_changed_during_staging_drops_the_copies() -> None:
    deletes, inserts = change()
    total = count_steps(filled().prepare_steps(deletes, inserts, chunk_rows=64))
    t = filled()
    # The last steps write the copies (a chunk of 1024 rows each): stop between two of them.
    steps = drive(t.prepare_steps(deletes, inserts, chunk_rows=64), stop_after=total - 2)
    other = [item(N + 9000, 1, "mid", 1)]
    t.apply([], other)  # between two staging steps
    diff = drive(steps)
    assert diff._staged is None
    with pytest.raises(StaleDiffError):
        t.commit(diff)
    expected = filled()
    expected.apply([], other)
    assert state(t) == state(expected)


# score(id u32 pk, points f64 unique): float keys sort by an order key (NaN last), kept in
# a list beside the sorted keys, which the staged copies must carry too. The table is big
# enough that a staged commit (over 2048 rows) updates the sorted keys in place.
SCORE = t.ProductType([("id", t.U32), ("points", t.F64)], name="Score")
BIG = 40_000


def score(sid: int, points: float) -> bytes:
    return enc(SCORE, sid, points)


def scores() -> TableCache[Any]:
    s = TableCache("score", SCORE, primary_key=0, unique_columns=[1])
    s.apply([], [score(i, i * 0.5 - 7000.0) for i in range(BIG)])
    s.range(1, -600.0, 600.0)  # the sorted keys and their order keys exist
    return s


def test_a_staged_commit_keeps_the_order_keys_of_a_float_index_in_step() -> None:
    changed = range(0, 2 * 1100, 2)
    deletes = [score(i, i * 0.5 - 7000.0) for i in changed]
    inserts = [score(i, 20_000.0 + i) for i in changed] + [score(BIG, float("nan"))]
    reference = scores()
    reference.commit(reference.prepare(deletes, inserts))
    staged = scores()
    diff = drive(staged.prepare_steps(deletes, inserts, chunk_rows=64))
    assert diff._staged is not None
    staged.commit(diff)

    def ranges(tc: TableCache[Any]) -> list[list[int]]:
        """The ids in each range, in key order (ids, as NaN != NaN in the rows)."""
        bounds = ((-7000.0, -6990.0), (-600.0, 600.0), (20_000.0, 20_010.0), (21_000.0, None))
        return [[r.id for r in tc.range(1, lo, hi)] for lo, hi in bounds]

    expected = ranges(reference)
    assert [len(r) for r in expected] == [10, 2400, 5, 601]
    assert expected[3][-1] == BIG  # NaN sorts after every number
    assert ranges(staged) == expected
    later = [score(BIG + 1, 20_000.5), score(BIG + 2, -6999.0)]
    staged.apply([], later)
    reference.apply([], later)
    assert ranges(staged) == ranges(reference)
