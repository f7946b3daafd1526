"""TransactionUpdates through ``Session.receive``: every outcome, and both roads to it.

An uncompressed committed update is read in place (``committed_parts_in_frame``); a
compressed one, or any other status, goes through the full decoder. Both must produce the
same events, and malformed frames the same errors.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers import Player, game_schema

from stdb_game import protocol as P
from stdb_game.errors import ProtocolError
from stdb_game.events import (
    EventCause,
    ReducerEvent,
    ReducerStatus,
    ServerErrorEvent,
    TableChangeEvent,
)
from stdb_game.sats.values import ConnectionId, Identity
from stdb_game.session import Session
from stdb_game.testing import FakeServer

ME = Identity.from_hex("c200" + "ab" * 30)
MY_CONNECTION = ConnectionId(0x1234)
OTHER = Identity.from_hex("c200" + "11" * 30)


def session(compression: P.Compression = P.Compression.NONE) -> tuple[Session, FakeServer]:
    server = FakeServer(
        game_schema(), identity=ME, connection_id=MY_CONNECTION, compression=compression
    )
    s = Session(game_schema())
    s.receive(server.identity_token())
    rec, _ = s.subscribe(["SELECT * FROM player"])
    s.receive(server.subscribe_applied(rec.query_id, {"player": [(1, 0), (2, 0)]}))
    return s, server


def test_our_committed_call_with_rows_is_matched_and_applied() -> None:
    s, server = session()
    rid, _ = s.call_reducer("set_x", (1, 5), now=10.0)
    frame = server.transaction(
        "set_x", (1, 5), deletes={"player": [(1, 0)]}, inserts={"player": [(1, 5)]},
        request_id=rid,
    )  # fmt: skip
    assert frame[:2] == b"\x00\x01"  # the in-place road
    ev, rows = s.receive(frame, 10.25)
    assert isinstance(ev, ReducerEvent) and isinstance(rows, TableChangeEvent)
    assert (ev.reducer_name, ev.args) == ("set_x", (1, 5))
    assert ev.args_bytes == bytes.fromhex("010000000000000005000000")
    assert ev.status is ReducerStatus.COMMITTED and ev.error is None
    assert ev.is_ours and ev.request_id == rid and ev.round_trip == pytest.approx(0.25)
    assert ev.caller_identity == ME and ev.caller_connection_id == MY_CONNECTION
    assert (ev.energy_quanta_used, ev.host_execution_duration.micros) == (1000, 50)
    assert rows.updates == [(Player(1, 0), Player(1, 5))] and rows.inserts == []
    assert rows.context.cause is EventCause.REDUCER and rows.context.reducer_event is ev
    assert not s.pending_calls
    assert s.cache.table("player").find(1) == Player(1, 5)


def test_out_of_energy_and_failed_calls_are_matched_by_name() -> None:
    s, server = session()
    first, _ = s.call_reducer("set_x", (1, 5), now=1.0)
    second, _ = s.call_reducer("spawn", (), now=2.0)
    (ev,) = s.receive(server.transaction("spawn", (), out_of_energy=True), 3.0)
    assert isinstance(ev, ReducerEvent)
    assert ev.status is ReducerStatus.OUT_OF_ENERGY and ev.error == "out of energy"
    assert ev.request_id == second and ev.round_trip == pytest.approx(1.0)
    (ev,) = s.receive(server.transaction("set_x", (1, 5), failed="no such player"), 4.0)
    assert isinstance(ev, ReducerEvent)
    assert ev.status is ReducerStatus.FAILED and ev.error == "no such player"
    assert ev.request_id == first and not s.pending_calls
    assert s.cache.table("player").find(1) == Player(1, 0)


def test_errors_outside_any_reducer_are_server_errors() -> None:
    s, server = session()
    assert s.receive(server.transaction("", b"", failed="bad message")) == [
        ServerErrorEvent("bad message")
    ]
    assert s.receive(server.transaction("<none>", b"", out_of_energy=True)) == [
        ServerErrorEvent("out of energy")
    ]


def test_a_reducer_the_schema_does_not_know() -> None:
    s, server = session()
    # Another client's: its rows apply, no reducer event.
    (rows,) = s.receive(server.transaction("secret", b"\x01", inserts={"player": [(3, 1)]},
                                           caller=OTHER))  # fmt: skip
    assert isinstance(rows, TableChangeEvent) and rows.inserts == [Player(3, 1)]
    assert rows.context.cause is EventCause.UNKNOWN_TRANSACTION
    event = rows.context.reducer_event
    assert event is not None and event.args is None and event.args_bytes == b"\x01"
    assert s.receive(server.transaction("secret", b"", caller=OTHER)) == []
    # Ours (no schema entry, no pending call): still reported.
    (ev,) = s.receive(server.transaction("secret", b""))
    assert isinstance(ev, ReducerEvent) and ev.is_ours and ev.request_id is None


def test_zero_caller_connection_is_none_and_args_that_do_not_decode_are_none() -> None:
    s, server = session()
    (ev,) = s.receive(server.transaction("spawn", (), caller=OTHER,
                                         caller_connection_id=ConnectionId(0)))  # fmt: skip
    assert isinstance(ev, ReducerEvent)
    assert ev.caller_connection_id is None and not ev.is_ours
    (ev,) = s.receive(server.transaction("set_x", b"\x01", caller=OTHER))
    assert isinstance(ev, ReducerEvent) and ev.args is None and ev.args_bytes == b"\x01"


def _fields(events: list[Any]) -> list[Any]:
    out: list[Any] = []
    for e in events:
        if isinstance(e, TableChangeEvent):
            out.append((e.table_name, e.inserts, e.deletes, e.updates, e.context.cause))
        else:
            out.append(e)
    return out


def test_compressed_and_uncompressed_frames_give_the_same_events() -> None:
    many = [(i, i) for i in range(10, 200)]  # big enough to be compressed (> 1024 bytes)
    results = []
    for compression in (P.Compression.NONE, P.Compression.GZIP):
        s, server = session(compression)
        rid, _ = s.call_reducer("set_x", (1, 5), now=0.0)
        frame = server.transaction("set_x", (1, 5), inserts={"player": many}, request_id=rid)
        assert frame[0] == (0 if compression is P.Compression.NONE else 2)
        results.append(_fields(s.receive(frame, 0.5)))
    assert results[0] == results[1]
    assert results[0][1][1] == [Player(i, i) for i in range(10, 200)]


def test_malformed_uncompressed_updates_fail_with_the_checked_decoders_errors() -> None:
    s, server = session()
    frame = server.transaction("set_x", (1, 5))
    with pytest.raises(ProtocolError, match="1 trailing byte"):
        s.receive(frame + b"\x00")
    s, server = session()
    with pytest.raises(ProtocolError, match="energy_quanta_used: truncated"):
        s.receive(frame[:-3])
    assert s.failed is not None


# ---- both roads: a frame read in place, and the same frame as a decoded message ------------

ROADS = ("in place", "decoded message")


def feed(s: Session, frame: bytes, road: str, now: float) -> list[Any]:
    """``road`` 'in place': ``Session.receive`` (a committed update is read in place);
    'decoded message': the full decoder's message through ``receive_message``."""
    assert frame[0] == 0  # uncompressed, so the in-place road is open to it
    if road == "in place":
        return s.receive(frame, now)
    return s.receive_message(P.decode_server_message(frame[1:]), now)


