"""The v1 ``ServerMessage`` variants and the types nested in them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Union

from ...sats.values import ConnectionId, Identity, TimeDuration, Timestamp
from ..compression import COMPRESSION_THRESHOLD, Compression, compress, decompress
from .client_messages import QueryId
from .row_list import BsatnRowList

__all__ = [
    "Committed",
    "CompressableQueryUpdate",
    "DatabaseUpdate",
    "EnergyQuanta",
    "Failed",
    "IdentityToken",
    "InitialSubscription",
    "InternalError",
    "OneOffQueryResponse",
    "OneOffTable",
    "OutOfEnergy",
    "ProcedureOutOfEnergy",
    "ProcedureResult",
    "ProcedureStatus",
    "QueryUpdate",
    "ReducerCallInfo",
    "Returned",
    "ServerMessage",
    "SubscribeApplied",
    "SubscribeMultiApplied",
    "SubscribeRows",
    "SubscriptionError",
    "TableUpdate",
    "TransactionUpdate",
    "TransactionUpdateLight",
    "UnsubscribeApplied",
    "UnsubscribeMultiApplied",
    "UpdateStatus",
]


@dataclass(frozen=True, slots=True)
class EnergyQuanta:
    """Energy spent by a transaction: the wire product ``{quanta: u128}``, like other nested
    types a frozen dataclass. ``int(e)`` gives the quanta (session events carry the int)."""

    quanta: int

    def __int__(self) -> int:
        return self.quanta


# ---- row updates ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueryUpdate:
    """The rows one query lost and gained; deletes come first on the wire."""

    deletes: BsatnRowList
    inserts: BsatnRowList


@dataclass(frozen=True, slots=True)
class CompressableQueryUpdate:
    """A ``QueryUpdate`` as sent: plain (``compression`` NONE) or compressed BSATN bytes.

    The variant is kept so that re-encoding gives back the exact bytes received.
    ``query_update()`` decompresses on first use and remembers the result.
    """

    compression: Compression
    #: A ``QueryUpdate`` for NONE, else the compressed BSATN of one.
    payload: QueryUpdate | bytes
    _decoded: QueryUpdate | None = field(
        default=None, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        plain = self.compression is Compression.NONE
        if not (type(self.payload) is QueryUpdate if plain else type(self.payload) is bytes):
            kind = "a QueryUpdate" if plain else "compressed bytes"
            raise TypeError(
                f"CompressableQueryUpdate({self.compression.name}) needs {kind}, "
                f"got {type(self.payload).__name__}"
            )

    @classmethod
    def uncompressed(cls, update: QueryUpdate) -> CompressableQueryUpdate:
        return cls(Compression.NONE, update)

    @classmethod
    def compressed(
        cls, update: QueryUpdate, compression: Compression, threshold: int = COMPRESSION_THRESHOLD
    ) -> CompressableQueryUpdate:
        """Wrap ``update`` the way server 1.1.2 does: compress only when its BSATN is longer
        than ``threshold`` bytes."""
        if compression is Compression.NONE:
            return cls(Compression.NONE, update)
        from .encode_server import encode_query_update

        raw = encode_query_update(update)
        if len(raw) <= threshold:
            return cls(Compression.NONE, update)
        return cls(compression, compress(raw, compression))

    def query_update(self) -> QueryUpdate:
        """The plain update; compressed payloads are decompressed and decoded once."""
        payload = self.payload
        if type(payload) is QueryUpdate:
            return payload
        cached = self._decoded
        if cached is not None:
            return cached
        from .decode_server import decode_query_update

        what = f"{self.compression.value} QueryUpdate"
        assert isinstance(payload, bytes)
        update = decode_query_update(decompress(payload, self.compression, what), what)
        object.__setattr__(self, "_decoded", update)
        return update


@dataclass(frozen=True, slots=True)
class TableUpdate:
    """Changes to one table; several entries may name the same table (one per query)."""

    #: The server's internal id; it can change across module updates, so key by name.
    table_id: int
    table_name: str
    num_rows: int
    updates: tuple[CompressableQueryUpdate, ...]

    def query_updates(self) -> list[QueryUpdate]:
        """Every update, decompressed."""
        return [u.query_update() for u in self.updates]


@dataclass(frozen=True, slots=True)
class DatabaseUpdate:
    """Changes to any number of tables."""

    tables: tuple[TableUpdate, ...]


@dataclass(frozen=True, slots=True)
class SubscribeRows:
    """The rows a ``SubscribeSingle``/``Unsubscribe`` added or removed, for one table."""

    table_id: int
    table_name: str
    table_rows: TableUpdate


@dataclass(frozen=True, slots=True)
class OneOffTable:
    """One table of a one-off query's result."""

    table_name: str
    rows: BsatnRowList


# ---- transaction status -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Committed:
    """The reducer committed; the update holds the caller's subscribed changes."""

    TAG: ClassVar[int] = 0
    database_update: DatabaseUpdate


@dataclass(frozen=True, slots=True)
class Failed:
    """The reducer (or the message) failed; nothing changed."""

    TAG: ClassVar[int] = 1
    message: str


