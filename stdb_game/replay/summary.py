"""What a recording holds, in words: message kinds, tables, rows, reducers, disconnects.

Works from the frames alone (no schema needed); the cache view comes from a replay.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .. import protocol as P
from ..errors import DecodeError, ProtocolError
from ..sats.codec import get_codec
from ..schema import ModuleSchema
from .reader import (
    ConnectionRecord,
    DisconnectRecord,
    InboundRecord,
    MarkRecord,
    OutboundRecord,
    Recording,
    TickEndRecord,
    TickRecord,
)

__all__ = ["SessionSummary", "TableTally", "describe_message", "summarize", "timeline"]


@dataclass
class TableTally:
    """Rows of one table carried by messages (not the cache: that is the replay's job)."""

    messages: int = 0
    inserts: int = 0
    deletes: int = 0


@dataclass
class SessionSummary:
    ticks: int = 0
    first_tick: int | None = None
    last_tick: int | None = None
    duration: float = 0.0
    connections: list[dict[str, object]] = field(default_factory=list)
    frames_in: int = 0
    bytes_in: int = 0
    frames_out: int = 0
    bytes_out: int = 0
    messages_in: Counter[str] = field(default_factory=Counter)
    messages_out: Counter[str] = field(default_factory=Counter)
    undecodable_in: int = 0
    tables: dict[str, TableTally] = field(default_factory=dict)
    reducer_calls: Counter[str] = field(default_factory=Counter)
    #: reducer name -> status -> count, for every reducer run the server reported.
    reducer_results: dict[str, Counter[str]] = field(default_factory=dict)
    disconnects: list[tuple[int | None, str]] = field(default_factory=list)
    marks: list[tuple[int | None, str]] = field(default_factory=list)

    def lines(self) -> Iterator[str]:
        """The summary as printable lines."""
        span = "" if self.first_tick is None else f" (ticks {self.first_tick}..{self.last_tick})"
        yield f"{self.ticks} ticks{span}, {self.duration:.3f} s of client clock"
        for c in self.connections:
            yield (
                f"connection: {c.get('url') or c.get('uri')} database={c.get('database')} "
                f"compression={c.get('compression')} light={c.get('light')} "
                f"token={'yes' if c.get('has_token') else 'no'}"
            )
        yield f"in:  {self.frames_in} frames, {self.bytes_in} bytes"
        yield f"out: {self.frames_out} frames, {self.bytes_out} bytes"
        yield "messages in by kind:"
        yield from _counts(self.messages_in)
        if self.undecodable_in:
            yield f"  (undecodable)              {self.undecodable_in:>8}"
        yield "messages out by kind:"
        yield from _counts(self.messages_out)
        yield "tables touched (rows in messages: +inserted -deleted):"
        if not self.tables:
            yield "  (none)"
        for name in sorted(self.tables):
            t = self.tables[name]
            yield f"  {name:<26} +{t.inserts:<7} -{t.deletes:<7} in {t.messages} message(s)"
        yield "reducer calls sent:"
        yield from _counts(self.reducer_calls)
        yield "reducer results heard:"
        if not self.reducer_results:
            yield "  (none)"
        for name in sorted(self.reducer_results):
            parts = ", ".join(f"{k} {v}" for k, v in sorted(self.reducer_results[name].items()))
            yield f"  {name:<26} {parts}"
        if self.disconnects:
            yield "disconnects:"
            for tick, reason in self.disconnects:
                yield f"  {_at(tick)}: {reason}"
        if self.marks:
            yield "marks:"
            for tick, text in self.marks:
                yield f"  {_at(tick)}: {text}"


def _at(tick: int | None) -> str:
    """Where a disconnect or mark happened: in (or after) tick N, or before any tick."""
    return "before the first tick" if tick is None else f"tick {tick}"


def _counts(counter: Counter[str]) -> Iterator[str]:
    if not counter:
        yield "  (none)"
    for name, n in sorted(counter.items()):
        yield f"  {name:<26} {n:>8}"


def table_updates(msg: P.ServerMessage) -> Iterable[P.TableUpdate]:
    """The table updates a server message carries (none for messages without rows)."""
    if isinstance(msg, P.TransactionUpdate):
        status = msg.status
        return status.database_update.tables if isinstance(status, P.Committed) else ()
    if isinstance(msg, (P.SubscribeMultiApplied, P.UnsubscribeMultiApplied)):
        return msg.update.tables
    if isinstance(msg, P.TransactionUpdateLight):
        return msg.update.tables
    if isinstance(msg, (P.SubscribeApplied, P.UnsubscribeApplied)):
        return (msg.rows.table_rows,)
    if isinstance(msg, P.InitialSubscription):
        return msg.database_update.tables
    return ()


def _status(msg: P.TransactionUpdate) -> str:
    s = msg.status
    if isinstance(s, P.Committed):
        return "committed"
    if isinstance(s, P.Failed):
        return "failed"
    return "out_of_energy"


def _rows(tu: P.TableUpdate) -> tuple[int, int]:
    ins = dels = 0
    for qu in tu.query_updates():
        ins += len(qu.inserts)
        dels += len(qu.deletes)
    return ins, dels


def describe_message(msg: P.ServerMessage | P.ClientMessage) -> str:
    """One short line for a message of either direction."""
    if isinstance(msg, _CLIENT_MESSAGES):
        return _describe_client(msg)
    return _describe_server(msg)


_CLIENT_MESSAGES = (
    P.CallReducer,
    P.Subscribe,
    P.OneOffQuery,
    P.SubscribeSingle,
    P.SubscribeMulti,
    P.Unsubscribe,
    P.UnsubscribeMulti,
    P.CallProcedure,
)


def _describe_client(msg: P.ClientMessage) -> str:
    name = type(msg).__name__
    if isinstance(msg, P.CallReducer):
        return f"{name} {msg.reducer} request_id={msg.request_id} args={msg.args.hex()}"
    if isinstance(msg, P.SubscribeMulti):
        return f"{name} {list(msg.query_strings)} query_id={msg.query_id.id}"
    if isinstance(msg, P.Subscribe):
        return f"{name} {list(msg.query_strings)}"
    if isinstance(msg, P.SubscribeSingle):
        return f"{name} {msg.query!r} query_id={msg.query_id.id}"
    if isinstance(msg, (P.Unsubscribe, P.UnsubscribeMulti)):
        return f"{name} query_id={msg.query_id.id}"
    if isinstance(msg, P.OneOffQuery):
        return f"{name} {msg.query_string!r}"
    return name


def _describe_server(msg: P.ServerMessage) -> str:
    name = type(msg).__name__
    if isinstance(msg, P.IdentityToken):
        return f"{name} identity={msg.identity.to_hex()[:16]}… connection={msg.connection_id}"
    if isinstance(msg, P.SubscriptionError):
        return f"{name} query_id={msg.query_id}: {msg.error}"
    if isinstance(msg, P.OneOffQueryResponse):
        return f"{name} error={msg.error!r} tables={[t.table_name for t in msg.tables]}"
    if isinstance(msg, P.TransactionUpdate):
        call = msg.reducer_call
        text = f"{name} {call.reducer_name or '(no reducer)'} {_status(msg)}"
        if isinstance(msg.status, P.Failed):
            text += f": {msg.status.message}"
    else:
        qid = getattr(msg, "query_id", None)
        text = name + (f" query_id={qid.id}" if isinstance(qid, P.QueryId) else "")
    parts = []
    for tu in table_updates(msg):
        ins, dels = _rows(tu)
        parts.append(f"{tu.table_name}(+{ins} -{dels})")
    return text + (" " + " ".join(parts) if parts else "")


def _decode_in(frame: bytes) -> P.ServerMessage | None:
    try:
        return P.decode_server_frame(frame)
    except ProtocolError:
        return None


def _decode_out(frame: bytes) -> P.ClientMessage | None:
    try:
        return P.decode_client_message(frame)
    except ProtocolError:
        return None


def summarize(recording: Recording, until_tick: int | None = None) -> SessionSummary:
    """Tally a recording (up to and including tick ``until_tick``)."""
    s = SessionSummary()
    tick: int | None = None
    t0: float | None = None
    for r in recording.records:
        t = type(r)
        if t is TickRecord:
            assert isinstance(r, TickRecord)
            if until_tick is not None and r.index > until_tick:
                break
            tick = r.index
            s.ticks += 1
            if s.first_tick is None:
                s.first_tick = r.index
                t0 = r.now
            s.last_tick = r.index
            s.duration = r.now - (t0 if t0 is not None else r.now)
        elif t is InboundRecord:
            assert isinstance(r, InboundRecord)
            s.frames_in += 1
            s.bytes_in += len(r.frame)
            msg = _decode_in(r.frame)
            if msg is None:
                s.undecodable_in += 1
                continue
            s.messages_in[type(msg).__name__] += 1
            if isinstance(msg, P.TransactionUpdate):
                name = msg.reducer_call.reducer_name or "(no reducer)"
                s.reducer_results.setdefault(name, Counter())[_status(msg)] += 1
            for tu in table_updates(msg):
                tally = s.tables.setdefault(tu.table_name, TableTally())
                ins, dels = _rows(tu)
                tally.messages += 1
                tally.inserts += ins
                tally.deletes += dels
        elif t is OutboundRecord:
            assert isinstance(r, OutboundRecord)
            s.frames_out += 1
            s.bytes_out += len(r.frame)
            out = _decode_out(r.frame)
            s.messages_out[type(out).__name__ if out is not None else "(undecodable)"] += 1
            if isinstance(out, P.CallReducer):
                s.reducer_calls[out.reducer] += 1
        elif t is ConnectionRecord:
            assert isinstance(r, ConnectionRecord)
            s.connections.append({k: v for k, v in r.params.items() if k != "schema"})
        elif t is DisconnectRecord:
            assert isinstance(r, DisconnectRecord)
            s.disconnects.append((tick, r.reason))
        elif t is MarkRecord:
            assert isinstance(r, MarkRecord)
            s.marks.append((tick, r.text))
    return s


def _args_text(schema: ModuleSchema | None, reducer: str, args: bytes) -> str:
    """Reducer arguments decoded with the schema when possible, else hex."""
    rdef = schema.reducers.get(reducer) if schema is not None else None
    if rdef is not None:
        try:
            return repr(tuple(get_codec(rdef.params).decode(args)))
        except (DecodeError, TypeError):
            pass
    return args.hex()


def timeline(
    recording: Recording, until_tick: int | None = None, schema: ModuleSchema | None = None
) -> Iterator[str]:
    """The session record by record: traffic, connections, disconnects, marks, by tick.

    Lines inside a tick say ``tick N``; what happened between ticks N and N+1 (requests
    made by game code, ``disconnect()``) says ``after N``.
    """
    tick: int | None = None
    inside = False
    for r in recording.records:
        t = type(r)
        label = "before 1" if tick is None else f"{'tick' if inside else 'after'} {tick}"
        where = label.ljust(11)
        if t is TickRecord:
            assert isinstance(r, TickRecord)
            if until_tick is not None and r.index > until_tick:
                return
            tick = r.index
            inside = True
        elif t is TickEndRecord:
            inside = False
        elif t is InboundRecord:
            assert isinstance(r, InboundRecord)
            msg = _decode_in(r.frame)
            if msg is None:
                text = f"<undecodable {len(r.frame)} B>"
            else:
                text = describe_message(msg)
                if isinstance(msg, P.TransactionUpdate) and msg.reducer_call.args:
                    call = msg.reducer_call
                    text += f" args={_args_text(schema, call.reducer_name, call.args)}"
            yield f"{where} in   {text}"
        elif t is OutboundRecord:
            assert isinstance(r, OutboundRecord)
            out = _decode_out(r.frame)
            if out is None:
                text = f"<undecodable {len(r.frame)} B>"
            elif isinstance(out, P.CallReducer):
                text = (
                    f"CallReducer {out.reducer} request_id={out.request_id} "
                    f"args={_args_text(schema, out.reducer, out.args)}"
                )
            else:
                text = describe_message(out)
            yield f"{where} out  {text}"
        elif t is ConnectionRecord:
            assert isinstance(r, ConnectionRecord)
            yield f"{where} ---  connect {r.params.get('url') or r.params.get('uri')}"
        elif t is DisconnectRecord:
            assert isinstance(r, DisconnectRecord)
            yield f"{where} ---  disconnect: {r.reason}"
        elif t is MarkRecord:
            assert isinstance(r, MarkRecord)
            yield f"{where} ---  mark: {r.text}"
