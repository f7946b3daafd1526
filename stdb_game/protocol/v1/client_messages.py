"""The v1 ``ClientMessage`` variants: what a client sends, one BSATN message per binary frame."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Union

__all__ = [
    "CallProcedure",
    "CallReducer",
    "CallReducerFlags",
    "ClientMessage",
    "OneOffQuery",
    "QueryId",
    "Subscribe",
    "SubscribeMulti",
    "SubscribeSingle",
    "Unsubscribe",
    "UnsubscribeMulti",
]


class CallReducerFlags(enum.IntEnum):
    """Whether the caller hears back about a successful reducer call.

    Exclusive values rather than combinable bits, as on the server: any byte other than
    0 or 1 is a decode error there (the socket is closed).
    """

    #: The caller always gets a ``TransactionUpdate`` (the default).
    FULL_UPDATE = 0
    #: On success the caller is treated like any other subscriber; failures are not reported.
    NO_SUCCESS_NOTIFY = 1
    #: The name the old Python SDK's README used for ``NO_SUCCESS_NOTIFY``.
    NO_SIDE_EFFECTS = 1


@dataclass(frozen=True, slots=True)
class QueryId:
    """A client-chosen u32 naming one subscription (a product with one field on the wire)."""

    id: int


@dataclass(frozen=True, slots=True)
class CallReducer:
    """Run reducer ``reducer``; ``args`` is the BSATN of its argument product."""

    TAG: ClassVar[int] = 0
    reducer: str
    args: bytes
    request_id: int
    flags: CallReducerFlags = CallReducerFlags.FULL_UPDATE


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Legacy: replace the connection's whole query set; answered by ``InitialSubscription``."""

    TAG: ClassVar[int] = 1
    query_strings: tuple[str, ...]
    request_id: int

    def __post_init__(self) -> None:
        _freeze_strings(self, self.query_strings)


@dataclass(frozen=True, slots=True)
class OneOffQuery:
    """Run one SQL query without subscribing; ``message_id`` is echoed in the response."""

    TAG: ClassVar[int] = 2
    message_id: bytes
    query_string: str


@dataclass(frozen=True, slots=True)
class SubscribeSingle:
    """Deprecated single-query subscribe; answered by ``SubscribeApplied``."""

    TAG: ClassVar[int] = 3
    query: str
    request_id: int
    query_id: QueryId


@dataclass(frozen=True, slots=True)
class SubscribeMulti:
    """Subscribe to a set of queries under one ``query_id``; the modern way to subscribe."""

    TAG: ClassVar[int] = 4
    query_strings: tuple[str, ...]
    request_id: int
    query_id: QueryId

    def __post_init__(self) -> None:
        _freeze_strings(self, self.query_strings)


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """Undo a ``SubscribeSingle``; answered by ``UnsubscribeApplied``."""

    TAG: ClassVar[int] = 5
    request_id: int
    query_id: QueryId


@dataclass(frozen=True, slots=True)
class UnsubscribeMulti:
    """Undo a ``SubscribeMulti``; answered by ``UnsubscribeMultiApplied``."""

    TAG: ClassVar[int] = 6
    request_id: int
    query_id: QueryId


@dataclass(frozen=True, slots=True)
class CallProcedure:
    """Run a procedure (server 1.8.0+ only; older servers close the socket on it)."""

    TAG: ClassVar[int] = 7
    procedure: str
    args: bytes
    request_id: int
    #: Must be 0: no other procedure flag exists.
    flags: int = 0


ClientMessage = Union[
    CallReducer,
    Subscribe,
    OneOffQuery,
    SubscribeSingle,
    SubscribeMulti,
    Unsubscribe,
    UnsubscribeMulti,
    CallProcedure,
]


def _freeze_strings(msg: object, strings: Sequence[str]) -> None:
    # Callers naturally pass lists; store a tuple so messages stay hashable and compare
    # equal to decoded ones.
    if type(strings) is not tuple:
        object.__setattr__(msg, "query_strings", tuple(strings))
