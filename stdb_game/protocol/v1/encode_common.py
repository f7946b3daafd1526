"""Writers for the BSATN pieces both message directions share, and error translation."""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import TypeVar

from ...errors import EncodeError
from .wire import U32

M = TypeVar("M")

#: What a bad field value raises on its way through struct / str.encode / int.to_bytes.
_VALUE_ERRORS = (struct.error, OverflowError, UnicodeError, TypeError, AttributeError)


def put_bytes(out: bytearray, data: bytes) -> None:
    out += U32.pack(len(data))
    out += data


def put_string(out: bytearray, text: str) -> None:
    raw = text.encode()
    out += U32.pack(len(raw))
    out += raw


def put_string_array(out: bytearray, items: Sequence[str]) -> None:
    out += U32.pack(len(items))
    for item in items:
        put_string(out, item)


def put_option_u32(out: bytearray, value: int | None) -> None:
    if value is None:
        out.append(1)
    else:
        out.append(0)
        out += U32.pack(value)


def encode_with(encoders: dict[type, Callable[[M], bytes]], msg: M, family: str) -> bytes:
    """Run the encoder registered for ``type(msg)``; bad values become EncodeError."""
    encoder = encoders.get(type(msg))
    if encoder is None:
        raise EncodeError(f"{type(msg).__name__} is not a v1 {family}", type_name=family)
    try:
        return encoder(msg)
    except EncodeError:
        raise
    except _VALUE_ERRORS as exc:
        raise EncodeError(str(exc), type_name=type(msg).__name__) from exc
