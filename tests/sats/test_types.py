"""The SATS type model (SATS-JSON types, special shapes, errors) and the value classes."""

from __future__ import annotations

import datetime as dt
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from vector_types import vectors_dir

from stdb_game.errors import SchemaError
from stdb_game.sats import codec
from stdb_game.sats import types as t
from stdb_game.sats.types import AlgebraicType, ProductType, RefType, SumType, Typespace
from stdb_game.sats.values import (
    ConnectionId,
    Identity,
    ScheduleAt,
    Some,
    SumValue,
    TimeDuration,
    Timestamp,
)

MODULES = sorted((vectors_dir().parent / "modules").glob("*.json"))


def test_module_files_exist() -> None:
    assert len(MODULES) >= 2, MODULES


def _module(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", MODULES, ids=[p.stem for p in MODULES])
def test_module_typespace_parses_and_round_trips(path: Path) -> None:
    module = _module(path)
    ts = Typespace.from_json(module["typespace"])
    assert len(ts) == len(module["typespace"]["types"])
    assert ts.to_json() == module["typespace"]
    for raw, ty in zip(module["typespace"]["types"], ts.types):
        assert AlgebraicType.from_json(raw, ts) == ty
        assert AlgebraicType.from_json(ty.to_json(), ts) == ty


@pytest.mark.parametrize("path", MODULES, ids=[p.stem for p in MODULES])
def test_module_tables_and_reducers_resolve(path: Path) -> None:
    """Every table row type resolves to a product; every reducer's params parse as a product."""
    module = _module(path)
    ts = Typespace.from_json(module["typespace"])
    for table in module["tables"]:
        row = RefType(table["product_type_ref"], ts).resolve()
        assert isinstance(row, ProductType), table["name"]
        assert codec.get_codec(row) is not None
    for reducer in module["reducers"]:
        params = AlgebraicType.from_json({"Product": reducer["params"]}, ts)
        assert isinstance(params, ProductType)
        assert params.to_json() == {"Product": reducer["params"]}


def test_quickstart_chat_columns_are_special_types() -> None:
    module = _module(vectors_dir().parent / "modules" / "quickstart-chat.raw_module_def_v9.json")
    ts = Typespace.from_json(module["typespace"])
    by_name = {tb["name"]: ts.get(tb["product_type_ref"]) for tb in module["tables"]}
    message, user = by_name["message"], by_name["user"]
    assert isinstance(message, ProductType) and isinstance(user, ProductType)
    kinds = [_special(e.algebraic_type) for e in message.elements]
    assert kinds == ["identity", "timestamp", None]
    assert [_special(e.algebraic_type) for e in user.elements] == ["identity", "option", None]
    assert user.static_size is None and message.static_size is None


def _special(ty: AlgebraicType) -> str | None:
    r = ty.resolve()
    return r.special if isinstance(r, (ProductType, SumType)) else None


# ---- a typespace with refs in every position (Blackholio-like) ---------------------------------


def _el(name: str | None, ty: Any) -> dict[str, Any]:
    return {"name": {"some": name} if name is not None else {"none": []}, "algebraic_type": ty}


UNIT_JSON = {"Product": {"elements": []}}
SCHEDULE_AT_JSON = {
    "Sum": {
        "variants": [
            _el(
                "Interval",
                {"Product": {"elements": [_el("__time_duration_micros__", {"I64": []})]}},
            ),
            _el(
                "Time",
                {
                    "Product": {
                        "elements": [_el("__timestamp_micros_since_unix_epoch__", {"I64": []})]
                    }
                },
            ),
        ]
    }
}
BLACKHOLIO_LIKE = {
    "types": [
        {"Product": {"elements": [_el("x", {"F32": []}), _el("y", {"F32": []})]}},  # 0 DbVector2
        {
            "Product": {
                "elements": [
                    _el("entity_id", {"I32": []}),
                    _el("position", {"Ref": 0}),
                    _el("mass", {"I32": []}),
                ]
            }
        },
        {
            "Sum": {"variants": [_el("Circle", {"Ref": 0}), _el("Dead", {"Ref": 3})]}
        },  # 2: ref variants
        UNIT_JSON,  # 3
        {"Sum": {"variants": [_el("A", {"Ref": 3}), _el("B", UNIT_JSON)]}},  # 4: enum through a ref
        {
            "Product": {
                "elements": [
                    _el("scheduled_id", {"U64": []}),
                    _el("scheduled_at", SCHEDULE_AT_JSON),
                ]
            }
        },
        {"Array": {"Ref": 1}},  # 6
        {
            "Sum": {"variants": [_el("some", {"Ref": 1}), _el("none", UNIT_JSON)]}
        },  # 7: Option<Entity>
        {
            "Sum": {"variants": [_el("ok", UNIT_JSON), _el("err", {"String": []})]}
        },  # 8: Result<(), String>
        {"Product": {"elements": [_el("__uuid__", {"U128": []})]}},  # 9 Uuid
        {"Product": {"elements": [_el(None, {"U8": []}), _el(None, {"Ref": 9})]}},  # 10 unnamed
    ]
}


def test_refs_in_every_position_parse_and_detect() -> None:
    ts = Typespace.from_json(BLACKHOLIO_LIKE)
    assert ts.to_json() == BLACKHOLIO_LIKE
    assert RefType(1, ts).resolve().static_size == 16
    assert _special(ts.get(2)) is None
    assert _special(ts.get(4)) == "enum"
    sched = ts.get(5)
    assert isinstance(sched, ProductType)
    assert _special(sched.elements[1].algebraic_type) == "schedule_at"
    assert sched.static_size == 17  # the Blackholio timer row size
    assert _special(ts.get(7)) == "option"
    assert _special(ts.get(8)) == "result"
    assert _special(ts.get(9)) == "uuid"
    assert ts.get(7).describe() == "Option<Ref(1)>"


def test_ref_types_encode_through_the_typespace() -> None:
    ts = Typespace.from_json(BLACKHOLIO_LIKE)
    entity = RefType(1, ts)
    data = codec.encode(entity, (7, (1.5, -2.0), 30))
    assert data.hex() == "070000000000c03f000000c01e000000"
    assert codec.decode(RefType(6, ts), b"\x01\x00\x00\x00" + data) == [(7, (1.5, -2.0), 30)]
    assert codec.decode(RefType(2, ts), b"\x01") == SumValue(1, "Dead", ())


# ---- special types by shape -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ty", "special"),
    [
        (t.IDENTITY, "identity"),
        (t.CONNECTION_ID, "connection_id"),
        (t.TIMESTAMP, "timestamp"),
        (t.TIME_DURATION, "time_duration"),
        (t.UUID, "uuid"),
        (t.UNIT, "unit"),
        (t.SCHEDULE_AT, "schedule_at"),
        (t.option(t.STRING), "option"),
        (t.result(t.U8, t.STRING), "result"),
        (t.sum_type(("A", t.UNIT), ("B", t.UNIT)), "enum"),
        # names alone are not enough: the inner type must match too
        (t.product(("__identity__", t.U128)), None),
        (t.product(("__connection_id__", t.U256)), None),
        (t.product(("__timestamp_micros_since_unix_epoch__", t.U64)), None),
        (t.product(("__identity__", t.U256), ("extra", t.U8)), None),
        (t.product(("identity", t.U256)), None),
        (t.sum_type(("none", t.UNIT), ("some", t.U8)), None),  # order matters
        (t.sum_type(("some", t.U8), ("none", t.U8)), None),  # none must be unit
        (t.sum_type(("Interval", t.I64), ("Time", t.I64)), None),
        (t.sum_type(("Time", t.TIMESTAMP), ("Interval", t.TIME_DURATION)), None),
        (t.sum_type(("A", t.UNIT), ("B", t.U8)), None),
    ],
    ids=repr,
)
def test_special_types_by_shape(ty: AlgebraicType, special: str | None) -> None:
    assert _special(ty) == special
    assert _special(AlgebraicType.from_json(ty.to_json())) == special


