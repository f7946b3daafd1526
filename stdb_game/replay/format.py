"""The recording file format: magic, framed msgpack records, record kinds and typed errors.

A recording is ``MAGIC`` followed by records, each ``u32 length | u32 crc32 | body``
(little-endian; the CRC covers the body). The body is a msgpack array whose first item is
the record kind. The first record is the header, which carries ``version``. Framing every
record lets a reader stop cleanly at a torn or damaged record and keep everything before
it. ``docs/recording.md`` is the reference; this module is the single place that spells
the layout out in code.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from ..errors import StdbError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_RECORD_BYTES",
    "REDACTED_TOKEN",
    "SUPPORTED_VERSIONS",
    "RecordKind",
    "RecordingDamage",
    "RecordingDamaged",
    "RecordingError",
    "RecordingVersionError",
    "ReplayMismatch",
]

#: First bytes of every recording; the version lives in the header record, not here.
MAGIC = b"STDBGREC"
#: ``format`` field of the header record.
FORMAT_NAME = "stdb_game.recording"
#: Version this code writes.
FORMAT_VERSION = 1
#: Versions this code reads.
SUPPORTED_VERSIONS = frozenset({1})
#: What replaces the token inside recorded ``IdentityToken`` frames.
REDACTED_TOKEN = "<redacted-by-stdb_game-recorder>"
#: A length field above this is treated as damage, never as a request to allocate it.
MAX_RECORD_BYTES = 1 << 30

RECORD_HEAD = struct.Struct("<II")


class RecordKind(enum.IntEnum):
    """The first item of every record body; unknown kinds are skipped by readers."""

    HEADER = 0  # [0, {format, version, created, sdk, schema?, meta?}]
    CONNECTION = 1  # [1, now | None, {uri, database, url, compression, light, has_token, ...}]
    TICK = 2  # [2, index, now]                 start of client.tick()
    INBOUND = 3  # [3, frame]                     one server frame as read in the current tick
    OUTBOUND = 4  # [4, now, frame]               one client frame as sent
    TICK_END = 5  # [5, index, applied, now]      end of client.tick(): messages it applied
    DISCONNECT = 6  # [6, now, reason, close | None]
    END = 7  # [7, now]                           the recorder was closed: the file is complete
    MARK = 8  # [8, now, text]                    a note the game added (recorder.mark)
    QUIET_TICK = 9  # [9, index, now, applied, end_now]  a tick with nothing else in it


class RecordingError(StdbError):
    """A file that cannot be read as a recording (wrong magic, bad header, no schema...)."""


class RecordingVersionError(RecordingError):
    """The recording was written in a format version this code does not read."""

    def __init__(self, version: object, supported: frozenset[int] = SUPPORTED_VERSIONS) -> None:
        self.version = version
        self.supported = supported
        wanted = ", ".join(str(v) for v in sorted(supported))
        super().__init__(
            f"recording format version {version!r} is not supported (this stdb_game reads "
            f"version {wanted}); replay it with the stdb_game release that wrote it"
        )


@dataclass(frozen=True)
class RecordingDamage:
    """Where a recording stops being readable and why; everything before ``offset`` is good."""

    #: Byte offset of the first bad record.
    offset: int
    #: Number of good records before it (the header included).
    records_before: int
    #: Bytes from ``offset`` to the end of the file that were not read.
    bytes_lost: int
    #: ``"truncated"`` (the file ends inside a record: a torn write, e.g. a crash) or
    #: ``"corrupt"`` (a checksum or decoding failure: the bytes were changed).
    kind: str
    reason: str

    def describe(self) -> str:
        # "records" here and in ``Recording.describe`` both count records of the file.
        return (
            f"recording {self.kind} at byte {self.offset} (after {self.records_before} good "
            f"records, header included; {self.bytes_lost} bytes unread): {self.reason}"
        )


class RecordingDamaged(RecordingError):
    """Raised in strict mode for a torn or corrupt record; ``damage`` says where."""

    def __init__(self, damage: RecordingDamage) -> None:
        self.damage = damage
        super().__init__(damage.describe())


class ReplayMismatch(RecordingError):
    """Strict replay: the replayed client sent something other than the recorded client."""

    def __init__(self, message: str, difference: object) -> None:
        self.difference = difference
        super().__init__(message)
