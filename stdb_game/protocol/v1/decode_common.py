"""Bounds-checked readers for the BSATN pieces both message directions share.

Every reader takes ``(data, offset, what)`` and returns ``(value, next_offset)``. Lengths
are checked against the data before anything is sliced, so a length prefix claiming
gigabytes fails at once instead of allocating.
"""

from __future__ import annotations

from .wire import U32, failure, invalid_utf8, truncated


def read_u32(data: bytes, off: int, what: str) -> int:
    if off + 4 > len(data):
        raise truncated(what, off, 4, len(data))
    value: int = U32.unpack_from(data, off)[0]
    return value


def read_bytes(data: bytes, off: int, what: str) -> tuple[bytes, int]:
    """A u32 length, then that many raw bytes."""
    start = off + 4
    size = len(data)
    if start > size:
        raise truncated(what, off, 4, size)
    end = start + U32.unpack_from(data, off)[0]
    if end > size:
        raise truncated(what, start, end - start, size)
    return data[start:end], end


def read_string(data: bytes, off: int, what: str) -> tuple[str, int]:
    """A u32 length, then that many bytes of UTF-8."""
    start = off + 4
    size = len(data)
    if start > size:
        raise truncated(what, off, 4, size)
    end = start + U32.unpack_from(data, off)[0]
    if end > size:
        raise truncated(what, start, end - start, size)
    try:
        return data[start:end].decode(), end
    except UnicodeDecodeError as exc:
        err = invalid_utf8(exc, what, start)
        raise err from err.__cause__


def read_count(data: bytes, off: int, what: str) -> int:
    """An array length; refused early when even one byte per element cannot fit."""
    count = read_u32(data, off, what)
    if count > len(data) - off - 4:
        raise truncated(what, off + 4, count, len(data))
    return count


def read_string_array(data: bytes, off: int, what: str) -> tuple[tuple[str, ...], int]:
    count = read_count(data, off, what)
    off += 4
    items = []
    for _ in range(count):
        s, off = read_string(data, off, what)
        items.append(s)
    return tuple(items), off


def read_option_u32(data: bytes, off: int, what: str) -> tuple[int | None, int]:
    """``Option<u32>``: tag 0 then the value, or tag 1 alone."""
    if off >= len(data):
        raise truncated(what, off, 1, len(data))
    tag = data[off]
    if tag == 1:
        return None, off + 1
    if tag == 0:
        return read_u32(data, off + 1, what), off + 5
    raise failure(f"bad option tag {tag} (0 = some, 1 = none)", what, off)


def check_end(data: bytes, end: int, what: str) -> None:
    """Refuse bytes left after a message that is decoded strictly."""
    if end != len(data):
        raise failure(f"{len(data) - end} trailing byte(s) after the message", what, end)