def test_special_types_from_the_server_schema_json() -> None:
    ident = {"Product": {"elements": [_el("__identity__", {"U256": []})]}}
    assert AlgebraicType.from_json(ident) == t.IDENTITY
    assert _special(AlgebraicType.from_json(SCHEDULE_AT_JSON)) == "schedule_at"
    assert AlgebraicType.from_json(SCHEDULE_AT_JSON) == t.SCHEDULE_AT


def test_static_sizes() -> None:
    assert t.IDENTITY.static_size == 32
    assert t.SCHEDULE_AT.static_size == 9
    assert t.option(t.U8).static_size is None
    assert t.sum_type(("A", t.UNIT), ("B", t.UNIT)).static_size == 1
    assert t.sum_type(("A", t.U32), ("B", t.F32)).static_size == 5
    assert t.product(("s", t.STRING)).static_size is None
    assert t.UNIT.static_size == 0


def test_every_primitive_round_trips_through_json() -> None:
    for kind, prim in t.PrimitiveType._ALL.items():
        assert prim.to_json() == {kind: []}
        assert AlgebraicType.from_json({kind: []}) is prim
    assert AlgebraicType.from_json({"Array": {"U8": []}}) == t.bytes_type()
    assert t.bytes_type().describe() == "bytes"


def test_types_are_equal_by_structure_and_hashable() -> None:
    a = t.product(("x", t.U8), name="A")
    b = t.product(("x", t.U8), name="B")
    assert a == b and hash(a) == hash(b)  # display names do not change the wire type
    assert a != t.product(("y", t.U8))
    assert len({t.option(t.U8), t.option(t.U8), t.array(t.U8)}) == 2
    assert pickle.loads(pickle.dumps(t.U32)) is t.U32


