"""Every case of the golden ``messages.json`` decodes to its value and re-encodes to its bytes."""

from __future__ import annotations

from typing import Any

import pytest
from vector_types import (
    assert_same,
    client_api_type,
    load_vectors,
    type_from_vector,
    value_from_vector,
)

from protocol.message_views import as_sats_value, rows_by_table
from stdb_game.protocol import (
    decode_client_message,
    decode_server_frame,
    decode_server_message,
    encode_client_message,
    encode_server_message,
)
from stdb_game.sats import codec
from stdb_game.sats.types import AlgebraicType, ProductType

CASES: list[dict[str, Any]] = load_vectors("messages.json")
MESSAGES = [c for c in CASES if c.get("kind") != "frame"]
FRAMES = [c for c in CASES if c.get("kind") == "frame"]
CLIENT = [c for c in MESSAGES if c["direction"] == "client_to_server"]
SERVER = [c for c in MESSAGES if c["direction"] == "server_to_client"]
WITH_ROWS = [c for c in CASES if "decoded_rows" in c]


def _row_type(case: dict[str, Any], table: str) -> AlgebraicType:
    """The table's row type, named after the table as a module schema would name it.

    (The sats codec cache treats types that differ only in name as one type, so an unnamed
    copy compiled here would otherwise leak its error labels into other tests.)
    """
    ty = type_from_vector(case["row_schemas"][table])
    assert isinstance(ty, ProductType)
    return ProductType(ty.elements, name=table)


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [c["id"] for c in cases]


def _decode(case: dict[str, Any]) -> Any:
    data = bytes.fromhex(case["hex"])
    if case.get("kind") == "frame":
        return decode_server_frame(data)
    if case["direction"] == "client_to_server":
        return decode_client_message(data, strict=True)
    return decode_server_message(data)


def _assert_matches_value(case: dict[str, Any], msg: Any) -> None:
    ty = type_from_vector(case["type"])
    assert_same(ty, value_from_vector(ty, case["value"]), as_sats_value(ty, msg), case["id"])


def test_the_file_covers_every_variant() -> None:
    assert len(CASES) >= 39
    client_tags = {c["value"]["tag"] for c in CLIENT}
    server_tags = {c["value"]["tag"] for c in SERVER}
    client_ty = client_api_type("ClientMessage")
    server_ty = client_api_type("ServerMessage")
    assert client_tags == {v.name for v in client_ty.resolve().variants}  # type: ignore[attr-defined]
    assert server_tags == {v.name for v in server_ty.resolve().variants}  # type: ignore[attr-defined]
    assert {c["compression"] for c in FRAMES} == {"none", "gzip", "brotli"}


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_decodes_to_value(case: dict[str, Any]) -> None:
    _assert_matches_value(case, _decode(case))


@pytest.mark.parametrize("case", CLIENT, ids=_ids(CLIENT))
def test_client_message_reencodes_exactly(case: dict[str, Any]) -> None:
    msg = decode_client_message(bytes.fromhex(case["hex"]))
    assert encode_client_message(msg).hex() == case["hex"]


@pytest.mark.parametrize("case", SERVER, ids=_ids(SERVER))
def test_server_message_reencodes_exactly(case: dict[str, Any]) -> None:
    """Inner gzip updates are re-emitted as received, so even those cases are byte-exact."""
    msg = decode_server_message(bytes.fromhex(case["hex"]))
    assert encode_server_message(msg).hex() == case["hex"]


@pytest.mark.parametrize("case", FRAMES, ids=_ids(FRAMES))
def test_frame_payload_matches(case: dict[str, Any]) -> None:
    frame = bytes.fromhex(case["hex"])
    assert frame[0] == {"none": 0, "brotli": 1, "gzip": 2}[case["compression"]]
    msg = decode_server_frame(frame)
    assert msg == decode_server_message(bytes.fromhex(case["payload_hex"]))
    assert encode_server_message(msg).hex() == case["payload_hex"]
    if case["compression"] == "none":
        assert frame[1:].hex() == case["payload_hex"]


@pytest.mark.parametrize("case", WITH_ROWS, ids=_ids(WITH_ROWS))
def test_row_slices_decode_to_listed_rows(case: dict[str, Any]) -> None:
    msg = _decode(case)
    got = rows_by_table(msg)
    expected = case["decoded_rows"]
    assert sorted(got) == sorted(expected)
    for table, groups in expected.items():
        row_ty = _row_type(case, table)
        row_codec = codec.get_codec(row_ty)
        for group in ("deletes", "inserts"):
            slices = got[table][group]
            assert len(slices) == len(groups[group]), f"{table}.{group}"
            for i, (raw, row_json) in enumerate(zip(slices, groups[group])):
                assert_same(
                    row_ty,
                    value_from_vector(row_ty, row_json),
                    row_codec.decode(raw),
                    f"{case['id']}.{table}.{group}[{i}]",
                )


@pytest.mark.parametrize("case", WITH_ROWS, ids=_ids(WITH_ROWS))
def test_row_slices_agree_with_packed_decoding(case: dict[str, Any]) -> None:
    """Cutting by the size hint gives the rows the TS SDK finds by decoding back to back."""
    msg = _decode(case)
    for table, groups in rows_by_table(msg).items():
        row_codec = codec.get_codec(_row_type(case, table))
        for slices in groups.values():
            assert [row_codec.decode(s) for s in slices] == row_codec.decode_rows_packed(
                b"".join(slices)
            )
