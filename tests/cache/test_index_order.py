"""Range lookups order every btree key type as SpacetimeDB does, and lose no row.

SpacetimeDB's order (its AlgebraicValue Ord): floats in total order with NaN after +inf
(decorum::Total), products field by field, sums by tag then payload, Option = some(0) |
none(1) so None sorts last, Identity/ConnectionId by their integer value.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from cache_helpers import enc

from stdb_game.cache import TableCache
from stdb_game.sats import types as t
from stdb_game.sats.values import (
    ConnectionId,
    Identity,
    ScheduleAt,
    Some,
    SumValue,
    TimeDuration,
    Timestamp,
)

NAN = math.nan
COLOR = t.sum_type(("Red", t.UNIT), ("Green", t.UNIT), ("Blue", t.UNIT), name="Color")
SHAPE = t.sum_type(("Circle", t.F32), ("Label", t.STRING), ("Empty", t.UNIT), name="Shape")
VEC = t.product(("x", t.F32), ("owner", t.CONNECTION_ID), name="Vec")


def table_of(col: t.AlgebraicType, *, unique: bool = False) -> TableCache[Any]:
    """Rows (id u32 pk, k: col) with an index on k (unique or not)."""
    row = t.ProductType([("id", t.U32), ("k", col)], name="R")
    if unique:
        return TableCache("r", row, primary_key=0, unique_columns=[1])
    return TableCache("r", row, primary_key=0, indexes=[(1,)])


def load(table: TableCache[Any], keys: list[Any]) -> None:
    table.apply([], [enc(table.row_type, i, k) for i, k in enumerate(keys)])


def ids(rows: list[Any]) -> list[int]:
    return [r.id for r in rows]


@pytest.mark.parametrize("unique", [False, True])
def test_connection_id_keys_sort_by_value(unique: bool) -> None:
    table = table_of(t.CONNECTION_ID, unique=unique)
    load(table, [ConnectionId(v) for v in (30, 10, 1 << 127, 20, 0)])
    assert ids(table.range(1)) == [4, 1, 3, 0, 2]
    assert ids(table.range(1, ConnectionId(10), ConnectionId(30))) == [1, 3]
    assert ids(table.range(1, ConnectionId(10), ConnectionId(30), hi_inclusive=True)) == [1, 3, 0]


def test_unit_enum_keys_sort_by_variant_tag() -> None:
    table = table_of(COLOR)
    load(table, [SumValue(i % 3, None, ()) for i in (2, 0, 1, 2, 0)])  # Blue Red Green Blue Red
    assert ids(table.range(1)) == [1, 4, 2, 0, 3]
    assert ids(table.range(1, SumValue(1, "Green"), None)) == [2, 0, 3]
    assert ids(table.range(1, "Green", "Blue")) == [2]  # a variant name is a bound too
    assert ids(table.range(1, 0, 1)) == [1, 4]  # and so is a tag


def test_sum_keys_sort_by_tag_then_payload() -> None:
    table = table_of(SHAPE)
    load(table, [
        SumValue(2, "Empty", ()), SumValue(1, "Label", "b"), SumValue(0, "Circle", 2.5),
        SumValue(1, "Label", "a"), SumValue(0, "Circle", NAN), SumValue(0, "Circle", -1.0),
    ])  # fmt: skip
    assert ids(table.range(1)) == [5, 2, 4, 3, 1, 0]
    assert ids(table.range(1, SumValue(0, "Circle", 0.0), SumValue(1, "Label", "b"))) == [2, 4, 3]


@pytest.mark.parametrize("unique", [False, True])
def test_option_none_sorts_after_every_value(unique: bool) -> None:
    table = table_of(t.option(t.U32), unique=unique)
    load(table, [7, None, 0, 3] if unique else [7, None, 0, None, 3])
    none_ids = [1] if unique else [1, 3]
    assert ids(table.range(1)) == [2, 4 if not unique else 3, 0, *none_ids]
    # Bounds are values; None leaves a bound open, so a None key shows only without hi.
    assert ids(table.range(1, 1, 10)) == [4 if not unique else 3, 0]
    assert ids(table.range(1, 5)) == [0, *none_ids]
    assert ids(table.filter(1, None)) == none_ids


def test_nested_option_orders_some_none_between_values_and_none() -> None:
    table = table_of(t.option(t.option(t.I8)))
    load(table, [None, Some(None), -3, 5])
    assert ids(table.range(1)) == [2, 3, 1, 0]  # some(some(-3)), some(some(5)), some(none), none


def test_f32_nan_sorts_last_and_no_row_goes_missing() -> None:
    table = table_of(t.F32)
    keys = [3.0, NAN, -math.inf, 1.5, NAN, math.inf, -0.0, 0.0, -2.0]
    load(table, keys)
    got = table.range(1)
    assert len(got) == len(keys)  # sorted() with NaN used to scramble this list
    assert ids(got)[:7] == [2, 8, 6, 7, 3, 0, 5]  # -0.0 == 0.0: kept in arrival order
    assert sorted(ids(got)[7:]) == [1, 4]
    assert ids(table.range(1, -1.0, 2.0)) == [6, 7, 3]
    assert ids(table.range(1, math.inf, None)) == [5, 1, 4]
    assert ids(table.range(1, None, math.inf, hi_inclusive=True)) == [2, 8, 6, 7, 3, 0, 5]


def test_identity_keys_accept_identity_or_int_bounds() -> None:
    table = table_of(t.IDENTITY)
    load(table, [Identity(v) for v in (9, 2, 5)])
    assert ids(table.range(1, Identity(2), Identity(9))) == [1, 2]
    assert ids(table.range(1, 3, 10)) == [2, 0]


def test_schedule_at_keys_sort_intervals_before_times() -> None:
    table = table_of(t.SCHEDULE_AT)
    load(table, [
        ScheduleAt.time(Timestamp(5)), ScheduleAt.interval(TimeDuration(50)),
        ScheduleAt.time(Timestamp(1)), ScheduleAt.interval(TimeDuration(-1)),
    ])  # fmt: skip
    assert ids(table.range(1)) == [3, 1, 2, 0]


def test_product_key_with_a_connection_id_and_nan_inside() -> None:
    table = table_of(VEC)
    load(table, [(1.0, ConnectionId(2)), (NAN, ConnectionId(0)), (1.0, ConnectionId(1))])
    assert ids(table.range(1)) == [2, 0, 1]


def test_multi_column_prefix_range_over_option_and_float() -> None:
    row = t.ProductType([("id", t.U32), ("o", t.option(t.U8)), ("f", t.F64)], name="R")
    table: TableCache[Any] = TableCache("r", row, primary_key=0, indexes=[(1, 2)])
    keys = [(None, 1.0), (2, NAN), (2, -1.0), (1, 0.0), (None, NAN), (2, 3.0)]
    table.apply([], [enc(row, i, *k) for i, k in enumerate(keys)])
    assert ids(table.range((1, 2))) == [3, 2, 5, 1, 0, 4]
    assert ids(table.range((1, 2), (2,), (3,))) == [2, 5, 1]  # every o == 2, NaN last
    assert ids(table.range((1, 2), (2, 0.0), None)) == [5, 1, 0, 4]


def _reference_rank(k: Any) -> tuple[Any, ...]:
    """Independent spelling of the expected order for Option<f32>: values, NaN, then None."""
    if k is None:
        return (2, 0.0)
    return (1, 0.0) if math.isnan(k) else (0, k)


@pytest.mark.parametrize("unique", [False, True])
def test_incremental_maintenance_with_nan_and_none_keys(unique: bool) -> None:
    rng = random.Random(7)
    table = table_of(t.option(t.F32), unique=unique)
    row = table.row_type
    pool = [None, NAN, -1.5, 0.0, 2.5, 4.0, math.inf]
    live: dict[int, Any] = {}
    table.range(1)  # from now on the sorted keys are maintained incrementally
    for _step in range(400):
        dels: list[bytes] = []
        ins: list[bytes] = []
        for _ in range(rng.choice([1, 2, 3, 90])):  # 90 forces a full re-sort now and then
            iid = rng.randrange(40)
            if iid in live:
                dels.append(enc(row, iid, live.pop(iid)))
            else:
                k = rng.choice(pool)
                if unique and any(_reference_rank(k) == _reference_rank(v) for v in live.values()):
                    continue  # a unique column holds each key (each NaN) at most once
                live[iid] = k
                ins.append(enc(row, iid, k))
        table.apply(dels, ins)
        got = table.range(1)
        assert sorted(ids(got)) == sorted(live)  # no row missing, none twice
        assert [_reference_rank(r.k) for r in got] == sorted(
            _reference_rank(k) for k in live.values()
        )
        lo = rng.choice(pool[2:])
        want = sorted(i for i, k in live.items() if _reference_rank(k) >= _reference_rank(lo))
        assert sorted(ids(table.range(1, lo))) == want
