"""stdb_game: a poll-based, non-threaded Python client SDK for SpacetimeDB, made for game loops."""

from __future__ import annotations

from .errors import (
    AuthError,
    ConnectError,
    DecodeError,
    EncodeError,
    ProtocolError,
    SchemaError,
    StdbError,
)
from .sats.values import ConnectionId, Identity, ScheduleAt, Some, SumValue, TimeDuration, Timestamp

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "ConnectError",
    "ConnectionId",
    "DecodeError",
    "EncodeError",
    "Identity",
    "ProtocolError",
    "ScheduleAt",
    "SchemaError",
    "Some",
    "StdbError",
    "SumValue",
    "TimeDuration",
    "Timestamp",
    "__version__",
]
