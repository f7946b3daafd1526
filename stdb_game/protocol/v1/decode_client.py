"""Decode BSATN ``ClientMessage``s (what a server, e.g. the dev server, receives)."""

from __future__ import annotations

from collections.abc import Callable

from .client_messages import (
    CallProcedure,
    CallReducer,
    CallReducerFlags,
    ClientMessage,
    OneOffQuery,
    QueryId,
    Subscribe,
    SubscribeMulti,
    SubscribeSingle,
    Unsubscribe,
    UnsubscribeMulti,
)
from .decode_common import check_end, read_bytes, read_string, read_string_array, read_u32
from .wire import U32_U8, U32_U32, failure, truncated

__all__ = ["decode_client_message"]

_FLAGS = {int(f): f for f in CallReducerFlags}


def decode_client_message(
    data: bytes | bytearray | memoryview, *, strict: bool = False
) -> ClientMessage:
    """Decode one BSATN ``ClientMessage`` (one client binary frame).

    Trailing bytes are ignored by default, as server 1.1.2 does; pass ``strict=True``
    to refuse them. An invalid flags byte is refused like the server refuses it.
    """
    buf = data if type(data) is bytes else bytes(data)
    if not buf:
        raise failure("empty message", "ClientMessage", 0)
    tag = buf[0]
    if tag >= len(_MESSAGE_DECODERS):
        raise failure(f"unknown ClientMessage tag {tag}", "ClientMessage", 0)
    msg, end = _MESSAGE_DECODERS[tag](buf, 1)
    if strict:
        check_end(buf, end, type(msg).__name__)
    return msg


def _request_and_flags(data: bytes, off: int, what: str) -> tuple[int, int]:
    if off + 5 > len(data):
        raise truncated(f"{what}.request_id", off, 5, len(data))
    return U32_U8.unpack_from(data, off)


def _request_and_query(data: bytes, off: int, what: str) -> tuple[int, QueryId]:
    if off + 8 > len(data):
        raise truncated(f"{what}.request_id", off, 8, len(data))
    request_id, query_id = U32_U32.unpack_from(data, off)
    return request_id, QueryId(query_id)


def _call_reducer(data: bytes, off: int) -> tuple[CallReducer, int]:
    reducer, off = read_string(data, off, "CallReducer.reducer")
    args, off = read_bytes(data, off, "CallReducer.args")
    request_id, flags = _request_and_flags(data, off, "CallReducer")
    flag = _FLAGS.get(flags)
    if flag is None:
        raise failure(f"invalid CallReducer flags {flags} (0 or 1)", "CallReducer.flags", off + 4)
    return CallReducer(reducer, args, request_id, flag), off + 5


def _subscribe(data: bytes, off: int) -> tuple[Subscribe, int]:
    queries, off = read_string_array(data, off, "Subscribe.query_strings")
    return Subscribe(queries, read_u32(data, off, "Subscribe.request_id")), off + 4


def _one_off_query(data: bytes, off: int) -> tuple[OneOffQuery, int]:
    message_id, off = read_bytes(data, off, "OneOffQuery.message_id")
    query, off = read_string(data, off, "OneOffQuery.query_string")
    return OneOffQuery(message_id, query), off


def _subscribe_single(data: bytes, off: int) -> tuple[SubscribeSingle, int]:
    query, off = read_string(data, off, "SubscribeSingle.query")
    request_id, query_id = _request_and_query(data, off, "SubscribeSingle")
    return SubscribeSingle(query, request_id, query_id), off + 8


def _subscribe_multi(data: bytes, off: int) -> tuple[SubscribeMulti, int]:
    queries, off = read_string_array(data, off, "SubscribeMulti.query_strings")
    request_id, query_id = _request_and_query(data, off, "SubscribeMulti")
    return SubscribeMulti(queries, request_id, query_id), off + 8


def _unsubscribe(data: bytes, off: int) -> tuple[Unsubscribe, int]:
    return Unsubscribe(*_request_and_query(data, off, "Unsubscribe")), off + 8


def _unsubscribe_multi(data: bytes, off: int) -> tuple[UnsubscribeMulti, int]:
    return UnsubscribeMulti(*_request_and_query(data, off, "UnsubscribeMulti")), off + 8


def _call_procedure(data: bytes, off: int) -> tuple[CallProcedure, int]:
    procedure, off = read_string(data, off, "CallProcedure.procedure")
    args, off = read_bytes(data, off, "CallProcedure.args")
    request_id, flags = _request_and_flags(data, off, "CallProcedure")
    if flags != 0:
        raise failure(
            f"invalid CallProcedure flags {flags} (must be 0)", "CallProcedure.flags", off + 4
        )
    return CallProcedure(procedure, args, request_id, flags), off + 5


_MESSAGE_DECODERS: tuple[Callable[[bytes, int], tuple[ClientMessage, int]], ...] = (
    _call_reducer,
    _subscribe,
    _one_off_query,
    _subscribe_single,
    _subscribe_multi,
    _unsubscribe,
    _unsubscribe_multi,
    _call_procedure,
)
