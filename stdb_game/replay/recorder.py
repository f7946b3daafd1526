"""``SessionRecorder``: append a client's session to a crash-safe recording as it happens.

The client calls it (``Client(record_to=...)``) for every frame in and out, every tick
boundary, every connection and disconnect. Records go to a memory buffer and reach the
file at tick boundaries (or every ``flush_interval`` seconds, or when the buffer grows
past ``flush_bytes``), so a game pays a few appends per frame and one ``write`` per tick.
Each record is framed with its length and CRC32, so a crash tears at most the last one.

The token never reaches the file: connection parameters only say ``has_token``, and an
``IdentityToken`` frame is re-encoded, uncompressed, with the token replaced by
``REDACTED_TOKEN`` before it is stored.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import logging
import os
import struct
import time
import weakref
import zlib
from collections.abc import Mapping
from typing import Any, BinaryIO

import msgpack

from .. import protocol as P
from ..errors import ProtocolError, SchemaError
from ..schema import ModuleSchema
from ..transport import CloseInfo
from .format import FORMAT_NAME, FORMAT_VERSION, MAGIC, RECORD_HEAD, REDACTED_TOKEN, RecordKind

__all__ = ["SessionRecorder", "redact_identity_token"]

log = logging.getLogger("stdb_game.replay")

_IDENTITY_TOKEN_TAG = P.IdentityToken.TAG
_INBOUND_PREFIX = bytes((0x92, RecordKind.INBOUND))  # fixarray(2), kind
_OUTBOUND_PREFIX = bytes((0x93, RecordKind.OUTBOUND))  # fixarray(3), kind
_FLOAT = struct.Struct(">Bd")  # msgpack float64
#: Tick records encoded by hand (fixarray, kind, uint64..., float64): the per-tick cost
#: of recording is mostly these two records, and struct packs them in one call.
_TICK = struct.Struct(">BBBIBd")
_TICK_END = struct.Struct(">BBBIBIBd")
_QUIET_TICK = struct.Struct(">BBBIBdBIBd")
_U32 = 1 << 32
_crc32 = zlib.crc32
_pack_head = RECORD_HEAD.pack
#: Brotli frames above this size are inspected only when they open a connection: an
#: IdentityToken is a few hundred bytes, and decompressing big frames twice costs a game.
_BROTLI_PEEK_LIMIT = 64 * 1024
#: Stored instead of an IdentityToken frame that cannot be decoded: it fails again on replay.
_UNREADABLE_IDENTITY_TOKEN = bytes((0, _IDENTITY_TOKEN_TAG))
#: Stored instead of a Brotli frame that cannot be inspected (no brotli package): the client
#: fails the same way on it, and nothing token-like can hide in it.
_UNINSPECTABLE_BROTLI = b"\x01"

_open_recorders: weakref.WeakSet[SessionRecorder] = weakref.WeakSet()


@atexit.register
def _flush_open_recorders() -> None:
    """Write what is buffered when the interpreter exits, even after an uncaught exception."""
    for rec in list(_open_recorders):
        rec.flush()


def _bin_header(n: int) -> bytes:
    if n < 0x100:
        return bytes((0xC4, n))
    if n < 0x10000:
        return b"\xc5" + n.to_bytes(2, "big")
    return b"\xc6" + n.to_bytes(4, "big")


def _first_byte_gzip(payload: memoryview) -> int | None:
    try:
        head = zlib.decompressobj(wbits=31).decompress(payload, 1)
    except zlib.error:
        return None
    return head[0] if head else None


def _first_byte_brotli(payload: memoryview, whole: bool) -> int | bool | None:
    """First decompressed byte; False when brotli is missing (cannot inspect)."""
    try:
        import brotli
    except ImportError:
        return False
    if not whole and len(payload) > _BROTLI_PEEK_LIMIT:
        return None
    try:
        try:
            head = brotli.Decompressor().process(bytes(payload), output_buffer_limit=1)
        except TypeError:  # brotli < 1.2 has no output limit
            head = brotli.decompress(bytes(payload))
    except brotli.error:
        return None
    return head[0] if head else None


def redact_identity_token(frame: bytes, *, first_of_connection: bool = True) -> bytes:
    """``frame`` with the token of an ``IdentityToken`` replaced; other frames unchanged."""
    if len(frame) < 2:
        return frame
    tag = frame[0]
    if tag == 0:
        if frame[1] != _IDENTITY_TOKEN_TAG:
            return frame
    elif tag == 2:
        if _first_byte_gzip(memoryview(frame)[1:]) != _IDENTITY_TOKEN_TAG:
            return frame
    elif tag == 1:
        first = _first_byte_brotli(memoryview(frame)[1:], first_of_connection)
        if first is False:
            return _UNINSPECTABLE_BROTLI
        if first != _IDENTITY_TOKEN_TAG:
            return frame
    else:
        return frame  # no valid compression byte: the client rejects it unread
    try:
        msg = P.decode_server_frame(frame)
    except ProtocolError:
        return _UNREADABLE_IDENTITY_TOKEN
    if not isinstance(msg, P.IdentityToken):
        return frame
    return b"\x00" + P.encode_server_message(dataclasses.replace(msg, token=REDACTED_TOKEN))


def _schema_text(schema: ModuleSchema | Mapping[str, Any] | str | None) -> str | None:
    if schema is None:
        return None
    if isinstance(schema, str):
        return schema
    try:
        if isinstance(schema, ModuleSchema):
            # Bindings build their schema from objects, with no JSON kept: rebuild it.
            raw = schema.raw if schema.raw is not None else schema.to_json()
        else:
            raw = schema
        return json.dumps(raw, separators=(",", ":"))
    except (
        TypeError,
        ValueError,
        AttributeError,
        KeyError,
        NotImplementedError,
        SchemaError,
    ) as exc:
        log.warning("the schema could not be stored in the recording: %s", exc)
        return None


def _plain(value: Any) -> Any:
    """``value`` made packable: big ints and unknown objects become text."""
    if isinstance(value, bool) or value is None or isinstance(value, (float, str, bytes)):
        return value
    if isinstance(value, int):
        return value if -(1 << 63) <= value < 1 << 64 else str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return repr(value)


def _pack(obj: Any) -> bytes:
    """msgpack of a record; values msgpack refuses are stored as text, never raised."""
    try:
        data: bytes = msgpack.packb(obj)
    except (TypeError, ValueError, OverflowError):
        data = msgpack.packb(_plain(obj))
    return data


def _close_info(info: CloseInfo | None) -> dict[str, Any] | None:
    if info is None:
        return None
    return {
        "kind": info.kind.value,
        "code": info.code,
        "reason": info.reason,
        "error": None if info.error is None else str(info.error),
        "error_type": None if info.error is None else type(info.error).__name__,
        "initiated_locally": info.initiated_locally,
    }


class SessionRecorder:
    """Writes one client session to ``target`` (a path, or a binary file you own).

    ``flush_interval`` (seconds of client clock) spaces out writes when ticks are very
    frequent; 0 writes at every tick boundary. ``flush_bytes`` bounds the buffer during
    bursts. ``fsync`` also survives a power cut, at the cost of a disk sync per flush.
    ``schema`` stores a schema other than the client's (a ``ModuleSchema``, its JSON as a
    mapping or text; the client's own is stored otherwise, whatever it was built from), and
    ``meta`` any JSON-like facts you want in the header (build id, player id...).
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | BinaryIO,
        *,
        schema: ModuleSchema | Mapping[str, Any] | str | None = None,
        meta: Mapping[str, Any] | None = None,
        flush_interval: float = 0.0,
        flush_bytes: int = 1 << 20,
        fsync: bool = False,
    ) -> None:
        if isinstance(target, (str, os.PathLike)):
            self._file: Any = open(target, "wb", buffering=0)  # noqa: SIM115 - closed in close()
            self._owns_file = True
            self.path: str | None = os.fspath(target)
        else:
            self._file = target
            self._owns_file = False
            self.path = getattr(target, "name", None)
        self.flush_interval = flush_interval
        self.flush_bytes = flush_bytes
        self.fsync = fsync
        self._header: dict[str, Any] | None = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "created": time.time(),
            "sdk": _sdk_version(),
            "schema": _schema_text(schema),
            "meta": dict(meta) if meta else {},
        }
        self._schema_stored = self._header["schema"] is not None
        self._buf = bytearray()
        self._last_flush: float | None = None
        self._last_now: float | None = None
        self._first_inbound = True
        #: (index, now) of a started tick whose record is not written yet.
        self._pending_tick: tuple[int, float] | None = None
        self._closed = False
        #: The write error that stopped recording, if any (the game goes on regardless).
        self.failed: OSError | None = None
        #: Bytes handed to the file so far.
        self.bytes_written = 0
        #: Records appended so far (the header included once written).
        self.records = 0
        _open_recorders.add(self)

    # ---- the Recorder protocol (called by the client) -------------------------------------

    def connection(self, params: dict[str, Any]) -> None:
        """A connection was opened; stores its parameters, never a token."""
        if self._closed:
            return
        params = {k: v for k, v in params.items() if "token" not in k or k == "has_token"}
        given = params.pop("schema", None)
        schema = None if self._schema_stored else _schema_text(given)
        if schema is not None:
            self._schema_stored = True
            if self._header is not None:
                self._header["schema"] = schema  # header not written yet: it goes there
            else:
                params["schema"] = schema
        self._first_inbound = True
        self._append(_pack([RecordKind.CONNECTION, self._last_now, params]))

    def inbound(self, frame: bytes, now: float) -> None:
        """A server frame was read (its time is its tick's)."""
        if self._closed:
            return
        if len(frame) > 1 and (frame[0] != 0 or frame[1] == _IDENTITY_TOKEN_TAG):
            frame = redact_identity_token(frame, first_of_connection=self._first_inbound)
        self._first_inbound = False
        self._append_frame(_INBOUND_PREFIX, frame)

    def outbound(self, frame: bytes, now: float) -> None:
        """A client frame was sent."""
        if self._closed:
            return
        self._append_frame(_OUTBOUND_PREFIX + _FLOAT.pack(0xCB, now), frame)

    def tick(self, index: int, now: float) -> None:
        """A tick starts: what was buffered between ticks is written first.

        The tick record itself waits until something happens in the tick: a tick in
        which nothing is recorded becomes one ``QUIET_TICK`` record at its end.
        """
        if self._closed:
            return
        self._last_now = now
        if self._pending_tick is not None:
            self._write_pending_tick()  # a tick with no end (the client raised)
        if self._buf:
            self._maybe_flush(now)
        self._pending_tick = (index, now)

    def tick_end(self, index: int, applied: int, now: float) -> None:
        """A tick ended having applied ``applied`` messages: the flush point."""
        if self._closed:
            return
        self._last_now = now
        pending = self._pending_tick
        small = 0 <= index < _U32 and 0 <= applied < _U32
        if pending is not None and pending[0] == index and small:
            self._pending_tick = None
            start = pending[1]
            kind = RecordKind.QUIET_TICK
            self._append(
                _QUIET_TICK.pack(0x95, kind, 0xCE, index, 0xCB, start, 0xCE, applied, 0xCB, now)
            )
        else:
            if pending is not None:
                self._write_pending_tick()
            if small:
                body = _TICK_END.pack(
                    0x94, RecordKind.TICK_END, 0xCE, index, 0xCE, applied, 0xCB, now
                )
            else:
                body = _pack([RecordKind.TICK_END, index, applied, now])
            self._append(body)
        self._maybe_flush(now)

    def _write_pending_tick(self) -> None:
        pending = self._pending_tick
        assert pending is not None
        self._pending_tick = None
        index, now = pending
        if 0 <= index < _U32:
            self._append(_TICK.pack(0x93, RecordKind.TICK, 0xCE, index, 0xCB, now))
        else:
            self._append(_pack([RecordKind.TICK, index, now]))

    def disconnect(self, reason: str, now: float, close: CloseInfo | None = None) -> None:
        """A connection ended (``reason`` "local" for ``client.disconnect()``)."""
        if self._closed:
            return
        self._append(_pack([RecordKind.DISCONNECT, now, reason, _close_info(close)]))
        self.flush()

    def close(self) -> None:
        """Mark the recording complete, write everything and close the file."""
        if self._closed:
            return
        self._append(msgpack.packb([RecordKind.END, self._last_now]))
        self.flush()
        self._closed = True
        _open_recorders.discard(self)
        if self._owns_file and self.failed is None:
            try:
                self._file.close()
            except OSError as exc:
                self._fail(exc)

    # ---- for games -------------------------------------------------------------------------

    def mark(self, text: str) -> None:
        """Write a note ("player pressed the bug-report key") to find the moment later."""
        if self._closed:
            return
        self._append(_pack([RecordKind.MARK, self._last_now, str(text)]))

    @property
    def closed(self) -> bool:
        return self._closed

    def flush(self) -> None:
        """Write the buffered records now (never raises: a failing disk stops recording)."""
        if self.failed is not None:
            return
        data = self._buf
        if self._header is not None:
            head = _pack([RecordKind.HEADER, self._header])
            data = bytearray(MAGIC) + _pack_head(len(head), _crc32(head)) + head + data
            self._header = None
            self.records += 1
        if not data:
            return
        self._buf = bytearray()
        try:
            view = memoryview(data)
            while view:
                n = self._file.write(view)
                if n is None:  # a non-blocking raw file that took nothing
                    raise BlockingIOError("the recording file accepted no bytes")
                view = view[n:]
            if not self._owns_file:
                self._file.flush()
            if self.fsync:
                os.fsync(self._file.fileno())
        except (OSError, ValueError) as exc:
            self._fail(exc if isinstance(exc, OSError) else OSError(str(exc)))
            return
        self.bytes_written += len(data)

    # ---- internals -------------------------------------------------------------------------

    def _fail(self, exc: OSError) -> None:
        log.error("session recording stopped: cannot write %s: %s", self.path, exc)
        self.failed = exc
        self._closed = True
        self._buf = bytearray()
        _open_recorders.discard(self)
        if self._owns_file:
            try:
                self._file.close()
            except OSError:
                pass

    def _maybe_flush(self, now: float) -> None:
        last = self._last_flush
        if last is None or now - last >= self.flush_interval:
            self._last_flush = now
            self.flush()

    def _append(self, body: bytes) -> None:
        if self._pending_tick is not None:
            self._write_pending_tick()
        buf = self._buf
        buf += _pack_head(len(body), _crc32(body))
        buf += body
        self.records += 1
        if len(buf) >= self.flush_bytes:
            self.flush()

    def _append_frame(self, prefix: bytes, frame: bytes) -> None:
        """A frame record without copying the frame into an intermediate msgpack body."""
        # One joined body and one CRC call beat two: Python call overhead dominates for
        # the small frames games mostly receive, and the copy is cheap for big ones.
        if self._pending_tick is not None:
            self._write_pending_tick()
        body = b"".join((prefix, _bin_header(len(frame)), frame))
        buf = self._buf
        buf += _pack_head(len(body), _crc32(body))
        buf += body
        self.records += 1
        if len(buf) >= self.flush_bytes:
            self.flush()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<SessionRecorder {self.path!r} {state} records={self.records}>"


def _sdk_version() -> str:
    from .. import __version__

    return __version__
