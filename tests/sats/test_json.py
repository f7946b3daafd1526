"""SATS-JSON values (bsatn.md §6): the server's written shapes, the accepted inputs, round trips."""

from __future__ import annotations

import json
import math
import struct
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vector_types import assert_same, load_vectors, same_value, type_from_vector, value_from_vector

from stdb_game.errors import DecodeError, EncodeError
from stdb_game.sats import codec, value_from_json, value_to_json
from stdb_game.sats import types as t
from stdb_game.sats.types import AlgebraicType, ArrayType, PrimitiveType, ProductType, SumType
from stdb_game.sats.values import (
    ConnectionId,
    Identity,
    ScheduleAt,
    Some,
    SumValue,
    TimeDuration,
    Timestamp,
)

from .strategies import SETTINGS, algebraic_types, types_and_values

IDENT_HEX = "c200b4e1f9a3d7c5" + "0123456789abcdef" * 3
IDENT = Identity.from_hex(IDENT_HEX)
USER = t.product(("identity", t.IDENTITY), ("name", t.option(t.STRING)), ("online", t.BOOL))
SHAPE = t.sum_type(
    ("Circle", t.F32), ("Rect", t.product(("w", t.U16), ("h", t.U16))), ("None_", t.UNIT)
)


def dumps(ty: AlgebraicType, value: Any) -> str:
    """The JSON text, compact like the server, refusing NaN (the server writes null)."""
    return json.dumps(value_to_json(ty, value), separators=(",", ":"), allow_nan=False)


# ---- §6.1 what the server writes --------------------------------------------------------------

WRITTEN: list[tuple[AlgebraicType, Any, str]] = [
    (t.BOOL, True, "true"),
    (t.BOOL, False, "false"),
    (t.I8, -128, "-128"),
    (t.U64, (1 << 64) - 1, "18446744073709551615"),
    (t.I64, -(1 << 63), "-9223372036854775808"),
    (t.U128, 20095106327972375235668719608427373040, "20095106327972375235668719608427373040"),
    (t.I128, -(1 << 127), str(-(1 << 127))),
    (t.U256, 0, '"0x0"'),
    (t.U256, 255, '"0xff"'),
    (t.U256, (1 << 256) - 1, '"0x' + "f" * 64 + '"'),
    (t.I256, -1, '"-0x1"'),
    (t.I256, -(1 << 255), '"-0x8' + "0" * 63 + '"'),
    (t.I256, 16, '"0x10"'),
    (t.F64, 1.5, "1.5"),
    (t.F64, -0.0, "-0.0"),
    (t.F64, math.nan, "null"),
    (t.F64, math.inf, "null"),
    (t.F32, -math.inf, "null"),
    (t.F32, 0.10000000149011612, "0.1"),  # the shortest decimal that is the same f32
    (t.F32, 3.4028234663852886e38, "3.4028235e+38"),
    (t.STRING, "héllo 🚀", json.dumps("héllo 🚀")),
    (t.bytes_type(), b"\xde\xad", '"dead"'),
    (t.bytes_type(), b"", '""'),
    (t.array(t.U16), [1, 2], "[1,2]"),
    (t.array(t.STRING), [], "[]"),
    (t.product(("x", t.I32), ("y", t.BOOL)), (5, False), '{"x":5,"y":false}'),
    (t.option(t.I32), 5, '{"some":5}'),
    (t.option(t.I32), None, '{"none":[]}'),
    (t.option(t.option(t.I32)), Some(None), '{"some":{"none":[]}}'),
    (t.UNIT, (), "[]"),
    (SHAPE, SumValue(0, "Circle", 1.5), '{"Circle":1.5}'),
    (SHAPE, SumValue(1, "Rect", (3, 4)), '{"Rect":{"w":3,"h":4}}'),
    (SHAPE, SumValue(2, "None_", ()), '{"None_":[]}'),
    (t.sum_type(("A", t.UNIT), ("B", t.UNIT)), 1, '{"B":[]}'),
    (t.IDENTITY, IDENT, '{"__identity__":"0x' + IDENT_HEX + '"}'),
    (t.IDENTITY, Identity(1), '{"__identity__":"0x1"}'),  # leading zeros dropped
    (
        t.CONNECTION_ID,
        ConnectionId(20095106327972375235668719608427373040),
        '{"__connection_id__":20095106327972375235668719608427373040}',
    ),
    (
        t.TIMESTAMP,
        Timestamp(1735689600000000),
        '{"__timestamp_micros_since_unix_epoch__":1735689600000000}',
    ),
    (t.TIME_DURATION, TimeDuration(120), '{"__time_duration_micros__":120}'),
    (
        t.SCHEDULE_AT,
        ScheduleAt.interval(TimeDuration(1_000_000)),
        '{"Interval":{"__time_duration_micros__":1000000}}',
    ),
    (
        t.SCHEDULE_AT,
        ScheduleAt.time(Timestamp(5)),
        '{"Time":{"__timestamp_micros_since_unix_epoch__":5}}',
    ),
    (t.UUID, uuid.UUID(int=7), '{"__uuid__":7}'),
    (t.result(t.STRING, t.U8), SumValue(1, "err", 3), '{"err":3}'),
    (
        USER,
        (IDENT, "bob", True),
        '{"identity":{"__identity__":"0x' + IDENT_HEX + '"},"name":{"some":"bob"},"online":true}',
    ),
]


