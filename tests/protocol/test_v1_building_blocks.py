"""Row lists, inner compression, frames, flags and encode-side checks."""

from __future__ import annotations

import gzip

import pytest

from stdb_game.errors import EncodeError
from stdb_game.protocol import (
    COMPRESSION_THRESHOLD,
    BsatnRowList,
    CallProcedure,
    CallReducer,
    CallReducerFlags,
    CompressableQueryUpdate,
    Compression,
    DatabaseUpdate,
    EnergyQuanta,
    FixedSize,
    IdentityToken,
    OneOffQuery,
    OutOfEnergy,
    QueryId,
    QueryUpdate,
    ReducerCallInfo,
    RowOffsets,
    Subscribe,
    SubscribeMulti,
    TableUpdate,
    TransactionUpdate,
    TransactionUpdateLight,
    decode_server_frame,
    decode_server_message,
    encode_client_message,
    encode_query_update,
    encode_server_frame,
    encode_server_message,
)
from stdb_game.sats.values import ConnectionId, Identity, TimeDuration, Timestamp

# ---- BsatnRowList -----------------------------------------------------------------------------


def test_fixed_size_and_offsets_give_identical_slices() -> None:
    rows = [bytes([i]) * 4 for i in range(5)]
    fixed = BsatnRowList.from_rows(rows, fixed_size=4)
    offsets = BsatnRowList.from_rows(rows)
    assert fixed.size_hint == FixedSize(4)
    assert offsets.size_hint == RowOffsets((0, 4, 8, 12, 16))
    assert fixed.rows_data == offsets.rows_data
    assert fixed.row_slices() == offsets.row_slices() == rows
    assert len(fixed) == len(offsets) == 5
    assert all(type(s) is bytes for s in fixed.row_slices())


def test_from_rows_auto_picks_fixed_size_only_for_equal_nonzero_lengths() -> None:
    assert BsatnRowList.from_rows_auto([b"ab", b"cd"]).size_hint == FixedSize(2)
    assert BsatnRowList.from_rows_auto([b"ab", b"c"]).size_hint == RowOffsets((0, 2))
    assert BsatnRowList.from_rows_auto([b"", b""]).size_hint == RowOffsets((0, 0))
    assert BsatnRowList.from_rows_auto([]) == BsatnRowList(RowOffsets(()), b"")
    big = [bytes(70_000)]
    assert BsatnRowList.from_rows_auto(big).size_hint == RowOffsets((0,))


def test_from_rows_refuses_rows_that_contradict_the_static_size() -> None:
    with pytest.raises(EncodeError, match="row 1 is 3 bytes"):
        BsatnRowList.from_rows([b"ab", b"abc"], fixed_size=2)


def test_from_rows_falls_back_to_offsets_when_fixed_size_cannot_be_used() -> None:
    assert BsatnRowList.from_rows([b"ab"], fixed_size=None).size_hint == RowOffsets((0,))
    assert BsatnRowList.from_rows([b""], fixed_size=0).size_hint == RowOffsets((0,))
    big = [bytes(70_000)]
    assert BsatnRowList.from_rows(big, fixed_size=70_000).size_hint == RowOffsets((0,))


def test_zero_length_rows_are_counted() -> None:
    rows = BsatnRowList(RowOffsets((0, 0, 0)), b"")
    assert rows.row_slices() == [b"", b"", b""]
    assert len(rows) == 3
    assert BsatnRowList(RowOffsets((0, 2, 2)), b"ab").row_slices() == [b"ab", b"", b""]


def test_empty_lists() -> None:
    assert BsatnRowList.EMPTY.row_slices() == []
    assert len(BsatnRowList.EMPTY) == 0
    assert BsatnRowList(FixedSize(0), b"").row_slices() == []
    assert len(BsatnRowList(FixedSize(0), b"")) == 0
    assert BsatnRowList(FixedSize(8), b"").row_slices() == []


# ---- CompressableQueryUpdate ------------------------------------------------------------------


def _update(n_rows: int) -> QueryUpdate:
    rows = [i.to_bytes(4, "little") + b"row-payload!" for i in range(n_rows)]
    return QueryUpdate(BsatnRowList.EMPTY, BsatnRowList.from_rows(rows, fixed_size=16))


def test_compressed_applies_the_servers_threshold() -> None:
    small, large = _update(2), _update(100)
    assert (
        len(encode_query_update(small)) <= COMPRESSION_THRESHOLD < len(encode_query_update(large))
    )
    for compression in (Compression.GZIP, Compression.BROTLI):
        assert (
            CompressableQueryUpdate.compressed(small, compression).compression is Compression.NONE
        )
        packed = CompressableQueryUpdate.compressed(large, compression)
        assert packed.compression is compression
        assert isinstance(packed.payload, bytes)
        assert packed.query_update() == large
    plain = CompressableQueryUpdate.compressed(large, Compression.NONE)
    assert plain == CompressableQueryUpdate.uncompressed(large)
    assert plain.query_update() is large


