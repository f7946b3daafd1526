"""Hypothesis round trips: decode(encode(v)) == v and encode(decode(b)) == b for every type."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from vector_types import same_value

from stdb_game.errors import DecodeError
from stdb_game.sats import codec
from stdb_game.sats import types as t
from stdb_game.sats.types import AlgebraicType
from stdb_game.sats.values import Some, SumValue

from .strategies import (
    INT_RANGES,
    SETTINGS,
    algebraic_types,
    contains,
    ints,
    types_and_values,
    types_and_wire_bytes,
    values,
)


def roundtrip(ty: AlgebraicType, value: Any) -> bytes:
    """Check both directions for one value; return its bytes."""
    data = codec.encode(ty, value)
    back = codec.decode(ty, data)
    assert same_value(value, back), (ty, value, back)
    again = codec.encode(ty, back)
    assert again == data, (ty, value, data.hex(), again.hex())
    return data


@pytest.mark.parametrize("kind", sorted(INT_RANGES))
def test_int_bounds(kind: str) -> None:
    """Every width at both bounds, and one past them refused."""
    from stdb_game.errors import EncodeError

    ty = t.PrimitiveType._ALL[kind]
    lo, hi = INT_RANGES[kind]
    size = ty.static_size
    assert size is not None
    signed = kind.startswith("I")
    for v in (lo, hi, 0):
        data = roundtrip(ty, v)
        assert data == v.to_bytes(size, "little", signed=signed)
    for bad in (lo - 1, hi + 1):
        with pytest.raises(EncodeError):
            codec.encode(ty, bad)


@pytest.mark.parametrize("kind", sorted(INT_RANGES))
@SETTINGS
@given(data=st.data())
def test_ints(kind: str, data: st.DataObject) -> None:
    ty = t.PrimitiveType._ALL[kind]
    roundtrip(ty, data.draw(ints(kind)))


@SETTINGS
@given(st.floats(width=32))
def test_f32(x: float) -> None:
    roundtrip(t.F32, x)


@SETTINGS
@given(st.floats())
def test_f64(x: float) -> None:
    roundtrip(t.F64, x)


@SETTINGS
@given(st.integers(0, (1 << 32) - 1))
def test_f32_any_bit_pattern(bits: int) -> None:
    """Every f32 bit pattern decodes; all but NaN payloads re-encode to the same bytes."""
    raw = struct.pack("<I", bits)
    x = codec.decode(t.F32, raw)
    if math.isnan(x):
        # CPython converts through a double, which may set the quiet bit of a signalling NaN.
        assert math.isnan(codec.decode(t.F32, codec.encode(t.F32, x)))
    else:
        assert codec.encode(t.F32, x) == raw


@SETTINGS
@given(st.integers(0, (1 << 64) - 1))
def test_f64_any_bit_pattern(bits: int) -> None:
    """Every f64 bit pattern, NaN payloads included, survives exactly."""
    raw = struct.pack("<Q", bits)
    assert codec.encode(t.F64, codec.decode(t.F64, raw)) == raw


def test_nan_patterns_decode_as_nan() -> None:
    for raw in ("0000c07f", "0100807f", "ffffffff", "0100c0ff"):
        assert math.isnan(codec.decode(t.F32, bytes.fromhex(raw)))
    for raw in ("000000000000f87f", "010000000000f07f", "ffffffffffffffff"):
        assert math.isnan(codec.decode(t.F64, bytes.fromhex(raw)))
    assert codec.encode(t.F32, math.nan).hex() == "0000c07f"
    assert codec.encode(t.F64, math.nan).hex() == "000000000000f87f"


@SETTINGS
@given(st.text())
def test_strings(s: str) -> None:
    data = roundtrip(t.STRING, s)
    assert data[4:] == s.encode("utf-8")


def test_non_bmp_string_length_counts_utf8_bytes() -> None:
    data = roundtrip(t.STRING, "a\U0001f680\U0010ffff")
    assert data[:4] == (9).to_bytes(4, "little")


@SETTINGS
@given(st.binary())
def test_bytes(b: bytes) -> None:
    data = roundtrip(t.bytes_type(), b)
    assert data == len(b).to_bytes(4, "little") + b


def test_bytes_accepts_bytearray_memoryview_and_lists() -> None:
    ty = t.bytes_type()
    for v in (bytearray(b"ab"), memoryview(b"ab"), [97, 98], (97, 98)):
        assert codec.encode(ty, v) == b"\x02\x00\x00\x00ab"
    assert type(codec.decode(ty, b"\x02\x00\x00\x00ab")) is bytes


VEC2 = t.product(("x", t.F32), ("y", t.F32))
ENTITY = t.product(("entity_id", t.U32), ("position", VEC2), ("mass", t.U32))


@SETTINGS
@given(values(t.array(ENTITY)))
def test_arrays_of_products(rows: list[Any]) -> None:
    roundtrip(t.array(ENTITY), rows)


OOO = t.option(t.option(t.option(t.U8)))


@pytest.mark.parametrize(
    ("value", "hexstr"),
    [
        (None, "01"),
        (Some(None), "0001"),
        (Some(Some(None)), "000001"),
        (7, "00000007"),
    ],
)
def test_nested_options(value: Any, hexstr: str) -> None:
    assert roundtrip(OOO, value).hex() == hexstr
    assert codec.decode(OOO, bytes.fromhex(hexstr)) == value


def test_nested_option_accepts_explicit_some() -> None:
    """Some(x) is accepted wherever a bare x is, at any level."""
    assert codec.encode(OOO, Some(Some(Some(7)))).hex() == "00000007"
    assert codec.encode(OOO, Some(7)).hex() == "00000007"
    assert codec.encode(t.option(t.U8), Some(7)).hex() == "0007"


@SETTINGS
@given(values(OOO))
def test_nested_options_random(value: Any) -> None:
    roundtrip(OOO, value)


SHAPE = t.sum_type(
    ("Circle", t.F32),
    ("Rect", t.product(("w", t.U16), ("h", t.U16))),
    ("Label", t.STRING),
    ("Empty", t.UNIT),
    ("Many", t.array(t.option(t.I64))),
)
COLOR = t.sum_type(("Red", t.UNIT), ("Green", t.UNIT), ("Blue", t.UNIT))


@SETTINGS
@given(values(SHAPE))
def test_sums_with_payloads(value: SumValue) -> None:
    data = roundtrip(SHAPE, value)
    assert data[0] == value.tag


@SETTINGS
@given(values(COLOR))
def test_enums(value: SumValue) -> None:
    assert COLOR.special == "enum"
    assert roundtrip(COLOR, value) == bytes([value.tag])


def test_enum_accepts_tags_and_names() -> None:
    assert codec.encode(COLOR, 2) == b"\x02"
    assert codec.encode(COLOR, "Green") == b"\x01"
    assert codec.decode(COLOR, b"\x01") == SumValue(1, "Green")


RESULT = t.result(t.STRING, t.U32)


@SETTINGS
@given(values(RESULT))
def test_result(value: SumValue) -> None:
    assert RESULT.special == "result"
    roundtrip(RESULT, value)


@pytest.mark.parametrize(
    "ty",
    [t.IDENTITY, t.CONNECTION_ID, t.TIMESTAMP, t.TIME_DURATION, t.SCHEDULE_AT, t.UUID],
    ids=lambda ty: ty.describe(),
)
@SETTINGS
@given(data=st.data())
def test_special_types(ty: AlgebraicType, data: st.DataObject) -> None:
    value = data.draw(values(ty))
    out = roundtrip(ty, value)
    assert len(out) == ty.static_size


@SETTINGS
@given(types_and_values())
def test_random_types_value_roundtrip(tv: tuple[AlgebraicType, Any]) -> None:
    """decode(encode(v)) == v for random types built from every kind of type."""
    ty, value = tv
    roundtrip(ty, value)


@SETTINGS
@given(types_and_wire_bytes())
def test_random_wire_bytes_reencode_exactly(tb: tuple[AlgebraicType, bytes]) -> None:
    """encode(decode(b)) == b for valid bytes built from the wire rules (not by our encoder)."""
    ty, raw = tb
    value = codec.decode(ty, raw)
    again = codec.encode(ty, value)
    if contains(ty, "F32"):
        # An f32 signalling NaN may come back quiet (CPython converts through a double).
        assert len(again) == len(raw)
        assert same_value(value, codec.decode(ty, again))
    else:
        assert again == raw


@SETTINGS
@given(algebraic_types(), st.binary(max_size=64))
def test_random_bytes_that_decode_reencode_exactly(ty: AlgebraicType, raw: bytes) -> None:
    """encode(decode(b)) == b whenever a prefix of b decodes: one encoding per value."""
    try:
        value, end = codec.get_codec(ty).decode_from(raw, 0)
    except DecodeError:
        return
    again = codec.encode(ty, value)
    if contains(ty, "F32"):
        assert same_value(value, codec.decode(ty, again))
    else:
        assert again == raw[:end]


@SETTINGS
@given(types_and_values(), st.integers(1, 3))
def test_row_list_helpers_agree(tv: tuple[AlgebraicType, Any], n: int) -> None:
    """Packed and offsets row lists (and fixed, when the size is static) give the same rows."""
    ty, value = tv
    c = codec.get_codec(ty)
    one = c.encode(value)
    assume(one)
    data = one * n
    offsets = list(range(0, len(data), len(one)))
    expected = [value] * n
    assert same_value(expected, c.decode_rows_offsets(data, offsets))
    assert same_value(expected, c.decode_rows_packed(data))
    if ty.resolve().static_size == len(one):
        assert same_value(expected, c.decode_rows_fixed(data, len(one)))


def test_fixed_rows_fast_path_matches_per_row() -> None:
    rows = [(i, (i * 0.5, -i * 0.25), i * 3) for i in range(100)]
    c = codec.get_codec(ENTITY)
    assert c.fixed_size == 16
    data = b"".join(c.encode(r) for r in rows)
    assert c.decode_rows_fixed(data, 16) == rows
    assert c.decode_rows_packed(data) == rows
    assert [c.decode(data[i : i + 16]) for i in range(0, len(data), 16)] == rows


def test_decoded_products_are_namedtuples_with_field_names() -> None:
    row = codec.decode(ENTITY, codec.encode(ENTITY, (1, (2.0, 3.0), 4)))
    assert row.entity_id == 1 and row.position.y == 3.0 and row.mass == 4


def test_products_encode_from_dicts_and_objects() -> None:
    class Obj:
        def __init__(self) -> None:
            self.entity_id = 1
            self.position = {"x": 2.0, "y": 3.0}
            self.mass = 4

    want = codec.encode(ENTITY, (1, (2.0, 3.0), 4))
    assert codec.encode(ENTITY, {"entity_id": 1, "position": (2.0, 3.0), "mass": 4}) == want
    assert codec.encode(ENTITY, Obj()) == want


def test_recursive_type_through_ref() -> None:
    ts = t.Typespace()
    node = t.sum_type(
        ("nil", t.UNIT), ("cons", t.product(("head", t.U32), ("tail", t.RefType(0, ts))))
    )
    ts.types.append(node)
    ref = t.RefType(0, ts)
    value = SumValue(1, "cons", (1, SumValue(1, "cons", (2, SumValue(0, "nil")))))
    assert roundtrip(ref, value).hex() == "01010000000102000000" + "00"
    assert ref.static_size is None


def test_unnamed_and_odd_field_names() -> None:
    ty = t.ProductType([(None, t.U8), ("class", t.STRING), ("_x", t.BOOL), ("a b", t.UNIT)])
    roundtrip(ty, (1, "x", True, ()))