@pytest.mark.parametrize(("ty", "value", "text"), WRITTEN, ids=[w[2][:40] for w in WRITTEN])
def test_writes_what_the_server_writes(ty: AlgebraicType, value: Any, text: str) -> None:
    assert dumps(ty, value) == text


@pytest.mark.parametrize(("ty", "value", "text"), WRITTEN, ids=[w[2][:40] for w in WRITTEN])
def test_reads_what_the_server_writes(ty: AlgebraicType, value: Any, text: str) -> None:
    back = value_from_json(ty, json.loads(text))
    if isinstance(value, int) and getattr(ty.resolve(), "special", None) == "enum":
        value = SumValue(value, None, ())  # an enum written from its bare tag
    if isinstance(value, float) and math.isinf(value):
        assert math.isnan(back)  # null cannot tell NaN from the infinities
    else:
        assert same_value(_norm(value), _norm(back)), (value, back)


def test_f32_json_is_the_shortest_round_trip() -> None:
    for bits in (0x3DCCCCCD, 0x3F800000, 0x00000001, 0x7F7FFFFF, 0x80000000, 0x3EAAAAAB):
        (x,) = struct.unpack("<f", struct.pack("<I", bits))
        out = value_to_json(t.F32, x)
        assert struct.pack("<f", out) == struct.pack("<I", bits)
        assert len(repr(out).lstrip("-").replace(".", "").split("e")[0].strip("0")) <= 9


def test_unnamed_fields_are_written_positionally() -> None:
    ty = t.ProductType([(None, t.U8), (None, t.STRING)])
    assert value_to_json(ty, (1, "a")) == [1, "a"]
    assert value_from_json(ty, [1, "a"]) == (1, "a")


def test_unnamed_variants_are_written_by_tag() -> None:
    ty = t.SumType([(None, t.U8), (None, t.STRING)])
    assert value_to_json(ty, SumValue(1, None, "a")) == {"1": "a"}
    assert value_from_json(ty, {"1": "a"}) == SumValue(1, None, "a")


def test_output_is_plain_json_types() -> None:
    j = value_to_json(t.product(("a", t.array(t.product(("x", t.U8))))), ([(1,), (2,)],))
    assert j == {"a": [{"x": 1}, {"x": 2}]}
    assert type(j["a"]) is list


# ---- §6.2 what the server accepts (and the positional forms) ----------------------------------