# ---- schema errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [
        {"U512": []},
        {"Map": {"key_ty": {"U8": []}, "ty": {"U8": []}}},  # removed before 1.0
        {"U8": [], "U16": []},
        "U8",
        {"Product": {"elems": []}},
        {"Product": {"elements": [{"name": {"some": "x"}}]}},
        {"Product": {"elements": [{"name": 5, "algebraic_type": {"U8": []}}]}},
        {"Sum": []},
        {"Ref": -1},
        {"Ref": "1"},
        {"Ref": True},
        {"Array": {"Nope": []}},
    ],
    ids=lambda o: json.dumps(o)[:40],
)
def test_bad_type_json_is_a_schema_error(obj: Any) -> None:
    with pytest.raises(SchemaError):
        AlgebraicType.from_json(obj)


def test_dangling_refs_are_schema_errors() -> None:
    with pytest.raises(SchemaError, match="dangling"):
        Typespace.from_json({"types": [{"Ref": 1}]})
    with pytest.raises(SchemaError, match="dangling"):
        Typespace.from_json(
            {"types": [{"Product": {"elements": [_el("a", {"Array": {"Ref": 5}})]}}]}
        )
    ts = Typespace.from_json({"types": [{"U8": []}]})
    with pytest.raises(SchemaError):
        AlgebraicType.from_json({"Ref": 3}, ts)
    with pytest.raises(SchemaError):
        RefType(0).resolve()  # no typespace at all


def test_ref_cycle_without_a_concrete_type() -> None:
    ts = Typespace.from_json({"types": [{"Ref": 1}, {"Ref": 0}]})
    with pytest.raises(SchemaError, match="cycle"):
        RefType(0, ts).resolve()


def test_bad_typespace_shapes() -> None:
    for obj in ({}, {"types": {}}, [], None):
        with pytest.raises(SchemaError):
            Typespace.from_json(obj)


def test_too_many_variants() -> None:
    with pytest.raises(SchemaError):
        t.SumType([(f"v{i}", t.UNIT) for i in range(257)])
    assert len(t.SumType([(f"v{i}", t.UNIT) for i in range(256)]).variants) == 256


