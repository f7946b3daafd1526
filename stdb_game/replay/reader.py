"""Read a recording back: validate magic and version, decode records, stop at damage.

A torn last record (the game died mid-write) or a changed byte ends the readable part;
everything before it is returned along with a ``RecordingDamage`` saying where and why,
or, with ``strict=True``, a ``RecordingDamaged`` is raised instead.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Union

import msgpack

from ..schema import ModuleSchema
from .format import (
    FORMAT_NAME,
    MAGIC,
    MAX_RECORD_BYTES,
    RECORD_HEAD,
    SUPPORTED_VERSIONS,
    RecordingDamage,
    RecordingDamaged,
    RecordingError,
    RecordingVersionError,
    RecordKind,
)

__all__ = [
    "ConnectionRecord",
    "DisconnectRecord",
    "EndRecord",
    "Header",
    "InboundRecord",
    "MarkRecord",
    "OutboundRecord",
    "Record",
    "Recording",
    "RecordingSource",
    "TickEndRecord",
    "TickRecord",
    "read_recording",
]

RecordingSource = Union[str, "os.PathLike[str]", bytes, BinaryIO, "Recording"]


@dataclass(frozen=True, slots=True)
class Header:
    """The first record: format version, when and by what it was written, the schema."""

    version: int
    created: float | None
    sdk: str | None
    #: The module schema as JSON text (RawModuleDef v9), when the recorder knew it.
    schema_json: str | None
    meta: dict[str, Any]
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """The client opened a connection (first connect or a reconnect)."""

    now: float | None
    params: dict[str, Any]
    offset: int = -1


@dataclass(frozen=True, slots=True)
class TickRecord:
    """``client.tick()`` number ``index`` started at client-clock time ``now``."""

    index: int
    now: float
    offset: int = -1


@dataclass(frozen=True, slots=True)
class InboundRecord:
    """One server frame exactly as read (IdentityToken frames have their token redacted)."""

    frame: bytes
    offset: int = -1


@dataclass(frozen=True, slots=True)
class OutboundRecord:
    """One client frame as handed to the transport."""

    now: float
    frame: bytes
    offset: int = -1


@dataclass(frozen=True, slots=True)
class TickEndRecord:
    """``client.tick()`` number ``index`` ended after applying ``applied`` messages."""

    index: int
    applied: int
    now: float
    offset: int = -1


@dataclass(frozen=True, slots=True)
class DisconnectRecord:
    """A connection ended; ``reason`` is ``"local"`` for ``client.disconnect()``."""

    now: float
    reason: str
    #: The transport's close info: kind, code, reason, error text (None for local ones).
    close: dict[str, Any] | None
    offset: int = -1

    @property
    def is_local(self) -> bool:
        return self.reason == "local"


@dataclass(frozen=True, slots=True)
class EndRecord:
    """The recorder was closed: nothing after this was lost."""

    now: float | None
    offset: int = -1


@dataclass(frozen=True, slots=True)
class MarkRecord:
    """A note the game wrote into the recording (``SessionRecorder.mark``)."""

    now: float | None
    text: str
    offset: int = -1


Record = Union[
    ConnectionRecord,
    TickRecord,
    InboundRecord,
    OutboundRecord,
    TickEndRecord,
    DisconnectRecord,
    EndRecord,
    MarkRecord,
]


@dataclass
class Recording:
    """A whole recording in memory: its header, its good records, and any damage."""

    header: Header
    records: list[Record]
    damage: RecordingDamage | None = None
    size: int = 0
    path: str | None = None
    #: Records of kinds this version does not know (skipped, as the format allows).
    skipped: int = 0
    #: Records of the file read intact, the header included (what ``damage.records_before``
    #: counts); ``records`` holds more entries, as a quiet-tick record is a start and an end.
    file_records: int = 0
    _schema_cache: dict[str, ModuleSchema] = field(default_factory=dict, repr=False)

    @property
    def version(self) -> int:
        return self.header.version

    @property
    def complete(self) -> bool:
        """True when the recorder was closed cleanly (an END record is there)."""
        return any(type(r) is EndRecord for r in self.records)

    @property
    def connections(self) -> list[ConnectionRecord]:
        return [r for r in self.records if type(r) is ConnectionRecord]

    @property
    def tick_count(self) -> int:
        return sum(1 for r in self.records if type(r) is TickRecord)

    @property
    def schema_json(self) -> str | None:
        """The schema text: from the header, else from the first connection that has one."""
        if self.header.schema_json is not None:
            return self.header.schema_json
        for c in self.connections:
            text = c.params.get("schema")
            if isinstance(text, str):
                return text
        return None

    def schema(self) -> ModuleSchema | None:
        """The recorded module schema, parsed (None when the recording has none)."""
        text = self.schema_json
        if text is None:
            return None
        cached = self._schema_cache.get(text)
        if cached is None:
            try:
                cached = ModuleSchema.from_json(json.loads(text))
            except ValueError as exc:
                raise RecordingError(
                    f"the schema stored in the recording is unusable: {exc}"
                ) from exc
            self._schema_cache[text] = cached
        return cached

    def describe(self) -> str:
        """One line for logs and the CLI: size, ticks, completeness, damage."""
        state = "complete" if self.complete else "not closed (the game may have crashed)"
        text = (
            f"recording v{self.version}, {self.size} bytes, {self.file_records} records "
            f"(header included), {self.tick_count} ticks, {len(self.connections)} "
            f"connection(s), {state}"
        )
        if self.damage is not None:
            text += f"; {self.damage.describe()}"
        return text


def _load_bytes(source: str | os.PathLike[str] | bytes | BinaryIO) -> tuple[bytes, str | None]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            return path.read_bytes(), str(path)
        except OSError as exc:
            raise RecordingError(f"cannot read recording {str(path)!r}: {exc}") from exc
    data = source.read()
    return bytes(data), getattr(source, "name", None)


def _header(body: Any, name: str) -> Header:
    if not (isinstance(body, list) and len(body) >= 2 and body[0] == RecordKind.HEADER):
        raise RecordingError(f"{name}: the first record is not a recording header")
    info = body[1]
    if not isinstance(info, dict):
        raise RecordingError(f"{name}: the header record is not a map")
    if info.get("format") != FORMAT_NAME:
        raise RecordingError(f"{name}: header says format {info.get('format')!r}")
    version = info.get("version")
    if version not in SUPPORTED_VERSIONS or isinstance(version, bool):
        raise RecordingVersionError(version)
    schema = info.get("schema")
    meta = info.get("meta")
    created = info.get("created")
    sdk = info.get("sdk")
    return Header(
        version=int(version),
        created=float(created) if isinstance(created, (int, float)) else None,
        sdk=str(sdk) if sdk is not None else None,
        schema_json=schema if isinstance(schema, str) else None,
        meta=dict(meta) if isinstance(meta, dict) else {},
        raw=info,
    )


_KNOWN_KINDS = frozenset(int(k) for k in RecordKind)


class _Bad(Exception):
    """A record body whose shape does not match its kind."""


def _num(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _Bad(f"expected a number, got {type(v).__name__}")
    return float(v)


def _opt_num(v: Any) -> float | None:
    return None if v is None else _num(v)


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise _Bad(f"expected an integer, got {type(v).__name__}")
    return v


def _bytes(v: Any) -> bytes:
    if not isinstance(v, bytes):
        raise _Bad(f"expected bytes, got {type(v).__name__}")
    return v


def _records(body: Any, offset: int) -> list[Record]:
    """The typed records of one decoded body (a quiet tick is a tick start and its end)."""
    if isinstance(body, list) and len(body) >= 5 and body[0] == RecordKind.QUIET_TICK:
        index = _int(body[1])
        return [
            TickRecord(index, _num(body[2]), offset),
            TickEndRecord(index, _int(body[3]), _num(body[4]), offset),
        ]
    rec = _record(body, offset)
    return [] if rec is None else [rec]


def _record(body: Any, offset: int) -> Record | None:
    """The typed record of a decoded body; None for a kind this version does not know."""
    if not isinstance(body, list) or not body or isinstance(body[0], bool):
        raise _Bad("a record is a non-empty array starting with its kind")
    kind = body[0]
    n = len(body)
    if kind == RecordKind.INBOUND and n >= 2:
        return InboundRecord(_bytes(body[1]), offset)
    if kind == RecordKind.TICK and n >= 3:
        return TickRecord(_int(body[1]), _num(body[2]), offset)
    if kind == RecordKind.TICK_END and n >= 4:
        return TickEndRecord(_int(body[1]), _int(body[2]), _num(body[3]), offset)
    if kind == RecordKind.OUTBOUND and n >= 3:
        return OutboundRecord(_num(body[1]), _bytes(body[2]), offset)
    if kind == RecordKind.CONNECTION and n >= 3:
        if not isinstance(body[2], dict):
            raise _Bad("connection parameters are not a map")
        return ConnectionRecord(_opt_num(body[1]), body[2], offset)
    if kind == RecordKind.DISCONNECT and n >= 4:
        close = body[3]
        if close is not None and not isinstance(close, dict):
            raise _Bad("disconnect close info is not a map")
        return DisconnectRecord(_num(body[1]), str(body[2]), close, offset)
    if kind == RecordKind.END and n >= 2:
        return EndRecord(_opt_num(body[1]), offset)
    if kind == RecordKind.MARK and n >= 3:
        return MarkRecord(_opt_num(body[1]), str(body[2]), offset)
    if kind in _KNOWN_KINDS:
        raise _Bad(f"record of kind {RecordKind(kind).name} has {n} items")
    return None


def _frames(data: bytes, start: int) -> Iterator[tuple[int, Any] | RecordingDamage]:
    """(offset, decoded body) per framed record from ``start``; a damage ends the run."""
    off = start
    size = len(data)
    count = 0
    while off < size:
        if off + RECORD_HEAD.size > size:
            yield RecordingDamage(
                off, count, size - off, "truncated", "the file ends inside a record header"
            )
            return
        length, crc = RECORD_HEAD.unpack_from(data, off)
        begin = off + RECORD_HEAD.size
        end = begin + length
        if length > MAX_RECORD_BYTES:
            yield RecordingDamage(
                off, count, size - off, "corrupt", f"record length {length} is implausible"
            )
            return
        if end > size:
            yield RecordingDamage(
                off,
                count,
                size - off,
                "truncated",
                f"the record needs {length} bytes but only {size - begin} remain",
            )
            return
        body = data[begin:end]
        if zlib.crc32(body) != crc:
            yield RecordingDamage(off, count, size - off, "corrupt", "checksum mismatch")
            return
        try:
            decoded = msgpack.unpackb(body, raw=False, strict_map_key=False)
        except Exception as exc:  # msgpack raises several unrelated types
            yield RecordingDamage(off, count, size - off, "corrupt", f"undecodable body ({exc})")
            return
        yield off, decoded
        count += 1
        off = end


def read_recording(source: RecordingSource, *, strict: bool = False) -> Recording:
    """Read a recording from a path, bytes or binary file.

    Raises ``RecordingError`` when it is not a recording at all or its header is bad,
    ``RecordingVersionError`` for an unknown version, and (``strict=True`` only)
    ``RecordingDamaged`` at the first torn or corrupt record. Otherwise damage is
    reported in ``Recording.damage`` and the records before it are returned.
    """
    if isinstance(source, Recording):
        if strict and source.damage is not None:
            raise RecordingDamaged(source.damage)
        return source
    data, path = _load_bytes(source)
    name = path or "recording"
    if not data:
        raise RecordingError(
            f"{name} is empty: the recorder wrote nothing (the game ended before it flushed)"
        )
    if not data.startswith(MAGIC):
        if MAGIC.startswith(data):
            raise RecordingError(f"{name} ends inside its magic bytes: nothing was recorded")
        raise RecordingError(
            f"{name} is not a stdb_game recording (it does not start with {MAGIC!r})"
        )
    frames = _frames(data, len(MAGIC))
    first = next(frames, None)
    if first is None:
        raise RecordingError(f"{name} has no header record: nothing was recorded")
    if isinstance(first, RecordingDamage):
        raise RecordingError(f"{name}: the header record is damaged ({first.reason})")
    header = _header(first[1], name)
    records: list[Record] = []
    damage: RecordingDamage | None = None
    skipped = 0
    read = 1  # the header and the records after it read so far
    for item in frames:
        if isinstance(item, RecordingDamage):
            damage = item
            break
        off, body = item
        try:
            got = _records(body, off)
        except _Bad as exc:
            damage = RecordingDamage(off, read, len(data) - off, "corrupt", str(exc))
            break
        read += 1
        if got:
            records.extend(got)
        else:
            skipped += 1
    if damage is not None and strict:
        raise RecordingDamaged(damage)
    return Recording(header, records, damage, len(data), path, skipped, file_records=read)