ACCEPTED: list[tuple[AlgebraicType, Any, Any]] = [
    # products: object or array in field order
    (t.product(("x", t.I32), ("y", t.BOOL)), {"x": 5, "y": False}, (5, False)),
    (t.product(("x", t.I32), ("y", t.BOOL)), {"y": False, "x": 5}, (5, False)),
    (t.product(("x", t.I32), ("y", t.BOOL)), [5, False], (5, False)),
    # sums: by name, by decimal tag string, [tag, payload]; Option also null
    (SHAPE, {"Rect": {"w": 3, "h": 4}}, SumValue(1, "Rect", (3, 4))),
    (SHAPE, {"1": [3, 4]}, SumValue(1, "Rect", (3, 4))),
    (SHAPE, [1, [3, 4]], SumValue(1, "Rect", (3, 4))),
    (SHAPE, {"None_": {}}, SumValue(2, "None_", ())),
    (SHAPE, [2, []], SumValue(2, "None_", ())),
    (t.option(t.STRING), None, None),
    (t.option(t.STRING), {"none": []}, None),
    (t.option(t.STRING), {"none": {}}, None),
    (t.option(t.STRING), {"some": "bob"}, "bob"),
    (t.option(t.STRING), [0, "bob"], "bob"),
    (t.option(t.STRING), [1, []], None),
    (t.option(t.STRING), {"0": "bob"}, "bob"),
    (t.option(t.option(t.U8)), {"some": None}, Some(None)),
    (t.option(t.option(t.U8)), [0, [1, []]], Some(None)),
    (t.option(t.option(t.U8)), {"some": {"some": 3}}, 3),
    # unit
    (t.UNIT, [], ()),
    (t.UNIT, {}, ()),
    # 256-bit: 0x strings (i256 may be negative); ints too
    (t.U256, "0x0", 0),
    (t.U256, "0xFF", 255),
    (t.I256, "-0x10", -16),
    (t.I256, 5, 5),
    # 128-bit: big JSON numbers
    (t.U128, 20095106327972375235668719608427373040, 20095106327972375235668719608427373040),
    # bytes: hex or array of numbers
    (t.bytes_type(), "dead", b"\xde\xad"),
    (t.bytes_type(), [222, 173], b"\xde\xad"),
    (t.bytes_type(), "", b""),
    # special types: {"__x__": v} or [v]
    (t.IDENTITY, {"__identity__": "0x" + IDENT_HEX}, IDENT),
    (t.IDENTITY, ["0x" + IDENT_HEX], IDENT),
    (t.IDENTITY, {"__identity__": "0x1"}, Identity(1)),
    (t.CONNECTION_ID, {"__connection_id__": 12345}, ConnectionId(12345)),
    (t.CONNECTION_ID, [0], ConnectionId(0)),
    (
        t.TIMESTAMP,
        {"__timestamp_micros_since_unix_epoch__": 1735689600000000},
        Timestamp(1735689600000000),
    ),
    (t.TIMESTAMP, [-5], Timestamp(-5)),
    (t.TIME_DURATION, {"__time_duration_micros__": 120}, TimeDuration(120)),
    (t.TIME_DURATION, [120], TimeDuration(120)),
    (t.UUID, {"__uuid__": 7}, uuid.UUID(int=7)),
    (
        t.SCHEDULE_AT,
        {"Interval": {"__time_duration_micros__": 50000}},
        ScheduleAt(TimeDuration(50000)),
    ),
    (t.SCHEDULE_AT, [1, [5]], ScheduleAt(Timestamp(5))),
    # floats: numbers, null (NaN/inf are written as null), the vector spellings
    (t.F64, 2, 2.0),
    (t.F64, None, math.nan),
    (t.F32, 0.1, 0.10000000149011612),
    (t.F32, 1e39, math.inf),
    (t.F64, "-Infinity", -math.inf),
]


@pytest.mark.parametrize(
    ("ty", "obj", "value"), ACCEPTED, ids=[json.dumps(a[1])[:40] for a in ACCEPTED]
)
def test_accepts_what_the_server_accepts(ty: AlgebraicType, obj: Any, value: Any) -> None:
    assert same_value(_norm(value), _norm(value_from_json(ty, obj)))


def test_sql_result_row_from_http_md() -> None:
    """http.md §5: positional rows, Identity as ["0x..."], some("bob") as [0, "bob"]."""
    body = json.loads(
        '[{"schema": {"elements": ['
        '{"name": {"some": "identity"}, "algebraic_type": {"Product": {"elements": ['
        '{"name": {"some": "__identity__"}, "algebraic_type": {"U256": []}}]}}},'
        '{"name": {"some": "name"}, "algebraic_type": {"Sum": {"variants": ['
        '{"name": {"some": "some"}, "algebraic_type": {"String": []}},'
        '{"name": {"some": "none"}, "algebraic_type": {"Product": {"elements": []}}}]}}},'
        '{"name": {"some": "online"}, "algebraic_type": {"Bool": []}}]},'
        f' "rows": [[["0x{IDENT_HEX}"], [0, "bob"], true], [["0x1"], [1, []], false]],'
        ' "total_duration_micros": 153, "stats": {}}]'
    )
    schema = t.AlgebraicType.from_json({"Product": body[0]["schema"]})
    rows = [value_from_json(schema, r) for r in body[0]["rows"]]
    assert rows == [(IDENT, "bob", True), (Identity(1), None, False)]
    assert rows[0].identity == IDENT and rows[1].name is None
    # the same rows decode identically from BSATN
    assert [codec.decode(schema, codec.encode(schema, r)) for r in rows] == rows


