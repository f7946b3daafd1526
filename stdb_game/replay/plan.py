"""Recordings cut into the pieces a replay needs: ticks, and what each connection saw.

Both the replay driver and ``ReplayTransport`` read a recording through these, so the
rules "which frames belong to which tick" and "which tick a connection ended in" live in
one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .reader import (
    ConnectionRecord,
    DisconnectRecord,
    InboundRecord,
    OutboundRecord,
    Record,
    Recording,
    TickEndRecord,
    TickRecord,
)

__all__ = ["ConnectionSegment", "Step", "connection_segment", "steps"]


@dataclass
class Step:
    """One recorded tick (``tick`` set) or the gap between two ticks (``tick`` None)."""

    tick: TickRecord | None
    records: list[Record] = field(default_factory=list)
    end: TickEndRecord | None = None


def steps(recording: Recording) -> list[Step]:
    """The records as alternating gaps and ticks, in file order (empty gaps left out)."""
    out: list[Step] = []
    current = Step(None)
    for r in recording.records:
        t = type(r)
        if t is TickRecord:
            assert isinstance(r, TickRecord)
            if current.tick is not None or current.records:
                out.append(current)
            current = Step(r)
        elif t is TickEndRecord:
            assert isinstance(r, TickEndRecord)
            if current.tick is not None and current.tick.index == r.index:
                current.end = r
                out.append(current)
                current = Step(None)
            # a tick end without its start (a custom recorder) carries nothing to replay
        else:
            current.records.append(r)
    if current.tick is not None or current.records:
        out.append(current)
    return out


@dataclass
class ConnectionSegment:
    """What one connection of a recording received, tick by tick, and sent."""

    params: dict[str, object]
    #: Inbound frames of each tick from the first tick after the connection opened.
    batches: list[list[bytes]]
    #: Outbound frames in send order.
    outbound: list[OutboundRecord]
    #: The transport's close info when the connection ended other than by ``disconnect()``.
    close: dict[str, object] | None
    #: Index into ``batches`` of the tick whose end noticed the close (-1: before any).
    close_batch: int | None
    #: Recorded tick index of each batch.
    tick_indexes: list[int]


def connection_segment(recording: Recording, connection: int) -> ConnectionSegment:
    """The part of ``recording`` that belongs to connection number ``connection`` (from 0)."""
    conns = recording.connections
    if not 0 <= connection < len(conns):
        from .format import RecordingError

        raise RecordingError(
            f"the recording has {len(conns)} connection(s); there is no connection {connection}"
        )
    index = -1
    inside = False
    batches: list[list[bytes]] = []
    ticks: list[int] = []
    outbound: list[OutboundRecord] = []
    close: dict[str, object] | None = None
    close_batch: int | None = None
    current: list[bytes] | None = None
    ended = False
    for r in recording.records:
        t = type(r)
        if t is ConnectionRecord:
            index += 1
            if index == connection:
                inside = True
                current = None  # frames of this connection arrive from the next tick on
            elif index > connection:
                break
        elif not inside:
            continue
        elif t is TickRecord:
            assert isinstance(r, TickRecord)
            current = []
            batches.append(current)
            ticks.append(r.index)
        elif t is InboundRecord:
            assert isinstance(r, InboundRecord)
            if current is not None and not ended:
                current.append(r.frame)
        elif t is OutboundRecord:
            assert isinstance(r, OutboundRecord)
            if not ended:
                outbound.append(r)
        elif t is DisconnectRecord:
            assert isinstance(r, DisconnectRecord)
            if not ended:
                ended = True
                if not r.is_local:
                    close = r.close or {"kind": "abnormal", "code": 1006}
                    close_batch = len(batches) - 1
    return ConnectionSegment(conns[connection].params, batches, outbound, close, close_batch, ticks)