@dataclass(frozen=True, slots=True)
class OutOfEnergy:
    """The reducer ran out of energy; nothing changed."""

    TAG: ClassVar[int] = 2


UpdateStatus = Union[Committed, Failed, OutOfEnergy]


@dataclass(frozen=True, slots=True)
class ReducerCallInfo:
    """Which reducer call produced a transaction."""

    reducer_name: str
    #: The reducer's index, or 4294967295 when the name did not resolve.
    reducer_id: int
    args: bytes
    #: The caller's request id (0 for failures on servers up to 1.12).
    request_id: int


# ---- procedure status -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Returned:
    """The procedure returned; ``value`` is the BSATN of its return value."""

    TAG: ClassVar[int] = 0
    value: bytes


@dataclass(frozen=True, slots=True)
class ProcedureOutOfEnergy:
    """The procedure ran out of energy (wire variant ``OutOfEnergy``)."""

    TAG: ClassVar[int] = 1


@dataclass(frozen=True, slots=True)
class InternalError:
    """The procedure failed inside the host."""

    TAG: ClassVar[int] = 2
    message: str


ProcedureStatus = Union[Returned, ProcedureOutOfEnergy, InternalError]


# ---- server messages --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InitialSubscription:
    """Answer to the legacy ``Subscribe``: every matching row, as inserts."""

    TAG: ClassVar[int] = 0
    database_update: DatabaseUpdate
    request_id: int
    total_host_execution_duration: TimeDuration


@dataclass(frozen=True, slots=True)
class TransactionUpdate:
    """A reducer ran: its outcome, and for ``Committed`` the changes to subscribed rows."""

    TAG: ClassVar[int] = 1
    status: UpdateStatus
    timestamp: Timestamp
    caller_identity: Identity
    #: All zeros when no client called it (scheduled reducers).
    caller_connection_id: ConnectionId
    reducer_call: ReducerCallInfo
    energy_quanta_used: EnergyQuanta
    total_host_execution_duration: TimeDuration


@dataclass(frozen=True, slots=True)
class TransactionUpdateLight:
    """A transaction seen by a light-mode client: only the row changes."""

    TAG: ClassVar[int] = 2
    request_id: int
    update: DatabaseUpdate


@dataclass(frozen=True, slots=True)
class IdentityToken:
    """The first message: who the server thinks we are, and the token to keep using."""

    TAG: ClassVar[int] = 3
    identity: Identity
    token: str
    connection_id: ConnectionId


@dataclass(frozen=True, slots=True)
class OneOffQueryResponse:
    """Answer to ``OneOffQuery``: one table on success, or an error and no tables."""

    TAG: ClassVar[int] = 4
    message_id: bytes
    error: str | None
    tables: tuple[OneOffTable, ...]
    total_host_execution_duration: TimeDuration


@dataclass(frozen=True, slots=True)
class SubscribeApplied:
    """Answer to ``SubscribeSingle``: the rows now matching the query."""

    TAG: ClassVar[int] = 5
    request_id: int
    total_host_execution_duration_micros: int
    query_id: QueryId
    rows: SubscribeRows


@dataclass(frozen=True, slots=True)
class UnsubscribeApplied:
    """Answer to ``Unsubscribe``: the rows that left the client's view."""

    TAG: ClassVar[int] = 6
    request_id: int
    total_host_execution_duration_micros: int
    query_id: QueryId
    rows: SubscribeRows


@dataclass(frozen=True, slots=True)
class SubscriptionError:
    """A subscription failed; with no ``request_id``/``query_id`` every subscription was dropped."""

    TAG: ClassVar[int] = 7
    total_host_execution_duration_micros: int
    request_id: int | None
    #: A bare u32, not a ``QueryId``.
    query_id: int | None
    table_id: int | None
    error: str


@dataclass(frozen=True, slots=True)
class SubscribeMultiApplied:
    """Answer to ``SubscribeMulti``: current rows of the queries new to this connection."""

    TAG: ClassVar[int] = 8
    request_id: int
    total_host_execution_duration_micros: int
    query_id: QueryId
    update: DatabaseUpdate


@dataclass(frozen=True, slots=True)
class UnsubscribeMultiApplied:
    """Answer to ``UnsubscribeMulti``: rows that left the client's view, as deletes."""

    TAG: ClassVar[int] = 9
    request_id: int
    total_host_execution_duration_micros: int
    query_id: QueryId
    update: DatabaseUpdate


@dataclass(frozen=True, slots=True)
class ProcedureResult:
    """Answer to ``CallProcedure`` (server 1.8.0+)."""

    TAG: ClassVar[int] = 10
    status: ProcedureStatus
    timestamp: Timestamp
    total_host_execution_duration: TimeDuration
    request_id: int


ServerMessage = Union[
    InitialSubscription,
    TransactionUpdate,
    TransactionUpdateLight,
    IdentityToken,
    OneOffQueryResponse,
    SubscribeApplied,
    UnsubscribeApplied,
    SubscriptionError,
    SubscribeMultiApplied,
    UnsubscribeMultiApplied,
    ProcedureResult,
]