# ---- value classes ----------------------------------------------------------------------------

IDENT_HEX = "c200b4e1f9a3d7c5" + "0123456789abcdef" * 3
IDENT_WIRE = "efcdab8967452301" * 3 + "c5d7a3f9e1b400c2"


def test_identity_hex_is_big_endian_and_wire_is_little_endian() -> None:
    ident = Identity.from_hex(IDENT_HEX)
    assert ident.to_hex() == IDENT_HEX
    assert str(ident) == IDENT_HEX
    assert ident.to_bytes().hex() == IDENT_WIRE
    assert ident.to_be_bytes().hex() == IDENT_HEX
    assert Identity.from_bytes(bytes.fromhex(IDENT_WIRE)) == ident
    assert Identity.from_be_bytes(bytes.fromhex(IDENT_HEX)) == ident
    assert Identity.from_hex("0x" + IDENT_HEX) == ident
    assert Identity.from_hex(IDENT_HEX.upper()) == ident
    assert ident.to_hex().startswith("c200")
    assert Identity(1).to_bytes()[0] == 1 and Identity(1).to_hex() == "0" * 63 + "1"


def test_connection_id_hex_is_big_endian_and_wire_is_little_endian() -> None:
    cid = ConnectionId.from_hex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
    assert cid.to_bytes().hex() == "f0e1d2c3b4a5968778695a4b3c2d1e0f"
    assert ConnectionId.from_bytes(cid.to_bytes()) == cid
    assert cid.to_hex() == "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    assert ConnectionId.zero().is_zero()
    r = ConnectionId.random()
    assert not r.is_zero() and r != ConnectionId.random()


@pytest.mark.parametrize(
    ("cls", "arg"),
    [
        (Identity, "c200"),
        (Identity, "zz" * 32),
        (Identity, "00" * 33),
        (ConnectionId, "00" * 15),
        # int(s, 16) would take all of these; the server's parser takes none.
        (Identity, " " + "00" * 31 + "0 "),
        (Identity, "00" * 32 + "\n"),
        (Identity, "+" + "0" * 63),
        (Identity, "-" + "0" * 63),
        (Identity, "0_" + "0" * 62),
        (Identity, "0x" + "0" * 63),
        (Identity, "0x0x" + "0" * 60),
        (ConnectionId, " " + "0" * 31),
        (ConnectionId, "+" + "0" * 31),
        (ConnectionId, "-" + "1" * 31),
        (ConnectionId, "_" + "0" * 31),
        (ConnectionId, "0" * 31 + "\t"),
        (ConnectionId, "0x" + "0" * 31),
        (ConnectionId, "00" * 32),
    ],
)
def test_bad_hex(cls: Any, arg: str) -> None:
    with pytest.raises(ValueError, match=f"^{cls.__name__} hex"):
        cls.from_hex(arg)


def test_hex_takes_exactly_the_digits_with_an_optional_0x() -> None:
    assert Identity.from_hex("0X" + "0" * 63 + "f") == Identity(15)
    assert Identity.from_hex("F" * 64) == Identity((1 << 256) - 1)
    assert ConnectionId.from_hex("0x" + "0" * 30 + "1a") == ConnectionId(26)
    assert ConnectionId.from_hex("aB" * 16).value == int("ab" * 16, 16)


def test_out_of_range_ids() -> None:
    with pytest.raises(ValueError):
        Identity(1 << 256)
    with pytest.raises(ValueError):
        Identity(-1)
    with pytest.raises(ValueError):
        ConnectionId(1 << 128)
    with pytest.raises(ValueError):
        Identity.from_bytes(b"\x00" * 31)


