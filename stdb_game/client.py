"""The game-loop client: call ``tick()`` once per frame; everything happens inside it.

``tick()`` flushes what the game queued, reads what the socket has without blocking into
a bounded inbound queue, applies whole messages in arrival order within the frame's
budget, fires callbacks on the calling thread, and returns a ``TickStats``. The client
starts no thread. The full contract is in ``docs/tick.md``; the callback order in
``docs/callbacks.md``.
"""

from __future__ import annotations

import enum
import logging
import math
import random
import ssl
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import protocol as P
from .cache import MessageDiff, TableCache
from .errors import (
    AuthError,
    ConnectError,
    DecodeError,
    EncodeError,
    ProtocolError,
    SchemaError,
    StdbError,
)
from .events import (
    ConnectedEvent,
    OneOffQueryResult,
    ReducerEvent,
    RowEventContext,
    ServerErrorEvent,
    SessionEvent,
    SubscriptionAppliedEvent,
    SubscriptionEndedEvent,
    SubscriptionErrorEvent,
    TableChangeEvent,
)
from .sats.values import ConnectionId, Identity
from .schema import ModuleSchema
from .session import Session, SubscriptionKind, SubscriptionRecord, SubscriptionState
from .transport import CloseInfo, CloseKind, Transport, WebSocketTransport, build_subscribe_url
from .transport.base import CLOSE_ABNORMAL
from .transport.handshake import AddrInfo, PendingWebSocket, resolve

__all__ = [
    "KEEPALIVE_REASON",
    "CallbackHandle",
    "Client",
    "ClientBuilder",
    "ClientState",
    "ClientStats",
    "DisconnectKind",
    "DisconnectReason",
    "KeepaliveTimeout",
    "ReconnectPolicy",
    "SubscriptionHandle",
    "TableHandle",
    "TickStats",
]

log = logging.getLogger("stdb_game.client")

#: Servers close the connection on a client message larger than this (32 MiB).
MAX_CLIENT_MESSAGE_BYTES = 32 * 1024 * 1024
#: A drop seen within this many seconds after a stalled tick is reported as a stall.
_STALL_WINDOW = 10.0
_COMPRESSIONS = ("None", "Gzip", "Brotli")
#: Silence is looked at this many times per ``keepalive_interval`` (each look is cheap).
_KEEPALIVE_LOOKS = 4
_KEEPALIVE_PING = b"stdb-game keepalive"
#: The close reason of a connection given up because the server stopped answering.
KEEPALIVE_REASON = "server stopped answering"
_CLOSED_HINT = "disconnect() was called on this client, which ends it for good: make a new Client"

TransportFactory = Callable[[str, "str | None"], Transport]


class Recorder(Protocol):
    """What the client tells a session recorder (``stdb_game.replay``)."""

    def connection(self, params: dict[str, Any]) -> None: ...
    def inbound(self, frame: bytes, now: float) -> None: ...
    def outbound(self, frame: bytes, now: float) -> None: ...
    def tick(self, index: int, now: float) -> None: ...
    def tick_end(self, index: int, applied: int, now: float) -> None: ...
    def disconnect(self, reason: str, now: float, close: CloseInfo | None = None) -> None: ...
    def close(self) -> None: ...


class _Default(enum.Enum):
    """Marks a tick argument left out (None means "no limit")."""

    DEFAULT = 0


class KeepaliveTimeout(ConnectError):
    """The server sent nothing at all, not even a Pong, for longer than the keepalive allows."""


class ClientState(enum.Enum):
    DISCONNECTED = "disconnected"  # never connected, or given up
    CONNECTING = "connecting"  # socket open, waiting for IdentityToken
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"  # waiting for the next reconnect attempt
    CLOSED = "closed"  # disconnect() was called


class DisconnectKind(enum.Enum):
    CLEAN = "clean"  # a close frame (server's or ours)
    ABNORMAL = "abnormal"  # the socket ended without a close frame
    STALL = "stall"  # dropped without a close frame after the game stopped ticking a while
    ERROR = "error"  # a protocol error, an oversized message, a TLS failure...
    LOCAL = "local"  # disconnect() was called


@dataclass(frozen=True)
class DisconnectReason:
    """Why a connection ended: what a disconnect callback branches on."""

    kind: DisconnectKind
    code: int | None = None
    reason: str = ""
    error: BaseException | None = None
    #: How long the game loop had stalled before the drop (None if it had not). Any kind
    #: may carry it; only a drop without a close frame is reported as ``STALL``.
    stalled_for: float | None = None
    will_reconnect: bool = False

    def describe(self) -> str:
        if self.kind is DisconnectKind.STALL:
            return f"dropped after the game loop stalled for {self.stalled_for:.1f}s"
        if self.kind is DisconnectKind.LOCAL:
            return "disconnected by the client"
        if self.kind is DisconnectKind.CLEAN:
            return f"server closed the connection ({self.code}{': ' + self.reason if self.reason else ''})"
        if self.kind is DisconnectKind.ABNORMAL:
            return "connection dropped without a close frame" + (
                f": {self.error}" if self.error else ""
            )
        return f"connection failed: {self.error}"


@dataclass
class ReconnectPolicy:
    """Exponential backoff with jitter; ``max_attempts=None`` retries forever."""

    enabled: bool = True
    initial_delay: float = 0.5
    max_delay: float = 15.0
    multiplier: float = 2.0
    jitter: float = 0.5  # each delay is scaled by a random factor in [1 - jitter, 1]
    max_attempts: int | None = None
    connect_timeout: float = 5.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        base = min(self.max_delay, self.initial_delay * self.multiplier ** max(attempt, 0))
        return base * (1.0 - self.jitter * rng.random())


@dataclass(slots=True)
class TickStats:
    """What one ``tick()`` did (a fresh object each tick; slotted, as one is built per frame)."""

    messages_applied: int = 0
    frames_read: int = 0
    queue_depth: int = 0
    #: Seconds the oldest still-queued message has waited (0 when the queue is empty).
    oldest_queued_age: float = 0.0
    bytes_in: int = 0
    bytes_out: int = 0
    #: Wall time spent inside this tick, in seconds.
    elapsed: float = 0.0
    #: True when messages were left queued because the budget ran out.
    budget_exhausted: bool = False
    callback_errors: int = 0
    state: ClientState = ClientState.DISCONNECTED


@dataclass
class ClientStats:
    """Totals since the client was made, for HUDs and benchmarks."""

    ticks: int = 0
    messages_applied: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    reconnects: int = 0
    callback_errors: int = 0
    max_tick_seconds: float = 0.0
    #: Seconds from sending our last answered reducer call to the tick that read its
    #: answer from the socket (``ReducerEvent.round_trip``). Its resolution is the tick
    #: interval: an answer that arrives between ticks waits in the socket until the next.
    last_rtt: float | None = None
    #: The last 256 round trips, oldest first.
    rtt_samples: deque[float] = field(default_factory=lambda: deque(maxlen=256))
    #: Seconds from that call to its reducer callback: the round trip plus the time the
    #: answer waited in the inbound queue behind other messages (a budget backlog).
    last_call_to_callback: float | None = None
    call_to_callback_samples: deque[float] = field(default_factory=lambda: deque(maxlen=256))
    #: (time, bytes_in, messages) samples for per-second rates.
    _window: deque[tuple[float, int, int, int]] = field(default_factory=lambda: deque(maxlen=128))

    @property
    def mean_rtt(self) -> float | None:
        """The mean of ``rtt_samples`` (None before the first answered call)."""
        return sum(self.rtt_samples) / len(self.rtt_samples) if self.rtt_samples else None

    @property
    def mean_call_to_callback(self) -> float | None:
        samples = self.call_to_callback_samples
        return sum(samples) / len(samples) if samples else None

    def rates(self) -> tuple[float, float, float]:
        """(messages/s, bytes in/s, bytes out/s) over the last second or so."""
        w = self._window
        if len(w) < 2:
            return 0.0, 0.0, 0.0
        t1, b1, o1, m1 = w[-1]
        first = next((s for s in w if t1 - s[0] <= 1.5), w[0])
        t0, b0, o0, m0 = first
        dt = t1 - t0
        if dt <= 0:
            return 0.0, 0.0, 0.0
        return (m1 - m0) / dt, (b1 - b0) / dt, (o1 - o0) / dt


#: ``Client(incremental_decode_bytes=...)`` by default: a frame this big holds thousands of
#: rows (tens of milliseconds to apply), far more than a frame's budget; smaller ones are
#: applied whole as they come.
DEFAULT_INCREMENTAL_DECODE_BYTES = 64 * 1024

#: Rows decoded per step of a message prepared across ticks: small enough that a step
#: overshoots a 2 ms budget by well under a millisecond.
_STEP_ROWS = 512


@dataclass
class _StepJob:
    """A message being prepared across ticks (``Session.receive_steps``)."""

    steps: Generator[None, None, list[SessionEvent]]
    was_restoring: bool
    read_at: float


class CallbackHandle:
    """Returned by every ``on_*`` registration; ``remove()`` unregisters the callback."""

    __slots__ = ("_fn", "_list")

    def __init__(self, lst: list[Any], fn: Any) -> None:
        self._list = lst
        self._fn = fn

    def remove(self) -> None:
        try:
            self._list.remove(self._fn)
        except ValueError:
            pass


def _register(lst: list[Any], fn: Any) -> CallbackHandle:
    lst.append(fn)
    return CallbackHandle(lst, fn)


