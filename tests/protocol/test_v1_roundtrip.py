"""Random messages survive encode -> decode unchanged, through plain and compressed frames."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.strategies import client_messages, query_updates, row_lists, server_messages
from stdb_game.errors import ProtocolError
from stdb_game.protocol import (
    BsatnRowList,
    ClientMessage,
    CompressableQueryUpdate,
    Compression,
    QueryUpdate,
    ServerMessage,
    decode_client_message,
    decode_query_update,
    decode_server_frame,
    decode_server_message,
    encode_client_message,
    encode_query_update,
    encode_server_frame,
    encode_server_message,
)


@settings(max_examples=400, deadline=None)
@given(client_messages)
def test_client_message_round_trip(msg: ClientMessage) -> None:
    data = encode_client_message(msg)
    assert data[0] == type(msg).TAG
    assert decode_client_message(data, strict=True) == msg


@settings(max_examples=400, deadline=None)
@given(server_messages)
def test_server_message_round_trip(msg: ServerMessage) -> None:
    data = encode_server_message(msg)
    assert data[0] == type(msg).TAG
    decoded = decode_server_message(data)
    assert decoded == msg
    assert encode_server_message(decoded) == data


@settings(max_examples=100, deadline=None)
@given(server_messages, st.sampled_from(list(Compression)))
def test_server_frame_round_trip(msg: ServerMessage, compression: Compression) -> None:
    assert decode_server_frame(encode_server_frame(msg, compression)) == msg


@settings(max_examples=200, deadline=None)
@given(query_updates, st.sampled_from([Compression.GZIP, Compression.BROTLI]))
def test_inner_compression_round_trip(update: QueryUpdate, compression: Compression) -> None:
    wrapped = CompressableQueryUpdate.compressed(update, compression, threshold=0)
    assert wrapped.compression is compression
    assert wrapped.query_update() == update
    assert decode_query_update(encode_query_update(update)) == update


@settings(max_examples=200, deadline=None)
@given(row_lists())
def test_well_formed_row_lists_slice_back_to_their_rows(rows: BsatnRowList) -> None:
    try:
        slices = rows.row_slices()
    except ProtocolError:
        return  # raw hints drawn at random need not describe their data
    assert b"".join(slices) == rows.rows_data
    assert len(slices) == len(rows)
    for rebuilt in (BsatnRowList.from_rows(slices), BsatnRowList.from_rows_auto(slices)):
        assert rebuilt.row_slices() == slices
