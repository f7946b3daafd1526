"""The append-only commit log: one framed msgpack record per committed transaction.

File layout: the 8-byte magic ``STDBGLG1``, then records, each ``u32 length | u32 crc32 |
payload`` (little-endian; the crc covers the payload). A crash can only leave the *last*
record incomplete (appends are sequential and fsynced), so on open a record that runs past
the end or fails its checksum, with nothing valid after it, is a torn tail: it is dropped and
truncated away. A bad record *followed by valid ones* is real corruption and refuses to open
(``CommitLogError``) rather than silently losing committed transactions.

A failed append (a write or fsync error such as ENOSPC or EIO) is cut back to where the
record began before the error is raised, so the transaction it belonged to, which the caller
reports as failed, is not replayed, and later records do not land after a partial one.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import msgpack

from .errors import CommitLogError

__all__ = ["MAGIC", "CommitLog", "frame_record"]

MAGIC = b"STDBGLG1"
_HEAD = struct.Struct("<II")
#: Upper bound on one record, to tell a torn length field from a huge record.
MAX_RECORD = 1 << 30
log = logging.getLogger(__name__)


def frame_record(record: Any) -> bytes:
    """The framed bytes of one record."""
    payload: bytes = msgpack.packb(record, use_bin_type=True)
    return _HEAD.pack(len(payload), zlib.crc32(payload)) + payload


def _read_one(data: bytes, off: int) -> tuple[Any, int] | None:
    """The record at ``off`` and the offset after it, or None if it is not a whole valid record."""
    if off + _HEAD.size > len(data):
        return None
    length, crc = _HEAD.unpack_from(data, off)
    start = off + _HEAD.size
    end = start + length
    if length > MAX_RECORD or end > len(data):
        return None
    payload = data[start:end]
    if zlib.crc32(payload) != crc:
        return None
    try:
        return msgpack.unpackb(payload, raw=False, strict_map_key=False), end
    except Exception:
        return None


def _all_valid_from(data: bytes, off: int) -> bool:
    """Whether ``data[off:]`` is a non-empty run of valid records ending exactly at the end."""
    if off >= len(data):
        return False
    while off < len(data):
        got = _read_one(data, off)
        if got is None:
            return False
        off = got[1]
    return True


class CommitLog:
    """An open log file; ``records`` holds what was replayed from it at open time."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.records: list[Any] = []
        self.dropped_bytes = 0
        #: Why appends are refused (a failed write that could not be undone), or None.
        self._poisoned: str | None = None
        self._end = 0
        self._open()

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = self.path.read_bytes() if self.path.exists() else b""
        valid_end = len(MAGIC)
        if len(data) < len(MAGIC):
            if data and not MAGIC.startswith(data):
                raise CommitLogError(f"{self.path} is not a stdb_game commit log")
            data = b""
            self.dropped_bytes = 0
        elif not data.startswith(MAGIC):
            raise CommitLogError(f"{self.path} is not a stdb_game commit log (bad magic)")
        else:
            off = len(MAGIC)
            while off < len(data):
                got = _read_one(data, off)
                if got is None:
                    self._check_tail(data, off)
                    break
                self.records.append(got[0])
                off = got[1]
            valid_end = off
            self.dropped_bytes = len(data) - valid_end
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        self._file = os.fdopen(fd, "r+b", buffering=0)
        if not data:
            self._file.truncate(0)
            self._file.write(MAGIC)
            self._sync()
            self._sync_dir()
        elif self.dropped_bytes:
            log.warning(
                "commit log %s: dropped a torn/corrupt tail of %d bytes at offset %d",
                self.path,
                self.dropped_bytes,
                valid_end,
            )
            self._file.truncate(valid_end)
            self._sync()
        self._end = self._file.seek(0, os.SEEK_END)

    def _check_tail(self, data: bytes, off: int) -> None:
        if off + _HEAD.size <= len(data):
            length, _ = _HEAD.unpack_from(data, off)
            nxt = off + _HEAD.size + length
            if length <= MAX_RECORD and _all_valid_from(data, nxt):
                raise CommitLogError(
                    f"{self.path}: record at byte {off} is corrupt but valid records follow it; "
                    "refusing to drop committed transactions (move the file away to start over)"
                )

    def _sync(self) -> None:
        if self.fsync:
            os.fsync(self._file.fileno())

    def _sync_dir(self) -> None:
        if not self.fsync:
            return
        try:
            dfd = os.open(self.path.parent, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dfd)
        except OSError:
            pass
        finally:
            os.close(dfd)

    def append(self, record: Any) -> None:
        """Write one record and make it durable before returning.

        On failure (OSError) the file is cut back to where the record began, so a failed
        write or fsync leaves neither garbage that would hide later records on replay nor a
        complete record of a transaction that was reported as failed. If the cut itself
        fails the log is poisoned: this and every later append raise CommitLogError.
        """
        if self._poisoned is not None:
            raise CommitLogError(self._poisoned)
        data = frame_record(record)
        start = self._end
        try:
            view = memoryview(data)
            while view:
                n = self._file.write(view)
                view = view[n or 0 :]
            self._sync()
        except OSError as exc:
            self._undo(start, exc)
            raise
        self._end = start + len(data)

    def _undo(self, start: int, cause: OSError) -> None:
        """Truncate back to ``start`` after a failed append, or poison the log."""
        try:
            self._file.truncate(start)
            self._file.seek(start)
            self._sync()
        except OSError as exc:
            self._poisoned = (
                f"commit log {self.path} is in an unknown state: an append failed ({cause}) "
                f"and cutting it back to byte {start} failed too ({exc}); refusing further "
                "commits. Restart the server: the damaged tail is dropped on open."
            )
            log.error("%s", self._poisoned)
            raise CommitLogError(self._poisoned) from cause
        log.warning(
            "commit log %s: append failed (%s); cut back to byte %d", self.path, cause, start
        )

    def close(self) -> None:
        """Close the file (appends after this fail)."""
        self._file.close()

    @property
    def size(self) -> int:
        return self._file.seek(0, os.SEEK_END)