class TableHandle:
    """One table of the client cache with its row callbacks.

    Row callbacks get ``(ctx, row)`` (``(ctx, old, new)`` for updates), where ``ctx`` is a
    ``RowEventContext`` saying why the row changed (and, for reducers, the ``ReducerEvent``).
    """

    def __init__(self, client: Client, cache: TableCache[Any]) -> None:
        self._client = client
        self.cache = cache
        self.name = cache.name
        self._on_insert: list[Callable[[RowEventContext, Any], None]] = []
        self._on_delete: list[Callable[[RowEventContext, Any], None]] = []
        self._on_update: list[Callable[[RowEventContext, Any, Any], None]] = []
        self._on_before_delete: list[Callable[[RowEventContext, Any], None]] = []

    def on_insert(self, fn: Callable[[RowEventContext, Any], None]) -> CallbackHandle:
        return _register(self._on_insert, fn)

    def on_delete(self, fn: Callable[[RowEventContext, Any], None]) -> CallbackHandle:
        return _register(self._on_delete, fn)

    def on_update(self, fn: Callable[[RowEventContext, Any, Any], None]) -> CallbackHandle:
        return _register(self._on_update, fn)

    def on_before_delete(self, fn: Callable[[RowEventContext, Any], None]) -> CallbackHandle:
        """Runs before the message is written to the cache, for each row really leaving it
        (its count goes to 0), while the cache still holds it. Not for the old row of an
        update, which ``on_update`` reports: a "despawn before delete" handler must not
        fire on every move (the C# SDK's ``OnBeforeDelete`` rule)."""
        return _register(self._on_before_delete, fn)

    @property
    def has_row_callbacks(self) -> bool:
        return bool(self._on_insert or self._on_delete or self._on_update or self._on_before_delete)

    def iter(self) -> Iterator[Any]:
        return self.cache.iter()

    def __iter__(self) -> Iterator[Any]:
        return self.cache.iter()

    def count(self) -> int:
        return self.cache.count()

    def __len__(self) -> int:
        return self.cache.count()

    def find(self, pk_value: Any) -> Any:
        """The row with this primary key, or None."""
        return self.cache.find(pk_value)

    def find_by(self, column: str | int, value: Any) -> Any:
        """The row whose unique column ``column`` equals ``value``, or None."""
        return self.cache.find_unique(self._col(column), value)

    def filter(self, column: str | int | Sequence[str | int], value: Any) -> list[Any]:
        """Rows whose indexed column(s) equal ``value``: a tuple for several columns.

        ``column`` may also be the leading part of a multi-column index: on an index
        (x, y), ``filter(("x",), (5,))`` or ``filter("x", 5)`` is every row with x == 5
        (``TableCache.filter``).
        """
        return self.cache.filter(self._cols(column), value)

    def range(
        self,
        column: str | int | Sequence[str | int],
        lo: Any = None,
        hi: Any = None,
        *,
        hi_inclusive: bool = False,
        prefix: Sequence[Any] = (),
    ) -> list[Any]:
        """Rows whose indexed column(s) are in ``[lo, hi)`` (None = unbounded), in key order.

        ``prefix`` fixes the first columns of a multi-column index and ranges over the
        next: ``range(("x", "y"), 0, 10, prefix=(5,))`` is x == 5 and 0 <= y < 10
        (``TableCache.range``).
        """
        return self.cache.range(
            self._cols(column), lo, hi, hi_inclusive=hi_inclusive, prefix=prefix
        )

    def _col(self, column: str | int) -> int:
        if isinstance(column, int):
            return column
        elements = self.cache.row_type.elements
        for i, e in enumerate(elements):
            if e.name == column:
                return i
        names = ", ".join(e.name or f"#{i}" for i, e in enumerate(elements))
        raise SchemaError(f"table {self.name!r} has no column {column!r} (its columns: {names})")

    def _cols(self, column: str | int | Sequence[str | int]) -> int | tuple[int, ...]:
        if isinstance(column, (str, int)):
            return self._col(column)
        return tuple(self._col(c) for c in column)

    def __repr__(self) -> str:
        return f"TableHandle({self.name!r}, rows={self.count()})"


