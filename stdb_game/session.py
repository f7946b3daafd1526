"""The sans-I/O connection state: server frames in, events and cache changes out.

A ``Session`` holds what one logical connection knows (identity, token, subscriptions,
reducer calls awaiting an answer) and the client cache. It never touches a socket, a clock
or a thread: ``receive(frame, now)`` decodes and applies one server frame and returns the
events in callback order; the request methods return the frames to send. That makes every
protocol behaviour testable from bytes alone, and lets recordings replay with no server.
"""

from __future__ import annotations

import enum
import logging
import re
from collections import Counter, deque
from collections.abc import Callable, Collection, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import protocol as P
from .cache import ClientCache, MessageDiff
from .errors import (
    DecodeError,
    EncodeError,
    ProtocolError,
    SchemaError,
    StdbError,
    UsageError,
)
from .events import (
    ConnectedEvent,
    EventCause,
    OneOffQueryResult,
    ReducerEvent,
    ReducerStatus,
    RowEventContext,
    ServerErrorEvent,
    SessionEvent,
    SubscriptionAppliedEvent,
    SubscriptionEndedEvent,
    SubscriptionErrorEvent,
    TableChangeEvent,
)
from .protocol.v1.decode_server import CommittedParts, committed_parts_in_frame
from .protocol.v1.unchecked import unchecked_constructor
from .sats.codec import Codec, explain_encode_failure, get_codec
from .sats.values import ConnectionId, Identity
from .schema import ModuleSchema

__all__ = [
    "PendingCall",
    "Session",
    "SessionFailed",
    "SubscriptionKind",
    "SubscriptionRecord",
    "SubscriptionState",
]

log = logging.getLogger("stdb_game.session")

# Hot-path shortcuts. Events are frozen dataclasses whose __init__ writes each field through
# object.__setattr__; the session builds them from values it has already checked, so it
# fills the slots directly (the same objects, several times cheaper; see unchecked.py).
_decode_frame = P.decode_server_frame
_committed_parts_in_frame = committed_parts_in_frame
_TransactionUpdate = P.TransactionUpdate
_new_reducer_event = unchecked_constructor(ReducerEvent)
_new_row_context = unchecked_constructor(RowEventContext)
_new_table_change = unchecked_constructor(TableChangeEvent)
_new_applied_event = unchecked_constructor(SubscriptionAppliedEvent)
_COMMITTED = ReducerStatus.COMMITTED
_SUBSCRIBE_APPLIED = EventCause.SUBSCRIBE_APPLIED
_REDUCER = EventCause.REDUCER
_UNKNOWN_TRANSACTION = EventCause.UNKNOWN_TRANSACTION

#: Reducer names servers use for message-level errors that belong to no reducer.
_NO_REDUCER = ("<none>", "")
#: Callback the client passes to ``receive``: runs after a message's diff is computed and
#: before it is written to the cache (``on_before_delete`` sees the old cache).
BeforeCommit = Callable[[MessageDiff, RowEventContext], None]


#: Table names after FROM / JOIN, bare or double-quoted. Over-matching (a FROM inside a
#: string literal) only marks more tables shared, the safe direction.
_QUERY_TABLE = re.compile(r'\b(?:FROM|JOIN)\s+(?:"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_]*))', re.I)


def _query_tables(sql: str) -> set[str]:
    """The tables a subscription query reads, as far as a scan for FROM / JOIN tells."""
    return {
        quoted.replace('""', '"') if quoted else bare for quoted, bare in _QUERY_TABLE.findall(sql)
    }


class SessionFailed(StdbError):
    """The session hit a protocol error earlier and takes no more frames."""


class SubscriptionState(enum.Enum):
    PENDING = "pending"  # sent, not yet applied
    ACTIVE = "active"
    ENDING = "ending"  # unsubscribe sent
    ENDED = "ended"
    ERROR = "error"


class SubscriptionKind(enum.Enum):
    MULTI = "multi"  # SubscribeMulti / UnsubscribeMulti (the modern path)
    SINGLE = "single"  # SubscribeSingle / Unsubscribe (deprecated on the server)
    LEGACY = "legacy"  # Subscribe / InitialSubscription (replaces the whole legacy set)


@dataclass
class SubscriptionRecord:
    """One subscription as the session tracks it."""

    query_id: int
    queries: tuple[str, ...]
    kind: SubscriptionKind
    state: SubscriptionState = SubscriptionState.PENDING
    request_id: int = 0
    error: str | None = None
    sent_at: float = 0.0
    applied_at: float | None = None

    @property
    def is_live(self) -> bool:
        """Should this subscription be restored after a reconnect?"""
        return self.state in (SubscriptionState.PENDING, SubscriptionState.ACTIVE)


@dataclass
class PendingCall:
    """A reducer call sent and not yet answered."""

    request_id: int
    reducer: str
    flags: P.CallReducerFlags
    sent_at: float


@dataclass
class _Restore:
    """State while the subscriptions of a new connection come back after a reconnect."""

    waiting: set[int]
    rows: dict[str, Counter[bytes]] = field(default_factory=dict)
    #: An ``InitialSubscription`` came on the new connection (else the legacy layer is gone).
    legacy_back: bool = False