def test_json_protocol_identity_token_frame() -> None:
    """protocol.md §8 example server text frame, read with big-int JSON parsing."""
    frame = (
        '{"IdentityToken":{"identity":{"__identity__":"0x' + IDENT_HEX + '"},"token":"eyJ...",'
        '"connection_id":{"__connection_id__":20095106327972375235668719608427373040}}}'
    )
    token = t.product(
        ("identity", t.IDENTITY), ("token", t.STRING), ("connection_id", t.CONNECTION_ID)
    )
    msg = t.sum_type(
        ("InitialSubscription", t.UNIT), ("TransactionUpdate", t.UNIT), ("IdentityToken", token)
    )
    value = value_from_json(msg, json.loads(frame))
    assert value.tag == 2
    assert value.value == (IDENT, "eyJ...", ConnectionId(20095106327972375235668719608427373040))
    assert json.dumps(value_to_json(msg, value), separators=(",", ":")) == frame


def test_json_protocol_subscribe_multi_frame() -> None:
    frame = '{"SubscribeMulti":{"query_strings":["SELECT * FROM user"],"request_id":1,"query_id":{"id":1}}}'
    sub = t.product(
        ("query_strings", t.array(t.STRING)),
        ("request_id", t.U32),
        ("query_id", t.product(("id", t.U32))),
    )
    msg = t.sum_type(("CallReducer", t.UNIT), ("Subscribe", t.UNIT), ("OneOffQuery", t.UNIT),
                     ("SubscribeSingle", t.UNIT), ("SubscribeMulti", sub))  # fmt: skip
    value = SumValue(4, "SubscribeMulti", (["SELECT * FROM user"], 1, (1,)))
    assert json.dumps(value_to_json(msg, value), separators=(",", ":")) == frame
    assert value_from_json(msg, json.loads(frame)) == value


# ---- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ty", "obj", "path"),
    [
        (t.U8, 256, "u8"),
        (t.U8, True, "u8"),
        (t.U8, "5", "u8"),
        (t.U32, 1.5, "u32"),
        (t.U256, "ff", "u256"),  # 0x is mandatory
        (t.U256, "-0x1", "u256"),
        (t.I256, "0xzz", "i256"),
        (t.BOOL, 1, "bool"),
        (t.STRING, None, "string"),
        (t.bytes_type(), "xyz", "bytes"),
        (t.bytes_type(), [256], "bytes"),
        (
            USER,
            {"identity": ["0x1"], "name": None},
            "(identity: Identity, name: Option<string>, online: bool)",
        ),
        (t.product(("x", t.U8), name="P"), {"x": 1, "y": 2}, "P"),
        (t.product(("x", t.U8), name="P"), [1, 2], "P"),
        (t.product(("x", t.U8), name="P"), {"x": -1}, "P.x"),
        (SHAPE, {"Square": 1}, "Sum(Circle | Rect | None_)"),
        (SHAPE, [3, []], "Sum(Circle | Rect | None_)"),
        (SHAPE, {"Circle": 1, "Rect": 2}, "Sum(Circle | Rect | None_)"),
        (SHAPE, {"Rect": {"w": 1}}, "Sum(Circle | Rect | None_)::Rect"),
        (t.IDENTITY, "0x" + IDENT_HEX, "Identity"),  # bare strings are not Identity JSON
        (t.UNIT, [1], "()"),
        (t.option(t.U8), {"some": "x"}, "Option<u8>::some"),
        (t.array(t.U8.__class__("U8", 1)) if False else t.array(t.I8), [1, 200], "Array<i8>[1]"),
    ],
)
def test_bad_json_raises_decode_error_with_path(ty: AlgebraicType, obj: Any, path: str) -> None:
    with pytest.raises(DecodeError) as info:
        value_from_json(ty, obj)
    assert info.value.type_name == path
    assert info.value.offset == -1


