"""Reference counting per row occurrence, cancel-out, missing deletes, and prepare/commit."""

from __future__ import annotations

import gc

import pytest
from cache_helpers import NOTE, PLAYER, enc, events, player, player_table

from stdb_game.cache import StaleDiffError, TableCache
from stdb_game.errors import ProtocolError
from stdb_game.sats import get_codec


def test_insert_fires_only_on_zero_to_one() -> None:
    table = player_table()
    row = player(1, 10)
    assert events(table.apply([], [row])) == ([(1, 10)], [], [])
    assert table.ref_count(row) == 1
    assert events(table.apply([], [row])) == ([], [], [])
    assert table.ref_count(row) == 2
    assert len(table) == 1


def test_delete_fires_only_on_one_to_zero() -> None:
    table = player_table()
    row = player(1, 10)
    table.apply([], [row, row])
    assert table.ref_count(row) == 2
    assert events(table.apply([row], [])) == ([], [], [])
    assert table.ref_count(row) == 1
    assert table.find(1) == (1, 10)
    assert events(table.apply([row], [])) == ([], [(1, 10)], [])
    assert table.ref_count(row) == 0
    assert table.find(1) is None
    assert len(table) == 0


def test_repeated_occurrences_in_one_message_count_each() -> None:
    table = player_table()
    row = player(1, 10)
    diff = table.apply([], [row, row, row])
    assert events(diff) == ([(1, 10)], [], [])
    assert table.ref_count(row) == 3
    diff = table.apply([row, row], [])
    assert events(diff) == ([], [], [])
    assert table.ref_count(row) == 1


def test_same_row_deleted_and_inserted_in_one_message_cancels() -> None:
    table = player_table()
    row = player(1, 10)
    table.apply([], [row])
    diff = table.apply([row], [row])
    assert events(diff) == ([], [], [])
    assert not diff.changes_cache
    assert table.ref_count(row) == 1


def test_row_arriving_and_leaving_in_one_message_fires_nothing() -> None:
    table = player_table()
    row = player(1, 10)
    diff = table.apply([row], [row])
    assert events(diff) == ([], [], [])
    assert diff.missing_deletes == 0
    assert len(table) == 0


def test_net_count_is_inserts_minus_deletes() -> None:
    table = player_table()
    row = player(1, 10)
    table.apply([], [row, row])
    diff = table.apply([row], [row, row, row])
    assert events(diff) == ([], [], [])
    assert table.ref_count(row) == 4
    diff = table.apply([row, row, row, row], [row])
    assert events(diff) == ([], [], [])
    assert table.ref_count(row) == 1


def test_delete_of_uncached_row_is_ignored_and_counted() -> None:
    table = player_table()
    kept = player(2, 20)
    table.apply([], [kept])
    ghost = player(1, 10)
    diff = table.apply([ghost, ghost], [])
    assert events(diff) == ([], [], [])
    assert diff.missing_deletes == 2
    assert table.ref_count(ghost) == 0
    assert len(table) == 1
    # A later insert starts from zero, not from -2.
    assert events(table.apply([], [ghost])) == ([(1, 10)], [], [])
    assert table.ref_count(ghost) == 1


def test_extra_deletes_beyond_the_count_clamp_at_zero() -> None:
    table = player_table()
    row = player(1, 10)
    table.apply([], [row])
    diff = table.apply([row, row, row], [])
    assert events(diff) == ([], [(1, 10)], [])
    assert diff.missing_deletes == 2
    assert table.ref_count(row) == 0
    diff = table.apply([row, row], [row])  # inserts first: 0 -> 1 -> 0, one delete too many
    assert events(diff) == ([], [], [])
    assert diff.missing_deletes == 1
    assert table.ref_count(row) == 0