class Session:
    """One connection's protocol state and cache.

    Reconnecting keeps the session (subscriptions, cache, request counters) and calls
    ``begin_reconnect``; a brand new client builds a brand new session (nothing lives at
    module or class level).
    """

    def __init__(self, schema: ModuleSchema, *, cache: ClientCache | None = None) -> None:
        self.schema = schema
        self.cache = cache if cache is not None else ClientCache()
        for t in schema.tables.values():
            if t.name not in self.cache:
                self.cache.add_table(
                    t.name,
                    t.row_type,
                    primary_key=t.primary_key,
                    unique_columns=[c[0] for c in t.unique_columns if len(c) == 1],
                    indexes=[ix.columns for ix in t.indexes],
                )
        self.identity: Identity | None = None
        self.connection_id: ConnectionId | None = None
        self._token: str | None = None
        self.subscriptions: dict[int, SubscriptionRecord] = {}
        self.pending_calls: deque[PendingCall] = deque()
        self.failed: ProtocolError | None = None
        self._next_request_id = 1
        self._next_query_id = 1
        self._next_message_id = 1
        self._one_off: dict[bytes, tuple[str, float]] = {}
        self._restore: _Restore | None = None
        self.messages_received = 0
        self.lost_calls = 0
        self._arg_codecs: dict[str, tuple[Any, Codec]] = {}
        #: (tables, their collected rows, their diff) prepared by ``receive_steps``.
        self._prepared: tuple[Any, Any, MessageDiff] | None = None
        #: The legacy set's share of the cache, per table: what the next
        #: ``InitialSubscription`` replaces (other subscriptions' rows are not its to drop).
        #: Rows it holds for sure (the last ``InitialSubscription``, less what transactions
        #: deleted since), and rows transactions inserted since into tables it reads, which
        #: may be its or another subscription's (see ``_track_legacy``).
        self._legacy_rows: dict[str, Counter[bytes]] = {}
        self._legacy_maybe: dict[str, Counter[bytes]] = {}
        #: Tables whose transaction rows change that share; empty while there is none.
        self._legacy_reads: frozenset[str] = frozenset()

    # ---- state --------------------------------------------------------------------------

    @property
    def token(self) -> str | None:
        return self._token

    @property
    def connected(self) -> bool:
        """True once the current connection's ``IdentityToken`` arrived."""
        return self.identity is not None and self.connection_id is not None

    @property
    def restoring(self) -> bool:
        """True while a reconnect waits for its restored subscriptions."""
        return self._restore is not None

    def __repr__(self) -> str:
        who = self.identity.to_hex()[:16] if self.identity else "?"
        return f"Session(identity={who}…, subscriptions={len(self.subscriptions)})"

    def begin_reconnect(self, still_queued: Collection[int] = ()) -> None:
        """Forget the server-side state of the old connection, keep subscriptions and cache.

        Calls in flight are lost (their outcome is unknown): they are counted in
        ``lost_calls`` and dropped. Calls whose request id is in ``still_queued`` were never
        sent (they wait in the client's outbox for the next connection), so they stay
        pending and are not counted. After the new ``IdentityToken``, ``restore_frames``
        resubscribes every live subscription; the cache is reconciled once all are back.
        """
        self.connection_id = None
        self.identity = None
        kept = [c for c in self.pending_calls if c.request_id in still_queued]
        self.lost_calls += len(self.pending_calls) - len(kept)
        self.pending_calls = deque(kept)
        self._one_off.clear()
        self.failed = None
        live = [s for s in self.subscriptions.values() if s.is_live]
        for s in self.subscriptions.values():
            if s.state is SubscriptionState.ENDING:
                s.state = SubscriptionState.ENDED  # the server forgot it anyway
        self._restore = _Restore(waiting={s.query_id for s in live})

    def restore_frames(self, now: float = 0.0) -> list[bytes]:
        """Frames that bring back every live subscription on a new connection, in one go."""
        frames: list[bytes] = []
        if self._restore is None:
            return frames
        for rec in self.subscriptions.values():
            if rec.query_id not in self._restore.waiting:
                continue
            rec.state = SubscriptionState.PENDING
            rec.sent_at = now
            rec.request_id = self._take_request_id()
            frames.append(self._subscribe_frame(rec))
        return frames

    def abandon_restore(self) -> None:
        """The connection ended for good while restoring: wait for nothing any more.

        The cache keeps its rows (and the staged ones are dropped) until the next
        ``begin_reconnect``, as when a connection ends with reconnects off.
        """
        self._restore = None

    def withdraw(
        self,
        *,
        query_id: int | None = None,
        request_id: int | None = None,
        message_id: bytes | None = None,
    ) -> None:
        """Forget a request that was refused before it was sent, so it leaves no state."""
        if query_id is not None:
            self.subscriptions.pop(query_id, None)
        if request_id is not None:
            self.pending_calls = deque(c for c in self.pending_calls if c.request_id != request_id)
        if message_id is not None:
            self._one_off.pop(message_id, None)

    def complete_restore(self, before_commit: BeforeCommit | None = None) -> list[SessionEvent]:
        """Finish a reconnect that has no subscription left to wait for (reconciles the cache)."""
        if self._restore is None or self._restore.waiting:
            return []
        return self._finish_restore(before_commit)

    # ---- requests (return frames to send) -----------------------------------------------

    def _take_request_id(self) -> int:
        rid = self._next_request_id
        self._next_request_id = (rid + 1) & 0xFFFFFFFF or 1
        return rid

    def _take_query_id(self) -> int:
        qid = self._next_query_id
        while qid in self.subscriptions and self.subscriptions[qid].state not in (
            SubscriptionState.ENDED,
            SubscriptionState.ERROR,
        ):
            qid = (qid + 1) & 0xFFFFFFFF
        self._next_query_id = (qid + 1) & 0xFFFFFFFF
        return qid

    def _subscribe_frame(self, rec: SubscriptionRecord) -> bytes:
        msg: P.ClientMessage
        if rec.kind is SubscriptionKind.MULTI:
            msg = P.SubscribeMulti(rec.queries, rec.request_id, P.QueryId(rec.query_id))
        elif rec.kind is SubscriptionKind.SINGLE:
            msg = P.SubscribeSingle(rec.queries[0], rec.request_id, P.QueryId(rec.query_id))
        else:
            legacy = [
                q
                for s in self.subscriptions.values()
                if s.kind is SubscriptionKind.LEGACY and s.is_live
                for q in s.queries
            ]
            msg = P.Subscribe(tuple(legacy), rec.request_id)
        return P.encode_client_message(msg)

    def subscribe(
        self, queries: Sequence[str] | str, now: float = 0.0, *, single: bool = False
    ) -> tuple[SubscriptionRecord, bytes]:
        """Subscribe to a query set (``SubscribeMulti``; ``single=True`` for the old path)."""
        if isinstance(queries, str):
            queries = (queries,)
        qs = tuple(queries)
        if not qs:
            raise ValueError("subscribe needs at least one query")
        if single and len(qs) != 1:
            raise ValueError("a single subscription takes exactly one query")
        kind = SubscriptionKind.SINGLE if single else SubscriptionKind.MULTI
        rec = SubscriptionRecord(
            self._take_query_id(), qs, kind, request_id=self._take_request_id(), sent_at=now
        )
        self.subscriptions[rec.query_id] = rec
        # During a restore the new frame goes out after the restored ones; its rows join the
        # reconciliation if they arrive before the restore completes, so it is not awaited.
        return rec, self._subscribe_frame(rec)

    def subscribe_legacy(
        self, queries: Sequence[str], now: float = 0.0
    ) -> tuple[SubscriptionRecord, bytes]:
        """Legacy ``Subscribe``: replaces every earlier legacy query (the old SDK's path)."""
        for s in self.subscriptions.values():
            if s.kind is SubscriptionKind.LEGACY and s.is_live:
                s.state = SubscriptionState.ENDED
        rec = SubscriptionRecord(
            self._take_query_id(),
            tuple(queries),
            SubscriptionKind.LEGACY,
            request_id=self._take_request_id(),
            sent_at=now,
        )
        self.subscriptions[rec.query_id] = rec
        return rec, self._subscribe_frame(rec)

    def unsubscribe(self, query_id: int) -> bytes | None:
        """The frame ending subscription ``query_id``, or None when there is nothing to end.

        Unsubscribing twice (or an unknown id) sends nothing and changes nothing.
        """
        rec = self.subscriptions.get(query_id)
        if rec is None or rec.state not in (SubscriptionState.ACTIVE, SubscriptionState.PENDING):
            return None
        if rec.kind is SubscriptionKind.LEGACY:
            raise ValueError("legacy subscriptions end by subscribing to a new legacy set")
        if self._restore is not None and query_id in self._restore.waiting:
            # Not yet back on the new connection: drop it from the restore instead.
            self._restore.waiting.discard(query_id)
            rec.state = SubscriptionState.ENDED
            return None
        if rec.state is SubscriptionState.PENDING:
            log.debug("unsubscribing %d before it applied", query_id)
        rec.state = SubscriptionState.ENDING
        rid = self._take_request_id()
        msg: P.ClientMessage
        if rec.kind is SubscriptionKind.SINGLE:
            msg = P.Unsubscribe(rid, P.QueryId(query_id))
        else:
            msg = P.UnsubscribeMulti(rid, P.QueryId(query_id))
        return P.encode_client_message(msg)

    def encode_reducer_args(self, reducer: str, args: Any) -> bytes:
        """BSATN of a reducer's argument product from a tuple, dict or generated args object."""
        rdef = self.schema.reducers.get(reducer)
        if rdef is None:
            raise SchemaError(
                f"the module has no reducer {reducer!r}; pass its arguments encoded as "
                "raw_args=b'...' to call it anyway"
            )
        if not isinstance(args, (tuple, list, dict)) and len(rdef.params.elements) == 1:
            args = (args,)
        if isinstance(args, list):
            args = tuple(args)
        try:
            return get_codec(rdef.params).encode(args)
        except EncodeError as exc:
            raise _argument_error(reducer, rdef.params, args, exc) from None

    def call_reducer(
        self,
        reducer: str,
        args: bytes | Any = b"",
        *,
        flags: P.CallReducerFlags = P.CallReducerFlags.FULL_UPDATE,
        now: float = 0.0,
    ) -> tuple[int, bytes]:
        """The request id and frame of a reducer call.

        This low-level layer takes ``args`` as BSATN bytes (sent as they are) or as Python
        values (a tuple, dict or args object); ``Client.call_reducer`` always encodes
        values itself and passes pre-encoded bytes only when asked to (``raw_args=``).
        """
        rdef = self.schema.reducers.get(reducer)
        if rdef is not None and rdef.is_lifecycle:
            raise UsageError(
                f"{reducer!r} is a lifecycle reducer ({rdef.lifecycle}): the server runs it "
                "itself; clients cannot call it"
            )
        raw = (
            args
            if isinstance(args, (bytes, bytearray))
            else self.encode_reducer_args(reducer, args)
        )
        rid = self._take_request_id()
        flags = P.CallReducerFlags(flags)
        if flags is P.CallReducerFlags.FULL_UPDATE:
            self.pending_calls.append(PendingCall(rid, reducer, flags, now))
        return rid, P.encode_client_message(P.CallReducer(reducer, bytes(raw), rid, flags))

    def one_off_query(self, sql: str, now: float = 0.0) -> tuple[bytes, bytes]:
        """A one-off query's message id and frame; the answer is a ``OneOffQueryResult``."""
        mid = self._next_message_id.to_bytes(4, "little")
        self._next_message_id += 1
        self._one_off[mid] = (sql, now)
        return mid, P.encode_client_message(P.OneOffQuery(mid, sql))

    # ---- receiving ----------------------------------------------------------------------

    def receive(
        self, frame: bytes, now: float = 0.0, before_commit: BeforeCommit | None = None
    ) -> list[SessionEvent]:
        """Decode and apply one server frame; return its events in callback order.

        Any decoding or applying error fails the session (``ProtocolError``), leaving the
        cache as it was before this frame; later frames raise ``SessionFailed``.
        """
        if self.failed is not None:
            raise SessionFailed(f"the session failed earlier: {self.failed}")
        if type(frame) is bytes and frame[:2] == b"\x00\x01":
            # The most frequent frame, an uncompressed TransactionUpdate: its fields go
            # straight to the event, without the message objects in between.
            parts = _committed_parts_in_frame(frame)
            if parts is not None:
                self.messages_received += 1
                try:
                    return self._on_reducer_outcome(parts, None, now, before_commit)
                except ProtocolError as exc:
                    self.failed = exc
                    raise
                except DecodeError as exc:
                    err = ProtocolError(str(exc), what="rows of TransactionUpdate", cause=exc)
                    self.failed = err
                    raise err from exc
        try:
            msg = _decode_frame(frame)
        except ProtocolError as exc:
            self.failed = exc
            raise
        # receive_message, inlined: this runs once per server message.
        self.messages_received += 1
        try:
            if type(msg) is _TransactionUpdate:
                return self._on_transaction(msg, now, before_commit)
            return self._dispatch(msg, now, before_commit)
        except ProtocolError as exc:
            self.failed = exc
            raise
        except DecodeError as exc:
            err = ProtocolError(str(exc), what=f"rows of {type(msg).__name__}", cause=exc)
            self.failed = err
            raise err from exc

    def receive_steps(
        self,
        frame: bytes,
        now: float = 0.0,
        before_commit: BeforeCommit | None = None,
        chunk_rows: int = 2048,
    ) -> Generator[None, None, list[SessionEvent]]:
        """``receive`` in steps, for messages too big to apply within one frame's budget.

        A generator (drive it with ``next`` or ``yield from``) that decodes the frame, cuts
        its rows and decodes the new ones ``chunk_rows`` at a time, yielding between steps,
        and then applies the message whole, exactly as ``receive`` does: same cache, same
        events (its return value), same errors. Nothing reaches the cache before the last
        step, so callbacks still see a consistent cache. Do not apply other messages while
        one is in steps (the client keeps them queued behind it).
        """
        if self.failed is not None:
            raise SessionFailed(f"the session failed earlier: {self.failed}")
        try:
            msg = _decode_frame(frame)
        except ProtocolError as exc:
            self.failed = exc
            raise
        tables = self._row_tables(msg)
        if tables is not None:
            yield
            try:
                updates = self._collect(tables)
                yield
                diff = yield from self.cache.prepare_message_steps(updates, chunk_rows)
            except (ProtocolError, DecodeError):
                pass  # receive_message below meets the same error and reports it the same way
            else:
                self._prepared = (tables, updates, diff)
                yield  # what is left (commit, events) runs in one step
        try:
            return self.receive_message(msg, now, before_commit)
        finally:
            self._prepared = None

    def _row_tables(self, msg: P.ServerMessage) -> Any:
        """The table updates ``receive_message`` would apply to the cache (as the very object
        it will pass to ``_apply_rows``), or None when there is nothing to prepare ahead."""
        if self._restore is not None:
            return None  # rows are staged for the reconnect, not applied
        t = type(msg)
        if t is P.TransactionUpdate:
            status = msg.status  # type: ignore[union-attr]
            if type(status) is not P.Committed:
                return None
            tables = status.database_update.tables
        elif t in (P.TransactionUpdateLight, P.SubscribeMultiApplied, P.UnsubscribeMultiApplied):
            tables = msg.update.tables  # type: ignore[union-attr]
        else:
            return None
        return tables if tables else None

    def receive_message(
        self, msg: P.ServerMessage, now: float = 0.0, before_commit: BeforeCommit | None = None
    ) -> list[SessionEvent]:
        """Apply one decoded server message (see ``receive``)."""
        if self.failed is not None:
            raise SessionFailed(f"the session failed earlier: {self.failed}")
        self.messages_received += 1
        try:
            return self._dispatch(msg, now, before_commit)
        except ProtocolError as exc:
            self.failed = exc
            raise
        except DecodeError as exc:
            err = ProtocolError(str(exc), what=f"rows of {type(msg).__name__}", cause=exc)
            self.failed = err
            raise err from exc

    def _dispatch(
        self, msg: P.ServerMessage, now: float, before_commit: BeforeCommit | None
    ) -> list[SessionEvent]:
        t = type(msg)
        if t is P.TransactionUpdate:
            assert isinstance(msg, P.TransactionUpdate)
            return self._on_transaction(msg, now, before_commit)
        if t is P.TransactionUpdateLight:
            assert isinstance(msg, P.TransactionUpdateLight)
            ctx = RowEventContext(EventCause.UNKNOWN_TRANSACTION)
            return self._apply_rows(msg.update.tables, ctx, before_commit)
        if t is P.IdentityToken:
            assert isinstance(msg, P.IdentityToken)
            self.identity = msg.identity
            self.connection_id = msg.connection_id
            self._token = msg.token
            return [ConnectedEvent(msg.identity, msg.connection_id, msg.token)]
        if t is P.SubscribeMultiApplied:
            assert isinstance(msg, P.SubscribeMultiApplied)
            return self._on_applied(
                msg.query_id.id,
                msg.request_id,
                msg.total_host_execution_duration_micros,
                msg.update.tables,
                now,
                before_commit,
            )
        if t is P.SubscribeApplied:
            assert isinstance(msg, P.SubscribeApplied)
            return self._on_applied(
                msg.query_id.id,
                msg.request_id,
                msg.total_host_execution_duration_micros,
                (msg.rows.table_rows,),
                now,
                before_commit,
            )
        if t is P.UnsubscribeMultiApplied:
            assert isinstance(msg, P.UnsubscribeMultiApplied)
            return self._on_unapplied(
                msg.query_id.id, msg.request_id, msg.update.tables, before_commit
            )
        if t is P.UnsubscribeApplied:
            assert isinstance(msg, P.UnsubscribeApplied)
            return self._on_unapplied(
                msg.query_id.id, msg.request_id, (msg.rows.table_rows,), before_commit
            )
        if t is P.SubscriptionError:
            assert isinstance(msg, P.SubscriptionError)
            return self._on_subscription_error(msg, before_commit)
        if t is P.InitialSubscription:
            assert isinstance(msg, P.InitialSubscription)
            return self._on_initial_subscription(msg, now, before_commit)
        if t is P.OneOffQueryResponse:
            assert isinstance(msg, P.OneOffQueryResponse)
            return [self._on_one_off(msg)]
        if t is P.ProcedureResult:
            log.debug("ignoring a ProcedureResult: this client calls no procedures")
            return []
        raise ProtocolError(f"unexpected message {t.__name__}", what="ServerMessage")

    # -- rows --

    @staticmethod
    def _collect(tables: Iterable[P.TableUpdate]) -> dict[str, tuple[list[bytes], list[bytes]]]:
        """All deletes and inserts per table name, across every query update of a message."""
        if type(tables) is tuple and len(tables) == 1:
            # The usual shape: one table, one query update; its fresh slice lists are ours.
            tu = tables[0]
            if len(tu.updates) == 1:
                qu = tu.updates[0].query_update()
                return {tu.table_name: (qu.deletes.row_slices(), qu.inserts.row_slices())}
        out: dict[str, tuple[list[bytes], list[bytes]]] = {}
        for tu in tables:
            entry = out.get(tu.table_name)
            if entry is None:
                entry = out[tu.table_name] = ([], [])
            for cqu in tu.updates:
                qu = cqu.query_update()
                entry[0].extend(qu.deletes.row_slices())
                entry[1].extend(qu.inserts.row_slices())
        return out

    def _apply_rows(
        self,
        tables: Iterable[P.TableUpdate],
        ctx: RowEventContext,
        before_commit: BeforeCommit | None,
    ) -> list[SessionEvent]:
        prepared = self._prepared
        if prepared is not None and prepared[0] is tables:
            updates = prepared[1]  # receive_steps already cut these rows
        else:
            updates = self._collect(tables)
        if self._legacy_reads and (ctx.cause is _REDUCER or ctx.cause is _UNKNOWN_TRANSACTION):
            self._track_legacy(updates)
        if self._restore is not None:
            # Mid-restore: rows belong to the new connection's picture, reconciled at the end.
            self._stage(updates)
            return []
        return self._apply_updates(updates, ctx, before_commit)

    def _apply_updates(
        self,
        updates: dict[str, tuple[list[bytes], list[bytes]]],
        ctx: RowEventContext,
        before_commit: BeforeCommit | None,
    ) -> list[SessionEvent]:
        if not updates:
            return []
        diff = self._take_prepared(updates)
        if diff is None:
            diff = self.cache.prepare_message(updates)
        return self._commit(diff, ctx, before_commit)

    def _take_prepared(self, updates: object) -> MessageDiff | None:
        """The diff ``receive_steps`` prepared for exactly ``updates``, if still fresh."""
        prepared = self._prepared
        if prepared is None or prepared[1] is not updates:
            return None
        self._prepared = None
        diff = prepared[2]
        for name, d in diff.tables.items():
            table = self.cache.get(name)
            if table is None or d._table is not table or d._version != table._version:
                return None  # the cache changed since: prepare again, synchronously
        return diff

    def _commit(
        self, diff: MessageDiff, ctx: RowEventContext, before_commit: BeforeCommit | None
    ) -> list[SessionEvent]:
        if diff.missing_deletes:
            log.warning(
                "%d deleted row(s) were not in the cache (%s): the cache and server disagree",
                diff.missing_deletes,
                ", ".join(d.table_name for d in diff if d.missing_deletes),
            )
        if before_commit is not None:
            before_commit(diff, ctx)
        self.cache.commit(diff)
        events: list[SessionEvent] = []
        for td in diff:
            if td.inserts or td.deletes or td.updates:
                events.append(
                    _new_table_change(td.table_name, td.inserts, td.deletes, td.updates, ctx)
                )
        return events

    def _stage(self, updates: dict[str, tuple[list[bytes], list[bytes]]]) -> None:
        assert self._restore is not None
        rows = self._restore.rows
        for name, (deletes, inserts) in updates.items():
            if name not in self.cache:
                raise ProtocolError(
                    f"rows for table {name!r}, which the client has no schema for",
                    what=f"table update of {name}",
                )
            c = rows.setdefault(name, Counter())
            c.update(inserts)
            c.subtract(deletes)

    def _finish_restore(self, before_commit: BeforeCommit | None) -> list[SessionEvent]:
        assert self._restore is not None
        staged = self._restore.rows
        if not self._restore.legacy_back:
            self._reset_legacy()  # the old connection's legacy rows are not in the new picture
        self._restore = None
        full: dict[str, list[bytes]] = {}
        for name, counts in staged.items():
            full[name] = [row for row, n in counts.items() for _ in range(max(n, 0))]
        diff = self.cache.reconcile(full)
        return self._commit(diff, RowEventContext(EventCause.RECONNECT), before_commit)

    # -- subscriptions --

    def _on_applied(
        self,
        query_id: int,
        request_id: int,
        micros: int,
        tables: Iterable[P.TableUpdate],
        now: float,
        before_commit: BeforeCommit | None,
    ) -> list[SessionEvent]:
        rec = self.subscriptions.get(query_id)
        if rec is not None and rec.state is SubscriptionState.PENDING:
            rec.state = SubscriptionState.ACTIVE
            rec.applied_at = now
        elif rec is None:
            log.warning("SubscribeApplied for unknown query id %d: rows applied anyway", query_id)
        if self._restore is not None:
            self._stage(self._collect(tables))
            self._restore.waiting.discard(query_id)
            if self._restore.waiting:
                return []
            return self._finish_restore(before_commit)
        ctx = _new_row_context(_SUBSCRIBE_APPLIED, None, query_id)
        events: list[SessionEvent] = [_new_applied_event(query_id, request_id, micros)]
        events.extend(self._apply_rows(tables, ctx, before_commit))
        return events

    def _on_unapplied(
        self,
        query_id: int,
        request_id: int,
        tables: Iterable[P.TableUpdate],
        before_commit: BeforeCommit | None,
    ) -> list[SessionEvent]:
        rec = self.subscriptions.get(query_id)
        if rec is not None:
            rec.state = SubscriptionState.ENDED
        ctx = RowEventContext(EventCause.UNSUBSCRIBE_APPLIED, query_id=query_id)
        events: list[SessionEvent] = [SubscriptionEndedEvent(query_id, request_id)]
        events.extend(self._apply_rows(tables, ctx, before_commit))
        return events

    def _on_subscription_error(
        self, msg: P.SubscriptionError, before_commit: BeforeCommit | None
    ) -> list[SessionEvent]:
        if msg.query_id is not None:
            rec = self.subscriptions.get(msg.query_id)
            if rec is not None:
                rec.state = SubscriptionState.ERROR
                rec.error = msg.error
            if self._restore is not None and msg.query_id in self._restore.waiting:
                self._restore.waiting.discard(msg.query_id)
                events: list[SessionEvent] = [
                    SubscriptionErrorEvent(msg.query_id, msg.request_id, msg.error, (msg.query_id,))
                ]
                if not self._restore.waiting:
                    events.extend(self._finish_restore(before_commit))
                return events
            return [
                SubscriptionErrorEvent(msg.query_id, msg.request_id, msg.error, (msg.query_id,))
            ]
        # No query id: the server dropped every subscription of this connection.
        affected = []
        for rec in self.subscriptions.values():
            if rec.is_live or rec.state is SubscriptionState.ENDING:
                rec.state = SubscriptionState.ERROR
                rec.error = msg.error
                affected.append(rec.query_id)
        self._restore = None
        self._reset_legacy()
        events = [SubscriptionErrorEvent(None, msg.request_id, msg.error, tuple(affected))]
        diff = self.cache.reconcile({})
        events.extend(
            self._commit(diff, RowEventContext(EventCause.SUBSCRIPTION_ERROR), before_commit)
        )
        return events

    def _on_initial_subscription(
        self, msg: P.InitialSubscription, now: float, before_commit: BeforeCommit | None
    ) -> list[SessionEvent]:
        legacy = [
            s
            for s in self.subscriptions.values()
            if s.kind is SubscriptionKind.LEGACY and s.is_live
        ]
        rec = legacy[-1] if legacy else None
        updates = self._collect(msg.database_update.tables)
        new_rows = {name: ins for name, (_dels, ins) in updates.items()}
        if self._restore is not None:
            self._stage(updates)
            self._set_legacy(new_rows)
            self._restore.legacy_back = True
            if rec is not None:
                rec.state = SubscriptionState.ACTIVE
                self._restore.waiting.discard(rec.query_id)
            if self._restore.waiting:
                return []
            return self._finish_restore(before_commit)
        qid = rec.query_id if rec is not None else 0
        if rec is not None:
            rec.state = SubscriptionState.ACTIVE
            rec.applied_at = now
        # The legacy set replaces only the previous legacy set (semantics.md §3): swap its
        # rows, refcounted, so rows other subscriptions hold stay and unchanged rows fire
        # nothing. Tables no other subscription reads are the legacy set's alone and are
        # reconciled whole, which also replaces rows transactions added since.
        diff = self.cache.replace_layer(
            {name: list(c.elements()) for name, c in self._legacy_rows.items()},
            new_rows,
            maybe_old={name: list(c.elements()) for name, c in self._legacy_maybe.items()},
            whole=self._legacy_only_tables(),
        )
        ctx = RowEventContext(EventCause.SUBSCRIBE_APPLIED, query_id=qid)
        events: list[SessionEvent] = [
            SubscriptionAppliedEvent(qid, msg.request_id, msg.total_host_execution_duration.micros)
        ]
        events.extend(self._commit(diff, ctx, before_commit))
        self._set_legacy(new_rows)
        return events

    def _set_legacy(self, new_rows: dict[str, list[bytes]]) -> None:
        """Make ``new_rows`` (an ``InitialSubscription``'s) the legacy set's share."""
        self._legacy_rows = {name: Counter(rows) for name, rows in new_rows.items()}
        self._legacy_maybe = {}
        reads = set(new_rows)
        for s in self.subscriptions.values():
            if s.kind is SubscriptionKind.LEGACY and s.is_live:
                for q in s.queries:
                    names = _query_tables(q)
                    if not names:  # unreadable (e.g. SELECT * FROM *): it may read any table
                        reads.update(t.name for t in self.cache)
                    reads.update(names)
        self._legacy_reads = frozenset(reads)

    def _reset_legacy(self) -> None:
        """The legacy set holds nothing any more (the cache was emptied or rebuilt without it)."""
        self._legacy_rows = {}
        self._legacy_maybe = {}
        self._legacy_reads = frozenset()

    def _track_legacy(self, updates: dict[str, tuple[list[bytes], list[bytes]]]) -> None:
        """Keep the legacy share in step with a transaction on the tables the legacy set reads.

        The server sends one merged delta per table, not saying which query a row left or
        entered. A delete takes a sure legacy occurrence first, then a maybe one: the sure
        share never grows past what the legacy set holds, so the next
        ``InitialSubscription`` never drops another subscription's row. An insert is a
        maybe, decided by ``replace_layer`` against the next ``InitialSubscription``: taken
        as the legacy set's while the new rows keep the row as often, else left to the
        other holders. What stays ambiguous: a maybe row the new legacy set no longer
        matches (its query was dropped) is kept as another holder's, so if it was the
        legacy set's alone it stays cached with no delete to come; and a delete that was in
        truth another subscription's (possible with joins) leaves one count too many.
        """
        reads = self._legacy_reads
        for name, (deletes, inserts) in updates.items():
            if name not in reads:
                continue
            held = self._legacy_rows.get(name)
            maybe = self._legacy_maybe.get(name)
            for b in deletes:
                if held and held[b] > 0:
                    held[b] -= 1
                    if not held[b]:
                        del held[b]
                elif maybe and maybe[b] > 0:
                    maybe[b] -= 1
                    if not maybe[b]:
                        del maybe[b]
            if inserts:
                if maybe is None:
                    maybe = self._legacy_maybe[name] = Counter()
                maybe.update(inserts)

    def _legacy_only_tables(self) -> set[str]:
        """Tables that no live non-legacy subscription reads (none, if a query is unreadable)."""
        shared: set[str] = set()
        for s in self.subscriptions.values():
            if s.kind is SubscriptionKind.LEGACY or not (
                s.is_live or s.state is SubscriptionState.ENDING
            ):
                continue
            for q in s.queries:
                names = _query_tables(q)
                if not names:
                    return set()
                shared.update(names)
        return {t.name for t in self.cache if t.name not in shared}

    # -- reducers --

    def _match_call(self, name: str, request_id: int, committed: bool) -> PendingCall | None:
        """Our pending call this update answers.

        Servers echo the request id of a committed call, so a commit matches by id alone:
        one that matches nothing answers a ``NO_SUCCESS_NOTIFY`` call (never pending) and
        must not take an earlier call's place. Failures carry request id 0 on servers up
        to 1.12 (the real id from 2.0); only those fall back to the oldest call by name.
        """
        calls = self.pending_calls
        if committed or request_id != 0:
            for i, c in enumerate(calls):
                if c.request_id == request_id and c.reducer == name:
                    del calls[i]
                    return c
            return None
        for i, c in enumerate(calls):
            if c.reducer == name:
                del calls[i]
                return c
        return None

    def _reducer_args(self, rdef: Any, name: str, raw: bytes) -> Any:
        """A known reducer's decoded arguments (None when they do not decode)."""
        params = rdef.params
        hit = self._arg_codecs.get(name)
        if hit is not None and hit[0] is params:
            codec = hit[1]
        else:
            codec = get_codec(params)
            self._arg_codecs[name] = (params, codec)
        if not raw:
            # Failed calls come back with empty args; parameters that take no bytes
            # (none at all, or empty structs) still decode from them.
            try:
                return codec.decode(b"")
            except DecodeError:
                return None
        try:
            return codec.decode(raw)
        except DecodeError as exc:
            log.warning("arguments of reducer %r did not decode: %s", name, exc)
            return None

    def _on_transaction(
        self, msg: P.TransactionUpdate, now: float, before_commit: BeforeCommit | None
    ) -> list[SessionEvent]:
        status = msg.status
        call = msg.reducer_call
        committed = type(status) is P.Committed
        parts: CommittedParts = (
            status.database_update.tables if isinstance(status, P.Committed) else (),
            msg.timestamp,
            msg.caller_identity,
            msg.caller_connection_id,
            call.reducer_name,
            call.reducer_id,
            call.args,
            call.request_id,
            int(msg.energy_quanta_used),
            msg.total_host_execution_duration,
            0,
        )
        return self._on_reducer_outcome(parts, None if committed else status, now, before_commit)

    def _on_reducer_outcome(
        self,
        parts: CommittedParts,
        failure: P.UpdateStatus | None,
        now: float,
        before_commit: BeforeCommit | None,
    ) -> list[SessionEvent]:
        """A TransactionUpdate, given as its fields; ``failure`` is its status unless it
        committed (None)."""
        tables, timestamp, caller, conn, name, reducer_id, raw_args, request_id = parts[:8]
        committed = failure is None
        identity = self.identity
        ours = self.connection_id
        # The decoder shares its Identity/ConnectionId objects, so ``is`` usually decides.
        is_ours = (
            identity is not None
            and (caller is identity or caller == identity)
            and (conn is ours or conn == ours)
        )
        if not committed and name in _NO_REDUCER:
            text = failure.message if isinstance(failure, P.Failed) else "out of energy"
            log.warning("server reported an error: %s", text)
            return [ServerErrorEvent(text)]
        pending = self._match_call(name, request_id, committed) if is_ours else None
        rdef = self.schema.reducers.get(name)
        args: Any = None if rdef is None else self._reducer_args(rdef, name, raw_args)
        if committed:
            rstatus, error = _COMMITTED, None
        elif isinstance(failure, P.Failed):
            rstatus, error = ReducerStatus.FAILED, failure.message
        else:
            rstatus, error = ReducerStatus.OUT_OF_ENERGY, "out of energy"
        # Positional, unchecked (the message was checked when decoded): see ReducerEvent.
        event = _new_reducer_event(
            name,
            args,
            raw_args,
            caller,
            None if conn.is_zero() else conn,
            timestamp,
            rstatus,
            error,
            parts[8],
            parts[9],
            reducer_id,
            # Ours but not pending (a NO_SUCCESS_NOTIFY call): the echoed id is still ours.
            pending.request_id
            if pending is not None
            else (request_id if is_ours and committed and request_id else None),
            is_ours,
            (now - pending.sent_at) if pending is not None else None,
        )
        if not committed:
            return [event]
        if not tables and self._restore is None:
            # Nothing to apply (a reducer that changed no subscribed row).
            return [event] if rdef is not None or is_ours else []
        cause = _REDUCER if rdef is not None else _UNKNOWN_TRANSACTION
        ctx = _new_row_context(cause, event, None)
        row_events = self._apply_rows(tables, ctx, before_commit)
        if rdef is None and not is_ours:
            # Reducers the schema does not know (e.g. other clients' lifecycle reducers in
            # generated bindings that leave them out) change rows but fire no reducer
            # callback, as in the official SDKs.
            return row_events
        return [event, *row_events]

    # -- one-off queries --

    def _on_one_off(self, msg: P.OneOffQueryResponse) -> OneOffQueryResult:
        self._one_off.pop(msg.message_id, None)
        if msg.error is not None:
            return OneOffQueryResult(
                msg.message_id, None, [], msg.error, msg.total_host_execution_duration
            )
        rows: list[Any] = []
        name: str | None = None
        for table in msg.tables:
            name = table.table_name
            tdef = self.schema.tables.get(name)
            if tdef is None:
                raise ProtocolError(
                    f"one-off rows of unknown table {name!r}", what="OneOffQueryResponse"
                )
            codec = get_codec(tdef.row_type)
            rows.extend(codec.decode(r) for r in table.rows.row_slices())
        return OneOffQueryResult(
            msg.message_id, name, rows, None, msg.total_host_execution_duration
        )


def _argument_error(reducer: str, params: Any, args: Any, exc: EncodeError) -> EncodeError:
    """Name the argument that did not encode (the codec only knows the whole product)."""
    what = f"the arguments of reducer {reducer!r}"
    names = [e.name or f"_{i}" for i, e in enumerate(params.elements)]
    if isinstance(args, tuple) and len(args) != len(names):
        return EncodeError(
            f"it takes {len(names)} argument(s) ({', '.join(names)}), got {len(args)}",
            type_name=what,
        )
    if isinstance(args, dict):
        missing = [n for n in names if n not in args]
        if missing:
            return EncodeError(f"missing argument(s) {', '.join(missing)}", type_name=what)
        values = [args[n] for n in names]
    elif isinstance(args, tuple):
        values = list(args)
    else:
        values = [getattr(args, n, None) for n in names]
    for name, el, value in zip(names, params.elements, values):
        try:
            get_codec(el.algebraic_type).encode(value)
        except EncodeError as inner:
            why = explain_encode_failure(el.algebraic_type, value, name)
            return EncodeError(why or f"{name}: {inner.reason}", type_name=what)
    return EncodeError(exc.reason, type_name=what)
