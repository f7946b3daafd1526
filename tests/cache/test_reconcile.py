"""After a reconnect the full new row set is diffed against the cache: only real changes fire."""

from __future__ import annotations

from cache_helpers import NOTE, enc, events, player, player_table

from stdb_game.cache import TableCache


def test_unchanged_rows_fire_nothing() -> None:
    table = player_table()
    rows = [player(1, 10), player(2, 20), player(2, 20)]
    table.apply([], rows)
    diff = table.reconcile(list(reversed(rows)))
    assert events(diff) == ([], [], [])
    assert not diff.changes_cache
    table.commit(diff)
    assert table.ref_count(player(2, 20)) == 2


def test_exactly_the_differences_fire() -> None:
    table = player_table()
    table.apply([], [player(1, 10), player(2, 20), player(3, 30)])
    # While offline: 1 changed, 2 was deleted, 4 was created, 3 untouched.
    diff = table.reconcile([player(3, 30), player(1, 11), player(4, 40)])
    assert events(diff) == ([(4, 40)], [(2, 20)], [((1, 10), (1, 11))])
    table.commit(diff)
    assert sorted(tuple(r) for r in table) == [(1, 11), (3, 30), (4, 40)]
    assert table.find(2) is None
    assert table.find(1) == (1, 11)


def test_counts_follow_the_new_set_without_events() -> None:
    table = player_table()
    table.apply([], [player(1, 10)])
    diff = table.reconcile([player(1, 10), player(1, 10), player(1, 10)])
    assert events(diff) == ([], [], [])
    assert diff.changes_cache
    table.commit(diff)
    assert table.ref_count(player(1, 10)) == 3
    table.commit(table.reconcile([player(1, 10)]))
    assert table.ref_count(player(1, 10)) == 1
    # New rows can arrive with several occurrences too.
    table.commit(table.reconcile([player(1, 10), player(5, 5), player(5, 5)]))
    assert table.ref_count(player(5, 5)) == 2


def test_reconcile_with_nothing_is_a_two_phase_clear() -> None:
    table: TableCache[object] = TableCache("note", NOTE)
    table.apply([], [enc(NOTE, "a"), enc(NOTE, "b")])
    diff = table.reconcile(())
    assert len(table) == 2
    assert events(diff) == ([], [("a",), ("b",)], [])
    table.commit(diff)
    assert len(table) == 0


def test_reconcile_without_primary_key_never_updates() -> None:
    table: TableCache[object] = TableCache("note", NOTE)
    table.apply([], [enc(NOTE, "a")])
    diff = table.reconcile([enc(NOTE, "b")])
    assert events(diff) == ([("b",)], [("a",)], [])