class _Tables:
    """``client.db.<table>``: attribute access to table handles."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def __getattr__(self, name: str) -> TableHandle:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._client._schema is None:
            raise AttributeError(
                f"table {name!r}: tables are known once the schema is loaded; "
                "call connect() first (it fetches the schema) or pass schema="
            )
        try:
            return self._client.table(name)
        except SchemaError:
            raise AttributeError(f"no table named {name!r}") from None

    def __getitem__(self, name: str) -> TableHandle:
        return self._client.table(name)

    def __iter__(self) -> Iterator[TableHandle]:
        return iter(self._client._tables.values())

    def __dir__(self) -> list[str]:
        return list(self._client._tables)


class SubscriptionHandle:
    """A subscription you made: its state, callbacks and ``unsubscribe()``."""

    def __init__(self, client: Client, record: SubscriptionRecord) -> None:
        self._client = client
        self.record = record
        self._on_applied: list[Callable[[SubscriptionHandle], None]] = []
        self._on_error: list[Callable[[SubscriptionHandle, str], None]] = []
        self._on_end: list[Callable[[SubscriptionHandle], None]] = []

    @property
    def query_id(self) -> int:
        return self.record.query_id

    @property
    def queries(self) -> tuple[str, ...]:
        return self.record.queries

    @property
    def state(self) -> SubscriptionState:
        return self.record.state

    @property
    def is_active(self) -> bool:
        return self.record.state is SubscriptionState.ACTIVE

    @property
    def error(self) -> str | None:
        return self.record.error

    def on_applied(self, fn: Callable[[SubscriptionHandle], None]) -> SubscriptionHandle:
        self._on_applied.append(fn)
        return self

    def on_error(self, fn: Callable[[SubscriptionHandle, str], None]) -> SubscriptionHandle:
        self._on_error.append(fn)
        return self

    def on_end(self, fn: Callable[[SubscriptionHandle], None]) -> SubscriptionHandle:
        self._on_end.append(fn)
        return self

    def unsubscribe(self) -> None:
        """End it; rows only this subscription held are deleted when the server confirms."""
        self._client._unsubscribe(self)

    def __repr__(self) -> str:
        return f"SubscriptionHandle({self.query_id}, {self.state.value}, {list(self.queries)!r})"


class Client:
    """A SpacetimeDB connection for a game loop. Build with ``Client(...)`` or ``Client.builder()``.

    Nothing happens on the network until ``connect()``; nothing is read or fired except
    inside ``tick()``.
    """

    def __init__(
        self,
        uri: str,
        database: str,
        *,
        schema: ModuleSchema | None = None,
        token: str | None = None,
        credentials: Any = None,
        credentials_key: str | None = None,
        on_token_refused: str = "raise",
        compression: str = "Gzip",
        light: bool = False,
        reconnect: ReconnectPolicy | bool = True,
        inbound_queue_limit: int = 4096,
        budget_ms: float | None = 4.0,
        max_messages: int | None = None,
        incremental_decode_bytes: int | None = DEFAULT_INCREMENTAL_DECODE_BYTES,
        stall_threshold: float = 10.0,
        keepalive_interval: float | None = 15.0,
        keepalive_timeout: float | None = 15.0,
        outbox_limit: int = 4096,
        connect_timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        transport_factory: TransportFactory | None = None,
        record_to: Any = None,
        clock: Callable[[], float] = time.perf_counter,
        rng: random.Random | None = None,
    ) -> None:
        if inbound_queue_limit < 1:
            raise ValueError("inbound_queue_limit must be at least 1")
        self.uri = uri
        self.database = database
        self.compression = compression
        self.light = light
        self.reconnect_policy = (
            reconnect
            if isinstance(reconnect, ReconnectPolicy)
            else ReconnectPolicy(enabled=bool(reconnect))
        )
        self.inbound_queue_limit = inbound_queue_limit
        self.budget_ms = budget_ms
        self.max_messages = max_messages
        #: Under a time budget, messages at least this big (bytes) are decoded across ticks,
        #: then applied whole (``docs/tick.md``). None applies every message within one tick.
        self.incremental_decode_bytes = incremental_decode_bytes
        self.stall_threshold = stall_threshold
        for what, value in (("keepalive_interval", keepalive_interval),
                            ("keepalive_timeout", keepalive_timeout)):  # fmt: skip
            if value is not None and not value > 0:
                raise ValueError(f"{what} must be a positive number of seconds or None (off)")
        #: Seconds of silence from the server before the client sends a Ping; None: never.
        self.keepalive_interval = keepalive_interval
        #: Seconds to wait after that Ping for anything at all before the connection is
        #: treated as dropped; None: never (``docs/tick.md``, "Keepalive").
        self.keepalive_timeout = keepalive_timeout
        self.outbox_limit = outbox_limit
        if compression not in _COMPRESSIONS:
            raise ValueError(f"compression must be one of {_COMPRESSIONS}, got {compression!r}")
        if compression == "Brotli" and not P.brotli_available():
            # Refused now, not at the first Brotli frame, which would drop the connection.
            raise ValueError(
                "compression='Brotli' needs the optional 'brotli' package: "
                f"{P.BROTLI_INSTALL_HINT} (or use compression='Gzip' or 'None')"
            )
        self._url()  # a bad address or empty database name is refused now, not at connect()
        self.connect_timeout = connect_timeout
        #: TLS settings for ``wss://`` (e.g. a private CA), used by ``connect()`` and by
        #: every reconnect; None verifies against the system's trusted certificates.
        self.ssl_context = ssl_context
        self._clock = clock
        self._rng = rng or random.Random()
        self._transport_factory = transport_factory
        self._credentials = credentials
        self._credentials_key = credentials_key
        if on_token_refused not in ("raise", "anonymous"):
            raise ValueError(
                f"on_token_refused must be 'raise' or 'anonymous', got {on_token_refused!r}"
            )
        #: What a token the server refuses (HTTP 401) does, wherever it came from (``token=``,
        #: the credentials store, or the server earlier) and whenever (``connect()`` or a
        #: reconnect): "raise" an ``AuthError`` saying how to go on (``forget_token()``),
        #: or "anonymous": forget it (and its stored copy) and connect once more without a
        #: token, as a NEW identity.
        self.on_token_refused = on_token_refused
        self._token = token
        #: Where ``_token`` came from, for messages: "given", "store", "server" or None.
        self._token_source: str | None = "given" if token is not None else None
        #: The refusal that ended the connection for good, until a new one is made.
        self._refusal: AuthError | None = None
        #: The stored file could not be read: None, "damaged" (it does not decode; a new
        #: token may replace it, the store keeps a .corrupt copy) or "unreadable" (OS error:
        #: never written over).
        self._store_problem: str | None = None
        if self._token is None and credentials is not None:
            self._token = self._load_stored_token()
            self._token_source = "store" if self._token is not None else None
        self._schema = schema
        self.session: Session | None = None
        self._tables: dict[str, TableHandle] = {}
        self.db = _Tables(self)
        self.transport: Transport | None = None
        self.state = ClientState.DISCONNECTED
        self.stats = ClientStats()
        self._queue: deque[tuple[bytes, float]] = deque()
        self._job: _StepJob | None = None  # the queue's head, when prepared in steps
        self._outbox: list[bytes] = []  # frames waiting for IdentityToken
        self._in_tick = False
        self._tick_index = 0
        self._last_tick_at: float | None = None
        self._prev_tick_gap = 0.0
        self._reconnect_attempt = 0
        self._next_reconnect_at: float | None = None
        self._pending: PendingWebSocket | None = None
        self._addresses: list[Any] | None = None
        self._subs: dict[int, SubscriptionHandle] = {}
        self._one_off_callbacks: dict[bytes, Callable[[OneOffQueryResult], None]] = {}
        self._on_connect: list[Callable[[Identity, str, ConnectionId], None]] = []
        self._on_connect_error: list[Callable[[BaseException], None]] = []
        self._on_disconnect: list[Callable[[DisconnectReason], None]] = []
        self._on_reconnect: list[Callable[[], None]] = []
        self._on_reducer: dict[str, list[Callable[[ReducerEvent], None]]] = {}
        self._on_any_reducer: list[Callable[[ReducerEvent], None]] = []
        self._on_server_error: list[Callable[[str], None]] = []
        self._on_callback_error: list[Callable[[BaseException, str], None]] = []
        self._recorder: Recorder | None = None
        if record_to is not None:
            from .replay import SessionRecorder

            self._recorder = (
                record_to if hasattr(record_to, "inbound") else SessionRecorder(record_to)
            )
        self._ever_connected = False
        #: The identity of the last connection: kept while a reconnect is under way.
        self._known_identity: Identity | None = None
        self._reconnecting = False
        self._recent_stall: tuple[float, float] | None = None  # (gap seconds, when)
        self._counted_transport: Transport | None = None
        # Keepalive: tick() only compares its start time with _ka_deadline (inf when off).
        self._ka_deadline = math.inf
        self._ka_mark = 0  # transport.bytes_in at the last look
        self._ka_quiet_since = 0.0  # when something was last received (as far as known)
        self._ka_pinged_at: float | None = None
        self._ka_heard_at = -math.inf  # the start of the last tick that read frames
        self._ka_heard_seen = -math.inf  # _ka_heard_at as the last keepalive look saw it
        #: A ``begin_connect()`` failure, reported by the next tick (not inside the call).
        self._connect_failure: BaseException | None = None
        self._bytes_out_seen = 0
        self._tick_callback_errors = 0
        # The read time and apply time of the message being applied (for ClientStats).
        self._read_at = 0.0
        self._applied_at = 0.0
        self._after_schema: list[Callable[[], None]] = []
        if schema is not None:
            self._install_schema(schema)

    # ---- construction helpers -------------------------------------------------------------

    @classmethod
    def builder(cls) -> ClientBuilder:
        return ClientBuilder()

    def _store_key(self) -> str:
        if self._credentials_key is not None:
            return self._credentials_key
        return f"{self.uri}|{self.database}"

    def _store_where(self) -> str:
        """The stored token's file (or key, for stores that are not files), for messages."""
        key = self._store_key()
        path_for = getattr(self._credentials, "path_for", None)
        if callable(path_for):
            try:
                return f"file {path_for(key)}"
            except Exception:  # a custom store: the key says enough
                pass
        return f"key {key!r}"

    def _load_stored_token(self) -> str | None:
        """The stored token; a file that cannot be read counts as none, with one warning."""
        assert self._credentials is not None
        try:
            token: str | None = self._credentials.load(self._store_key())
        except (DecodeError, OSError) as exc:
            if self._store_problem is None:
                self._store_problem = "damaged" if isinstance(exc, DecodeError) else "unreadable"
                log.warning(
                    "the stored credentials (%s) cannot be read (%s): connecting without a "
                    "token, so the server gives this player a NEW identity. The file is left "
                    "as it is%s.",
                    self._store_where(), exc,
                    "; when the new token is saved the old file is kept with a .corrupt suffix"
                    if self._store_problem == "damaged" else " and no token is saved over it",
                )  # fmt: skip
            return None
        return token

    def _refused_token(self, exc: AuthError) -> AuthError:
        """``exc``, saying which token was refused and what to do (None sent: as it is)."""
        if self._token is None:
            return exc
        source = self._token_source
        if source == "store":
            which = f"the stored one ({self._store_where()})"
        elif source == "server":
            which = "the one this server gave this client on an earlier connection"
        else:
            which = "the one passed as token="
        clear = ""
        if self._credentials is not None:
            from .credentials import CredentialStore

            store = self._credentials
            key = self._store_key()
            if isinstance(store, CredentialStore):
                clear = f"; it also clears the stored copy, as {store!r}.clear({key!r}) would"
            else:
                clear = f"; it also clears the stored copy (your store's clear({key!r}))"
        err = AuthError(
            f"{exc}. The refused token was {which}: this server no longer accepts it (a dev "
            "server restarted without --data-dir, or another server). To go on as a NEW "
            f"identity call client.forget_token(){clear}, then client.connect(); or pass "
            "on_token_refused='anonymous' to do that automatically",
            status=exc.status,
            body=exc.body,
        )
        err.__cause__ = exc
        return err

    def _retry_anonymously(self, exc: AuthError) -> bool:
        """on_token_refused='anonymous' and a token was refused: forget it (True: go on
        without one). False when the option is off or no token was sent (nothing to drop)."""
        if self.on_token_refused != "anonymous" or self._token is None:
            return False
        source = self._token_source
        which = (
            f"stored token ({self._store_where()})" if source == "store"
            else "token the server gave earlier" if source == "server"
            else "token passed as token="
        )  # fmt: skip
        log.warning(
            "the %s was refused (%s): clearing it and connecting as a NEW identity "
            "(on_token_refused='anonymous')",
            which, exc,
        )  # fmt: skip
        self.forget_token()
        return True

    def forget_token(self) -> None:
        """Drop this client's token, and its copy in the credentials store if there is one.

        The next connection (``connect()`` or a reconnect) presents no token, so the server
        makes a NEW identity, and its token is then kept (and stored) as usual. This is
        how to go on after an ``AuthError`` for a refused token (a dev server restarted
        without ``--data-dir`` forgets every token it issued): ``client.forget_token()``,
        then ``client.connect()``. ``on_token_refused="anonymous"`` does it for you.
        """
        if self._credentials is not None:
            try:
                self._credentials.clear(self._store_key())
            except OSError as err:
                log.warning("could not clear the stored token (%s): %s", self._store_where(), err)
        self._token = None
        self._token_source = None
        self._refusal = None

    def _install_schema(self, schema: ModuleSchema) -> None:
        self._schema = schema
        self.session = Session(schema)
        self._tables = {t.name: TableHandle(self, t) for t in self.session.cache}
        waiting, self._after_schema = self._after_schema, []
        for fn in waiting:
            fn()

    def _when_schema(self, fn: Callable[[], None]) -> None:
        """Run ``fn()`` once the tables are known: now, or when ``connect()`` has fetched
        the schema (for layers that attach callbacks before that, like ``compat``)."""
        if self._schema is not None:
            fn()
        else:
            self._after_schema.append(fn)

    @property
    def schema(self) -> ModuleSchema:
        if self._schema is None:
            raise StdbError("the client has no schema yet: pass schema= or connect() first")
        return self._schema

    @property
    def identity(self) -> Identity | None:
        """Who the server says we are; the last known one while reconnecting.

        A reconnect presents the same token, so it gets the same identity back: a game
        keeps finding "its" rows instead of seeing itself vanish for the outage. None only
        before the first connection's ``IdentityToken`` has been read, which a ``tick()``
        after ``connect()`` does (see ``connect``). ``connection_id`` names the live
        connection, so it is None while there is none.
        """
        session = self.session
        current = session.identity if session is not None else None
        return current if current is not None else self._known_identity

    @property
    def connection_id(self) -> ConnectionId | None:
        return self.session.connection_id if self.session else None

    @property
    def token(self) -> str | None:
        return self._token

    @property
    def is_connected(self) -> bool:
        return self.state is ClientState.CONNECTED

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    def table(self, name: str) -> TableHandle:
        try:
            return self._tables[name]
        except KeyError:
            raise SchemaError(f"the module has no table {name!r}") from None

    # ---- callbacks --------------------------------------------------------------------------

    def on_connect(self, fn: Callable[[Identity, str, ConnectionId], None]) -> CallbackHandle:
        """``fn(identity, token, connection_id)`` after each (re)connection's IdentityToken."""
        return _register(self._on_connect, fn)

    def on_connect_error(self, fn: Callable[[BaseException], None]) -> CallbackHandle:
        """``fn(error)`` when a connection could not be opened (``AuthError`` for bad tokens)."""
        return _register(self._on_connect_error, fn)

    def on_disconnect(self, fn: Callable[[DisconnectReason], None]) -> CallbackHandle:
        return _register(self._on_disconnect, fn)

    def on_reconnect(self, fn: Callable[[], None]) -> CallbackHandle:
        """``fn()`` once a reconnect restored every subscription and reconciled the cache."""
        return _register(self._on_reconnect, fn)

    def on_reducer(self, name: str, fn: Callable[[ReducerEvent], None]) -> CallbackHandle:
        """``fn(event)`` for every run of reducer ``name`` this client hears of."""
        return _register(self._on_reducer.setdefault(name, []), fn)

    def on_any_reducer(self, fn: Callable[[ReducerEvent], None]) -> CallbackHandle:
        return _register(self._on_any_reducer, fn)

    def on_server_error(self, fn: Callable[[str], None]) -> CallbackHandle:
        """``fn(message)`` for message-level errors the server reports outside any reducer."""
        return _register(self._on_server_error, fn)

    def on_callback_error(self, fn: Callable[[BaseException, str], None]) -> CallbackHandle:
        """``fn(exception, where)`` when one of your callbacks raised (it is also logged)."""
        return _register(self._on_callback_error, fn)

    # ---- connecting -------------------------------------------------------------------------

    def connect(self) -> Client:
        """Open the connection: the one blocking step (bounded by ``connect_timeout``).

        Fetches the schema over HTTP first when none was given. Raises ``AuthError`` /
        ``ConnectError``; the ``on_connect_error`` callbacks see the same error.

        It returns once the WebSocket is open, before the server's first message (the
        ``IdentityToken``) has been read, so ``identity`` and ``connection_id`` are still
        None and ``is_connected`` False: a later ``tick()`` reads it and fires ``on_connect``
        there. To wait: ``client.run_until(lambda: client.identity is not None, timeout=5)``.
        Requests made meanwhile wait in the outbox and go out then.
        """
        self._check_can_connect()
        try:
            try:
                self._connect_once()
            except AuthError as exc:
                if not self._retry_anonymously(exc):
                    raise self._refused_token(exc) from exc
                self._connect_once()
        except (StdbError, OSError) as exc:
            self._fire_list(self._on_connect_error, "on_connect_error", exc)
            raise
        return self

    def _connect_once(self) -> None:
        if self._schema is None:
            from .http import get_schema

            self._install_schema(
                ModuleSchema.from_json(
                    get_schema(self.uri, self.database, self._token, ssl_context=self.ssl_context)
                )
            )
        self._open_transport(self.connect_timeout)

    def begin_connect(self, addresses: Sequence[AddrInfo] | None = None) -> Client:
        """Start connecting without blocking; each ``tick()`` then advances the handshake.

        For loops that may not block even once (asyncio, a game's first frame). It needs a
        schema (fetching one is blocking HTTP). ``addresses`` are the server's addresses,
        resolved beforehand (``stdb_game.transport.handshake.resolve`` or the event loop's
        ``getaddrinfo``); without them the host name is resolved here, which can wait on
        DNS. A refusal or failure (a refused handshake, a failed lookup, a
        ``transport_factory`` that raises) reaches ``on_connect_error`` inside the next
        tick and leaves the client ``DISCONNECTED``; ``begin_connect()`` itself raises only
        for misuse (no schema, already connected). A ``transport_factory`` is called here,
        and may block.
        """
        self._check_can_connect()
        if self._schema is None:
            raise StdbError(
                "begin_connect() needs the schema (fetching it blocks): pass schema= "
                "(generated bindings' SCHEMA) or use connect()"
            )
        try:
            if self._transport_factory is not None:
                try:
                    self._open_transport(self.connect_timeout)
                except AuthError as exc:
                    if not self._retry_anonymously(exc):
                        raise self._refused_token(exc) from exc
                    self._open_transport(self.connect_timeout)
                return self
            url = self._url()
            addrs = list(addresses) if addresses is not None else resolve(url)
            self._addresses = addrs
            self._pending = PendingWebSocket(
                url,
                token=self._token,
                timeout=self.connect_timeout,
                ssl_context=self.ssl_context,
                addresses=list(addrs),
            )
        except (StdbError, OSError) as exc:
            # Reported by the next tick, like a failure later in the handshake.
            self._connect_failure = exc
        self.state = ClientState.CONNECTING
        return self

    def _check_can_connect(self) -> None:
        """Refuse a second connect; after a drop, start the new connection from a clean slate.

        A client whose connection ended for good (reconnects off, or given up: both leave
        the same state) may ``connect()`` again: its subscriptions ended (``ERROR``) and
        are not resent, and its cache is reconciled to the new connection's subscriptions
        like after a reconnect (the old rows are deleted, with callbacks). After
        ``disconnect()`` it may not.
        """
        if self.state is ClientState.CLOSED:
            raise StdbError(_CLOSED_HINT)
        if self.transport is not None or self.state is not ClientState.DISCONNECTED:
            raise StdbError(f"connect() called on a client that is already {self.state.value}")
        if self._ever_connected and self.session is not None:
            self.session.begin_reconnect(self._queued_call_ids())

    def _step_first_connect(self) -> None:
        """Advance a ``begin_connect()`` handshake as far as the socket allows now."""
        pending = self._pending
        assert pending is not None
        try:
            transport = pending.step()
        except (StdbError, OSError) as exc:
            self._pending = None
            if isinstance(exc, AuthError):
                if self._retry_anonymously(exc):
                    self._pending = PendingWebSocket(
                        self._url(),
                        token=None,
                        timeout=self.connect_timeout,
                        ssl_context=self.ssl_context,
                        addresses=list(self._addresses) if self._addresses else None,
                    )
                    return
                exc = self._refused_token(exc)
            self._report_connect_failure(exc)
            return
        if transport is not None:
            self._pending = None
            self._transport_opened(transport, self._url())

    def _report_connect_failure(self, exc: BaseException) -> None:
        """A ``begin_connect()`` that failed: DISCONNECTED, then ``on_connect_error`` (in a tick)."""
        self._connect_failure = None
        self.state = ClientState.DISCONNECTED
        log.error("connecting failed: %s", exc)
        self._fire_list(self._on_connect_error, "on_connect_error", exc)

    @property
    def url(self) -> str:
        """The WebSocket URL the client opens (without the token)."""
        return self._url()

    def _url(self) -> str:
        return build_subscribe_url(
            self.uri,
            self.database,
            compression=self.compression,  # type: ignore[arg-type]
            light=self.light,
        )

    def _open_transport(self, timeout: float) -> None:
        url = self._url()
        if self._transport_factory is not None:
            transport = self._transport_factory(url, self._token)
        else:
            transport = WebSocketTransport.connect(
                url, token=self._token, timeout=timeout, ssl_context=self.ssl_context
            )
            try:
                self._addresses = resolve(url)  # reconnects then never wait on DNS
            except ConnectError:
                self._addresses = None
        self._transport_opened(transport, url)

    def _transport_opened(self, transport: Transport, url: str) -> None:
        self.transport = transport
        self.state = ClientState.CONNECTING
        self._arm_keepalive(transport)
        if self._recorder is not None:
            self._recorder.connection(
                {
                    "uri": self.uri,
                    "database": self.database,
                    "url": url,
                    "compression": self.compression,
                    "light": self.light,
                    "has_token": self._token is not None,
                    # What a replay needs to rebuild this client (docs/recording.md).
                    # The ModuleSchema: the recorder stores its JSON, rebuilt if it has none.
                    "schema": self._schema,
                    "settings": {
                        "inbound_queue_limit": self.inbound_queue_limit,
                        "budget_ms": self.budget_ms,
                        "max_messages": self.max_messages,
                        "incremental_decode_bytes": self.incremental_decode_bytes,
                        "stall_threshold": self.stall_threshold,
                        "reconnect": self.reconnect_policy.enabled,
                    },
                }
            )

    def disconnect(self) -> None:
        """Close the connection for good (no reconnect); fires ``on_disconnect`` (LOCAL)."""
        was_open = self.transport is not None and self.state is not ClientState.CLOSED
        if self.transport is not None:
            try:
                self.transport.flush()
                self.transport.close(1000, "client disconnect")
            except OSError:
                pass
        self.transport = None
        if self._pending is not None:
            self._pending.abort()
            self._pending = None
        self._connect_failure = None
        self.state = ClientState.CLOSED
        self._next_reconnect_at = None
        if was_open:
            self._fire_list(
                self._on_disconnect, "on_disconnect", DisconnectReason(DisconnectKind.LOCAL, 1000)
            )
        if self._recorder is not None:
            self._recorder.disconnect("local", self._clock())
            self._recorder.close()

    # ---- requests ---------------------------------------------------------------------------

    def _session(self, what: str = "this request") -> Session:
        """The session, which requests need: without a schema none can be encoded.

        The rule for requests made before ``connect()`` (and while reconnecting): a client
        with a schema queues them in the outbox, in order, and sends them once connected;
        one without a schema (no ``schema=``, ``connect()`` not yet called) raises here,
        before anything is queued or lost.
        """
        if self.session is None:
            raise StdbError(
                f"{what} before connect(): this client has no schema yet, so it cannot be "
                "encoded. Requests made before connect() are queued (and sent once "
                "connected) only by a client made with schema= (generated bindings' "
                "SCHEMA); otherwise call connect() first, it fetches the schema"
            )
        return self.session

    def _check_can_send(self) -> None:
        """Raise if a request could be neither sent nor queued now.

        Requests call it before the session records them, so a refused one leaves no
        state (no subscription resent later, no call counted lost).
        """
        if self.state is ClientState.CONNECTED and self.transport is not None:
            return
        if self.state is ClientState.CLOSED:
            raise StdbError(f"not connected: the request was not sent; {_CLOSED_HINT}")
        if self.state is ClientState.DISCONNECTED and self._ever_connected:
            if self._refusal is not None and self._token is None:
                raise StdbError(
                    "not connected (reconnecting gave up: the server refused this client's "
                    "token, then a connection without a token too): the request was not "
                    "sent; call client.connect() again once the server accepts connections"
                )
            if self._refusal is not None:
                raise StdbError(
                    "not connected (reconnecting gave up: the server refused this "
                    "client's token): the request was not sent; call "
                    "client.forget_token() then client.connect() to go on as a NEW "
                    "identity"
                )
            raise StdbError(
                "not connected (the connection ended and is not being restored): the "
                "request was not sent; call connect() again first"
            )
        if len(self._outbox) >= self.outbox_limit:
            raise StdbError(
                f"{len(self._outbox)} requests are already waiting for the connection "
                f"(outbox_limit={self.outbox_limit}); not queueing more"
            )

    def _send(self, frame: bytes) -> None:
        if len(frame) > MAX_CLIENT_MESSAGE_BYTES:
            raise EncodeError(
                f"the message is {len(frame)} bytes; servers close the connection on client "
                f"messages over {MAX_CLIENT_MESSAGE_BYTES} bytes",
                type_name="ClientMessage",
            )
        if self.state is not ClientState.CONNECTED or self.transport is None:
            self._check_can_send()
            self._outbox.append(frame)  # sent once the connection is (back) up
            return
        if not self.transport.is_open:
            # The connection ended and its last messages are being applied: the request is
            # lost like any in flight at a drop (a call counts in session.lost_calls, a live
            # subscription is restored on reconnect), not raised into tick().
            log.info("request not sent: the connection already ended")
            return
        if self._recorder is not None:
            self._recorder.outbound(frame, self._clock())
        self.transport.send(frame)
        if not self._in_tick:
            self.transport.flush()

    def subscribe(self, queries: str | Sequence[str]) -> SubscriptionHandle:
        """Subscribe to one or more SQL queries as one set; returns its handle."""
        session = self._session("subscribe()")
        self._check_can_send()
        rec, frame = session.subscribe(queries, self._clock())
        return self._send_subscription(session, rec, frame, {})

    def subscribe_single(self, query: str) -> SubscriptionHandle:
        """The deprecated single-query path (``SubscribeSingle``); prefer ``subscribe``."""
        session = self._session("subscribe_single()")
        self._check_can_send()
        rec, frame = session.subscribe(query, self._clock(), single=True)
        return self._send_subscription(session, rec, frame, {})

    def subscribe_legacy(self, queries: Sequence[str]) -> SubscriptionHandle:
        """The legacy ``Subscribe``: replaces every earlier legacy query set."""
        session = self._session("subscribe_legacy()")
        self._check_can_send()
        # The sets this one replaces, to put back if the frame is refused.
        before = {
            q: r.state
            for q, r in session.subscriptions.items()
            if r.kind is SubscriptionKind.LEGACY
        }
        rec, frame = session.subscribe_legacy(queries, self._clock())
        return self._send_subscription(session, rec, frame, before)

    def _send_subscription(
        self,
        session: Session,
        rec: SubscriptionRecord,
        frame: bytes,
        replaced: dict[int, SubscriptionState],
    ) -> SubscriptionHandle:
        """Send a recorded subscription; if the frame is refused, forget it again."""
        try:
            self._send(frame)
        except StdbError:
            session.withdraw(query_id=rec.query_id)
            for qid, state in replaced.items():
                session.subscriptions[qid].state = state
            raise
        handle = SubscriptionHandle(self, rec)
        self._subs[rec.query_id] = handle
        return handle

    def subscribe_to_all_tables(self) -> SubscriptionHandle:
        """Every public table of the schema, one ``SELECT *`` each (the server's ``*`` form
        is refused by some versions, so the queries are spelled out).

        Private tables are left out: only the database owner may read them, so a query
        naming one would fail the whole set for everyone else. Subscribe to them by name
        with ``subscribe()`` when connected as the owner. A module with no public table
        raises ``StdbError``: there is nothing every client could subscribe to.
        """
        names = [t.name for t in self.schema.tables.values() if t.public]
        if not names:
            private = ", ".join(sorted(self.schema.tables)) or "none"
            raise StdbError(
                "subscribe_to_all_tables: the module has no public table "
                f"(private tables: {private}); subscribe to those by name as the owner"
            )
        return self.subscribe([f"SELECT * FROM {n}" for n in names])

    def _unsubscribe(self, handle: SubscriptionHandle) -> None:
        frame = self._session().unsubscribe(handle.query_id)
        if frame is not None:
            self._send(frame)

    def unsubscribe(self, query_id: int) -> None:
        handle = self._subs.get(query_id)
        if handle is not None:
            handle.unsubscribe()

    def call_reducer(
        self,
        name: str,
        /,
        *args: Any,
        raw_args: bytes | bytearray | memoryview | None = None,
        **kwargs: Any,
    ) -> int:
        """Call reducer ``name`` with positional or keyword arguments; returns the request id.

        Arguments are always values, encoded from the reducer's parameter types in the
        schema (a ``bytes`` value for a ``bytes`` parameter gets its length prefix like any
        other). To send arguments already encoded as BSATN (a reducer the schema does not
        know, a recorded call), pass them as ``raw_args=`` and no other argument.
        ``flags=`` (a ``CallReducerFlags``) sets the call flags, unless the reducer has a
        parameter named ``flags``; ``call_flags=`` always does.

        Before ``connect()``, before the first ``IdentityToken`` and while reconnecting,
        calls wait in an outbox (``outbox_limit``) and go out once connected, in order
        with other requests; a client without a schema (no ``schema=``, not yet
        connected) cannot encode them and raises ``StdbError`` instead. After
        ``disconnect()`` or a reconnect that gave up they raise ``StdbError``. Typed
        calls (``conn.reducers.<name>(...)``) follow the same rule.
        """
        session = self._session(f"call_reducer({name!r})")
        self._check_can_send()
        flags: Any = kwargs.pop("call_flags", None)
        rdef0 = session.schema.reducers.get(name)
        if (
            flags is None
            and "flags" in kwargs
            and not (rdef0 is not None and "flags" in rdef0.param_names)
        ):
            flags = kwargs.pop("flags")
        if flags is None:
            flags = P.CallReducerFlags.FULL_UPDATE
        payload: Any
        if raw_args is not None:
            if args or kwargs:
                raise TypeError(
                    f"call_reducer({name!r}): raw_args= is the whole encoded argument list; "
                    "pass either raw_args= or the arguments themselves, not both"
                )
            if not isinstance(raw_args, (bytes, bytearray, memoryview)):
                raise TypeError(
                    f"call_reducer({name!r}): raw_args= takes the BSATN bytes of the arguments, "
                    f"got {type(raw_args).__name__}"
                )
            payload = bytes(raw_args)
        elif kwargs:
            rdef = session.schema.reducer(name)
            names = rdef.param_names
            merged = dict(zip(names, args))
            merged.update(kwargs)
            unknown = set(merged) - set(names)
            if unknown:
                raise TypeError(f"reducer {name!r} has no parameter(s) {sorted(unknown)}")
            payload = session.encode_reducer_args(name, merged)
        else:
            payload = session.encode_reducer_args(name, tuple(args))
        rid, frame = session.call_reducer(
            name, payload, flags=P.CallReducerFlags(flags), now=self._clock()
        )
        try:
            self._send(frame)
        except StdbError:
            session.withdraw(request_id=rid)  # refused: not pending, never counted lost
            raise
        return rid

    def one_off_query(self, sql: str, callback: Callable[[OneOffQueryResult], None]) -> bytes:
        """Run ``sql`` once; ``callback(result)`` fires inside a later tick."""
        session = self._session("one_off_query()")
        self._check_can_send()
        mid, frame = session.one_off_query(sql, self._clock())
        try:
            self._send(frame)
        except StdbError:
            session.withdraw(message_id=mid)
            raise
        self._one_off_callbacks[mid] = callback
        return mid

    # ---- the tick ---------------------------------------------------------------------------

    def tick(
        self,
        budget_ms: float | _Default | None = _Default.DEFAULT,
        max_messages: int | _Default | None = _Default.DEFAULT,
    ) -> TickStats:
        """Do this frame's networking; never blocks. See ``docs/tick.md``.

        ``budget_ms`` bounds the time spent applying messages (None = no limit) and
        ``max_messages`` their number; each tick applies at least one queued message, or
        runs at least one step of a big one being prepared across ticks.
        """
        if self._in_tick:  # before anything changes: a refused tick leaves no trace
            raise StdbError("tick() was called from inside a callback; callbacks run in tick()")
        # Runs every frame, mostly with nothing to read: locals over attributes, and no
        # work that only a non-empty queue needs.
        clock = self._clock
        start = clock()
        index = self._tick_index = self._tick_index + 1
        last = self._last_tick_at
        gap = 0.0 if last is None else start - last
        self._last_tick_at = start
        if gap >= self.stall_threshold:
            self._recent_stall = (gap, start)
        self._tick_callback_errors = 0
        rec = self._recorder
        if rec is not None:
            rec.tick(index, start)
        queue = self._queue
        frames_read = bytes_in = applied = 0
        exhausted = False
        transport = self.transport
        self._in_tick = True
        try:
            if transport is None:
                if self._connect_failure is not None:
                    self._report_connect_failure(self._connect_failure)
                elif self._pending is not None and self.state is ClientState.CONNECTING:
                    self._step_first_connect()  # begin_connect()'s handshake
                else:
                    self._maybe_reconnect(start)
            else:
                transport.flush()
                room = self.inbound_queue_limit - len(queue)
                # With a full queue, poll(0) takes no message but still answers pings.
                frames = transport.poll(room if room > 0 else 0)
                if frames:
                    self._ka_heard_at = start  # when they arrived, for the keepalive
                    frames_read = len(frames)
                    bytes_in = sum(map(len, frames))
                    for f in frames:
                        if rec is not None:
                            rec.inbound(f, start)
                        queue.append((f, start))
                if queue:  # an idle tick skips straight to the end
                    budget = self.budget_ms if budget_ms is _Default.DEFAULT else budget_ms
                    limit = self.max_messages if max_messages is _Default.DEFAULT else max_messages
                    applied, exhausted = self._apply_queue(start, budget, limit)
                t = self.transport
                if t is not None:
                    # Over only once every message it received is applied: the transport
                    # may still hold some that did not fit in the queue.
                    if not queue and not t.is_open and not t.buffered_frames:
                        self._connection_lost(t.closed_reason, gap)
                        t = self.transport
                    elif start >= self._ka_deadline:
                        self._keepalive(t, start, gap)
                        t = self.transport
                    if t is not None:
                        t.flush()
        finally:
            self._in_tick = False
        end = clock()
        t2 = self.transport
        bytes_out = 0
        if t2 is not None:
            if t2 is not self._counted_transport:
                self._counted_transport = t2
                self._bytes_out_seen = 0
            total = t2.bytes_out
            bytes_out = total - self._bytes_out_seen  # includes sends made between ticks
            self._bytes_out_seen = total
        elapsed = end - start
        errors = self._tick_callback_errors
        st = self.stats
        st.ticks += 1
        if applied:
            st.messages_applied += applied
        if bytes_in:
            st.bytes_in += bytes_in
        if bytes_out:
            st.bytes_out += bytes_out
        if errors:
            st.callback_errors += errors
        if elapsed > st.max_tick_seconds:
            st.max_tick_seconds = elapsed
        st._window.append((end, st.bytes_in, st.bytes_out, st.messages_applied))
        if rec is not None:
            rec.tick_end(index, applied, end)
        return TickStats(
            applied,
            frames_read,
            len(queue),
            (end - queue[0][1]) if queue else 0.0,
            bytes_in,
            bytes_out,
            elapsed,
            exhausted,
            errors,
            self.state,
        )

    def _apply_queue(
        self, start: float, budget: float | None, limit: int | None
    ) -> tuple[int, bool]:
        """Apply queued messages within the budget: (messages applied, budget ran out).

        A message of at least ``incremental_decode_bytes`` under a time budget is prepared
        in steps across ticks (``Session.receive_steps``) while it stays at the head of the
        queue, and is applied whole, callbacks included, in the tick its last step runs.
        """
        queue = self._queue
        clock = self._clock
        deadline = None if budget is None else start + budget / 1000.0
        big = self.incremental_decode_bytes
        applied = 0
        while queue:
            if applied and (
                (deadline is not None and clock() >= deadline)
                or (limit is not None and applied >= limit)
            ):
                return applied, True
            if self.transport is None:
                break  # a callback disconnected: the rest is not applied
            job = self._job
            if job is None:
                frame, read_at = queue[0]
                if deadline is None or big is None or len(frame) < big:
                    queue.popleft()
                    applied += 1
                    if not self._apply_frame(frame, read_at):
                        break
                    continue
                job = self._start_job(frame, read_at)
            outcome = self._step_job(job, deadline)
            if outcome is None:
                return applied, True  # out of time mid-message: it waits at the queue's head
            applied += 1
            if not outcome:
                break  # failed: the queue was cleared
            queue.popleft()
        return applied, False

    def _start_job(self, frame: bytes, read_at: float) -> _StepJob:
        session = self.session
        assert session is not None
        was_restoring = session.restoring
        self._applied_at = self._clock()
        steps = session.receive_steps(frame, read_at, self._before_commit, chunk_rows=_STEP_ROWS)
        job = self._job = _StepJob(steps, was_restoring, read_at)
        return job

    def _step_job(self, job: _StepJob, deadline: float | None) -> bool | None:
        """Run steps until the message is applied (True), failed (False) or time is up (None)."""
        clock = self._clock
        try:
            while True:
                next(job.steps)
                if deadline is not None:
                    now = self._applied_at = clock()
                    if now >= deadline:
                        return None
        except StopIteration as done:
            events: list[SessionEvent] = done.value
        except ProtocolError as exc:
            self._job = None
            self._protocol_failure(exc)
            return False
        self._job = None
        self._read_at = job.read_at
        self._fire_events(events, job.was_restoring)
        return True

    def _apply_frame(self, frame: bytes, read_at: float) -> bool:
        """Apply one frame and fire its callbacks; False when the connection failed.

        The session gets the frame's read time (``read_at``): the round trip of a call is
        measured to when its answer came off the socket, not to when a later tick of a
        backlog applies it (``ClientStats.last_call_to_callback`` has that).
        """
        session = self.session
        assert session is not None
        self._applied_at = self._clock()
        self._read_at = read_at
        was_restoring = session.restoring
        try:
            events = session.receive(frame, read_at, self._before_commit)
        except ProtocolError as exc:
            self._protocol_failure(exc)
            return False
        self._fire_events(events, was_restoring)
        return True

    def _protocol_failure(self, exc: ProtocolError) -> None:
        log.error("protocol error, closing the connection: %s", exc)
        self._queue.clear()
        if self.transport is not None:
            try:
                self.transport.close(1002, "protocol error")
            except OSError:
                pass
        self._connection_lost(CloseInfo.failed(exc, 1002), 0.0, allow_reconnect=False)

    def _fire_events(self, events: list[SessionEvent], was_restoring: bool) -> None:
        for ev in events:
            self._dispatch(ev)
        session = self.session
        assert session is not None
        if was_restoring and not session.restoring and self.state is ClientState.CONNECTED:
            self._finish_reconnect()

    # ---- dispatch ---------------------------------------------------------------------------

    def _guard(self, where: str, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:  # a user callback failed: report, never corrupt
            self._callback_failed(exc, where)

    def _callback_failed(self, exc: Exception, where: str) -> None:
        """Count, log (call it inside the ``except``) and hand to the hooks one callback error.

        The hot loops (row and reducer callbacks) call the callback in their own ``try``
        and come here only on failure, so ``where`` is built only then.
        """
        self._tick_callback_errors += 1
        log.exception("callback %s raised", where)
        for hook in list(self._on_callback_error):
            try:
                hook(exc, where)
            except Exception:
                log.exception("on_callback_error hook raised")

    def _fire_list(self, lst: Sequence[Callable[..., Any]], where: str, *args: Any) -> None:
        for fn in list(lst):
            self._guard(where, fn, *args)

    def _before_commit(self, diff: MessageDiff, ctx: RowEventContext) -> None:
        for td in diff:
            handle = self._tables.get(td.table_name)
            if handle is None or not handle._on_before_delete:
                continue
            cbs = handle._on_before_delete
            where = f"{td.table_name}.on_before_delete"
            for row in td.deletes:  # rows leaving the cache; updates' old rows are not
                for fn in list(cbs):
                    self._guard(where, fn, ctx, row)

    def _dispatch(self, ev: SessionEvent) -> None:
        t = type(ev)
        if t is TableChangeEvent:
            assert isinstance(ev, TableChangeEvent)
            handle = self._tables.get(ev.table_name)
            if handle is None:
                return
            ctx = ev.context
            # Each list is copied once per message (callbacks may unregister themselves).
            # The calls are guarded inline (one ``try`` per call, free until it raises).
            if handle._on_insert and ev.inserts:
                fns = list(handle._on_insert)
                for row in ev.inserts:
                    for fn in fns:
                        try:
                            fn(ctx, row)
                        except Exception as exc:
                            self._callback_failed(exc, f"{ev.table_name}.on_insert")
            if handle._on_delete and ev.deletes:
                fns = list(handle._on_delete)
                for row in ev.deletes:
                    for fn in fns:
                        try:
                            fn(ctx, row)
                        except Exception as exc:
                            self._callback_failed(exc, f"{ev.table_name}.on_delete")
            if handle._on_update and ev.updates:
                ufns = list(handle._on_update)
                for old, new in ev.updates:
                    for ufn in ufns:
                        try:
                            ufn(ctx, old, new)
                        except Exception as exc:
                            self._callback_failed(exc, f"{ev.table_name}.on_update")
        elif t is ReducerEvent:
            assert isinstance(ev, ReducerEvent)
            rtt = ev.round_trip
            if rtt is not None:
                st = self.stats
                st.last_rtt = rtt
                st.rtt_samples.append(rtt)
                total = rtt + max(self._applied_at - self._read_at, 0.0)
                st.last_call_to_callback = total
                st.call_to_callback_samples.append(total)
            named = self._on_reducer.get(ev.reducer_name)
            if named:
                for rfn in list(named):
                    try:
                        rfn(ev)
                    except Exception as exc:
                        self._callback_failed(exc, f"on_reducer({ev.reducer_name})")
            if self._on_any_reducer:
                for rfn in list(self._on_any_reducer):
                    try:
                        rfn(ev)
                    except Exception as exc:
                        self._callback_failed(exc, "on_any_reducer")
        elif t is ConnectedEvent:
            assert isinstance(ev, ConnectedEvent)
            self._on_connected(ev)
        elif t is SubscriptionAppliedEvent:
            assert isinstance(ev, SubscriptionAppliedEvent)
            sub = self._subs.get(ev.query_id)
            if sub is not None:
                self._fire_list(sub._on_applied, "subscription.on_applied", sub)
        elif t is SubscriptionEndedEvent:
            assert isinstance(ev, SubscriptionEndedEvent)
            sub = self._subs.get(ev.query_id)
            if sub is not None:
                self._fire_list(sub._on_end, "subscription.on_end", sub)
        elif t is SubscriptionErrorEvent:
            assert isinstance(ev, SubscriptionErrorEvent)
            for qid in ev.affected:
                sub = self._subs.get(qid)
                if sub is not None:
                    self._fire_list(sub._on_error, "subscription.on_error", sub, ev.error)
            if not ev.affected:
                log.warning("subscription error for no known subscription: %s", ev.error)
        elif t is OneOffQueryResult:
            assert isinstance(ev, OneOffQueryResult)
            cb = self._one_off_callbacks.pop(ev.message_id, None)
            if cb is not None:
                self._guard("one_off_query callback", cb, ev)
        elif t is ServerErrorEvent:
            assert isinstance(ev, ServerErrorEvent)
            self._fire_list(self._on_server_error, "on_server_error", ev.message)

    def _on_connected(self, ev: ConnectedEvent) -> None:
        reconnecting = self._ever_connected
        if reconnecting and self._known_identity not in (None, ev.identity):
            log.warning(
                "connected as a NEW identity %s (was %s): the old token was dropped",
                ev.identity.to_hex()[:16], self._known_identity.to_hex()[:16],
            )  # fmt: skip
        self._refusal = None
        self.state = ClientState.CONNECTED
        self._ever_connected = True
        self._reconnect_attempt = 0
        self._next_reconnect_at = None
        self._remember_token(ev.token)
        self._known_identity = ev.identity
        session = self._session()
        frames = session.restore_frames(self._clock()) if reconnecting else []
        outbox, self._outbox = self._outbox, []
        for f in [*frames, *outbox]:
            self._send(f)
        self._fire_list(self._on_connect, "on_connect", ev.identity, ev.token, ev.connection_id)
        if reconnecting and not frames:
            # Nothing to restore: reconcile (empties the cache) and the reconnect is done.
            for e in session.complete_restore(self._before_commit):
                self._dispatch(e)
            self._finish_reconnect()

    def _finish_reconnect(self) -> None:
        if not self._reconnecting:
            return
        self._reconnecting = False
        self.stats.reconnects += 1
        self._fire_list(self._on_reconnect, "on_reconnect")

    def _remember_token(self, token: str) -> None:
        if self._credentials is not None:
            from .credentials import should_store

            stored = self._load_stored_token()
            if not should_store(token, stored, now=time.time()):
                return
            if self._store_problem == "unreadable":
                # Never written over a file we cannot read; reconnects keep this identity.
                if self._token is None:
                    self._token, self._token_source = token, "server"
                return
            try:
                self._credentials.save(self._store_key(), token)
            except OSError as exc:
                log.warning("could not store the new token (%s): %s", self._store_where(), exc)
            else:
                self._store_problem = None
            if token != self._token:
                self._token = token
                self._token_source = "server"
        elif self._token is None:
            self._token = token
            self._token_source = "server"

    # ---- keepalive ----------------------------------------------------------------------------

    def _arm_keepalive(self, transport: Transport) -> None:
        """Start watching a new connection for silence (if enabled and the transport can)."""
        self._ka_pinged_at = None
        self._ka_mark = transport.bytes_in
        now = self._clock()
        self._ka_quiet_since = now
        self._ka_heard_at = self._ka_heard_seen = -math.inf
        interval, timeout = self.keepalive_interval, self.keepalive_timeout
        if interval is None or timeout is None or not transport.supports_keepalive:
            self._ka_deadline = math.inf
        else:
            self._ka_deadline = now + interval / _KEEPALIVE_LOOKS

    def _keepalive(self, t: Transport, now: float, gap: float) -> None:
        """A look at the connection: still hearing from the server, ping it, or give up.

        Anything received counts (a message, a Ping, a Pong), as do messages received but
        not yet applied. After a stalled tick the silence is our loop's, so it pings anew
        instead of giving up.
        """
        interval, timeout = self.keepalive_interval, self.keepalive_timeout
        assert interval is not None and timeout is not None
        if not t.is_open:
            return  # ended: the next tick reports it
        received = t.bytes_in
        if received != self._ka_mark or self._queue or t.buffered_frames:
            self._ka_mark = received
            # Silence is counted from the tick that read the last frames, not from this
            # look (up to interval/4 later); a Ping or Pong alone has no read time: now.
            heard = self._ka_heard_at
            quiet = heard if heard != self._ka_heard_seen else now
            self._ka_heard_seen = heard
            self._ka_quiet_since = quiet
            self._ka_pinged_at = None
            self._ka_deadline = min(now + interval / _KEEPALIVE_LOOKS, quiet + interval)
            t.take_pongs()  # nobody else reads them: do not let them pile up
            return
        look = interval / _KEEPALIVE_LOOKS
        pinged = self._ka_pinged_at
        if pinged is not None and gap < self.stall_threshold:
            if now - pinged >= timeout:
                self._keepalive_expired(t, now, pinged)
            else:
                self._ka_deadline = min(now + look, pinged + timeout)
            return
        if pinged is None and now - self._ka_quiet_since < interval:
            self._ka_deadline = min(now + look, self._ka_quiet_since + interval)
            return
        t.send_ping(_KEEPALIVE_PING)
        self._ka_pinged_at = now
        self._ka_deadline = now + min(look, timeout)

    def _keepalive_expired(self, t: Transport, now: float, pinged: float) -> None:
        error = KeepaliveTimeout(
            f"the server stopped answering: nothing received for {now - self._ka_quiet_since:.1f} s, "
            f"no reply to a ping sent {now - pinged:.1f} s ago (keepalive_interval="
            f"{self.keepalive_interval} s, keepalive_timeout={self.keepalive_timeout} s)"
        )
        log.warning("%s", error)
        self._ka_deadline = math.inf
        try:
            t.abort()
        except OSError:
            pass
        info = CloseInfo(CloseKind.ABNORMAL, CLOSE_ABNORMAL, KEEPALIVE_REASON, error, True)
        self._connection_lost(info, 0.0)

    # ---- disconnects and reconnects ---------------------------------------------------------

    def _connection_lost(
        self, info: CloseInfo | None, gap: float, *, allow_reconnect: bool = True
    ) -> None:
        self.transport = None
        self._ka_deadline = math.inf
        if info is None:
            info = CloseInfo.abnormal()
        stalled = gap if gap >= self.stall_threshold else None
        recent = self._recent_stall
        if info.reason == KEEPALIVE_REASON and info.kind is CloseKind.ABNORMAL:
            recent = None  # the server went quiet while we kept ticking: not our stall
        if stalled is None and recent is not None and self._clock() - recent[1] <= _STALL_WINDOW:
            # The pings that piled up during the stall were read first; the drop itself
            # shows a tick or two later.
            stalled = recent[0]
        self._recent_stall = None
        if stalled is not None and info.kind is CloseKind.ABNORMAL:
            # Only a silent drop is the stall's doing; a close frame or an error says why.
            kind = DisconnectKind.STALL
        elif info.kind is CloseKind.CLEAN:
            kind = DisconnectKind.CLEAN
        elif info.kind is CloseKind.ABNORMAL:
            kind = DisconnectKind.ABNORMAL
        else:
            kind = DisconnectKind.ERROR
        will = allow_reconnect and self.reconnect_policy.enabled and self._ever_connected
        reason = DisconnectReason(kind, info.code, info.reason, info.error, stalled, will)
        log.info("disconnected: %s", reason.describe())
        if self._recorder is not None:
            self._recorder.disconnect(reason.describe(), self._clock(), info)
        failed = self._fail_one_off_queries("the connection was lost before the answer came")
        if will:
            self.state = ClientState.RECONNECTING
            self._reconnecting = True
            assert self.session is not None
            # Calls still in the outbox were never sent: they wait for the next connection.
            self.session.begin_reconnect(self._queued_call_ids())
            self._schedule_reconnect()
        else:
            self.state = ClientState.DISCONNECTED
            self._end_subscriptions("the connection ended")
            self._lose_requests("the connection ended", failed)
        self._fire_list(self._on_disconnect, "on_disconnect", reason)

    def _fail_one_off_queries(self, why: str) -> int:
        """One-off queries in flight get an error result instead of waiting forever."""
        pending, self._one_off_callbacks = self._one_off_callbacks, {}
        for mid, cb in pending.items():
            self._guard("one_off_query callback", cb, OneOffQueryResult(mid, None, [], why))
        return len(pending)

    def _queued_call_ids(self) -> set[int]:
        """Request ids of the reducer calls waiting in the outbox (never sent yet)."""
        ids: set[int] = set()
        for frame in self._outbox:
            try:
                msg = P.decode_client_message(frame)
            except ProtocolError:  # pragma: no cover - we encoded it ourselves
                continue
            if isinstance(msg, P.CallReducer):
                ids.add(msg.request_id)
        return ids

    def _lose_requests(self, why: str, failed_queries: int = 0) -> None:
        """The connection is over for good: what waited for it is lost, and says so.

        Reducer calls still in the outbox or unanswered count in ``session.lost_calls``
        (each once), queued one-off queries get an error result, and one warning gives
        the numbers (``failed_queries``: one-off queries the caller already failed).
        Subscriptions are marked ``ERROR`` by ``_end_subscriptions``.
        """
        outbox, self._outbox = self._outbox, []
        session = self.session
        lost: set[int] = set()
        others = 0
        for frame in outbox:
            try:
                msg = P.decode_client_message(frame)
            except ProtocolError:  # pragma: no cover - we encoded it ourselves
                others += 1
                continue
            if isinstance(msg, P.CallReducer):
                lost.add(msg.request_id)
            elif not isinstance(msg, P.OneOffQuery):
                others += 1
        if session is not None:
            lost.update(c.request_id for c in session.pending_calls)
            session.pending_calls.clear()
            session.lost_calls += len(lost)
        queries = failed_queries + self._fail_one_off_queries(f"{why} before the answer came")
        if lost or queries or others:
            log.warning(
                "%s: %d reducer call(s) lost (never sent, or sent with no answer; counted in "
                "session.lost_calls), %d one-off query(ies) failed, %d other request(s) "
                "not sent",
                why, len(lost), queries, others,
            )  # fmt: skip

    def _end_subscriptions(self, why: str) -> None:
        """The connection is over for good: no subscription stays active or pending."""
        if self.session is None:
            return
        for rec in self.session.subscriptions.values():
            if rec.state in (
                SubscriptionState.ACTIVE,
                SubscriptionState.PENDING,
                SubscriptionState.ENDING,
            ):
                rec.state = SubscriptionState.ERROR
                rec.error = why

    def _schedule_reconnect(self) -> None:
        delay = self.reconnect_policy.delay(self._reconnect_attempt, self._rng)
        self._next_reconnect_at = self._clock() + delay

    def _maybe_reconnect(self, now: float) -> None:
        """Advance a reconnect without blocking: start an attempt when due, step its handshake."""
        if self.state is not ClientState.RECONNECTING or self._next_reconnect_at is None:
            return
        policy = self.reconnect_policy
        try:
            if self._pending is None:
                if now < self._next_reconnect_at:
                    return
                self._reconnect_attempt += 1
                if self._transport_factory is not None:
                    self._open_transport(policy.connect_timeout)
                    return
                self._pending = PendingWebSocket(
                    self._url(),
                    token=self._token,
                    timeout=policy.connect_timeout,
                    ssl_context=self.ssl_context,
                    addresses=list(self._addresses) if self._addresses else None,
                )
            transport = self._pending.step()
            if transport is None:
                return
            self._pending = None
            self._transport_opened(transport, self._url())
        except AuthError as exc:
            self._pending = None
            if self._retry_anonymously(exc):
                # Once, at once: the next tick opens a connection without a token; the
                # cache is reconciled with the new identity's rows as on any reconnect.
                self._next_reconnect_at = now
                return
            exc = self._refused_token(exc)
            log.error("reconnect refused the token: %s", exc)
            self._refusal = exc
            self._give_up(exc)
            return
        except (ConnectError, OSError) as exc:
            self._pending = None
            log.info("reconnect attempt %d failed: %s", self._reconnect_attempt, exc)
            if policy.max_attempts is not None and self._reconnect_attempt >= policy.max_attempts:
                self._give_up(exc)
                return
            self.state = ClientState.RECONNECTING
            self._schedule_reconnect()
            return

    def _give_up(self, exc: BaseException) -> None:
        """Reconnecting ended for good: say so through on_connect_error and on_disconnect."""
        self.state = ClientState.DISCONNECTED
        self._next_reconnect_at = None
        self._reconnecting = False
        self._end_subscriptions(f"reconnecting failed: {exc}")
        if self.session is not None:
            # As when a connection ends with reconnects off: nothing is waited for, and
            # the next connect() starts clean.
            self.session.abandon_restore()
        self._lose_requests("reconnecting gave up")
        self._fire_list(self._on_connect_error, "on_connect_error", exc)
        reason = DisconnectReason(DisconnectKind.ERROR, None, "reconnect gave up", exc, None, False)
        self._fire_list(self._on_disconnect, "on_disconnect", reason)

    # ---- convenience loops ------------------------------------------------------------------

    def run_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 10.0,
        *,
        tick_interval: float = 0.001,
        budget_ms: float | None = None,
    ) -> bool:
        """Tick until ``predicate()`` is true (True) or ``timeout`` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        while True:
            self.tick(budget_ms=budget_ms)
            if predicate():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(tick_interval)

    def run_forever(self, *, fps: float = 60.0, budget_ms: float | None = None) -> None:
        """Tick at ``fps`` until ``disconnect()`` is called (for scripts and tools)."""
        interval = 1.0 / fps
        while self.state is not ClientState.CLOSED:
            t0 = time.monotonic()
            self.tick(budget_ms=budget_ms)
            rest = interval - (time.monotonic() - t0)
            if rest > 0:
                time.sleep(rest)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.state is not ClientState.CLOSED:
            self.disconnect()

    def __repr__(self) -> str:
        return f"Client({self.uri!r}, {self.database!r}, state={self.state.value})"


class ClientBuilder:
    """Fluent construction: ``Client.builder().with_uri(...).with_module_name(...).build()``."""

    def __init__(self) -> None:
        self._kw: dict[str, Any] = {}
        self._uri: str | None = None
        self._db: str | None = None
        self._on_connect: list[Callable[[Identity, str, ConnectionId], None]] = []
        self._on_connect_error: list[Callable[[BaseException], None]] = []
        self._on_disconnect: list[Callable[[DisconnectReason], None]] = []

    def with_uri(self, uri: str) -> ClientBuilder:
        self._uri = uri
        return self

    def with_module_name(self, name: str) -> ClientBuilder:
        self._db = name
        return self

    with_database = with_module_name

    def with_token(self, token: str | None) -> ClientBuilder:
        self._kw["token"] = token
        return self

    def with_schema(self, schema: ModuleSchema) -> ClientBuilder:
        self._kw["schema"] = schema
        return self

    def with_compression(self, compression: str) -> ClientBuilder:
        self._kw["compression"] = compression
        return self

    def with_light_mode(self, light: bool = True) -> ClientBuilder:
        self._kw["light"] = light
        return self

    def with_credentials(
        self, store: Any, key: str | None = None, *, on_token_refused: str | None = None
    ) -> ClientBuilder:
        """Keep the token in ``store``; ``on_token_refused`` (None: leave it as set) too."""
        self._kw["credentials"] = store
        self._kw["credentials_key"] = key
        if on_token_refused is not None:
            self._kw["on_token_refused"] = on_token_refused
        return self

    def with_reconnect(self, policy: ReconnectPolicy | bool) -> ClientBuilder:
        self._kw["reconnect"] = policy
        return self

    def with_budget(
        self, budget_ms: float | None = None, max_messages: int | None = None
    ) -> ClientBuilder:
        self._kw["budget_ms"] = budget_ms
        self._kw["max_messages"] = max_messages
        return self

    def with_keepalive(
        self, interval: float | None = 15.0, timeout: float | None = 15.0
    ) -> ClientBuilder:
        """Ping a server silent for ``interval`` s; drop it after ``timeout`` s more (None: off)."""
        self._kw["keepalive_interval"] = interval
        self._kw["keepalive_timeout"] = timeout
        return self

    def with_inbound_queue_limit(self, limit: int) -> ClientBuilder:
        self._kw["inbound_queue_limit"] = limit
        return self

    def with_ssl_context(self, context: ssl.SSLContext | None) -> ClientBuilder:
        """TLS settings for ``wss://`` (a private CA...), for connect and every reconnect."""
        self._kw["ssl_context"] = context
        return self

    def with_transport_factory(self, factory: TransportFactory) -> ClientBuilder:
        self._kw["transport_factory"] = factory
        return self

    def with_record_to(self, path: Any) -> ClientBuilder:
        self._kw["record_to"] = path
        return self

    def with_option(self, name: str, value: Any) -> ClientBuilder:
        """Any other ``Client`` keyword argument."""
        self._kw[name] = value
        return self

    def on_connect(self, fn: Callable[[Identity, str, ConnectionId], None]) -> ClientBuilder:
        self._on_connect.append(fn)
        return self

    def on_connect_error(self, fn: Callable[[BaseException], None]) -> ClientBuilder:
        self._on_connect_error.append(fn)
        return self

    def on_disconnect(self, fn: Callable[[DisconnectReason], None]) -> ClientBuilder:
        self._on_disconnect.append(fn)
        return self

    def build(self) -> Client:
        """The client, not yet connected."""
        if not self._uri or not self._db:
            raise ValueError("with_uri(...) and with_module_name(...) are required")
        client = Client(self._uri, self._db, **self._kw)
        for fn in self._on_connect:
            client.on_connect(fn)
        for fn2 in self._on_connect_error:
            client.on_connect_error(fn2)
        for fn3 in self._on_disconnect:
            client.on_disconnect(fn3)
        return client

    def connect(self) -> Client:
        """Build and connect (the blocking handshake)."""
        return self.build().connect()
