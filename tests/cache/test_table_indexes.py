"""Primary-key, unique and non-unique (equality and range) lookups."""

from __future__ import annotations

import random
from typing import Any

import pytest
from cache_helpers import ITEM, NOTE, USER, enc, item, item_table, player, player_table

from stdb_game.cache import MissingIndexError, TableCache
from stdb_game.errors import SchemaError
from stdb_game.sats import get_codec
from stdb_game.sats import types as t
from stdb_game.sats.values import Identity


def ids(rows: Any) -> list[int]:
    return [r.id for r in rows]


def test_find_by_primary_key_and_unique_column() -> None:
    table: TableCache[Any] = TableCache("item", ITEM, primary_key=0, unique_columns=[2])
    table.apply([], [item(1, 7, "sword"), item(2, 7, "shield")])
    assert table.find(2) == (2, 7, "shield", 1)
    assert table.find(3) is None
    assert table.find_unique(2, "sword") == (1, 7, "sword", 1)
    assert table.find_unique(0, 1) == (1, 7, "sword", 1)
    assert table.find_unique(2, "bow") is None
    with pytest.raises(MissingIndexError):
        table.find_unique(1, 7)
    with pytest.raises(MissingIndexError):
        TableCache("note", NOTE).find("x")


def test_non_unique_equality_follows_inserts_updates_and_deletes() -> None:
    table = item_table()
    table.apply([], [item(1, 7), item(2, 7), item(3, 8)])
    assert ids(table.filter(1, 7)) == [1, 2]
    assert ids(table.filter((1,), 8)) == [3]
    assert table.filter(1, 9) == []
    table.apply([item(2, 7)], [item(2, 8)])  # owner change moves the row between buckets
    assert ids(table.filter(1, 7)) == [1]
    assert ids(table.filter(1, 8)) == [3, 2]
    table.apply([item(1, 7)], [])
    assert table.filter(1, 7) == []
    # A row held twice sits in its bucket once and stays until its last occurrence goes.
    table.apply([], [item(3, 8)])
    assert ids(table.filter(1, 8)) == [3, 2]
    table.apply([item(3, 8)], [])
    assert ids(table.filter(1, 8)) == [3, 2]
    table.apply([item(3, 8)], [])
    assert ids(table.filter(1, 8)) == [2]


def test_multi_column_equality_and_prefix_range() -> None:
    table = item_table()
    table.apply([], [item(1, 7, level=3), item(2, 7, level=5), item(3, 8, level=3)])
    assert ids(table.filter((1, 3), (7, 5))) == [2]
    assert table.filter((1, 3), (8, 5)) == []
    assert ids(table.range((1, 3), (7,), (8,))) == [1, 2]
    assert ids(table.range((1, 3), (7, 4), None)) == [2, 3]


def test_range_bounds() -> None:
    table = item_table()
    table.apply([], [item(i, i % 5) for i in range(20)])
    assert sorted(ids(table.range(1, 1, 3))) == [i for i in range(20) if i % 5 in (1, 2)]
    assert sorted(ids(table.range(1, 1, 3, hi_inclusive=True))) == [
        i for i in range(20) if i % 5 in (1, 2, 3)
    ]
    assert [r.owner for r in table.range(1)] == sorted(i % 5 for i in range(20))
    assert ids(table.range(0, 17)) == [17, 18, 19]
    assert ids(table.range(0, None, 2)) == [0, 1]
    assert table.range(1, 10, 20) == []


def test_range_stays_right_while_keys_change_after_first_use() -> None:
    rng = random.Random(5)
    table = item_table()
    live: dict[int, bytes] = {}
    table.range(1)  # start maintaining the sorted keys incrementally
    table.range(0)
    for step in range(300):
        deletes = []
        inserts = []
        for _ in range(rng.choice([1, 2, 3, 200])):  # 200 forces a re-sort now and then
            iid = rng.randrange(60)
            if iid in live and rng.random() < 0.5:
                deletes.append(live.pop(iid))
            elif iid not in live:
                live[iid] = item(iid, rng.randrange(12), level=rng.randrange(4))
                inserts.append(live[iid])
        table.apply(deletes, inserts)
        lo, hi = sorted(rng.sample(range(13), 2))
        expected = sorted(
            (r for r in table if lo <= r.owner < hi), key=lambda r: (r.owner, list(table).index(r))
        )
        got = table.range(1, lo, hi)
        assert [r.owner for r in got] == [r.owner for r in expected], step
        assert sorted(ids(got)) == sorted(ids(expected))
        assert ids(table.range(0, lo * 5, hi * 5)) == sorted(
            i for i in live if lo * 5 <= i < hi * 5
        )


def test_missing_index_is_a_typed_error() -> None:
    table = player_table()
    table.apply([], [player(1, 1)])
    with pytest.raises(MissingIndexError):
        table.filter(1, 1)
    with pytest.raises(MissingIndexError):
        table.range((0, 1))
    assert table.filter(0, 1) == [(1, 1)]  # the primary key serves equality and range
    assert table.range(0, 0, 5) == [(1, 1)]


def test_unhashable_or_out_of_range_columns_are_refused_up_front() -> None:
    tagged = t.ProductType([("id", t.U32), ("tags", t.array(t.STRING))])
    with pytest.raises(SchemaError):
        TableCache("tagged", tagged, indexes=[(1,)])
    with pytest.raises(SchemaError):
        TableCache("tagged", tagged, primary_key=2)
    blob = t.ProductType([("id", t.U32), ("data", t.bytes_type())])
    TableCache("blob", blob, indexes=[(1,)])  # bytes are hashable


