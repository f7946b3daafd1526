"""The events a session produces, in the order the client fires their callbacks.

``Session.receive`` returns a list of these for each server message. They are plain data,
so tests, replays and tools can read them without a client; the client turns each one
into callback calls (``docs/callbacks.md`` lists the order).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .sats.values import ConnectionId, Identity, TimeDuration, Timestamp

__all__ = [
    "ConnectedEvent",
    "EventCause",
    "OneOffQueryResult",
    "ReducerEvent",
    "ReducerStatus",
    "RowEventContext",
    "ServerErrorEvent",
    "SessionEvent",
    "SubscriptionAppliedEvent",
    "SubscriptionEndedEvent",
    "SubscriptionErrorEvent",
    "TableChangeEvent",
]


class ReducerStatus(enum.Enum):
    """How a reducer call ended."""

    COMMITTED = "committed"
    FAILED = "failed"
    OUT_OF_ENERGY = "out_of_energy"


class EventCause(enum.Enum):
    """Why rows changed in the cache."""

    SUBSCRIBE_APPLIED = "subscribe_applied"
    UNSUBSCRIBE_APPLIED = "unsubscribe_applied"
    REDUCER = "reducer"  # a TransactionUpdate of a reducer the schema knows
    UNKNOWN_TRANSACTION = "unknown_transaction"  # light updates, unknown reducers
    RECONNECT = "reconnect"  # the cache reconciled with the rows of restored subscriptions
    SUBSCRIPTION_ERROR = "subscription_error"  # rows dropped because subscriptions died
    DISCONNECT = "disconnect"  # the cache cleared when the connection ended for good


@dataclass(frozen=True, slots=True)
class ReducerEvent:
    """One reducer run the server told us about (ours or another client's)."""

    reducer_name: str
    #: Decoded arguments (a namedtuple or generated class) when the reducer is known, else None.
    args: Any
    #: The raw BSATN of the arguments, exactly as the caller sent them.
    args_bytes: bytes
    caller_identity: Identity
    #: None when the server reports all zeros (scheduled reducers, HTTP calls).
    caller_connection_id: ConnectionId | None
    timestamp: Timestamp
    status: ReducerStatus
    #: The failure text for FAILED, else None.
    error: str | None
    energy_quanta_used: int
    host_execution_duration: TimeDuration
    reducer_id: int
    #: Our request id when this answers a call made by this client, else None.
    request_id: int | None
    #: True when this client made the call.
    is_ours: bool
    #: Seconds from our send to the tick that read this answer from the socket, for our
    #: own calls (None otherwise). Not to when it was applied: an answer queued behind a
    #: backlog does not count the wait (``ClientStats.last_call_to_callback`` does). The
    #: client reads the socket only in ``tick()``, so the resolution is the tick interval.
    round_trip: float | None = None

    @property
    def committed(self) -> bool:
        return self.status is ReducerStatus.COMMITTED


@dataclass(frozen=True, slots=True)
class RowEventContext:
    """What every row callback receives as its context: the cause and, for reducers, the call."""

    cause: EventCause
    reducer_event: ReducerEvent | None = None
    query_id: int | None = None


@dataclass(frozen=True, slots=True)
class ConnectedEvent:
    identity: Identity
    connection_id: ConnectionId
    token: str


@dataclass(frozen=True, slots=True)
class SubscriptionAppliedEvent:
    query_id: int
    request_id: int
    host_execution_micros: int


@dataclass(frozen=True, slots=True)
class SubscriptionEndedEvent:
    query_id: int
    request_id: int


@dataclass(frozen=True, slots=True)
class SubscriptionErrorEvent:
    """A subscription was refused (``query_id`` set) or, with ``query_id`` None, the server
    dropped every subscription of this connection after a query failed mid-transaction."""

    query_id: int | None
    request_id: int | None
    error: str
    #: The query ids this error ended (all active ones when query_id is None).
    affected: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class TableChangeEvent:
    """The row events of one table for one message, with their context.

    The client fires, per table in message order: inserts, then deletes, then updates.
    """

    table_name: str
    inserts: list[Any]
    deletes: list[Any]
    updates: list[tuple[Any, Any]]
    context: RowEventContext


@dataclass(frozen=True, slots=True)
class OneOffQueryResult:
    message_id: bytes
    table_name: str | None
    rows: list[Any]
    error: str | None
    host_execution_duration: TimeDuration = field(default_factory=lambda: TimeDuration(0))


@dataclass(frozen=True, slots=True)
class ServerErrorEvent:
    """A message-level error the server reported (a ``Failed`` update with no reducer)."""

    message: str


SessionEvent = (
    ConnectedEvent
    | SubscriptionAppliedEvent
    | SubscriptionEndedEvent
    | SubscriptionErrorEvent
    | ReducerEvent
    | TableChangeEvent
    | OneOffQueryResult
    | ServerErrorEvent
)