def test_query_update_is_decompressed_once() -> None:
    update = CompressableQueryUpdate(
        Compression.GZIP, gzip.compress(encode_query_update(_update(3)))
    )
    first = update.query_update()
    assert update.query_update() is first
    assert first == _update(3)
    # The cache is invisible to equality and hashing.
    twin = CompressableQueryUpdate(Compression.GZIP, update.payload)
    assert twin == update and hash(twin) == hash(update)


def test_variant_and_payload_must_agree() -> None:
    with pytest.raises(TypeError):
        CompressableQueryUpdate(Compression.NONE, b"bytes")
    with pytest.raises(TypeError):
        CompressableQueryUpdate(Compression.GZIP, _update(1))


def test_table_update_query_updates_decompresses_every_entry() -> None:
    gz = CompressableQueryUpdate(Compression.GZIP, gzip.compress(encode_query_update(_update(2))))
    table = TableUpdate(1, "t", 4, (gz, CompressableQueryUpdate.uncompressed(_update(2))))
    assert table.query_updates() == [_update(2), _update(2)]


# ---- frames -----------------------------------------------------------------------------------


def _light(n_rows: int) -> TransactionUpdateLight:
    table = TableUpdate(7, "t", n_rows, (CompressableQueryUpdate.uncompressed(_update(n_rows)),))
    return TransactionUpdateLight(0, DatabaseUpdate((table,)))


def _payload_len(msg: TransactionUpdateLight) -> int:
    return len(encode_server_message(msg))


@pytest.mark.parametrize("compression", [Compression.GZIP, Compression.BROTLI])
def test_frames_are_compressed_only_above_1024_bytes(compression: Compression) -> None:
    small = _light(2)
    frame = encode_server_frame(small, compression)
    assert frame == b"\x00" + encode_server_message(small)
    large = _light(100)
    assert _payload_len(large) > COMPRESSION_THRESHOLD
    frame = encode_server_frame(large, compression)
    assert frame[0] == compression.tag
    assert decode_server_frame(frame) == large


def test_threshold_boundary_is_exclusive() -> None:
    base = _payload_len(_light(0))
    # Each extra 16-byte row adds 16 bytes; pad the table name to land exactly on 1024/1025.
    msg = _light(60)
    pad = COMPRESSION_THRESHOLD - _payload_len(msg)
    assert base < COMPRESSION_THRESHOLD and pad >= 0
    table = msg.update.tables[0]
    exact = TransactionUpdateLight(
        0, DatabaseUpdate((TableUpdate(7, "t" + "x" * pad, 60, table.updates),))
    )
    over = TransactionUpdateLight(
        0, DatabaseUpdate((TableUpdate(7, "t" + "x" * (pad + 1), 60, table.updates),))
    )
    assert _payload_len(exact) == 1024 and _payload_len(over) == 1025
    assert encode_server_frame(exact, Compression.GZIP)[0] == 0
    assert encode_server_frame(over, Compression.GZIP)[0] == 2


def test_no_compression_never_compresses() -> None:
    large = _light(200)
    assert encode_server_frame(large, Compression.NONE) == b"\x00" + encode_server_message(large)


def test_compression_enum() -> None:
    assert [c.value for c in Compression] == ["None", "Brotli", "Gzip"]
    assert [c.query_value for c in Compression] == ["None", "Brotli", "Gzip"]
    assert [c.tag for c in Compression] == [0, 1, 2]
    assert Compression("Gzip") is Compression.GZIP
    assert Compression.from_tag(1) is Compression.BROTLI
    with pytest.raises(ValueError):
        Compression("gzip")  # the server rejects this spelling too
    with pytest.raises(ValueError):
        Compression.from_tag(3)


# ---- flags and encode checks ------------------------------------------------------------------


def test_call_reducer_flags() -> None:
    assert CallReducerFlags.FULL_UPDATE == 0
    assert CallReducerFlags.NO_SUCCESS_NOTIFY == 1
    assert CallReducerFlags.NO_SIDE_EFFECTS is CallReducerFlags.NO_SUCCESS_NOTIFY
    assert CallReducer("r", b"", 0).flags is CallReducerFlags.FULL_UPDATE
    wire = encode_client_message(CallReducer("r", b"", 0, CallReducerFlags.NO_SIDE_EFFECTS))
    assert wire[-1] == 1


def test_lists_are_stored_as_tuples() -> None:
    msg = SubscribeMulti(["a", "b"], 1, QueryId(2))  # type: ignore[arg-type]
    assert msg.query_strings == ("a", "b")
    assert msg == SubscribeMulti(("a", "b"), 1, QueryId(2))
    assert hash(msg) == hash(SubscribeMulti(("a", "b"), 1, QueryId(2)))
    assert Subscribe(["q"], 0).query_strings == ("q",)  # type: ignore[arg-type]


