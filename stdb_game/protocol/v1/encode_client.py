"""Encode ``ClientMessage``s to BSATN: the bytes of one client binary frame."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...errors import EncodeError
from .client_messages import (
    CallProcedure,
    CallReducer,
    ClientMessage,
    OneOffQuery,
    Subscribe,
    SubscribeMulti,
    SubscribeSingle,
    Unsubscribe,
    UnsubscribeMulti,
)
from .encode_common import encode_with, put_bytes, put_string, put_string_array
from .wire import U32, U32_U8, U32_U32

__all__ = ["encode_client_message"]


def encode_client_message(msg: ClientMessage) -> bytes:
    """The BSATN of ``msg``; values that do not fit their wire type raise EncodeError."""
    return encode_with(_ENCODERS, msg, "ClientMessage")


def _call(tag: bytes, name: str, args: bytes, request_id: int, flags: int, what: str) -> bytes:
    if flags != 0 and (what == "CallProcedure" or flags != 1):
        raise EncodeError(f"invalid flags {flags!r}", type_name=f"{what}.flags")
    raw = name.encode()
    # One join instead of a growing buffer: reducer calls are sent every game frame.
    return b"".join(
        (tag, U32.pack(len(raw)), raw, U32.pack(len(args)), args, U32_U8.pack(request_id, flags))
    )


def _call_reducer(m: CallReducer) -> bytes:
    return _call(b"\x00", m.reducer, m.args, m.request_id, m.flags, "CallReducer")


def _subscribe(m: Subscribe) -> bytes:
    out = bytearray(b"\x01")
    put_string_array(out, m.query_strings)
    out += U32.pack(m.request_id)
    return bytes(out)


def _one_off_query(m: OneOffQuery) -> bytes:
    out = bytearray(b"\x02")
    put_bytes(out, m.message_id)
    put_string(out, m.query_string)
    return bytes(out)


def _subscribe_single(m: SubscribeSingle) -> bytes:
    out = bytearray(b"\x03")
    put_string(out, m.query)
    out += U32_U32.pack(m.request_id, m.query_id.id)
    return bytes(out)


def _subscribe_multi(m: SubscribeMulti) -> bytes:
    out = bytearray(b"\x04")
    put_string_array(out, m.query_strings)
    out += U32_U32.pack(m.request_id, m.query_id.id)
    return bytes(out)


def _unsubscribe(m: Unsubscribe) -> bytes:
    return b"\x05" + U32_U32.pack(m.request_id, m.query_id.id)


def _unsubscribe_multi(m: UnsubscribeMulti) -> bytes:
    return b"\x06" + U32_U32.pack(m.request_id, m.query_id.id)


def _call_procedure(m: CallProcedure) -> bytes:
    return _call(b"\x07", m.procedure, m.args, m.request_id, m.flags, "CallProcedure")


_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    CallReducer: _call_reducer,
    Subscribe: _subscribe,
    OneOffQuery: _one_off_query,
    SubscribeSingle: _subscribe_single,
    SubscribeMulti: _subscribe_multi,
    Unsubscribe: _unsubscribe,
    UnsubscribeMulti: _unsubscribe_multi,
    CallProcedure: _call_procedure,
}
