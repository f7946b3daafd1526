"""Record a client session to a file and replay it without a server (issue #8).

``Client(..., record_to="session.stdbrec")`` writes every frame in and out, every tick
boundary and the connection parameters (never the token). ``replay_session(path)`` feeds
it back through a fresh client, tick for tick, so callbacks fire in the same order with
the same arguments and the cache ends the same. ``docs/recording.md`` has the format.
"""

from __future__ import annotations

from .driver import ReplayResult, replay_session
from .eventlog import EventLog, render, snapshot_cache
from .format import (
    FORMAT_VERSION,
    MAGIC,
    REDACTED_TOKEN,
    SUPPORTED_VERSIONS,
    RecordingDamage,
    RecordingDamaged,
    RecordingError,
    RecordingVersionError,
    RecordKind,
    ReplayMismatch,
)
from .reader import (
    ConnectionRecord,
    DisconnectRecord,
    EndRecord,
    Header,
    InboundRecord,
    MarkRecord,
    OutboundRecord,
    Record,
    Recording,
    TickEndRecord,
    TickRecord,
    read_recording,
)
from .recorder import SessionRecorder, redact_identity_token
from .summary import SessionSummary, summarize
from .transport import OutboundDifference, ReplayedError, ReplayTransport

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "REDACTED_TOKEN",
    "SUPPORTED_VERSIONS",
    "ConnectionRecord",
    "DisconnectRecord",
    "EndRecord",
    "EventLog",
    "Header",
    "InboundRecord",
    "MarkRecord",
    "OutboundDifference",
    "OutboundRecord",
    "Record",
    "RecordKind",
    "Recording",
    "RecordingDamage",
    "RecordingDamaged",
    "RecordingError",
    "RecordingVersionError",
    "ReplayMismatch",
    "ReplayResult",
    "ReplayTransport",
    "ReplayedError",
    "SessionRecorder",
    "SessionSummary",
    "TickEndRecord",
    "TickRecord",
    "read_recording",
    "redact_identity_token",
    "render",
    "replay_session",
    "snapshot_cache",
    "summarize",
]
