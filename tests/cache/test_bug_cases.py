"""The cache side of bug cases B03 B06 B09 B10 B12 B19 B21 (research/bug-cases.md).

B14 (Brotli frames) is decompression in the protocol/session layer, and the session owns
refusing a second unsubscribe (B09) and the decode-order pipeline (B12); here each case is
replayed as the (deletes, inserts) row batches the session hands to the cache.
"""

from __future__ import annotations

from typing import Any

import pytest
from cache_helpers import ITEM, PLAYER, USER, item, player, player_table

from stdb_game.cache import ClientCache, TableCache
from stdb_game.errors import ProtocolError
from stdb_game.sats import get_codec
from stdb_game.sats import types as t
from stdb_game.sats.values import Identity, SumValue


def test_b03_update_by_primary_key_is_one_update_not_a_delete() -> None:
    table = player_table()
    table.apply([], [player(1, 0)])
    diff = table.apply([player(1, 0)], [player(1, 5)])  # set_x(1, 5)
    assert len(diff.updates) == 1 and diff.inserts == [] and diff.deletes == []
    old, new = diff.updates[0]
    assert (old.x, new.x) == (0, 5)
    assert [tuple(r) for r in table] == [(1, 5)]


def test_b06_overlapping_subscriptions_fire_only_on_the_edges() -> None:
    table: TableCache[Any] = TableCache("item", ITEM, primary_key=0)
    rows = {i: item(i, owner=0) for i in (1, 2, 3)}
    inserted: list[int] = []
    deleted: list[int] = []

    def apply(deletes: list[bytes], inserts: list[bytes]) -> None:
        diff = table.apply(deletes, inserts)
        inserted.extend(r.id for r in diff.inserts)
        deleted.extend(r.id for r in diff.deletes)
        assert diff.updates == []

    apply([], list(rows.values()))  # Q1: SELECT * FROM item
    apply([], [rows[1]])  # Q2: SELECT * FROM item WHERE id = 1
    assert inserted == [1, 2, 3]
    assert table.ref_count(rows[1]) == 2
    apply(list(rows.values()), [])  # drop Q1
    assert deleted == [2, 3]
    assert table.find(1) is not None
    apply([rows[1]], [])  # drop Q2
    assert deleted == [2, 3, 1]
    assert inserted.count(1) == 1
    assert len(table) == 0


def test_b09_unsubscribe_rows_arrive_as_deletes_and_empty_the_cache() -> None:
    table: TableCache[Any] = TableCache("item", ITEM, primary_key=0, indexes=[(1,)])
    owner1 = [item(i, 1) for i in (1, 2, 3)]
    # owner=2 rows exist on the server but were never subscribed.
    assert len(table.apply([], owner1).inserts) == 3
    diff = table.apply(owner1, [])  # UnsubscribeApplied lists the 3 rows under deletes
    assert sorted(r.id for r in diff.deletes) == [1, 2, 3]
    assert len(table) == 0 and table.filter(1, 1) == []
    # Should the same rows be deleted again, the cache stays empty and reports the drift.
    again = table.apply(owner1, [])
    assert again.is_empty and again.missing_deletes == 3
    assert len(table) == 0


@pytest.mark.parametrize("initial", [True, False], ids=["initial-subscription", "transaction"])
def test_b10_every_table_is_applied_before_any_callback(initial: bool) -> None:
    position = t.ProductType([("player_id", t.U64), ("x", t.I32), ("y", t.I32)])
    cache = ClientCache()
    cache.add_table("player", PLAYER, primary_key=0)
    cache.add_table("position", position, primary_key=0)
    if not initial:
        cache.apply_message({"player": ([], [player(1, 0)])})
    message: dict[str, tuple[list[bytes], list[bytes]]] = {
        "player": ([], [player(7, 0)]),
        "position": ([], [get_codec(position).encode((7, 1, 2))]),
    }
    diff = cache.prepare_message(message)
    assert cache.table("position").find(7) is None  # nothing applied before commit
    cache.commit(diff)
    seen: list[Any] = []
    for new_player in diff["player"].inserts:  # the player insert callback
        seen.append(cache.table("position").find(new_player.id))
    assert [tuple(p) for p in seen] == [(7, 1, 2)]


def test_b12_batches_applied_in_arrival_order_end_with_the_new_value() -> None:
    initial = [item(i, 0, level=1) for i in range(20_000)]
    change = ([item(123, 0, level=1)], [item(123, 0, level=2)])

    in_order: TableCache[Any] = TableCache("item", ITEM, primary_key=0)
    first = in_order.apply([], initial)
    second = in_order.apply(*change)
    assert any(r.id == 123 for r in first.inserts)
    assert [(a.level, b.level) for a, b in second.updates] == [(1, 2)]
    assert in_order.find(123) == (123, 0, "sword", 2)
    assert len(in_order) == 20_000

    # The small update overtaking the large message leaves the cache wrong, and the cache
    # reports it (a delete for a row it never had) rather than hiding it.
    overtaken: TableCache[Any] = TableCache("item", ITEM, primary_key=0)
    early = overtaken.apply(*change)
    overtaken.apply([], initial)
    assert early.missing_deletes == 1
    assert overtaken.ref_count(item(123, 0, level=1)) == 1  # the stale row is back


def test_b19_identity_keys_are_little_endian_on_the_wire_and_found_by_hex() -> None:
    hex_form = "c200" + "0123456789abcdef" * 3 + "0123456789ab"
    raw_le = bytes.fromhex(hex_form)[::-1]
    row = raw_le + b"\x00" + b"\x03\x00\x00\x00" + b"ann" + b"\x01"  # Some("ann"), online
    table: TableCache[Any] = TableCache("user", USER, primary_key=0)
    (user,) = table.apply([], [row]).inserts
    assert user.identity.to_hex() == raw_le[::-1].hex() == hex_form
    assert table.find(Identity.from_hex(hex_form)) is user
    assert get_codec(USER).encode(user) == row
    assert table.contains_bytes(row)


def test_b21_option_and_enum_columns_decode_by_schema_not_by_tag() -> None:
    status = t.SumType([("Idle", t.UNIT), ("Running", t.U8), ("Done", t.UNIT)], name="Status")
    state_row = t.ProductType(
        [("id", t.U32), ("maybe", t.option(t.U32)), ("status", status),
         ("history", t.array(status))],
        name="StateRow",
    )  # fmt: skip
    row1 = bytes.fromhex("01000000" + "0005000000" + "0107" + "020000000002")
    row2 = bytes.fromhex("02000000" + "01" + "00" + "00000000")
    table: TableCache[Any] = TableCache("state_row", state_row, primary_key=0)
    diff = table.apply([], [row1, row2])
    one, two = diff.inserts
    assert one.maybe == 5 and two.maybe is None
    assert one.status == SumValue(1, "Running", 7) and one.status.name == "Running"
    assert two.status == SumValue(0, "Idle", ())
    assert [s.name for s in one.history] == ["Idle", "Done"] and two.history == []
    # A status tag past the last variant (3) is a protocol error and changes nothing.
    bad = bytes.fromhex("03000000" + "01" + "03" + "00000000")
    with pytest.raises(ProtocolError):
        table.apply([], [bad])
    assert len(table) == 2
    # Rows with list columns still update by primary key.
    row1b = bytes.fromhex("01000000" + "01" + "02" + "030000000002" + "0107")
    ((old, new),) = table.apply([row1], [row1b]).updates
    assert (old.maybe, new.maybe, new.status) == (5, None, SumValue(2, "Done", ()))
    assert [s.name for s in new.history] == ["Idle", "Done", "Running"]
