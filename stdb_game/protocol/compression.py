"""The compression schemes a server may apply to binary frames and to inner query updates.

Gzip comes from the standard library; Brotli needs the optional ``brotli`` package and is
imported only when a Brotli payload actually shows up (``pip install stdb-game[brotli]``).
"""

from __future__ import annotations

import enum
import gzip
import zlib
from types import ModuleType

from ..errors import ProtocolError

__all__ = [
    "BROTLI_INSTALL_HINT",
    "COMPRESSION_THRESHOLD",
    "Compression",
    "brotli_available",
    "compress",
    "decompress",
]

#: Servers compress a payload only when its BSATN is longer than this many bytes.
COMPRESSION_THRESHOLD = 1024

BROTLI_INSTALL_HINT = "pip install stdb-game[brotli]"

#: Brotli settings the real server uses (quality 1, window 22).
_BROTLI_QUALITY = 1
_BROTLI_WINDOW = 22
_GZIP_LEVEL = 1  # the server's "fast" gzip level


class Compression(enum.Enum):
    """A compression scheme; the value is its spelling in the ``compression`` query parameter."""

    NONE = "None"
    BROTLI = "Brotli"
    GZIP = "Gzip"

    @property
    def tag(self) -> int:
        """The byte that marks it on the wire (frame prefix and inner query-update tag)."""
        return _TAG_OF[self]

    @property
    def query_value(self) -> str:
        """The case-sensitive ``compression=`` query-parameter value."""
        return self.value

    @classmethod
    def from_tag(cls, tag: int) -> Compression:
        """The scheme marked by a wire byte; ValueError for an unknown byte."""
        if type(tag) is not int or not 0 <= tag < len(_BY_TAG):
            raise ValueError(f"unknown compression tag {tag!r}")
        return _BY_TAG[tag]


_TAG_OF = {Compression.NONE: 0, Compression.BROTLI: 1, Compression.GZIP: 2}
_BY_TAG = (Compression.NONE, Compression.BROTLI, Compression.GZIP)

_brotli_module: ModuleType | None = None


def _brotli(what: str) -> ModuleType:
    """Import brotli on first use, so the SDK works without it when Brotli is never seen."""
    global _brotli_module
    if _brotli_module is None:
        try:
            import brotli
        except ImportError as exc:
            raise ProtocolError(
                "got Brotli-compressed data but the 'brotli' package is not installed: "
                f"{BROTLI_INSTALL_HINT} (or connect with compression=Gzip or None)",
                what=what,
                cause=exc,
            ) from exc
        _brotli_module = brotli
    return _brotli_module


def brotli_available() -> bool:
    """Whether Brotli payloads can be handled here (the optional package is importable)."""
    try:
        _brotli("brotli check")
    except ProtocolError:
        return False
    return True


#: Largest message a compressed payload may inflate to; a bigger one (a compression bomb,
#: or a message no game could apply in a frame anyway) is refused instead of allocated.
MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024


def _too_big(what: str) -> ProtocolError:
    return ProtocolError(
        f"decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes "
        "(stdb_game.protocol.compression.MAX_DECOMPRESSED_BYTES)",
        what=what,
    )


def decompress(data: bytes, compression: Compression, what: str) -> bytes:
    """Undo ``compression``; corrupt, truncated or over-long streams raise ProtocolError."""
    if compression is Compression.NONE:
        return data
    if compression is Compression.GZIP:
        return _gunzip(data, what)
    brotli = _brotli(what)
    limit = MAX_DECOMPRESSED_BYTES
    try:
        inflater = brotli.Decompressor()
        try:
            out: bytes = inflater.process(data, output_buffer_limit=limit + 1)
        except TypeError:  # brotli < 1.2 has no output limit
            out = brotli.decompress(data)
        if len(out) > limit:
            raise _too_big(what)
        if not inflater.is_finished():
            raise ProtocolError("truncated Brotli data (stream has no end)", what=what)
    except brotli.error as exc:
        raise ProtocolError(f"corrupt Brotli data ({exc})", what=what, cause=exc) from exc
    return out


def _gunzip(data: bytes, what: str) -> bytes:
    # A decompress object, unlike zlib.decompress, lets us refuse bytes after the stream
    # instead of dropping them without a word.
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, MAX_DECOMPRESSED_BYTES + 1)
        if len(out) > MAX_DECOMPRESSED_BYTES:
            raise _too_big(what)
    except zlib.error as exc:
        raise ProtocolError(f"corrupt gzip data ({exc})", what=what, cause=exc) from exc
    if not inflater.eof:
        raise ProtocolError(_gzip_ran_out(data), what=what)
    if inflater.unused_data:
        raise ProtocolError(
            f"{len(inflater.unused_data)} unexpected byte(s) after the gzip stream", what=what
        )
    return out


#: Header bytes RFC 1952 defines: XFL (byte 8) and OS (byte 9).
_GZIP_XFL = frozenset((0, 2, 4))
_GZIP_OS = frozenset((*range(14), 255))
_FHCRC, _FEXTRA, _FNAME, _FCOMMENT = 2, 4, 8, 16


def _gzip_ran_out(data: bytes) -> str:
    """Why a stream zlib did not reject never ended: cut short, or garbage that parses so far.

    zlib only says "no end yet". The header and the deflate/trailer split tell the cases
    apart where they can: undefined header bytes mean the data was never gzip (corrupt);
    a header, a finished deflate stream or a trailer that stops early means truncated.
    """
    n = len(data)
    if n < 10:
        return f"truncated gzip data (the 10-byte header is cut short at {n} bytes)"
    xfl, os_byte = data[8], data[9]
    if xfl not in _GZIP_XFL or os_byte not in _GZIP_OS:
        return (
            f"corrupt gzip data (header XFL=0x{xfl:02x} OS=0x{os_byte:02x} are undefined values, "
            "so this is not a gzip stream)"
        )
    flags = data[3]
    o = 10
    if flags & _FEXTRA:
        o = o + 2 + int.from_bytes(data[o : o + 2], "little") if o + 2 <= n else n + 1
    for flag in (_FNAME, _FCOMMENT):
        if flags & flag and o <= n:
            end = data.find(b"\0", o)
            o = n + 1 if end < 0 else end + 1
    if flags & _FHCRC:
        o += 2
    if o > n:
        return "truncated gzip data (the header's optional fields are cut short)"
    raw = zlib.decompressobj(wbits=-15)
    try:
        raw.decompress(data[o:], MAX_DECOMPRESSED_BYTES + 1)
    except zlib.error as exc:  # gzip mode already read this far without error; be safe
        return f"corrupt gzip data ({exc})"
    if raw.eof:
        got = len(raw.unused_data)
        return f"truncated gzip data (the 8-byte CRC/length trailer has only {got} byte(s))"
    return (
        f"truncated gzip data (the deflate data ends before its final block, {n} bytes in: "
        "cut short, or corrupt bytes that still parse)"
    )


def compress(data: bytes, compression: Compression) -> bytes:
    """Compress with the settings the real server uses (Brotli quality 1, gzip fast)."""
    if compression is Compression.NONE:
        return data
    if compression is Compression.GZIP:
        return gzip.compress(data, compresslevel=_GZIP_LEVEL, mtime=0)
    brotli = _brotli("compressing")
    packed: bytes = brotli.compress(data, quality=_BROTLI_QUALITY, lgwin=_BROTLI_WINDOW)
    return packed
