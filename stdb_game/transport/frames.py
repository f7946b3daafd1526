"""RFC 6455 framing without I/O: masked client frames out, server frames parsed from bytes in.

The decoder is fed whatever the socket returned and keeps partial frames between feeds, so
a message split over many TCP reads (or ticks) comes out whole exactly once. Violations are
recorded, not raised, so the transport can answer with the right close code.
"""

from __future__ import annotations

import os
import struct
from collections import deque
from typing import Union

from websocket import ABNF

from ..errors import ProtocolError
from .base import (
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_NO_STATUS,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_UNSUPPORTED_DATA,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "FrameDecoder",
    "close_payload",
    "encode_frame",
    "mask",
    "parse_close",
]

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024

OP_CONT = ABNF.OPCODE_CONT
OP_TEXT = ABNF.OPCODE_TEXT
OP_BINARY = ABNF.OPCODE_BINARY
OP_CLOSE = ABNF.OPCODE_CLOSE
OP_PING = ABNF.OPCODE_PING
OP_PONG = ABNF.OPCODE_PONG

_HEAD_SHORT = struct.Struct("!BB")
_HEAD_MEDIUM = struct.Struct("!BBH")
_HEAD_LONG = struct.Struct("!BBQ")
_U16 = struct.Struct("!H")
_U64 = struct.Struct("!Q")

Buffer = Union[bytes, bytearray, memoryview]


class _MaskKeys:
    """Masking keys cut from a pool of ``os.urandom`` bytes (one syscall per 1024 keys)."""

    __slots__ = ("_pool", "_pos")

    def __init__(self) -> None:
        self._pool = b""
        self._pos = 0

    def next(self) -> bytes:
        pos = self._pos
        if pos >= len(self._pool):
            self._pool = os.urandom(4096)
            pos = 0
        self._pos = pos + 4
        return self._pool[pos : pos + 4]


_mask_keys = _MaskKeys()


