"""Property tests: the cache against a recount-from-scratch model.

The first property replays what a server sends one connection (overlapping query sets,
bag-semantics join results, transactions) and checks the cache equals the sum of every
active query's rows. The second throws arbitrary, even inconsistent, batches at a table
and checks counts never go below zero and events match the count transitions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from cache_helpers import PLAYER, player
from hypothesis import given, settings
from hypothesis import strategies as st

from stdb_game.cache import TableCache, TableDiff
from stdb_game.sats import get_codec

ENCODE = get_codec(PLAYER).encode
IDS = range(6)
XS = range(4)
ALL_ROWS = [player(i, x) for i in IDS for x in XS]

# Query name -> rows it yields from a server state {id: x}, as a bag (the join yields twice).
QUERIES: dict[str, Callable[[dict[int, int]], list[bytes]]] = {
    "all": lambda s: [player(i, x) for i, x in s.items()],
    "low": lambda s: [player(i, x) for i, x in s.items() if i < 3],
    "even": lambda s: [player(i, x) for i, x in s.items() if x % 2 == 0],
    "join": lambda s: [player(i, x) for i, x in s.items() if i % 2 for _ in range(2)],
}


def new_table() -> TableCache[Any]:
    return TableCache("player", PLAYER, primary_key=0, indexes=[(1,)])


def counts_in(table: TableCache[Any]) -> Counter[bytes]:
    return Counter({b: table.ref_count(b) for b in ALL_ROWS if table.ref_count(b)})


def check_events(diff: TableDiff[Any], before: Counter[bytes], after: Counter[bytes]) -> None:
    """Insert/delete/update events are exactly the 0 -> >0 and >0 -> 0 transitions."""
    entered = {b for b in ALL_ROWS if before[b] == 0 < after[b]}
    left = {b for b in ALL_ROWS if after[b] == 0 < before[b]}
    inserted = [ENCODE(r) for r in diff.inserts] + [ENCODE(new) for _, new in diff.updates]
    deleted = [ENCODE(r) for r in diff.deletes] + [ENCODE(old) for old, _ in diff.updates]
    assert sorted(inserted) == sorted(entered)
    assert sorted(deleted) == sorted(left)
    assert all(old.id == new.id for old, new in diff.updates)
    assert not {r.id for r in diff.inserts} & {r.id for r in diff.deletes}


def check_indexes(table: TableCache[Any]) -> None:
    rows = list(table)
    assert table.count() == len(rows) == len(set(map(ENCODE, rows)))
    for x in XS:
        assert sorted(table.filter(1, x)) == sorted(r for r in rows if r.x == x)
    assert [r.x for r in table.range(1, 1, 3)] == sorted(r.x for r in rows if 1 <= r.x < 3)
    for r in rows:
        found = table.find(r.id)
        assert found is not None and found.id == r.id


ops = st.one_of(
    st.tuples(st.just("sub"), st.sets(st.sampled_from(sorted(QUERIES)), min_size=1)),
    st.tuples(st.just("unsub"), st.integers(0, 7)),
    st.tuples(
        st.just("tx"),
        st.lists(st.tuples(st.sampled_from(IDS), st.none() | st.sampled_from(XS)), max_size=4),
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(IDS), st.sampled_from(XS)), st.lists(ops, max_size=25))
def test_server_stream_keeps_cache_equal_to_active_queries(
    state: dict[int, int], steps: list[tuple[Any, Any]]
) -> None:
    table = new_table()
    refcount: Counter[str] = Counter()  # the server's count per distinct query
    active_sets: list[set[str]] = []
    for op, arg in steps:
        deletes: list[bytes] = []
        inserts: list[bytes] = []
        if op == "sub":
            active_sets.append(arg)
            for q in sorted(arg):
                refcount[q] += 1
                if refcount[q] == 1:
                    inserts += QUERIES[q](state)
        elif op == "unsub":
            if not active_sets:
                continue
            for q in sorted(active_sets.pop(arg % len(active_sets))):
                refcount[q] -= 1
                if refcount[q] == 0:
                    deletes += QUERIES[q](state)
        else:
            new_state = dict(state)
            for pid, x in arg:
                if x is None:
                    new_state.pop(pid, None)
                else:
                    new_state[pid] = x
            for q in sorted(q for q, n in refcount.items() if n > 0):
                old_rows, new_rows = Counter(QUERIES[q](state)), Counter(QUERIES[q](new_state))
                deletes += list((old_rows - new_rows).elements())
                inserts += list((new_rows - old_rows).elements())
            state = new_state
        before = counts_in(table)
        diff = table.prepare(deletes, inserts)
        assert counts_in(table) == before
        table.commit(diff)
        expected: Counter[bytes] = Counter()
        for q, n in refcount.items():
            if n > 0:
                expected.update(QUERIES[q](state))
        assert counts_in(table) == expected
        assert diff.missing_deletes == 0
        check_events(diff, before, expected)
        check_indexes(table)


batches = st.lists(st.sampled_from(ALL_ROWS[:10]), max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(batches, batches, st.booleans()), max_size=20))
def test_arbitrary_batches_never_go_below_zero(steps: list[Any]) -> None:
    table = new_table()
    model: Counter[bytes] = Counter()
    for deletes, inserts, commit in steps:
        before = counts_in(table)
        diff = table.prepare(deletes, inserts)
        if not commit:
            assert counts_in(table) == before
            continue
        table.commit(diff)
        after: Counter[bytes] = Counter()
        missing = 0
        for b in ALL_ROWS:
            net = model[b] + inserts.count(b) - deletes.count(b)
            after[b] = max(net, 0)
            missing += max(-net, 0)
        model = +after
        assert counts_in(table) == model
        assert diff.missing_deletes == missing
        check_events(diff, before, model)
        check_indexes(table)
