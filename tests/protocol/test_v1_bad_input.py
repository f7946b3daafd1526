"""Malformed input of every kind raises ProtocolError, never a bare Python error."""

from __future__ import annotations

import gzip
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vector_types import load_vectors

from stdb_game.errors import DecodeError, ProtocolError
from stdb_game.protocol import (
    BROTLI_INSTALL_HINT,
    BsatnRowList,
    CompressableQueryUpdate,
    Compression,
    FixedSize,
    RowOffsets,
    TransactionUpdate,
    decode_client_message,
    decode_server_frame,
    decode_server_message,
)
from stdb_game.protocol import compression as compression_module

CASES: list[dict[str, Any]] = load_vectors("messages.json")
SERVER_PAYLOADS = {
    c["id"]: bytes.fromhex(c.get("payload_hex", c["hex"]))
    for c in CASES
    if c["direction"] == "server_to_client"
}
CLIENT_MESSAGES = {
    c["id"]: bytes.fromhex(c["hex"]) for c in CASES if c["direction"] == "client_to_server"
}
FRAMES = {c["id"]: bytes.fromhex(c["hex"]) for c in CASES if c.get("kind") == "frame"}


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def payload(case_id: str) -> bytes:
    return SERVER_PAYLOADS[case_id]


def offset_of(exc: ProtocolError) -> int:
    cause = exc.__cause__
    assert isinstance(cause, DecodeError), exc
    return cause.offset


# ---- frames and compression -------------------------------------------------------------------


@pytest.mark.parametrize("byte", [3, 4, 0x7F, 0xFF])
def test_unknown_compression_byte(byte: int) -> None:
    body = payload("server_identity_token")
    with pytest.raises(ProtocolError, match=f"unknown compression byte {byte}") as err:
        decode_server_frame(bytes((byte,)) + body)
    assert err.value.what == "frame"


def test_empty_frame() -> None:
    with pytest.raises(ProtocolError, match="empty frame"):
        decode_server_frame(b"")


def test_corrupt_gzip() -> None:
    with pytest.raises(ProtocolError, match="corrupt gzip") as err:
        decode_server_frame(b"\x02" + b"this is not gzip at all")
    assert "gzip" in err.value.what.lower()


def test_truncated_gzip() -> None:
    packed = gzip.compress(payload("server_transaction_update_committed"))
    with pytest.raises(ProtocolError, match="truncated gzip"):
        decode_server_frame(b"\x02" + packed[:-9])


GZIP_HEADER = h("1f8b 0800 00000000 00ff")  # magic, deflate, no flags, mtime 0, XFL 0, OS unknown


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # A gzip magic followed by text: the "header" holds undefined XFL/OS bytes.
        (h("1f8b 0800") + b"garbage", r"corrupt gzip data \(header XFL=0x61 OS=0x67"),
        # A valid header, then bytes that are no deflate block.
        (GZIP_HEADER + b"garbage", "corrupt gzip data .*invalid block type"),
        # A whole stream whose CRC does not match the data.
        (
            gzip.compress(b"hello", mtime=0)[:-8] + bytes(8),
            "corrupt gzip data .*incorrect data check",
        ),
    ],
)
def test_corrupt_gzip_after_the_magic_is_not_called_truncated(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_server_frame(b"\x02" + data)


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (5, r"10-byte header is cut short at 5 bytes"),
        (-3, r"8-byte CRC/length trailer has only 5 byte\(s\)"),
        (-8, r"8-byte CRC/length trailer has only 0 byte\(s\)"),
        (14, r"deflate data ends before its final block, 14 bytes in"),
    ],
)
def test_truncated_gzip_says_where_it_was_cut(cut: int, message: str) -> None:
    packed = gzip.compress(payload("server_transaction_update_committed"), mtime=0)
    with pytest.raises(ProtocolError, match="truncated gzip data .*" + message):
        decode_server_frame(b"\x02" + packed[:cut])


def test_gzip_header_cut_inside_its_file_name() -> None:
    named = h("1f8b 0808 00000000 00ff") + b"rows.bsatn"  # FNAME set, no terminating NUL
    with pytest.raises(ProtocolError, match=r"truncated gzip data .*optional fields"):
        decode_server_frame(b"\x02" + named)


def test_bytes_after_gzip_stream_are_refused() -> None:
    packed = gzip.compress(payload("server_identity_token"))
    assert decode_server_frame(b"\x02" + packed) == decode_server_message(
        payload("server_identity_token")
    )
    with pytest.raises(ProtocolError, match="after the gzip stream"):
        decode_server_frame(b"\x02" + packed + b"\x00")