def mask(key: bytes, payload: bytes) -> bytes:
    """XOR ``payload`` with the repeated 4-byte ``key`` (its own inverse), as one big-int XOR."""
    n = len(payload)
    if not n:
        return b""
    repeated = (key * ((n >> 2) + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")).to_bytes(n, "little")


def encode_frame(opcode: int, payload: bytes, mask_key: bytes | None = None) -> bytes:
    """One final client frame, masked as RFC 6455 §5.3 requires of clients."""
    n = len(payload)
    first = 0x80 | opcode
    if n < 126:
        head = _HEAD_SHORT.pack(first, 0x80 | n)
    elif n < 0x10000:
        head = _HEAD_MEDIUM.pack(first, 0x80 | 126, n)
    else:
        head = _HEAD_LONG.pack(first, 0x80 | 127, n)
    key = _mask_keys.next() if mask_key is None else mask_key
    return head + key + mask(key, payload)


def close_payload(code: int, reason: str = "") -> bytes:
    """The body of a Close frame; 1005 means "no status" and is sent as an empty body."""
    if code == CLOSE_NO_STATUS:
        return b""
    # A control frame body is at most 125 bytes: 2 for the code, 123 for the reason.
    return _U16.pack(code) + reason.encode("utf-8")[:123]


class FrameDecoder:
    """Turns a server byte stream into whole binary messages plus control frames.

    ``feed(data)`` returns the control frames found (``(opcode, payload)``; usually an empty
    list) and appends complete binary messages to ``messages``. After a Close frame or a
    violation nothing more is parsed. ``error``/``error_close_code`` describe a violation.
    """

    __slots__ = (
        "_buf",
        "_fragment_size",
        "_fragments",
        "_no_controls",
        "error",
        "error_close_code",
        "finished",
        "max_message_bytes",
        "message_bytes",
        "messages",
    )

    def __init__(self, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self.max_message_bytes = max_message_bytes
        self.messages: deque[bytes] = deque()
        #: Total size of ``messages`` (the caller pops from ``messages`` and subtracts).
        self.message_bytes = 0
        self.error: ProtocolError | None = None
        self.error_close_code = CLOSE_PROTOCOL_ERROR
        #: True after a Close frame or a violation: the stream is over.
        self.finished = False
        self._buf = bytearray()
        self._fragments: list[bytes] | None = None
        self._fragment_size = 0
        self._no_controls: list[tuple[int, bytes]] = []

    @property
    def partial_bytes(self) -> int:
        """Bytes of an unfinished frame held until more arrive."""
        return len(self._buf)

    def feed(self, data: Buffer) -> list[tuple[int, bytes]]:
        """Parse everything whole in ``data`` (after what was kept from earlier feeds)."""
        with memoryview(data) as view:
            return self.feed_prefix(view, len(view))

    def feed_prefix(self, view: memoryview, n: int) -> list[tuple[int, bytes]]:
        """``feed(view[:n])`` without making the slice: for a reused receive buffer."""
        if self.finished:
            return self._no_controls
        buf = self._buf
        if not buf:
            # Common case: nothing left over, so parse straight from the caller's buffer
            # and copy only an unfinished tail.
            controls, used = self._parse(view, n)
            if used < n and not self.finished:
                buf += view[used:n]
            return controls
        buf += view[:n]
        with memoryview(buf) as whole:
            controls, used = self._parse(whole, len(whole))
        if self.finished:
            buf.clear()
        else:
            del buf[:used]
        return controls

    def _fail(self, message: str, close_code: int) -> None:
        self.error = ProtocolError(message, what="websocket frame")
        self.error_close_code = close_code
        self.finished = True

    def _parse(self, view: memoryview, end: int) -> tuple[list[tuple[int, bytes]], int]:
        """Consume whole frames from ``view[:end]``; return control frames and bytes used."""
        controls = self._no_controls
        messages = self.messages
        short_limit = min(self.max_message_bytes, 125)
        pos = 0
        while end - pos >= 2:
            b0 = view[pos]
            b1 = view[pos + 1]
            if b0 == 0x82 and b1 <= short_limit and self._fragments is None:
                # The usual frame: a whole, unmasked binary message under 126 bytes. Same
                # outcome as the general path below, with none of its other cases to test.
                stop = pos + 2 + b1
                if stop > end:
                    break
                messages.append(bytes(view[pos + 2 : stop]))
                self.message_bytes += b1
                pos = stop
                continue
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if end - pos < 4:
                    break
                length = _U16.unpack_from(view, pos + 2)[0]
                head = 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = _U64.unpack_from(view, pos + 2)[0]
                head = 10
            opcode = b0 & 0x0F
            if b1 & 0x80:
                self._fail("server frames must not be masked", CLOSE_PROTOCOL_ERROR)
                break
            if b0 & 0x70:
                self._fail("reserved bits set (no extension was negotiated)", CLOSE_PROTOCOL_ERROR)
                break
            if opcode < 8:
                # Checked on the header so an oversized message is refused before it is read.
                if self._fragment_size + length > self.max_message_bytes:
                    self._fail(
                        f"incoming message of at least {self._fragment_size + length} bytes "
                        f"exceeds the {self.max_message_bytes}-byte limit",
                        CLOSE_MESSAGE_TOO_BIG,
                    )
                    break
            elif not b0 & 0x80 or length > 125:
                self._fail(
                    "control frames must be final and at most 125 bytes", CLOSE_PROTOCOL_ERROR
                )
                break
            start = pos + head
            stop = start + length
            if stop > end:
                break
            pos = stop
            if opcode == OP_BINARY and self._fragments is None:
                if b0 & 0x80:
                    messages.append(bytes(view[start:stop]))
                    self.message_bytes += length
                else:
                    self._fragments = [bytes(view[start:stop])]
                    self._fragment_size = length
            elif opcode == OP_CONT:
                if self._fragments is None:
                    self._fail(
                        "continuation frame without a message to continue", CLOSE_PROTOCOL_ERROR
                    )
                    break
                self._fragments.append(bytes(view[start:stop]))
                self._fragment_size += length
                if b0 & 0x80:
                    messages.append(b"".join(self._fragments))
                    self.message_bytes += self._fragment_size
                    self._fragments = None
                    self._fragment_size = 0
            elif opcode >= 8:
                if controls is self._no_controls:
                    controls = []
                if opcode == OP_CLOSE:
                    controls.append((OP_CLOSE, bytes(view[start:stop])))
                    self.finished = True  # nothing after a Close frame counts
                    break
                if opcode in (OP_PING, OP_PONG):
                    controls.append((opcode, bytes(view[start:stop])))
                else:
                    self._fail(f"reserved control opcode {opcode}", CLOSE_PROTOCOL_ERROR)
                    break
            elif opcode == OP_TEXT:
                self._fail("text frame on a binary-only connection", CLOSE_UNSUPPORTED_DATA)
                break
            elif opcode == OP_BINARY:
                self._fail("new message started inside a fragmented one", CLOSE_PROTOCOL_ERROR)
                break
            else:
                self._fail(f"reserved data opcode {opcode}", CLOSE_PROTOCOL_ERROR)
                break
        return controls, pos


def parse_close(payload: bytes) -> tuple[int, str]:
    """Code and reason of a received Close frame (1005 when it carries no code)."""
    if not payload:
        return CLOSE_NO_STATUS, ""
    if len(payload) == 1:
        return CLOSE_PROTOCOL_ERROR, "malformed close frame"
    return _U16.unpack_from(payload)[0], payload[2:].decode("utf-8", "replace")
