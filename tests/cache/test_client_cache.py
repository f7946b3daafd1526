"""All tables of one message are prepared, then committed, before any callback runs."""

from __future__ import annotations

from typing import Any

import pytest
from cache_helpers import NOTE, PLAYER, enc, events, player

from stdb_game.cache import ClientCache, StaleDiffError
from stdb_game.errors import ProtocolError, SchemaError
from stdb_game.sats import types as t

POSITION = t.ProductType([("player_id", t.U64), ("x", t.I32), ("y", t.I32)], name="Position")


def chat_cache() -> ClientCache:
    cache = ClientCache()
    cache.add_table("player", PLAYER, primary_key=0)
    cache.add_table("position", POSITION, primary_key=0)
    cache.add_table("note", NOTE)
    return cache


def test_tables_are_found_by_name() -> None:
    cache = chat_cache()
    assert cache.table("player").name == "player"
    assert [tc.name for tc in cache.tables()] == ["player", "position", "note"]
    assert "note" in cache and "nope" not in cache
    assert cache.get("nope") is None
    with pytest.raises(KeyError):
        cache.table("nope")
    with pytest.raises(SchemaError):
        cache.add_table("player", PLAYER)


def test_message_applies_every_table() -> None:
    cache = chat_cache()
    diff = cache.apply_message(
        {"player": ([], [player(7, 0)]), "position": ([], [enc(POSITION, 7, 1, 2)])}
    )
    assert events(diff["player"]) == ([(7, 0)], [], [])
    assert events(diff["position"]) == ([(7, 1, 2)], [], [])
    assert len(diff) == 2 and diff.missing_deletes == 0 and not diff.is_empty


def test_unknown_table_is_refused_and_nothing_changes() -> None:
    cache = chat_cache()
    with pytest.raises(ProtocolError) as info:
        cache.prepare_message({"player": ([], [player(1, 0)]), "ghost": ([], [b"\x00"])})
    assert "ghost" in str(info.value)
    assert len(cache.table("player")) == 0


def test_a_bad_row_in_one_table_leaves_all_tables_unchanged() -> None:
    cache = chat_cache()
    with pytest.raises(ProtocolError):
        cache.apply_message({"player": ([], [player(1, 0)]), "position": ([], [b"\x01"])})
    assert len(cache.table("player")) == 0


def test_a_stale_table_diff_stops_the_whole_commit() -> None:
    cache = chat_cache()
    diff = cache.prepare_message(
        {"player": ([], [player(1, 0)]), "position": ([], [enc(POSITION, 1, 0, 0)])}
    )
    cache.table("position").apply([], [enc(POSITION, 2, 0, 0)])
    with pytest.raises(StaleDiffError):
        cache.commit(diff)
    assert len(cache.table("player")) == 0


def test_missing_deletes_add_up_over_tables() -> None:
    cache = chat_cache()
    diff = cache.apply_message(
        {"player": ([player(1, 0)], []), "note": ([enc(NOTE, "x"), enc(NOTE, "y")], [])}
    )
    assert diff.missing_deletes == 3
    assert diff.is_empty


def test_reconcile_covers_every_registered_table() -> None:
    cache = chat_cache()
    cache.apply_message(
        {"player": ([], [player(1, 0), player(2, 0)]), "note": ([], [enc(NOTE, "hi")])}
    )
    diff = cache.reconcile({"player": [player(1, 0), player(2, 3)]})
    assert events(diff["player"]) == ([], [], [((2, 0), (2, 3))])
    assert events(diff["note"]) == ([], [("hi",)], [])  # absent from the new set: gone
    assert events(diff["position"]) == ([], [], [])
    cache.commit(diff)
    assert len(cache.table("note")) == 0
    with pytest.raises(ProtocolError):
        cache.reconcile({"ghost": []})


def test_replace_layer_swaps_one_subscriptions_rows_and_keeps_the_others() -> None:
    cache = chat_cache()
    # Another subscription holds player 1 and note "a"; the layer holds players 1, 2, 3.
    cache.apply_message({"player": ([], [player(1, 0)]), "note": ([], [enc(NOTE, "a")])})
    layer = [player(1, 0), player(2, 0), player(3, 0)]
    cache.apply_message({"player": ([], layer)})
    cache.apply_message({"player": ([player(3, 0)], [])})  # a transaction removed 3 since
    diff = cache.replace_layer({"player": layer}, {"player": [player(2, 5), player(4, 0)]})
    assert events(diff["player"]) == ([(4, 0)], [], [((2, 0), (2, 5))])
    assert diff.missing_deletes == 0  # 3 is skipped, not reported as a disagreement
    assert "note" not in diff.tables  # a table neither layer names is not touched
    cache.commit(diff)
    assert cache.table("player").ref_count(player(1, 0)) == 1  # the other holder's count
    assert sorted(cache.table("player")) == [(1, 0), (2, 5), (4, 0)]


def test_replace_layer_reconciles_whole_tables_exactly() -> None:
    cache = chat_cache()
    cache.apply_message({"note": ([], [enc(NOTE, "a"), enc(NOTE, "b")])})
    # "b" arrived by a transaction the layer's old rows do not list; the table is whole.
    diff = cache.replace_layer(
        {"note": [enc(NOTE, "a")]}, {"note": [enc(NOTE, "b"), enc(NOTE, "c")]}, whole={"note"}
    )
    assert events(diff["note"]) == ([("c",)], [("a",)], [])
    cache.commit(diff)
    assert [cache.table("note").ref_count(enc(NOTE, x)) for x in "abc"] == [0, 1, 1]
    with pytest.raises(ProtocolError):
        cache.replace_layer({}, {"ghost": []})


def test_replace_layer_takes_maybe_rows_as_old_only_as_often_as_the_new_rows_keep_them() -> None:
    cache = chat_cache()
    # Since the layer's last rows, transactions inserted 1 twice and 2 and 3 once each,
    # each occurrence the layer's or another subscription's: the message did not say.
    maybe = [player(1, 0), player(1, 0), player(2, 0), player(3, 0)]
    cache.apply_message({"player": ([], [player(9, 0), *maybe])})
    diff = cache.replace_layer(
        {"player": [player(9, 0)]},
        {"player": [player(1, 0), player(3, 0), player(3, 0)]},
        maybe_old={"player": maybe},
    )
    # 1: new once, taken once as old (unchanged); 2: new lacks it, kept for the other
    # holder; 3: new twice, one maybe taken, so one count more; 9: the layer's, gone.
    assert events(diff["player"]) == ([], [(9, 0)], [])
    cache.commit(diff)
    table = cache.table("player")
    assert [table.ref_count(player(i, 0)) for i in (1, 2, 3, 9)] == [2, 1, 2, 0]


def test_replace_layer_lists_tables_in_message_order() -> None:
    cache = chat_cache()  # registered: player, position, note
    cache.apply_message({"player": ([], [player(1, 0)])})
    diff = cache.replace_layer(
        {"player": [player(1, 0)]},
        {"note": [enc(NOTE, "n")], "position": [enc(POSITION, 1, 0, 0)]},
    )
    assert [d.table_name for d in diff] == ["note", "position", "player"]


def test_clear_returns_removed_rows_per_table() -> None:
    cache = chat_cache()
    cache.apply_message({"player": ([], [player(1, 0)]), "note": ([], [enc(NOTE, "hi")])})
    removed: dict[str, list[Any]] = cache.clear()
    assert {k: [tuple(r) for r in v] for k, v in removed.items()} == {
        "player": [(1, 0)],
        "position": [],
        "note": [("hi",)],
    }
    assert all(len(tc) == 0 for tc in cache)
