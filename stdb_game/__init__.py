"""stdb_game: a poll-based, non-threaded Python client SDK for SpacetimeDB, made for game loops.

Call ``Client.tick()`` once per frame; see docs/tick.md for the contract.
"""

from __future__ import annotations

from .client import (
    CallbackHandle,
    Client,
    ClientBuilder,
    ClientState,
    ClientStats,
    DisconnectKind,
    DisconnectReason,
    ReconnectPolicy,
    SubscriptionHandle,
    TableHandle,
    TickStats,
)
from .credentials import CredentialStore, credentials_key
from .errors import (
    AuthError,
    ConnectError,
    DecodeError,
    EncodeError,
    InvalidURLError,
    ProtocolError,
    SchemaError,
    StdbError,
    UsageError,
)
from .events import EventCause, OneOffQueryResult, ReducerEvent, ReducerStatus, RowEventContext
from .interpolation import SnapshotInterpolator
from .protocol import CallReducerFlags, Compression
from .sats.values import ConnectionId, Identity, ScheduleAt, Some, SumValue, TimeDuration, Timestamp
from .schema import ModuleSchema
from .transport import CloseInfo, CloseKind, FakeTransport, WebSocketTransport

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "CallReducerFlags",
    "CallbackHandle",
    "Client",
    "ClientBuilder",
    "ClientState",
    "ClientStats",
    "CloseInfo",
    "CloseKind",
    "Compression",
    "ConnectError",
    "ConnectionId",
    "CredentialStore",
    "DecodeError",
    "DisconnectKind",
    "DisconnectReason",
    "EncodeError",
    "EventCause",
    "FakeTransport",
    "Identity",
    "InvalidURLError",
    "ModuleSchema",
    "OneOffQueryResult",
    "ProtocolError",
    "ReconnectPolicy",
    "ReducerEvent",
    "ReducerStatus",
    "RowEventContext",
    "ScheduleAt",
    "SchemaError",
    "SnapshotInterpolator",
    "Some",
    "StdbError",
    "SubscriptionHandle",
    "SumValue",
    "TableHandle",
    "TickStats",
    "TimeDuration",
    "Timestamp",
    "UsageError",
    "WebSocketTransport",
    "__version__",
    "credentials_key",
]
