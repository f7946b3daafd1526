"""The byte-exact examples of spec/protocol.md §7, written out from the spec's tables."""

from __future__ import annotations

from stdb_game.protocol import (
    BsatnRowList,
    CallReducer,
    CallReducerFlags,
    Committed,
    CompressableQueryUpdate,
    Compression,
    DatabaseUpdate,
    EnergyQuanta,
    Failed,
    FixedSize,
    IdentityToken,
    OneOffQuery,
    QueryId,
    QueryUpdate,
    ReducerCallInfo,
    RowOffsets,
    SubscribeMulti,
    SubscribeMultiApplied,
    SubscriptionError,
    TableUpdate,
    TransactionUpdate,
    TransactionUpdateLight,
    UnsubscribeMulti,
    decode_client_message,
    decode_server_frame,
    decode_server_message,
    encode_client_message,
    encode_server_frame,
    encode_server_message,
)
from stdb_game.sats.values import ConnectionId, Identity, TimeDuration, Timestamp

IDENTITY = Identity.from_hex("c200b4e1f9a3d7c50123456789abcdef0123456789abcdef0123456789abcdef")
IDENTITY_WIRE = bytes.fromhex("efcdab8967452301" * 3 + "c5d7a3f9e1b400c2")
CONNECTION = ConnectionId.from_hex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
CONNECTION_WIRE = bytes.fromhex("f0e1d2c3b4a5968778695a4b3c2d1e0f")
NEW_YEAR = Timestamp(1735689600000000)
NEW_YEAR_WIRE = bytes.fromhex("00600cba992a0600")
EMPTY_ROWS_WIRE = bytes.fromhex("010000000000000000")


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def test_value_wire_forms() -> None:
    assert IDENTITY.to_bytes() == IDENTITY_WIRE
    assert CONNECTION.to_bytes() == CONNECTION_WIRE


def test_call_reducer_send_message() -> None:
    wire = (
        h("00")
        + h("0c000000")
        + b"send_message"
        + h("06000000")
        + h("02000000 6869")
        + h("07000000")
        + h("00")
    )
    assert len(wire) == 32
    msg = CallReducer("send_message", h("02000000 6869"), 7, CallReducerFlags.FULL_UPDATE)
    assert encode_client_message(msg) == wire
    assert decode_client_message(wire) == msg


def test_subscribe_multi() -> None:
    query = "SELECT * FROM user"
    wire = h("04 01000000 12000000") + query.encode() + h("01000000 01000000")
    msg = SubscribeMulti((query,), 1, QueryId(1))
    assert encode_client_message(msg) == wire
    assert decode_client_message(wire) == msg


def test_unsubscribe_multi() -> None:
    wire = h("06 02000000 01000000")
    msg = UnsubscribeMulti(2, QueryId(1))
    assert encode_client_message(msg) == wire
    assert decode_client_message(wire) == msg


def test_one_off_query() -> None:
    query = "SELECT * FROM message"
    assert len(query) == 21
    wire = h("02 02000000 0102 15000000") + query.encode()
    msg = OneOffQuery(h("0102"), query)
    assert encode_client_message(msg) == wire
    assert decode_client_message(wire) == msg


def test_identity_token_frame() -> None:
    frame = h("00 03") + IDENTITY_WIRE + h("04000000 65794a30") + CONNECTION_WIRE
    msg = IdentityToken(IDENTITY, "eyJ0", CONNECTION)
    assert decode_server_frame(frame) == msg
    assert encode_server_frame(msg, Compression.GZIP) == frame  # small: never compressed


def _user_row() -> bytes:
    return IDENTITY_WIRE + h("00 03000000 626f62") + h("01")


def test_subscribe_multi_applied_frame() -> None:
    row = _user_row()
    assert len(row) == 41
    frame = (
        h("00 08 01000000 fa00000000000000 01000000")
        + h("01000000")  # one table
        + h("01100000 04000000") + b"user"
        + h("0100000000000000 01000000 00")
        + EMPTY_ROWS_WIRE
        + h("01 01000000 0000000000000000 29000000")
        + row
    )  # fmt: skip
    assert len(frame) == 114
    inserts = BsatnRowList(RowOffsets((0,)), row)
    update = QueryUpdate(BsatnRowList(RowOffsets(()), b""), inserts)
    table = TableUpdate(4097, "user", 1, (CompressableQueryUpdate.uncompressed(update),))
    msg = SubscribeMultiApplied(1, 250, QueryId(1), DatabaseUpdate((table,)))
    assert decode_server_frame(frame) == msg
    assert encode_server_frame(msg, Compression.NONE) == frame
    assert inserts.row_slices() == [row]
    assert BsatnRowList.from_rows([row]) == inserts


