"""Every golden BSATN case from the official TS SDK decodes to its value and encodes to its bytes."""

from __future__ import annotations

from typing import Any

import pytest
from vector_types import assert_same, load_vectors, type_from_vector, value_from_vector

from stdb_game.sats import codec
from stdb_game.sats import types as t
from stdb_game.sats.values import Some

CASES: list[dict[str, Any]] = load_vectors("bsatn.json")


def test_the_file_has_cases() -> None:
    assert len(CASES) >= 50
    assert len({c["id"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_decodes_to_value(case: dict[str, Any]) -> None:
    ty = type_from_vector(case["type"])
    expected = value_from_vector(ty, case["value"])
    assert_same(ty, expected, codec.decode(ty, bytes.fromhex(case["hex"])))


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_encodes_to_bytes(case: dict[str, Any]) -> None:
    ty = type_from_vector(case["type"])
    value = value_from_vector(ty, case["value"])
    assert codec.encode(ty, value).hex() == case["hex"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_rows_helpers_agree(case: dict[str, Any]) -> None:
    """Three back-to-back copies decode the same through packed, offsets and fixed row lists."""
    ty = type_from_vector(case["type"])
    expected = value_from_vector(ty, case["value"])
    one = bytes.fromhex(case["hex"])
    c = codec.get_codec(ty)
    if not one:
        return  # zero-byte values cannot be counted in a row list
    data = one * 3
    for rows in (
        c.decode_rows_packed(data),
        c.decode_rows_offsets(data, [0, len(one), 2 * len(one)]),
        c.decode_rows_fixed(data, len(one)) if ty.resolve().static_size else None,
    ):
        if rows is not None:
            assert len(rows) == 3
            for row in rows:
                assert_same(ty, expected, row)


def test_generated_cases_match_their_note() -> None:
    """Cases the SDK could not produce normally (Some(None)) decode per the type, not the SDK."""
    for case in CASES:
        if "generation_note" in case or "ts_sdk_decodes_as" in case:
            ty = type_from_vector(case["type"])
            expected = value_from_vector(ty, case["value"])
            assert_same(ty, expected, codec.decode(ty, bytes.fromhex(case["hex"])))


def test_some_none_decodes_to_some_none() -> None:
    """The withheld Some(None) case (README limitations): `00 01` is Some(None), not None."""
    ty = type_from_vector({"option": {"option": "i32"}})
    assert value_from_vector(ty, {"some": None}) == Some(None)
    assert codec.decode(ty, bytes.fromhex("0001")) == Some(None)
    assert codec.encode(ty, Some(None)) == bytes.fromhex("0001")
    assert codec.decode(ty, bytes.fromhex("01")) is None
    assert codec.decode(ty, bytes.fromhex("000007000000")) == 7


def test_spec_worked_examples() -> None:
    """The table in bsatn.md §4 (values not already in bsatn.json)."""
    from stdb_game.sats.values import ConnectionId, Identity, ScheduleAt, TimeDuration, Timestamp

    ident = Identity.from_hex("c200b4e1f9a3d7c5" + "0123456789abcdef" * 3)
    user = t.product(("identity", t.IDENTITY), ("name", t.option(t.STRING)), ("online", t.BOOL))
    examples: list[tuple[t.AlgebraicType, Any, str]] = [
        (t.U8, 200, "c8"),
        (t.I8, -1, "ff"),
        (t.U16, 0x1234, "3412"),
        (t.I16, -2, "feff"),
        (t.I32, -1000, "18fcffff"),
        (t.U64, 1 << 40, "0000000000010000"),
        (t.U128, 1, "01" + "00" * 15),
        (t.I128, -2, "fe" + "ff" * 15),
        (t.U256, 1, "01" + "00" * 31),
        (t.I256, -1, "ff" * 32),
        (t.F32, 1.5, "0000c03f"),
        (t.F64, -0.5, "000000000000e0bf"),
        (t.STRING, "héllo", "0600000068c3a96c6c6f"),
        (t.bytes_type(), b"\xde\xad", "02000000dead"),
        (t.array(t.U16), [1, 2], "0200000001000200"),
        (t.array(t.STRING), ["a", "bc"], "020000000100000061020000006263"),
        (t.option(t.STRING), "ab", "00020000006162"),
        (t.option(t.option(t.U8)), Some(None), "0001"),
        (t.product(("x", t.I32), ("y", t.BOOL)), (5, False), "0500000000"),
        (t.UNIT, (), ""),
        (t.IDENTITY, ident, "efcdab8967452301" * 3 + "c5d7a3f9e1b400c2"),
        (
            t.CONNECTION_ID,
            ConnectionId.from_hex("0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
            "f0e1d2c3b4a5968778695a4b3c2d1e0f",
        ),
        (t.TIMESTAMP, Timestamp(1735689600000000), "00600cba992a0600"),
        (t.TIME_DURATION, TimeDuration(1_000_000), "40420f0000000000"),
        (t.SCHEDULE_AT, ScheduleAt.interval(TimeDuration(1_000_000)), "0040420f0000000000"),
        (t.SCHEDULE_AT, ScheduleAt.time(Timestamp(1735689600000000)), "0100600cba992a0600"),
        (user, (ident, "bob", True), ident.to_bytes().hex() + "0003000000626f6201"),
        (t.product(("name", t.STRING)), ("bob",), "03000000626f62"),
        (t.product(), (), ""),
    ]
    for ty, value, hexstr in examples:
        assert codec.encode(ty, value).hex() == hexstr, (ty, value)
        assert codec.decode(ty, bytes.fromhex(hexstr)) == value, (ty, hexstr)
    assert len(codec.encode(user, (ident, "bob", True))) == 41
