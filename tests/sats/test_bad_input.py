"""Malformed input: DecodeError names the type and the exact byte offset; nothing else escapes."""

from __future__ import annotations

import datetime as dt
import tracemalloc
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stdb_game.errors import DecodeError, EncodeError
from stdb_game.sats import codec
from stdb_game.sats import types as t
from stdb_game.sats.types import AlgebraicType
from stdb_game.sats.values import ConnectionId, Identity, SumValue, Timestamp

from .strategies import SETTINGS, algebraic_types, types_and_wire_bytes

USER = t.product(
    ("identity", t.IDENTITY), ("name", t.option(t.STRING)), ("online", t.BOOL), name="user"
)
MESSAGE = t.product(
    ("sender", t.IDENTITY), ("sent", t.TIMESTAMP), ("text", t.STRING), name="message"
)
FLAGS = t.product(("id", t.U32), ("flag", t.BOOL), name="flags")
SHAPE = t.sum_type(("Circle", t.F32), ("Label", t.STRING), ("Empty", t.UNIT), name="Shape")
COLOR = t.sum_type(("Red", t.UNIT), ("Green", t.UNIT), name="Color")


def decode_error(ty: AlgebraicType, data: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        codec.decode(ty, data)
    return info.value


# ---- truncation -------------------------------------------------------------------------------


def _user_expectation(k: int) -> tuple[str, int]:
    """Where a user row (identity, some("bob"), true) cut to k bytes fails."""
    if k < 32:
        return "user.identity", 0
    if k == 32:
        return "user.name", 32  # the option tag
    if k < 40:
        return "user.name::some", 33  # the string length (missing, or larger than what's left)
    return "user.online", 40


def test_every_prefix_of_a_user_row() -> None:
    full = codec.encode(USER, (Identity(0xC200 << 240 | 5), "bob", True))
    assert len(full) == 41
    for k in range(len(full)):
        err = decode_error(USER, full[:k])
        assert (err.type_name, err.offset) == _user_expectation(k), k


def test_every_prefix_of_a_message_row() -> None:
    full = codec.encode(MESSAGE, (Identity(7), Timestamp(1_735_689_600_000_000), "héllo"))
    for k in range(len(full)):
        err = decode_error(MESSAGE, full[:k])
        if k < 32:
            want = ("message.sender", 0)
        elif k < 40:
            want = ("message.sent", 32)
        else:
            want = ("message.text", 40)
        assert (err.type_name, err.offset) == want, k


def test_truncated_fixed_row_list_reports_whole_number_of_rows() -> None:
    c = codec.get_codec(FLAGS)
    data = c.encode((1, True)) * 3
    with pytest.raises(DecodeError) as info:
        c.decode_rows_fixed(data[:-1], 5)
    assert info.value.offset == 0
    assert info.value.type_name == "flags"


def test_truncated_packed_row_list_points_into_the_last_row() -> None:
    c = codec.get_codec(MESSAGE)
    row = c.encode((Identity(1), Timestamp(2), "abc"))
    with pytest.raises(DecodeError) as info:
        c.decode_rows_packed(row + row[:-1])
    assert (info.value.type_name, info.value.offset) == ("message.text", len(row) + 40)


def test_row_offsets_that_disagree_with_the_rows() -> None:
    c = codec.get_codec(MESSAGE)
    row = c.encode((Identity(1), Timestamp(2), "abc"))
    with pytest.raises(DecodeError) as info:
        c.decode_rows_offsets(row + row, [0, len(row) + 1])
    assert info.value.offset == len(row)  # row 0 ended here, not where row 1 is said to start


# ---- bad bytes --------------------------------------------------------------------------------


def test_bool_byte_two() -> None:
    err = decode_error(FLAGS, bytes.fromhex("0100000002"))
    assert (err.type_name, err.offset) == ("flags.flag", 4)
    assert decode_error(t.BOOL, b"\x02").offset == 0


def test_bool_byte_two_in_a_fixed_row_list() -> None:
    """The struct fast path fails; the checked walk reports the offset in the whole buffer."""
    c = codec.get_codec(FLAGS)
    data = bytes.fromhex("01000000010200000002")
    with pytest.raises(DecodeError) as info:
        c.decode_rows_fixed(data, 5)
    assert (info.value.type_name, info.value.offset) == ("flags.flag", 9)


def test_unknown_sum_tag() -> None:
    err = decode_error(SHAPE, b"\x03")
    assert (err.type_name, err.offset) == ("Shape", 0)
    err = decode_error(t.product(("pad", t.U16), ("shape", SHAPE), name="row"), b"\x00\x00\x09")
    assert (err.type_name, err.offset) == ("row.shape", 2)


def test_unknown_option_tag() -> None:
    err = decode_error(t.option(t.U8), b"\x02\x05")
    assert (err.type_name, err.offset) == ("Option<u8>", 0)


def test_unknown_enum_tag_inside_a_flat_struct() -> None:
    row = t.product(("id", t.U32), ("color", COLOR), name="row")
    assert codec.get_codec(row).fixed_size == 5
    err = decode_error(row, bytes.fromhex("0100000002"))
    assert (err.type_name, err.offset) == ("row.color", 4)


def test_invalid_utf8() -> None:
    err = decode_error(t.STRING, b"\x03\x00\x00\x00ab\xff")
    assert (err.type_name, err.offset) == ("string", 6)  # the bad byte itself
    err = decode_error(MESSAGE, bytes(40) + b"\x02\x00\x00\x00\xc3\x28")
    assert (err.type_name, err.offset) == ("message.text", 44)


def test_lone_surrogate_is_invalid_utf8() -> None:
    err = decode_error(t.STRING, b"\x03\x00\x00\x00\xed\xa0\x80")
    assert err.offset == 4


HUGE = b"\xff\xff\xff\xff"


@pytest.mark.parametrize(
    "ty",
    [
        t.STRING,
        t.bytes_type(),
        t.array(t.U64),
        t.array(t.STRING),
        t.array(t.array(t.U8)),
        t.array(t.product(("a", t.U8), ("b", t.STRING))),
        t.array(t.UNIT),
        t.array(t.option(t.U8)),
    ],
    ids=lambda ty: ty.describe(),
)
def test_length_prefix_larger_than_the_rest(ty: AlgebraicType) -> None:
    """0xFFFFFFFF is refused at the prefix without allocating anything near its size."""
    data = HUGE + b"\x00" * 16
    tracemalloc.start()
    try:
        err = decode_error(ty, data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.offset == 0
    assert err.type_name == ty.describe()
    assert peak < 256 * 1024, peak


def test_length_prefix_inside_a_row() -> None:
    err = decode_error(MESSAGE, bytes(40) + HUGE + b"abc")
    assert (err.type_name, err.offset) == ("message.text", 40)


def test_trailing_bytes() -> None:
    err = decode_error(t.U32, b"\x01\x00\x00\x00\x00")
    assert (err.type_name, err.offset) == ("u32", 4)
    full = codec.encode(USER, (Identity(1), None, False))
    err = decode_error(USER, full + b"\x00\x00")
    assert (err.type_name, err.offset) == ("user", len(full))


def test_packed_rows_accept_no_partial_row() -> None:
    c = codec.get_codec(t.product(("s", t.STRING), name="r"))
    with pytest.raises(DecodeError) as info:
        c.decode_rows_packed(b"\x01\x00\x00\x00a" + b"\x05\x00")
    assert info.value.offset == 5


# ---- nothing but DecodeError escapes ----------------------------------------------------------


def _decode_all_ways(ty: AlgebraicType, data: bytes) -> None:
    c = codec.get_codec(ty)
    for call in (
        lambda: c.decode(data),
        lambda: c.decode_from(data, 0),
        lambda: c.decode_rows_packed(data),
        lambda: c.decode_rows_offsets(data, [0]),
        lambda: c.decode_rows_fixed(data, c.fixed_size or 3),
    ):
        try:
            call()
        except DecodeError as err:
            assert 0 <= err.offset <= len(data), (err, len(data))
            assert err.type_name


@SETTINGS
@given(algebraic_types(), st.binary(max_size=80))
def test_random_bytes_raise_only_decode_error(ty: AlgebraicType, data: bytes) -> None:
    _decode_all_ways(ty, data)


@SETTINGS
@given(types_and_wire_bytes(), st.data())
def test_corrupted_valid_bytes_raise_only_decode_error(
    tb: tuple[AlgebraicType, bytes], draw: st.DataObject
) -> None:
    """Near-valid input reaches deep into the decoders: cut, flip or pad a real encoding."""
    ty, raw = tb
    mutation = draw.draw(st.sampled_from(["cut", "flip", "pad", "ff"]))
    if mutation == "cut" and raw:
        data = raw[: draw.draw(st.integers(0, len(raw) - 1))]
    elif mutation in ("flip", "ff") and raw:
        i = draw.draw(st.integers(0, len(raw) - 1))
        new = 0xFF if mutation == "ff" else raw[i] ^ (1 << draw.draw(st.integers(0, 7)))
        data = raw[:i] + bytes([new]) + raw[i + 1 :]
    else:
        data = raw + draw.draw(st.binary(min_size=1, max_size=4))
    _decode_all_ways(ty, data)


def test_cut_valid_bytes_always_fail_at_a_sane_offset() -> None:
    """Every strict prefix of a value that is not empty fails with an offset inside the input."""
    ty = t.product(
        ("a", t.array(t.product(("x", t.F32), ("s", t.option(t.STRING))))),
        ("b", SHAPE),
        ("c", t.U128),
        name="deep",
    )
    full = codec.encode(ty, ([(1.0, "x"), (2.0, None)], SumValue(1, "Label", "hey"), 1 << 100))
    for k in range(len(full)):
        err = decode_error(ty, full[:k])
        assert 0 <= err.offset <= k


# ---- encode errors ----------------------------------------------------------------------------


def encode_error(ty: AlgebraicType, value: Any) -> EncodeError:
    with pytest.raises(EncodeError) as info:
        codec.encode(ty, value)
    assert info.value.type_name == ty.describe()
    return info.value


def test_wrong_type_for_a_field() -> None:
    encode_error(MESSAGE, (Identity(1), Timestamp(0), 42))  # text is not a str
    encode_error(MESSAGE, ("c200", Timestamp(0), "x"))  # sender is not an Identity
    encode_error(FLAGS, (1, "yes"))  # bool field
    encode_error(FLAGS, (1.5, True))  # float for u32
    encode_error(t.bytes_type(), "abc")
    encode_error(t.array(t.U32), 5)


@pytest.mark.parametrize(
    ("ty", "value"),
    [
        (t.U8, 256),
        (t.U8, -1),
        (t.I8, 128),
        (t.U32, 1 << 32),
        (t.I64, 1 << 63),
        (t.U64, -1),
        (t.U128, 1 << 128),
        (t.I128, -(1 << 127) - 1),
        (t.U256, 1 << 256),
        (t.I256, 1 << 255),
        (t.array(t.U16), [1, 70000]),
        (t.bytes_type(), [1, 256]),
    ],
    ids=repr,
)
def test_int_out_of_range(ty: AlgebraicType, value: Any) -> None:
    encode_error(ty, value)


def test_missing_dict_field() -> None:
    err = encode_error(FLAGS, {"id": 1})
    assert "flag" in str(err)


def test_wrong_field_count() -> None:
    encode_error(FLAGS, (1,))
    encode_error(FLAGS, (1, True, 3))


@pytest.mark.parametrize(
    "value",
    [SumValue(3, "Nope", ()), 7, "Square", -1, object()],
    ids=["tag-3", "int-7", "unknown-name", "negative", "object"],
)
def test_bad_variant(value: Any) -> None:
    encode_error(SHAPE, value)


def test_bad_enum_variant() -> None:
    encode_error(COLOR, 2)
    encode_error(COLOR, "Blue")


def test_naive_datetime_refused() -> None:
    err = encode_error(t.TIMESTAMP, dt.datetime(2025, 1, 1))
    assert "aware" in str(err)
    aware = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    assert codec.encode(t.TIMESTAMP, aware).hex() == "00600cba992a0600"


def test_schedule_at_needs_a_schedule_at() -> None:
    encode_error(t.SCHEDULE_AT, Timestamp(5))


@pytest.mark.parametrize(
    ("ty", "value", "message"),
    [
        (MESSAGE, (Identity(1), Timestamp(0), 123), "text: expected string, got int 123"),
        (MESSAGE, ("c200", Timestamp(0), "x"), "sender: expected Identity, got str 'c200'"),
        (FLAGS, (1, "yes"), "flag: expected bool, got str 'yes'"),
        (FLAGS, (1.5, True), "id: expected u32 (0..4294967295), got float 1.5"),
        (FLAGS, (-1, True), "id: expected u32 (0..4294967295), got int -1 (out of range)"),
        (FLAGS, {"id": 1}, "missing field(s) 'flag'"),
        (FLAGS, (1,), "expected 2 fields (id, flag), got 1"),
        (FLAGS, 7, "expected flags (a tuple, dict or object with fields id, flag), got int 7"),
        (t.I64, 1 << 63, "expected i64 (-9223372036854775808..9223372036854775807), got int"),
        (t.array(t.U16), [1, 70000], "[1]: expected u16 (0..65535), got int 70000 (out of range)"),
        (t.array(t.U32), 5, "expected Array<u32> (a list), got int 5"),
        (SHAPE, SumValue(1, "Label", 5), "Label: expected string, got int 5"),
        (SHAPE, "Square", "expected Shape, got str 'Square' (unknown variant 'Square')"),
        (COLOR, "Blue", "unknown variant 'Blue'"),
        (t.option(t.STRING), 5, "expected string, got int 5"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_encode_errors_name_the_field_the_expected_type_and_the_value(
    ty: AlgebraicType, value: Any, message: str
) -> None:
    err = encode_error(ty, value)
    assert message in str(err)
    # The codec's internals (Python exception names, struct's wording) stay out of it.
    for leak in ("AttributeError", "object has no attribute", "error:", "argument out of range"):
        assert leak not in str(err)


def test_encode_error_paths_reach_into_nested_arrays_and_options() -> None:
    point = t.product(("x", t.I32), ("y", t.I32), name="point")
    path = t.product(("points", t.array(point)), ("label", t.option(t.STRING)), name="path")
    err = encode_error(path, ([(1, 2), (3, 1 << 40)], None))
    assert str(err) == (
        "cannot encode path: points[1].y: expected i32 (-2147483648..2147483647), "
        "got int 1099511627776 (out of range)"
    )
    err = encode_error(path, ([], 5))
    assert str(err) == "cannot encode path: label: expected string, got int 5"


def test_encode_errors_shorten_long_values() -> None:
    err = encode_error(FLAGS, (1, "x" * 500))
    assert "x" * 30 in str(err) and "x" * 60 not in str(err) and "…" in str(err)


# ---- recursion --------------------------------------------------------------------------------


def _tree_type() -> AlgebraicType:
    """``Tree = leaf(u8) | node(Tree)``: a Ref type whose values nest as deep as the bytes say."""
    ts = t.Typespace()
    ts.types.append(t.SumType([("leaf", t.U8), ("node", t.RefType(0, ts))]))
    return t.RefType(0, ts)


DEEP_TREE = b"\x01" * 100_000 + b"\x00\x05"  # 100k nested nodes around leaf(5)


def test_deep_recursive_value_is_a_decode_error_on_every_entry_point() -> None:
    tree = codec.get_codec(_tree_type())
    shallow = b"\x01\x01\x00\x05"
    assert tree.decode(shallow) == SumValue(1, "node", SumValue(1, "node", SumValue(0, "leaf", 5)))
    assert tree.decode_from(b"\xff" + shallow, 1)[1] == 5
    # (call, offset where the too-deep value starts: rows before it decoded fine)
    calls = {
        "decode": (lambda: tree.decode(DEEP_TREE), 0),
        "decode_from": (lambda: tree.decode_from(b"\xff" + DEEP_TREE, 1), 1),
        "decode_rows_packed": (lambda: tree.decode_rows_packed(shallow + DEEP_TREE), 4),
        "decode_rows_offsets": (lambda: tree.decode_rows_offsets(shallow + DEEP_TREE, [0, 4]), 4),
        "decode_rows_list": (lambda: tree.decode_rows_list([shallow, DEEP_TREE]), 0),
    }
    for name, (call, offset) in calls.items():
        with pytest.raises(DecodeError, match="nested too deeply") as info:
            call()
        assert info.value.offset == offset, name


# ---- Identity / ConnectionId constructors ---------------------------------------------------


@pytest.mark.parametrize("cls, nbytes", [(Identity, 32), (ConnectionId, 16)])
def test_id_constructors_refuse_bytes_and_text_and_name_the_right_constructor(
    cls: Any, nbytes: int
) -> None:
    name = cls.__name__
    with pytest.raises(TypeError, match=rf"{name}\.from_bytes\(data\)"):
        cls(b"\x01" * nbytes)
    with pytest.raises(TypeError, match=rf"{name}\.from_hex\(text\)"):
        cls("01" * nbytes)
    with pytest.raises(TypeError, match="got float"):
        cls(1.0)
    with pytest.raises(TypeError, match="got bool"):
        cls(True)
    with pytest.raises(ValueError, match=f"unsigned {nbytes * 8}-bit integer, got -1"):
        cls(-1)
    with pytest.raises(ValueError, match="unsigned"):
        cls(1 << (nbytes * 8))
    # The constructors the messages point to do build the value.
    assert cls.from_bytes(b"\x01" + b"\x00" * (nbytes - 1)) == cls(1)
    assert cls.from_hex("00" * (nbytes - 1) + "01") == cls(1)


def test_an_id_without_a_value_still_has_a_repr() -> None:
    assert repr(Identity.__new__(Identity)) == "Identity(<no value>)"
    assert repr(ConnectionId.__new__(ConnectionId)) == "ConnectionId(<no value>)"