def test_a_no_success_notify_commit_reports_its_own_request_id_on_both_roads() -> None:
    seen = []
    for road in ROADS:
        s, server = session()
        full, _ = s.call_reducer("set_x", (1, 5), now=1.0)
        quiet, _ = s.call_reducer(
            "set_x", (2, 7), now=2.0, flags=P.CallReducerFlags.NO_SUCCESS_NOTIFY
        )
        frame = server.transaction(
            "set_x", (2, 7), deletes={"player": [(2, 0)]}, inserts={"player": [(2, 7)]},
            request_id=quiet,
        )  # fmt: skip
        ev, rows = events = feed(s, frame, road, 3.0)
        assert isinstance(ev, ReducerEvent) and isinstance(rows, TableChangeEvent)
        # Ours, never pending: its own echoed id, no round trip, and the earlier full-update
        # call keeps waiting for its own answer.
        assert ev.is_ours and ev.request_id == quiet and ev.round_trip is None
        assert ev.status is ReducerStatus.COMMITTED and ev.args == (2, 7)
        assert ev.energy_quanta_used == 1000 and type(ev.energy_quanta_used) is int
        assert [c.request_id for c in s.pending_calls] == [full]
        assert rows.updates == [(Player(2, 0), Player(2, 7))]
        assert rows.context.reducer_event is ev
        # Another client's commit echoing the same number is not ours and carries no id.
        (other,) = feed(s, server.transaction("set_x", (1, 1), caller=OTHER, request_id=quiet),
                        road, 4.0)  # fmt: skip
        assert isinstance(other, ReducerEvent)
        assert not other.is_ours and other.request_id is None
        # Ours with request id 0: no id to report, and no pending call taken.
        (zero,) = feed(s, server.transaction("set_x", (1, 5)), road, 5.0)
        assert isinstance(zero, ReducerEvent)
        assert zero.is_ours and zero.request_id is None and zero.round_trip is None
        assert [c.request_id for c in s.pending_calls] == [full]
        (answer,) = feed(s, server.transaction("set_x", (1, 5), request_id=full), road, 6.0)
        assert isinstance(answer, ReducerEvent)
        assert answer.request_id == full and answer.round_trip == pytest.approx(5.0)
        assert not s.pending_calls
        seen.append([_fields(events), other, zero, answer])
    assert seen[0] == seen[1]