def test_timestamp_and_aware_datetimes() -> None:
    when = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    ts = Timestamp.from_datetime(when)
    assert ts.micros_since_epoch == 1735689600000000
    assert ts.to_datetime() == when
    assert ts.to_datetime().tzinfo is not None
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert Timestamp.from_datetime(dt.datetime(2025, 1, 1, 2, tzinfo=plus_two)) == ts
    assert Timestamp(-1).to_datetime() == dt.datetime(
        1969, 12, 31, 23, 59, 59, 999999, tzinfo=dt.timezone.utc
    )
    with pytest.raises(ValueError, match="aware"):
        Timestamp.from_datetime(dt.datetime(2025, 1, 1))
    with pytest.raises(ValueError):
        Timestamp(1 << 63)
    assert "2025-01-01" in repr(ts)
    assert repr(Timestamp((1 << 63) - 1))  # beyond datetime's range still prints
    now = Timestamp.now()
    assert abs(now.to_seconds() - dt.datetime.now(dt.timezone.utc).timestamp()) < 60


def test_time_duration_and_timedelta() -> None:
    d = TimeDuration.from_timedelta(dt.timedelta(seconds=1, microseconds=5))
    assert d.micros == 1_000_005
    assert d.to_timedelta() == dt.timedelta(seconds=1, microseconds=5)
    assert TimeDuration.from_timedelta(dt.timedelta(microseconds=-3)).micros == -3
    assert TimeDuration.from_seconds(0.5).micros == 500_000
    assert TimeDuration(120).to_seconds() == 0.00012
    ts = Timestamp(1000)
    assert ts + TimeDuration(5) == Timestamp(1005)
    assert Timestamp(1005) - ts == TimeDuration(5)


def test_schedule_at() -> None:
    a = ScheduleAt.interval(dt.timedelta(seconds=1))
    assert (
        a.is_interval and a.tag == 0 and a.name == "Interval" and a.value == TimeDuration(1_000_000)
    )
    b = ScheduleAt.time(dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc))
    assert not b.is_interval and b.tag == 1 and b.value == Timestamp(1735689600000000)
    with pytest.raises(TypeError):
        ScheduleAt(5)  # type: ignore[arg-type]


def test_value_classes_hash_and_compare_by_value_and_type() -> None:
    assert Identity(5) == Identity(5) and hash(Identity(5)) == hash(Identity(5))
    assert Identity(5) != ConnectionId(5)
    assert Timestamp(5) != TimeDuration(5)
    assert Identity(5) != 5
    d = {Identity(1): "a", ConnectionId(1): "b", Timestamp(1): "c", TimeDuration(1): "d"}
    assert len(d) == 4 and d[Identity(1)] == "a"
    assert {ScheduleAt(Timestamp(1)), ScheduleAt(Timestamp(1)), ScheduleAt(TimeDuration(1))} == {
        ScheduleAt(Timestamp(1)),
        ScheduleAt(TimeDuration(1)),
    }
    assert sorted([Timestamp(3), Timestamp(1)]) == [Timestamp(1), Timestamp(3)]
    assert sorted([Identity(3), Identity(1)]) == [Identity(1), Identity(3)]


def test_some_and_sum_value() -> None:
    assert Some(None) == Some(None) and Some(None) != None  # noqa: E711
    assert Some(Some(None)) != Some(None)
    assert hash(Some(1)) == hash(Some(1))
    assert SumValue(1, "B", (1, 2)) == SumValue(1, None, (1, 2))  # the name is informative only
    assert SumValue(1, "B", [1, 2]) == SumValue(1, "B", [1, 2])
    assert hash(SumValue(1, "B", [1, 2])) == hash(SumValue(1, "B", (1, 2)))
    assert SumValue(0, "A") != SumValue(1, "A")
    assert "B" in repr(SumValue(1, "B", 3))


@pytest.mark.parametrize(
    "value",
    [Identity(5), ConnectionId(5), Timestamp(5), TimeDuration(5), ScheduleAt(Timestamp(5))],
    ids=lambda v: type(v).__name__,
)
def test_value_classes_are_immutable_and_pickle(value: Any) -> None:
    with pytest.raises(AttributeError):
        value._value = 1
    with pytest.raises(AttributeError):
        value.other = 1
    assert pickle.loads(pickle.dumps(value)) == value
