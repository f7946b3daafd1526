"""Precompiled ``struct`` layouts and error helpers shared by the v1 encoders and decoders."""

from __future__ import annotations

import struct

from ...errors import DecodeError, ProtocolError

U8 = struct.Struct("<B")
U16 = struct.Struct("<H")
U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")
I64 = struct.Struct("<q")
#: Two u32s back to back (e.g. ``table_id`` then the table name's length).
U32_U32 = struct.Struct("<II")
#: u64 then u32 (``num_rows`` then the update count).
U64_U32 = struct.Struct("<QI")
#: ``FixedSize``'s u16 then the rows_data length.
U16_U32 = struct.Struct("<HI")
#: u32 then u8 (``request_id`` then ``flags``).
U32_U8 = struct.Struct("<IB")
#: u32 then u64 (``request_id`` then a u64 duration in micros).
U32_U64 = struct.Struct("<IQ")
#: ``request_id``, u64 micros, ``query_id`` (the head of the four *Applied messages).
U32_U64_U32 = struct.Struct("<IQI")
#: Timestamp, 32 identity bytes, 16 connection-id bytes.
TS_IDENTITY_CONN = struct.Struct("<q32s16s")
#: u128 energy as two u64 halves, then a TimeDuration.
ENERGY_DURATION = struct.Struct("<QQq")
#: Timestamp then TimeDuration then u32.
TS_DUR_U32 = struct.Struct("<qqI")


def failure(reason: str, what: str, offset: int) -> ProtocolError:
    """A ProtocolError naming the field being decoded and the byte offset in the message.

    The ``__cause__`` is a ``DecodeError`` carrying ``type_name`` and ``offset`` as attributes.
    """
    cause = DecodeError(reason, type_name=what, offset=offset)
    return ProtocolError(f"{reason} at byte {offset}", what=what, cause=cause)


def truncated(what: str, offset: int, needed: int, size: int) -> ProtocolError:
    """The message ended (or a length prefix points) past the end of the data."""
    left = max(size - offset, 0)
    return failure(f"truncated: needs {needed} byte(s), {left} left", what, offset)


def invalid_utf8(exc: UnicodeDecodeError, what: str, start: int) -> ProtocolError:
    """A string whose bytes (starting at ``start``) are not UTF-8."""
    return failure(f"invalid UTF-8 ({exc.reason})", what, start + exc.start)