@pytest.mark.parametrize(
    ("ty", "value"),
    [
        (t.U8, 256),
        (t.I256, 1 << 255),
        (t.STRING, 5),
        (t.BOOL, 1),
        (t.F32, 1e39),
        (t.F64, "1"),
        (t.IDENTITY, IDENT_HEX),
        (USER, {"identity": IDENT}),
        (SHAPE, SumValue(3, "X", ())),
        (t.TIMESTAMP, __import__("datetime").datetime(2025, 1, 1)),
        (t.array(t.U8.__class__._ALL["I8"]), [1, 2, 300]),
    ],
    ids=repr,
)
def test_bad_values_raise_encode_error(ty: AlgebraicType, value: Any) -> None:
    with pytest.raises(EncodeError):
        value_to_json(ty, value)


# ---- the golden vectors through JSON ----------------------------------------------------------


def test_every_bsatn_vector_value_survives_json() -> None:
    for case in load_vectors("bsatn.json"):
        ty = type_from_vector(case["type"])
        value = value_from_vector(ty, case["value"])
        text = json.dumps(value_to_json(ty, value), allow_nan=False)
        back = value_from_json(ty, json.loads(text))
        if any(isinstance(x, float) and math.isinf(x) for x in [value]):
            assert math.isnan(back)
            continue
        assert_same(ty, value, back, case["id"])
        assert codec.encode(ty, back).hex() == case["hex"], case["id"]


# ---- round trips ------------------------------------------------------------------------------


def _norm(v: Any) -> Any:
    """Map infinities to NaN (JSON null cannot tell them apart); tuples stay tuples."""
    if isinstance(v, float):
        return math.nan if math.isinf(v) else v
    if isinstance(v, list):
        return [_norm(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_norm(x) for x in v)
    if type(v) is SumValue:
        return SumValue(v.tag, v.name, _norm(v.value))
    if type(v) is Some:
        return Some(_norm(v.value))
    return v


def to_positional(ty: AlgebraicType, v: Any) -> Any:
    """The untyped form SQL results use: products as arrays, sums as [tag, payload]."""
    tt = ty.resolve()
    if isinstance(tt, ProductType):
        if tt.special and tt.special != "unit":
            inner = value_to_json(ty, v)
            return list(inner.values())
        return [to_positional(e.algebraic_type, x) for e, x in zip(tt.elements, v)]
    if isinstance(tt, SumType):
        if tt.special == "option":
            if v is None:
                return [1, []]
            return [
                0,
                to_positional(tt.variants[0].algebraic_type, v.value if type(v) is Some else v),
            ]
        if tt.special == "schedule_at":
            return [v.tag, to_positional(tt.variants[v.tag].algebraic_type, v.value)]
        return [v.tag, to_positional(tt.variants[v.tag].algebraic_type, v.value)]
    if isinstance(tt, ArrayType) and not tt.is_bytes:
        return [to_positional(tt.elem, x) for x in v]
    assert isinstance(tt, (PrimitiveType, ArrayType))
    return value_to_json(ty, v)


@SETTINGS
@given(types_and_values())
def test_random_types_json_roundtrip(tv: tuple[AlgebraicType, Any]) -> None:
    ty, value = tv
    text = json.dumps(value_to_json(ty, value), allow_nan=False)
    back = value_from_json(ty, json.loads(text))
    assert same_value(_norm(value), _norm(back)), (ty, value, back)


@SETTINGS
@given(types_and_values())
def test_random_types_positional_json_reads_the_same(tv: tuple[AlgebraicType, Any]) -> None:
    ty, value = tv
    text = json.dumps(to_positional(ty, value), allow_nan=False)
    back = value_from_json(ty, json.loads(text))
    assert same_value(_norm(value), _norm(back)), (ty, value, back)


@SETTINGS
@given(types_and_values())
def test_json_and_bsatn_agree(tv: tuple[AlgebraicType, Any]) -> None:
    """A value read back from JSON encodes to the same BSATN (infinities aside)."""
    ty, value = tv
    back = value_from_json(ty, value_to_json(ty, value))
    assert same_value(_norm(codec.decode(ty, codec.encode(ty, back))), _norm(back))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=8,
)


@SETTINGS
@given(algebraic_types(), _JSON)
def test_random_json_raises_only_decode_error(ty: AlgebraicType, obj: Any) -> None:
    try:
        value_from_json(ty, obj)
    except DecodeError:
        pass