def test_prepare_changes_nothing_until_commit() -> None:
    table = player_table()
    old, new, other = player(1, 10), player(1, 11), player(2, 20)
    table.apply([], [old, other, other])
    before = (list(table), table.ref_count(old), table.ref_count(other), table.find(1))
    diff = table.prepare([old, other], [new])
    assert events(diff) == ([], [], [((1, 10), (1, 11))])
    assert (list(table), table.ref_count(old), table.ref_count(other), table.find(1)) == before
    table.commit(diff)
    assert table.find(1) == (1, 11)
    assert table.ref_count(other) == 1
    assert not table.contains_bytes(old)
    assert table.contains_bytes(new)


def test_a_diff_commits_once_and_only_to_an_unchanged_table() -> None:
    table = player_table()
    diff = table.prepare([], [player(1, 10)])
    table.commit(diff)
    with pytest.raises(StaleDiffError):
        table.commit(diff)
    first = table.prepare([], [player(2, 20)])
    second = table.prepare([], [player(3, 30)])
    table.commit(second)
    with pytest.raises(StaleDiffError):
        table.commit(first)
    with pytest.raises(StaleDiffError):
        player_table().commit(table.prepare([], []))
    assert sorted(r.id for r in table) == [1, 3]


def test_deletes_do_not_decode() -> None:
    calls: list[bytes] = []
    codec = get_codec(PLAYER)

    def counting_decode(data: bytes) -> object:
        calls.append(data)
        return codec.decode(data)

    table: TableCache[object] = TableCache("player", PLAYER, primary_key=0, decoder=counting_decode)
    row = player(1, 10)
    table.apply([], [row])
    table.apply([], [row])
    table.apply([row, row], [])
    table.apply([player(9, 9)], [])
    assert calls == [row]


def test_iteration_follows_first_arrival() -> None:
    table = player_table()
    table.apply([], [player(3, 0), player(1, 0), player(2, 0)])
    table.apply([], [player(1, 0)])  # already present: keeps its place
    assert [r.id for r in table.iter()] == [3, 1, 2]
    assert [r.id for r in table] == [3, 1, 2]
    assert table.count() == 3


def test_tables_without_primary_key_never_update() -> None:
    table: TableCache[object] = TableCache("note", NOTE)
    hello, bye = enc(NOTE, "hello"), enc(NOTE, "bye")
    table.apply([], [hello])
    diff = table.apply([hello], [bye])
    assert events(diff) == ([("bye",)], [("hello",)], [])
    twice = table.apply([], [bye])  # identical rows share one entry
    assert events(twice) == ([], [], [])
    assert table.ref_count(bye) == 2
    assert len(table) == 1


def test_clear_returns_removed_rows_and_empties_indexes() -> None:
    table = player_table()
    table.apply([], [player(1, 10), player(2, 20), player(2, 20)])
    removed = table.clear()
    assert sorted(tuple(r) for r in removed) == [(1, 10), (2, 20)]
    assert len(table) == 0
    assert table.find(1) is None
    assert table.ref_count(player(2, 20)) == 0
    assert events(table.apply([], [player(2, 20)])) == ([(2, 20)], [], [])


def test_undecodable_row_raises_protocol_error_naming_the_table() -> None:
    table = player_table()
    with pytest.raises(ProtocolError) as info:
        table.prepare([], [b"\x01\x02"])
    assert "player" in str(info.value)
    assert len(table) == 0


def test_fixed_width_batch_decode_matches_row_by_row() -> None:
    table = player_table()
    rows = [player(i, -i) for i in range(5000)]
    diff = table.prepare([], rows)
    codec = get_codec(PLAYER)
    assert diff.inserts == [codec.decode(b) for b in rows]
    # One short row in a fixed-width batch falls back to the checked decode and fails.
    with pytest.raises(ProtocolError):
        table.prepare([], [*rows[:10], b"\x00" * 11])


def test_large_batches_restore_the_collector_state() -> None:
    table = player_table()
    rows = [player(i, 0) for i in range(5000)]
    assert gc.isenabled()
    table.apply([], rows)
    assert gc.isenabled()
    with pytest.raises(ProtocolError):
        table.prepare([], [*rows, b"\x00"])
    assert gc.isenabled()
    gc.disable()
    try:
        table.apply(rows, [])
        assert not gc.isenabled()
    finally:
        gc.enable()