def _message_row() -> bytes:
    return IDENTITY_WIRE + NEW_YEAR_WIRE + h("02000000 6869")


def _reducer_tail(request_id: int) -> bytes:
    return (
        NEW_YEAR_WIRE
        + IDENTITY_WIRE
        + CONNECTION_WIRE
        + h("0c000000") + b"send_message"
        + h("03000000")
        + h("06000000 02000000 6869")
        + request_id.to_bytes(4, "little")
        + bytes(16)
        + h("7800000000000000")
    )  # fmt: skip


def _transaction(status: Committed | Failed, request_id: int) -> TransactionUpdate:
    return TransactionUpdate(
        status=status,
        timestamp=NEW_YEAR,
        caller_identity=IDENTITY,
        caller_connection_id=CONNECTION,
        reducer_call=ReducerCallInfo("send_message", 3, h("02000000 6869"), request_id),
        energy_quanta_used=EnergyQuanta(0),
        total_host_execution_duration=TimeDuration(120),
    )


def test_transaction_update_committed() -> None:
    row = _message_row()
    payload = (
        h("01 00 01000000 02100000 07000000") + b"message"
        + h("0100000000000000 01000000 00")
        + EMPTY_ROWS_WIRE
        + h("01 01000000 0000000000000000 2e000000")
        + row
        + _reducer_tail(7)
    )  # fmt: skip
    assert len(payload) == 220
    update = QueryUpdate(BsatnRowList.EMPTY, BsatnRowList.from_rows([row]))
    table = TableUpdate(4098, "message", 1, (CompressableQueryUpdate.uncompressed(update),))
    msg = _transaction(Committed(DatabaseUpdate((table,))), 7)
    assert decode_server_message(payload) == msg
    assert encode_server_message(msg) == payload
    assert decode_server_frame(b"\x00" + payload) == msg


def test_transaction_update_failed() -> None:
    payload = h("01 01 04000000") + b"boom" + _reducer_tail(0)
    msg = _transaction(Failed("boom"), 0)
    assert decode_server_message(payload) == msg
    assert encode_server_message(msg) == payload


def test_subscription_error() -> None:
    payload = h("07 0a00000000000000 0001000000 0005000000 01 03000000 626164")
    msg = SubscriptionError(10, 1, 5, None, "bad")
    assert decode_server_message(payload) == msg
    assert encode_server_message(msg) == payload


def test_transaction_update_light() -> None:
    update = DatabaseUpdate(())
    payload = h("02 00000000") + h("00000000")
    msg = TransactionUpdateLight(0, update)
    assert decode_server_message(payload) == msg
    assert encode_server_message(msg) == payload


def test_fixed_size_row_list() -> None:
    wire = h("00 0500 0a000000 0500000001 0600000000")
    update = decode_server_message(
        h("02 00000000 01000000 01100000 01000000") + b"t" + h("0200000000000000 01000000 00")
        + EMPTY_ROWS_WIRE + wire
    )  # fmt: skip
    assert isinstance(update, TransactionUpdateLight)
    rows = update.update.tables[0].updates[0].query_update().inserts
    assert rows == BsatnRowList(FixedSize(5), h("0500000001 0600000000"))
    assert rows.row_slices() == [h("0500000001"), h("0600000000")]
    assert len(rows) == 2
    assert BsatnRowList.from_rows(rows.row_slices(), fixed_size=5) == rows


def test_empty_row_list_is_row_offsets() -> None:
    """Servers emit ``RowOffsets([])`` with empty data: bytes ``01 00000000 00000000``."""
    assert BsatnRowList.from_rows([]) == BsatnRowList(RowOffsets(()), b"")
    assert BsatnRowList.from_rows([], fixed_size=5) == BsatnRowList(RowOffsets(()), b"")
    table = TableUpdate(1, "t", 0, (CompressableQueryUpdate.uncompressed(
        QueryUpdate(BsatnRowList.from_rows([]), BsatnRowList.from_rows([]))
    ),))  # fmt: skip
    wire = encode_server_message(TransactionUpdateLight(0, DatabaseUpdate((table,))))
    assert wire.endswith(h("00") + EMPTY_ROWS_WIRE + EMPTY_ROWS_WIRE)