def test_out_of_energy_on_both_roads() -> None:
    seen = []
    for road in ROADS:
        s, server = session()
        first, _ = s.call_reducer("set_x", (1, 5), now=1.0)
        second, _ = s.call_reducer("set_x", (2, 5), now=2.0)
        # A 2.0 server echoes the real id: matched by it, not by the oldest call of the name.
        (ev,) = feed(s, server.transaction("set_x", (2, 5), out_of_energy=True,
                                           request_id=second), road, 3.0)  # fmt: skip
        assert isinstance(ev, ReducerEvent)
        assert ev.status is ReducerStatus.OUT_OF_ENERGY and ev.error == "out of energy"
        assert ev.is_ours and ev.request_id == second and ev.round_trip == pytest.approx(1.0)
        assert ev.args == (2, 5)
        assert ev.energy_quanta_used == 1000 and type(ev.energy_quanta_used) is int
        # Request id 0 (servers up to 1.12): the oldest pending call of that name.
        (old,) = feed(s, server.transaction("set_x", (1, 5), out_of_energy=True), road, 4.0)
        assert isinstance(old, ReducerEvent)
        assert old.status is ReducerStatus.OUT_OF_ENERGY
        assert old.request_id == first and old.round_trip == pytest.approx(3.0)
        assert not s.pending_calls
        # Outside any reducer: a server error, no reducer event.
        assert feed(s, server.transaction("<none>", b"", out_of_energy=True), road, 5.0) == [
            ServerErrorEvent("out of energy")
        ]
        assert s.cache.table("player").find(1) == Player(1, 0)  # nothing applied
        seen.append([ev, old])
    assert seen[0] == seen[1]


def test_the_frame_decoders_in_place_read_gives_the_checked_message() -> None:
    _, server = session()
    frame = server.transaction("set_x", (1, 5), inserts={"player": [(3, 3)]}, request_id=9)
    fast = P.decode_server_frame(frame)
    assert fast == P.decode_server_message(frame[1:])
    assert isinstance(fast, P.TransactionUpdate)
    assert fast.energy_quanta_used == P.EnergyQuanta(1000)  # wrapped, not the bare int
    assert fast.reducer_call.request_id == 9