class Spell:
    """A bindings-style row class: fields as attributes, not a tuple."""

    __slots__ = ("caster", "power", "spell_id")

    def __init__(self, spell_id: int, caster: int, power: int) -> None:
        self.spell_id = spell_id
        self.caster = caster
        self.power = power


def test_py_class_rows_are_indexed_by_attribute() -> None:
    spell = t.ProductType(
        [("spell_id", t.U32), ("caster", t.U32), ("power", t.I16)], name="Spell", py_class=Spell
    )
    codec = get_codec(spell)
    table: TableCache[Spell] = TableCache("spell", spell, primary_key=0, indexes=[(1,)])
    table.apply([], [codec.encode(Spell(1, 9, 50)), codec.encode(Spell(2, 9, 70))])
    found = table.find(2)
    assert isinstance(found, Spell) and found.power == 70
    assert [s.spell_id for s in table.filter(1, 9)] == [1, 2]
    diff = table.apply([codec.encode(Spell(1, 9, 50))], [codec.encode(Spell(1, 9, 55))])
    assert [(a.power, b.power) for a, b in diff.updates] == [(50, 55)]


def test_identity_keys_support_equality_and_range() -> None:
    table: TableCache[Any] = TableCache("user", USER, primary_key=0)
    idents = [Identity(v) for v in (5, 1, 9, 3)]
    table.apply([], [enc(USER, i, None, True) for i in idents])
    got = table.range(0, Identity(2), Identity(9))
    assert [r.identity.value for r in got] == [3, 5]
    assert table.filter(0, Identity(9))[0].identity == Identity(9)


def _kind_level_table() -> TableCache[Any]:
    """An index on (kind, level) only: a lookup by kind alone needs its prefix."""
    table: TableCache[Any] = TableCache("item", ITEM, primary_key=0, indexes=[(2, 3)])
    table.apply([], [item(1, 0, "sword", 3), item(2, 0, "bow", 1), item(3, 0, "sword", 1),
                     item(4, 0, "sword", 9), item(5, 0, "shield", 2)])  # fmt: skip
    return table


def test_filter_and_range_on_the_leading_columns_of_a_multi_column_index() -> None:
    table = _kind_level_table()
    # Equality on a prefix, bare or as a 1-tuple: in (kind, level) order.
    assert ids(table.filter((2,), ("sword",))) == [3, 1, 4]
    assert ids(table.filter(2, "sword")) == [3, 1, 4]
    assert table.filter((2,), "axe") == []
    # The whole key still works, and a prefix range on the first column alone.
    assert ids(table.filter((2, 3), ("sword", 3))) == [1]
    assert ids(table.range(2, "s", "t")) == [5, 3, 1, 4]  # kinds in [s, t)
    assert ids(table.range((2,), "bow", "shield", hi_inclusive=True)) == [2, 5]
    # prefix=: fix kind, range over level.
    assert ids(table.range((2, 3), 1, 9, prefix=("sword",))) == [3, 1]
    assert ids(table.range((2, 3), 1, 9, prefix=("sword",), hi_inclusive=True)) == [3, 1, 4]
    assert ids(table.range((2, 3), 2, None, prefix=("sword",))) == [1, 4]
    assert ids(table.range((2, 3), None, 3, prefix=("sword",))) == [3]
    # A shorter tuple bound compares with the first columns only, also when inclusive.
    assert ids(table.range((2, 3), ("bow",), ("shield",), hi_inclusive=True)) == [2, 5]
    assert ids(table.range((2, 3), ("shield",), ("sword",))) == [5]
    # Keys keep changing after the sorted keys were built: the prefix scans follow.
    table.apply([item(3, 0, "sword", 1)], [item(3, 0, "sword", 5), item(6, 0, "sword", 0)])
    assert ids(table.filter((2,), "sword")) == [6, 1, 3, 4]
    assert ids(table.range((2, 3), 4, None, prefix=("sword",))) == [3, 4]


def test_missing_index_error_names_columns_and_lists_the_indexes() -> None:
    table = _kind_level_table()
    with pytest.raises(MissingIndexError) as info:
        table.filter((3,), (1,))  # level alone: not a leading part of (kind, level)
    text = str(info.value)
    assert "table 'item' has no index on (level)" in text
    assert "its indexes: (id) primary key, (kind, level)" in text
    with pytest.raises(MissingIndexError, match=r"no unique column \(owner\)"):
        table.find_unique(1, 0)
    with pytest.raises(MissingIndexError, match="it has no index"):
        TableCache("note", NOTE).filter(0, "x")


def test_lookup_values_of_the_wrong_type_raise_a_type_error_naming_the_index() -> None:
    table = item_table()
    table.apply([], [item(1, 7, level=3), item(2, 8, level=5)])
    with pytest.raises(TypeError) as info:
        table.range(1, "a", "b")
    assert str(info.value) == (
        "table 'item': range on index (owner): owner: expected u32 (0..4294967295), got str 'a'"
    )
    with pytest.raises(TypeError, match=r"range on index \(owner, level\): level: .* got str"):
        table.range((1, 3), (7, "x"), None)
    with pytest.raises(TypeError, match=r"range on index \(owner, level\): level: .* got str"):
        table.range((1, 3), "x", None, prefix=(7,))
    with pytest.raises(TypeError, match="bounds on several columns are tuples"):
        table.range((1, 3), 7, 8)
    with pytest.raises(TypeError, match=r"filter on index \(owner\): owner: .* got list"):
        table.filter(1, [7])
    with pytest.raises(TypeError, match=r"find on index \(id\): id: .* got list"):
        table.find([1])
    with pytest.raises(TypeError, match="give one prefix value per column but the last"):
        table.range((1, 3), 0, 1, prefix=(7, 3))
    # Equality on a value of another type finds nothing: it equals no key.
    assert table.find("1") is None and table.filter(1, "7") == []
