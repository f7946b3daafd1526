"""Server binary frames: one compression byte (0 none, 1 Brotli, 2 gzip) + a ``ServerMessage``."""

from __future__ import annotations

from ..compression import COMPRESSION_THRESHOLD, Compression, compress, decompress
from .decode_server import committed_update_in_frame, decode_server_message
from .encode_server import encode_server_message
from .server_messages import ServerMessage
from .wire import failure

__all__ = ["decode_server_frame", "encode_server_frame"]


def decode_server_frame(frame: bytes | bytearray | memoryview) -> ServerMessage:
    """Decompress and decode one server binary frame; any failure is a ProtocolError.

    Error offsets count from the start of the (decompressed) message, after the
    compression byte. Inner compressed query updates stay compressed until their
    ``query_update()`` is called.
    """
    buf = frame if type(frame) is bytes else bytes(frame)
    if not buf:
        # Every server frame starts with the compression byte, so empty means misread.
        raise failure("empty frame (no compression byte)", "frame", 0)
    tag = buf[0]
    if tag == 0:
        if len(buf) > 1 and buf[1] == 1:  # the most frequent message, read in place
            msg = committed_update_in_frame(buf)
            if msg is not None:
                return msg
        return decode_server_message(buf[1:])
    if tag > 2:
        raise failure(f"unknown compression byte {tag} (0 none, 1 Brotli, 2 gzip)", "frame", 0)
    compression = Compression.from_tag(tag)
    payload = decompress(buf[1:], compression, f"{compression.value} frame")
    return decode_server_message(payload)


def encode_server_frame(msg: ServerMessage, compression: Compression) -> bytes:
    """Encode ``msg`` as a frame, compressing as the real server does.

    The payload is compressed only when the client asked for Brotli/gzip and its BSATN is
    longer than 1024 bytes; otherwise the frame is ``0x00`` + the plain payload.
    """
    payload = encode_server_message(msg)
    if compression is Compression.NONE or len(payload) <= COMPRESSION_THRESHOLD:
        return b"\x00" + payload
    return bytes((compression.tag,)) + compress(payload, compression)
