"""A delete and an insert with the same primary key in one diff is one update."""

from __future__ import annotations

from typing import Any

from cache_helpers import ALICE, BOB, USER, enc, events, player, player_table

from stdb_game.cache import TableCache
from stdb_game.sats.values import Identity


def user_table() -> TableCache[Any]:
    return TableCache("user", USER, primary_key=0, unique_columns=[0])


def test_update_by_primary_key_is_one_event() -> None:
    table = player_table()
    table.apply([], [player(1, 0), player(2, 0)])
    diff = table.apply([player(1, 0)], [player(1, 5)])
    assert events(diff) == ([], [], [((1, 0), (1, 5))])
    assert table.find(1) == (1, 5)
    assert len(table) == 2


def test_primary_key_change_is_a_delete_and_an_insert() -> None:
    table = player_table()
    table.apply([], [player(1, 0)])
    diff = table.apply([player(1, 0)], [player(2, 0)])
    assert events(diff) == ([(2, 0)], [(1, 0)], [])
    assert table.find(1) is None
    assert table.find(2) == (2, 0)


def test_many_updates_paired_whatever_their_order() -> None:
    table = player_table()
    table.apply([], [player(i, 0) for i in range(100)])
    olds = [player(i, 0) for i in range(100)]
    news = [player(i, 1) for i in reversed(range(100))]
    diff = table.apply(olds, news)
    assert diff.inserts == [] and diff.deletes == []
    assert sorted((a.id, a.x, b.id, b.x) for a, b in diff.updates) == [
        (i, 0, i, 1) for i in range(100)
    ]
    assert all(table.find(i) == (i, 1) for i in range(100))


def test_mixed_updates_inserts_and_deletes_in_one_message() -> None:
    table = player_table()
    table.apply([], [player(1, 0), player(2, 0), player(3, 0)])
    diff = table.apply([player(3, 0), player(1, 0)], [player(4, 0), player(1, 7)])
    assert events(diff) == ([(4, 0)], [(3, 0)], [((1, 0), (1, 7))])
    assert sorted(tuple(r) for r in table) == [(1, 7), (2, 0), (4, 0)]


def test_update_only_when_both_sides_are_events() -> None:
    # Row (1, 0) is held twice: its delete is not an event, so the insert of (1, 5) is not
    # paired with it. The cache then shows two rows with key 1, as the server said.
    table = player_table()
    table.apply([], [player(1, 0), player(1, 0)])
    diff = table.apply([player(1, 0)], [player(1, 5)])
    assert events(diff) == ([(1, 5)], [], [])
    assert table.ref_count(player(1, 0)) == 1


def test_identity_primary_key_update_in_the_chat_user_table() -> None:
    table = user_table()
    table.apply([], [enc(USER, ALICE, None, True), enc(USER, BOB, "bob", True)])
    diff = table.apply([enc(USER, ALICE, None, True)], [enc(USER, ALICE, "alice", True)])
    (old, new), *rest = diff.updates
    assert rest == [] and diff.inserts == [] and diff.deletes == []
    assert (old.identity, old.name, new.name) == (ALICE, None, "alice")
    # Keys compare by value: a freshly parsed Identity finds the row.
    same_alice = Identity.from_hex(ALICE.to_hex())
    assert same_alice is not ALICE
    assert table.find(same_alice) == (ALICE, "alice", True)
    assert table.find_unique(0, same_alice) == (ALICE, "alice", True)
    # Going offline is another update.
    diff = table.apply([enc(USER, BOB, "bob", True)], [enc(USER, BOB, "bob", False)])
    assert [(a.online, b.online) for a, b in diff.updates] == [(True, False)]
    assert table.find(BOB) == (BOB, "bob", False)


def test_primary_key_of_a_deleted_row_is_free_after_commit() -> None:
    table = user_table()
    table.apply([], [enc(USER, ALICE, "a", True)])
    table.apply([enc(USER, ALICE, "a", True)], [])
    assert table.find(ALICE) is None
    table.apply([], [enc(USER, ALICE, "b", False)])
    assert table.find(ALICE) == (ALICE, "b", False)


def test_drifted_cache_with_two_rows_under_one_key_pairs_one_of_them() -> None:
    table = player_table()
    table.apply([], [player(1, 0)])
    table.apply([], [player(1, 1)])  # the server never does this; the cache must cope
    diff = table.apply([player(1, 0), player(1, 1)], [player(1, 2)])
    assert len(diff.updates) == 1 and len(diff.deletes) == 1 and diff.inserts == []
    assert {tuple(diff.updates[0][0]), tuple(diff.deletes[0])} == {(1, 0), (1, 1)}
    assert table.find(1) == (1, 2)
    assert len(table) == 1


def test_index_keeps_newer_row_when_an_older_row_with_its_key_leaves() -> None:
    table = player_table()
    table.apply([], [player(1, 0)])
    table.apply([], [player(1, 1)])  # drift: the pk index now points at (1, 1)
    table.apply([player(1, 0)], [])
    assert table.find(1) == (1, 1)


def test_older_row_under_a_key_comes_back_when_the_newer_one_leaves() -> None:
    table = player_table()
    table.apply([], [player(1, 0)])
    table.apply([], [player(1, 1)])  # drift: two cached rows with key 1
    assert table.find(1) == (1, 1)
    table.apply([player(1, 1)], [])
    assert table.find(1) == (1, 0)
    table.apply([player(1, 0)], [])
    assert table.find(1) is None
    assert len(table) == 0