def test_gzip_that_inflates_to_a_bad_message() -> None:
    with pytest.raises(ProtocolError, match="unknown ServerMessage tag 99"):
        decode_server_frame(b"\x02" + gzip.compress(b"\x63"))


def test_corrupt_brotli() -> None:
    pytest.importorskip("brotli")
    with pytest.raises(ProtocolError, match="corrupt Brotli") as err:
        decode_server_frame(b"\x01" + b"\xff\xff definitely not brotli")
    assert "Brotli" in err.value.what


def test_truncated_brotli() -> None:
    frame = FRAMES["frame_brotli_transaction_update"]
    with pytest.raises(ProtocolError, match=r"(corrupt|truncated) Brotli"):
        decode_server_frame(frame[:-5])


@pytest.fixture
def without_brotli(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pretend the optional brotli package is not installed."""
    monkeypatch.setitem(sys.modules, "brotli", None)  # makes `import brotli` fail
    monkeypatch.setattr(compression_module, "_brotli_module", None)
    yield


@pytest.mark.usefixtures("without_brotli")
def test_brotli_frame_without_the_package_names_the_extra() -> None:
    with pytest.raises(ProtocolError, match=r"pip install stdb-game\[brotli\]") as err:
        decode_server_frame(FRAMES["frame_brotli_transaction_update"])
    assert BROTLI_INSTALL_HINT in str(err.value)
    assert isinstance(err.value.__cause__, ImportError)
    assert not compression_module.brotli_available()


@pytest.mark.usefixtures("without_brotli")
def test_gzip_and_plain_frames_work_without_brotli() -> None:
    decode_server_frame(FRAMES["frame_gzip_subscription_error"])
    decode_server_frame(FRAMES["frame_none_identity_token"])


@pytest.mark.usefixtures("without_brotli")
def test_inner_brotli_update_without_the_package() -> None:
    update = CompressableQueryUpdate(Compression.BROTLI, b"\x0b\x00\x80")
    with pytest.raises(ProtocolError, match=r"stdb-game\[brotli\]"):
        update.query_update()


def test_corrupt_inner_gzip_update() -> None:
    with pytest.raises(ProtocolError, match="corrupt gzip"):
        CompressableQueryUpdate(Compression.GZIP, b"nope").query_update()


def test_inner_update_with_trailing_bytes() -> None:
    inner = h("01 00000000 00000000") * 2 + b"\x00"
    with pytest.raises(ProtocolError, match="1 trailing byte") as err:
        CompressableQueryUpdate(Compression.GZIP, gzip.compress(inner)).query_update()
    assert offset_of(err.value) == 18


# ---- tags -------------------------------------------------------------------------------------


def test_unknown_server_message_tag() -> None:
    with pytest.raises(ProtocolError, match="unknown ServerMessage tag 11") as err:
        decode_server_message(b"\x0b" + bytes(40))
    assert err.value.what == "ServerMessage"
    assert offset_of(err.value) == 0


def test_unknown_client_message_tag() -> None:
    with pytest.raises(ProtocolError, match="unknown ClientMessage tag 8"):
        decode_client_message(b"\x08" + bytes(40))


def test_unknown_nested_tags() -> None:
    committed = payload("server_transaction_update_committed")
    assert committed[1] == 0  # UpdateStatus tag
    with pytest.raises(ProtocolError, match="unknown UpdateStatus tag 3") as err:
        decode_server_message(committed[:1] + b"\x03" + committed[2:])
    assert offset_of(err.value) == 1

    light = payload("server_transaction_update_light")
    # tag, request_id, table count, table_id, name: the first update's tag follows num_rows.
    name_len = int.from_bytes(light[13:17], "little")
    cqu_at = 17 + name_len + 12
    assert light[cqu_at] == 0
    for bad, what in ((3, "CompressableQueryUpdate"), (9, "CompressableQueryUpdate")):
        with pytest.raises(ProtocolError, match=f"unknown {what} tag {bad}") as err:
            decode_server_message(light[:cqu_at] + bytes((bad,)) + light[cqu_at + 1 :])
        assert offset_of(err.value) == cqu_at
    with pytest.raises(ProtocolError, match="unknown RowSizeHint tag 2") as err:
        decode_server_message(light[: cqu_at + 1] + b"\x02" + light[cqu_at + 2 :])
    assert err.value.what == "QueryUpdate.deletes.size_hint"

    procedure = payload("server_procedure_result_returned")
    with pytest.raises(ProtocolError, match="unknown ProcedureStatus tag 3"):
        decode_server_message(procedure[:1] + b"\x03" + procedure[2:])


def test_bad_call_reducer_flags_are_refused_like_the_server() -> None:
    good = CLIENT_MESSAGES["client_call_reducer_send_message"]
    with pytest.raises(ProtocolError, match="invalid CallReducer flags 2") as err:
        decode_client_message(good[:-1] + b"\x02")
    assert offset_of(err.value) == len(good) - 1
    procedure = CLIENT_MESSAGES["client_call_procedure"]
    with pytest.raises(ProtocolError, match="invalid CallProcedure flags 1"):
        decode_client_message(procedure[:-1] + b"\x01")


# ---- truncation and lengths -------------------------------------------------------------------


def _every_prefix(data: bytes, decode: Callable[[bytes], Any]) -> None:
    for n in range(len(data)):
        try:
            decode(data[:n])
        except ProtocolError:
            continue
        raise AssertionError(f"a {n}-byte prefix of {len(data)} bytes decoded without error")


@pytest.mark.parametrize("case_id", sorted(SERVER_PAYLOADS))
def test_every_prefix_of_a_server_message_is_a_protocol_error(case_id: str) -> None:
    _every_prefix(SERVER_PAYLOADS[case_id], decode_server_message)


@pytest.mark.parametrize("case_id", sorted(CLIENT_MESSAGES))
def test_every_prefix_of_a_client_message_is_a_protocol_error(case_id: str) -> None:
    _every_prefix(CLIENT_MESSAGES[case_id], decode_client_message)


@pytest.mark.parametrize("case_id", sorted(FRAMES))
def test_every_prefix_of_a_frame_is_a_protocol_error(case_id: str) -> None:
    _every_prefix(FRAMES[case_id], decode_server_frame)


def test_truncation_error_names_field_and_offset() -> None:
    data = payload("server_identity_token")
    with pytest.raises(ProtocolError) as err:
        decode_server_message(data[:40])
    assert err.value.what == "IdentityToken.token"
    assert offset_of(err.value) == 37
    assert "at byte 37" in str(err.value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_protocol_error(data: bytes) -> None:
    for decode in (decode_server_message, decode_client_message, decode_server_frame):
        try:
            decode(data)
        except ProtocolError:
            pass


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(SERVER_PAYLOADS)),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=255),
)
def test_corrupted_real_messages_only_raise_protocol_error(
    case_id: str, pos: int, byte: int
) -> None:
    data = bytearray(SERVER_PAYLOADS[case_id])
    data[pos % len(data)] = byte
    try:
        decode_server_message(bytes(data))
    except ProtocolError:
        pass


def _assert_small_allocation(decode: Callable[[], Any]) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError, match="truncated"):
            decode()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"decoding allocated {peak} bytes"


def test_giant_string_length_does_not_allocate() -> None:
    data = b"\x03" + bytes(32) + h("ffffffff") + b"abc"
    _assert_small_allocation(lambda: decode_server_message(data))


def test_giant_bytes_length_does_not_allocate() -> None:
    data = h("02 fffffff0") + bytes(10)
    _assert_small_allocation(lambda: decode_client_message(data))


def test_giant_array_count_does_not_allocate() -> None:
    data = h("02 00000000 ffffffff") + bytes(20)  # TransactionUpdateLight with 2^32-1 tables
    _assert_small_allocation(lambda: decode_server_message(data))
    data = h("01 ffffffff") + bytes(20)  # Subscribe with 2^32-1 queries
    _assert_small_allocation(lambda: decode_client_message(data))


def test_giant_row_offsets_count_does_not_allocate() -> None:
    light = payload("server_transaction_update_light")
    name_len = int.from_bytes(light[13:17], "little")
    hint_at = 17 + name_len + 12 + 1
    data = light[:hint_at] + h("01 ffffffff") + bytes(64)
    _assert_small_allocation(lambda: decode_server_message(data))


def test_giant_rows_data_length_does_not_allocate() -> None:
    light = payload("server_transaction_update_light")
    name_len = int.from_bytes(light[13:17], "little")
    hint_at = 17 + name_len + 12 + 1
    data = light[:hint_at] + h("00 1000 ffffffff") + bytes(64)
    _assert_small_allocation(lambda: decode_server_message(data))


# ---- options, UTF-8, trailing bytes -----------------------------------------------------------


def test_bad_option_tag() -> None:
    data = payload("server_subscription_error_full")
    assert data[9] == 0  # request_id: some
    with pytest.raises(ProtocolError, match="bad option tag 2") as err:
        decode_server_message(data[:9] + b"\x02" + data[10:])
    assert err.value.what == "SubscriptionError.request_id"
    assert offset_of(err.value) == 9

    response = payload("server_one_off_query_response_ok")
    id_len = int.from_bytes(response[1:5], "little")
    error_at = 5 + id_len
    assert response[error_at] == 1  # error: none
    with pytest.raises(ProtocolError, match="bad option tag 7") as err:
        decode_server_message(response[:error_at] + b"\x07" + response[error_at + 1 :])
    assert err.value.what == "OneOffQueryResponse.error"


def test_invalid_utf8() -> None:
    token = b"\x03" + bytes(32) + h("04000000") + b"ab\xffc" + bytes(16)
    with pytest.raises(ProtocolError, match="invalid UTF-8") as err:
        decode_server_message(token)
    assert err.value.what == "IdentityToken.token"
    assert offset_of(err.value) == 39
    assert not isinstance(err.value, UnicodeError)

    light = bytearray(payload("server_transaction_update_light"))
    light[17] = 0xC3  # first byte of the table name, now a lone lead byte
    with pytest.raises(ProtocolError, match="invalid UTF-8") as err:
        decode_server_message(bytes(light))
    assert err.value.what == "TableUpdate.table_name"

    reducer = CLIENT_MESSAGES["client_call_reducer_send_message"]
    with pytest.raises(ProtocolError, match="invalid UTF-8"):
        decode_client_message(reducer[:5] + b"\xed\xa0\x80" + reducer[8:])  # a surrogate


def test_trailing_bytes_after_a_server_message_are_refused() -> None:
    data = payload("server_identity_token") + b"\x00\x00"
    with pytest.raises(ProtocolError, match="2 trailing byte") as err:
        decode_server_message(data)
    assert offset_of(err.value) == len(data) - 2
    with pytest.raises(ProtocolError, match="trailing"):
        decode_server_frame(b"\x00" + data)
    assert decode_server_message(data, strict=False) == decode_server_message(data[:-2])


def test_trailing_bytes_after_a_client_message_are_ignored_like_the_server() -> None:
    data = CLIENT_MESSAGES["client_unsubscribe_multi"]
    assert decode_client_message(data + b"junk") == decode_client_message(data)
    with pytest.raises(ProtocolError, match="4 trailing byte"):
        decode_client_message(data + b"junk", strict=True)


def test_memoryview_and_bytearray_input() -> None:
    data = payload("server_transaction_update_committed")
    expected = decode_server_message(data)
    assert decode_server_message(bytearray(data)) == expected
    assert decode_server_message(memoryview(data)) == expected
    msg = decode_server_frame(memoryview(b"\x00" + data))
    assert isinstance(msg, TransactionUpdate)
    assert type(msg.reducer_call.args) is bytes


# ---- row lists --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        (BsatnRowList(RowOffsets((0, 5, 3)), bytes(8)), "decrease"),
        (BsatnRowList(RowOffsets((0, 9)), bytes(8)), "beyond"),
        (BsatnRowList(RowOffsets((2, 4)), bytes(8)), "first row offset is 2"),
        (BsatnRowList(RowOffsets(()), bytes(3)), "belong to no row"),
        (BsatnRowList(FixedSize(0), bytes(3)), r"FixedSize\(0\)"),
        (BsatnRowList(FixedSize(3), bytes(8)), "not a whole number"),
    ],
)
def test_bad_row_lists(rows: BsatnRowList, match: str) -> None:
    with pytest.raises(ProtocolError, match=match) as err:
        rows.row_slices()
    assert err.value.what == "BsatnRowList"
    if isinstance(rows.size_hint, FixedSize):
        with pytest.raises(ProtocolError, match=match):
            len(rows)


def test_bad_row_offsets_from_the_wire() -> None:
    light = payload("server_transaction_update_light")
    name_len = int.from_bytes(light[13:17], "little")
    hint_at = 17 + name_len + 12 + 1
    bad = h("01 02000000 0000000000000000 0900000000000000 04000000 00000000")
    tail = h("01 00000000 00000000")
    msg = decode_server_message(light[:hint_at] + bad + tail)  # decoding keeps the raw hint
    update = msg.update.tables[0].updates[0].query_update()  # type: ignore[union-attr]
    with pytest.raises(ProtocolError, match="beyond"):
        update.deletes.row_slices()


@pytest.mark.parametrize("kind", ["gzip", "brotli"])
def test_compression_bomb_is_refused_not_inflated(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip as _gzip

    import brotli as _brotli

    from stdb_game.protocol import compression

    monkeypatch.setattr(compression, "MAX_DECOMPRESSED_BYTES", 4096)
    blob = b"\0" * 1_000_000
    packed = _gzip.compress(blob) if kind == "gzip" else _brotli.compress(blob)
    mode = compression.Compression.GZIP if kind == "gzip" else compression.Compression.BROTLI
    with pytest.raises(ProtocolError, match="more than 4096 bytes"):
        compression.decompress(packed, mode, "frame")