def test_messages_are_frozen() -> None:
    msg = QueryId(1)
    with pytest.raises(AttributeError):
        msg.id = 2  # type: ignore[misc]


def _transaction(energy: int) -> TransactionUpdate:
    return TransactionUpdate(
        OutOfEnergy(),
        Timestamp(0),
        Identity(1),
        ConnectionId(2),
        ReducerCallInfo("r", 0, b"", 0),
        EnergyQuanta(energy),
        TimeDuration(0),
    )


@pytest.mark.parametrize(
    "msg",
    [
        CallReducer("r", b"", -1),
        CallReducer("r", b"", 2**32),
        CallReducer("r", b"", 0, 2),  # type: ignore[arg-type]
        CallProcedure("p", b"", 0, 1),
        CallReducer("\ud800", b"", 0),
        CallReducer("r", "not bytes", 0),  # type: ignore[arg-type]
        OneOffQuery(b"", 5),  # type: ignore[arg-type]
        SubscribeMulti(("q",), 0, QueryId(-5)),
    ],
)
def test_bad_client_values_raise_encode_error(msg: object) -> None:
    with pytest.raises(EncodeError):
        encode_client_message(msg)  # type: ignore[arg-type]


def test_bad_server_values_raise_encode_error() -> None:
    with pytest.raises(EncodeError, match="u128"):
        encode_server_message(_transaction(2**128))
    with pytest.raises(EncodeError):
        encode_server_message(_transaction(-1))
    assert encode_server_message(_transaction(2**128 - 1))
    with pytest.raises(EncodeError, match="not a v1 ServerMessage"):
        encode_server_message(QueryId(1))  # type: ignore[arg-type]
    with pytest.raises(EncodeError, match="not a v1 ClientMessage"):
        encode_client_message(IdentityToken(Identity(0), "", ConnectionId(0)))  # type: ignore[arg-type]


def test_energy_quanta_is_a_frozen_product_of_its_quanta() -> None:
    big = 2**128 - 1
    decoded = decode_server_message(encode_server_message(_transaction(big)))
    assert isinstance(decoded, TransactionUpdate)
    energy = decoded.energy_quanta_used
    assert type(energy) is EnergyQuanta and energy.quanta == big and int(energy) == big
    assert energy == EnergyQuanta(big) and energy != EnergyQuanta(0)
    assert hash(energy) == hash(EnergyQuanta(big))
    with pytest.raises(AttributeError):
        energy.quanta = 1  # type: ignore[misc]


def test_compression_from_tag_refuses_out_of_range() -> None:
    for bad in (-1, 3, 255):
        with pytest.raises(ValueError):
            Compression.from_tag(bad)


def test_compressed_payload_must_be_bytes() -> None:
    with pytest.raises(TypeError):
        CompressableQueryUpdate(Compression.GZIP, bytearray(b"x"))  # type: ignore[arg-type]


# ---- decoder internals ------------------------------------------------------------------------


def test_unchecked_constructor_builds_equal_objects() -> None:
    from stdb_game.protocol.v1.unchecked import unchecked_constructor

    build = unchecked_constructor(CompressableQueryUpdate)
    update = _update(1)
    fast = build(Compression.NONE, update)
    normal = CompressableQueryUpdate.uncompressed(update)
    assert fast == normal and hash(fast) == hash(normal)
    assert fast.query_update() is update
    with pytest.raises(AttributeError):
        fast.payload = b""  # type: ignore[misc]
    with pytest.raises(TypeError):
        unchecked_constructor(int)


def test_repeated_callers_share_identity_objects() -> None:
    msg = _transaction(5)
    first = decode_server_frame(encode_server_frame(msg, Compression.NONE))
    second = decode_server_frame(encode_server_frame(msg, Compression.NONE))
    assert first == second == msg
    assert isinstance(first, TransactionUpdate) and isinstance(second, TransactionUpdate)
    assert first.caller_identity is second.caller_identity
    assert first.caller_connection_id is second.caller_connection_id


def test_identity_cache_stays_bounded() -> None:
    from stdb_game.protocol.v1 import decode_server

    for i in range(decode_server._CACHE_LIMIT * 2 + 3):
        msg = _transaction(0)
        msg = TransactionUpdate(
            msg.status,
            msg.timestamp,
            Identity(i),
            ConnectionId(i),
            msg.reducer_call,
            msg.energy_quanta_used,
            msg.total_host_execution_duration,
        )
        decoded = decode_server_frame(encode_server_frame(msg, Compression.NONE))
        assert decoded == msg
    assert len(decode_server._identities) <= decode_server._CACHE_LIMIT
    assert len(decode_server._connection_ids) <= decode_server._CACHE_LIMIT
