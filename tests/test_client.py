"""The game-loop client against a scripted fake server: every line of the tick contract."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from helpers import FakeClock, Item, Note, Player, Position, connected_client, game_schema

from stdb_game import protocol as P
from stdb_game.client import Client, ClientState, DisconnectKind, DisconnectReason, ReconnectPolicy
from stdb_game.errors import AuthError, ConnectError, StdbError
from stdb_game.events import EventCause, ReducerEvent, ReducerStatus
from stdb_game.sats.values import ConnectionId, Identity, Timestamp
from stdb_game.testing import FakeServer


def test_connect_fires_on_connect_and_sends_queued_requests_after_identity_token() -> None:
    schema = game_schema()
    server = FakeServer(schema)
    client = Client(
        "ws://fake:3000", "game", schema=schema, transport_factory=server.transport_factory
    )
    seen: list[Any] = []
    client.on_connect(lambda ident, token, conn: seen.append((ident, token, conn)))
    client.connect()
    sub = client.subscribe("SELECT * FROM player")  # before IdentityToken: held back
    client.tick()
    assert server.transport.sent == []
    assert "compression=Gzip" in server.urls[0]
    server.send(server.identity_token("tok-1"))
    client.tick()
    assert seen == [(server.identity, "tok-1", server.connection_id)]
    assert client.state is ClientState.CONNECTED
    (msg,) = server.received()
    assert isinstance(msg, P.SubscribeMulti)
    assert msg.query_strings == ("SELECT * FROM player",) and msg.query_id.id == sub.query_id


def test_applied_fires_on_applied_before_row_inserts() -> None:
    client, server = connected_client()
    order: list[str] = []
    sub = client.subscribe("SELECT * FROM player").on_applied(lambda s: order.append("applied"))
    client.db.player.on_insert(lambda ctx, row: order.append(f"insert {row.id}"))
    server.send(server.subscribe_applied(sub.query_id, {"player": [(1, 0), (2, 5)]}))
    client.tick()
    assert order == ["applied", "insert 1", "insert 2"]
    assert sub.is_active
    assert sorted(client.db.player.iter()) == [Player(1, 0), Player(2, 5)]
    assert client.db.player.find(2) == Player(2, 5)


def test_b03_update_by_primary_key_is_one_update_callback() -> None:
    client, server = connected_client()
    sub = client.subscribe("SELECT * FROM player")
    server.send(server.subscribe_applied(sub.query_id, {"player": [(1, 0)]}))
    client.tick()
    calls: list[Any] = []
    client.db.player.on_insert(lambda ctx, row: calls.append(("insert", row)))
    client.db.player.on_delete(lambda ctx, row: calls.append(("delete", row)))
    client.db.player.on_update(lambda ctx, old, new: calls.append(("update", old.x, new.x)))
    server.send(
        server.transaction(
            "set_x", (1, 5), deletes={"player": [(1, 0)]}, inserts={"player": [(1, 5)]}
        )
    )
    client.tick()
    assert calls == [("update", 0, 5)]
    assert list(client.db.player.iter()) == [Player(1, 5)]


def test_b06_overlapping_subscriptions_count_rows() -> None:
    client, server = connected_client()
    ins: list[int] = []
    dels: list[int] = []
    client.db.item.on_insert(lambda ctx, r: ins.append(r.id))
    client.db.item.on_delete(lambda ctx, r: dels.append(r.id))
    rows = [(1, 1), (2, 1), (3, 2)]
    q1 = client.subscribe("SELECT * FROM item")
    server.send(server.subscribe_applied(q1.query_id, {"item": rows}))
    client.tick()
    q2 = client.subscribe("SELECT * FROM item WHERE id = 1")
    server.send(server.subscribe_applied(q2.query_id, {"item": [(1, 1)]}))
    client.tick()
    assert ins == [1, 2, 3]
    q1.unsubscribe()
    server.send(server.unsubscribe_applied(q1.query_id, {"item": rows}))
    client.tick()
    assert sorted(dels) == [2, 3]
    assert list(client.db.item.iter()) == [Item(1, 1)]
    q2.unsubscribe()
    server.send(server.unsubscribe_applied(q2.query_id, {"item": [(1, 1)]}))
    client.tick()
    assert sorted(dels) == [1, 2, 3] and client.db.item.count() == 0
    assert q1.state.value == "ended"


def test_b09_unsubscribing_twice_sends_nothing_the_second_time() -> None:
    client, server = connected_client()
    sub = client.subscribe("SELECT * FROM item WHERE owner = 1")
    server.send(server.subscribe_applied(sub.query_id, {"item": [(1, 1), (2, 1), (3, 1)]}))
    client.tick()
    sub.unsubscribe()
    n = len(server.transport.sent)
    sub.unsubscribe()
    assert len(server.transport.sent) == n
    server.send(server.unsubscribe_applied(sub.query_id, {"item": [(1, 1), (2, 1), (3, 1)]}))
    client.tick()
    assert client.db.item.count() == 0


def test_b10_every_table_of_a_message_is_applied_before_callbacks() -> None:
    client, server = connected_client()
    sub = client.subscribe(["SELECT * FROM player", "SELECT * FROM position"])
    server.send(server.subscribe_applied(sub.query_id, {}))
    client.tick()
    found: list[Any] = []
    client.db.player.on_insert(lambda ctx, row: found.append(client.db.position.find(row.id)))
    server.send(
        server.transaction("spawn", (), inserts={"player": [(7, 0)], "position": [(7, 1, 2)]})
    )
    client.tick()
    assert found == [Position(7, 1, 2)]


def test_b24_callbacks_run_on_the_ticking_thread_and_no_thread_is_started() -> None:
    before = threading.active_count()
    clock = FakeClock()
    schema = game_schema()
    server = FakeServer(schema)
    client = Client("ws://fake:3000", "game", schema=schema, clock=clock, budget_ms=None,
                    transport_factory=server.transport_factory,
                    reconnect=ReconnectPolicy(initial_delay=0.1, jitter=0.0, max_attempts=1))  # fmt: skip
    fired: list[tuple[str, int]] = []

    def record(name: str) -> Any:
        return lambda *_: fired.append((name, threading.get_ident()))

    # Everything registered before connect(), so the IdentityToken's callback is seen too.
    client.on_connect(record("connect"))
    client.on_connect_error(record("connect_error"))
    client.on_disconnect(record("disconnect"))
    client.on_any_reducer(record("reducer"))
    client.db.player.on_insert(record("insert"))
    client.db.player.on_update(record("update"))
    client.db.player.on_delete(record("delete"))
    sub = client.subscribe("SELECT * FROM player").on_applied(record("applied"))
    bad = client.subscribe("SELECT * FROM nope").on_error(record("sub_error"))
    client.connect()
    server.send(server.identity_token())
    server.send(server.subscribe_applied(sub.query_id, {"player": [(1, 0), (2, 0)]}))
    server.send(server.subscription_error(bad.query_id, "no such table"))
    server.send(
        server.transaction(
            "set_x", (1, 3), deletes={"player": [(1, 0)]}, inserts={"player": [(1, 3)]}
        )
    )
    server.send(server.transaction("spawn", (), deletes={"player": [(2, 0)]}))
    server.send(server.transaction("set_x", (9, 9), failed="no such player"))
    server.transport.feed_abnormal()
    server.refuse_next.append(ConnectError("refused"))  # the one reconnect attempt fails
    assert fired == []  # nothing fires outside tick()
    for _ in range(3):
        client.tick()
    clock.advance(1.0)
    client.tick()
    assert [name for name, _ in fired] == [
        "connect", "applied", "insert", "insert", "sub_error", "reducer", "update",
        "reducer", "delete", "reducer", "disconnect", "connect_error", "disconnect",
    ]  # fmt: skip
    assert {thread for _, thread in fired} == {threading.get_ident()}
    assert threading.active_count() == before


def test_calls_made_inside_callbacks_are_sent_at_the_end_of_the_tick() -> None:
    client, server = connected_client()
    sub = client.subscribe("SELECT * FROM player")
    sent_during: list[int] = []

    def on_insert(ctx: Any, row: Any) -> None:
        client.call_reducer("set_x", row.id, 42)
        sent_during.append(len(server.transport.sent))

    client.db.player.on_insert(on_insert)
    server.send(server.subscribe_applied(sub.query_id, {"player": [(1, 0)]}))
    before = len(server.transport.sent)
    client.tick()
    assert sent_during == [before]  # not written while the callback ran
    last = server.received()[-1]
    assert isinstance(last, P.CallReducer) and last.reducer == "set_x"


def test_callback_exception_is_reported_and_does_not_corrupt_the_cache(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, server = connected_client()
    errors: list[tuple[str, str]] = []
    client.on_callback_error(lambda exc, where: errors.append((type(exc).__name__, where)))
    later: list[int] = []
    client.db.player.on_insert(lambda ctx, row: 1 / 0)
    client.db.player.on_insert(lambda ctx, row: later.append(row.id))
    sub = client.subscribe("SELECT * FROM player")
    server.send(server.subscribe_applied(sub.query_id, {"player": [(1, 0), (2, 0)]}))
    with caplog.at_level(logging.ERROR, logger="stdb_game.client"):
        stats = client.tick()
    assert errors == [("ZeroDivisionError", "player.on_insert")] * 2
    assert later == [1, 2]
    assert stats.callback_errors == 2
    assert client.db.player.count() == 2
    assert "player.on_insert" in caplog.text


def test_budget_applies_whole_messages_in_order_and_at_least_one_per_tick() -> None:
    client, server = connected_client(budget_ms=0.0)
    sub = client.subscribe("SELECT * FROM note")
    server.send(server.subscribe_applied(sub.query_id, {}))
    client.tick()
    seen: list[str] = []
    client.db.note.on_insert(lambda ctx, row: seen.append(row.text))
    for i in range(30):
        server.send(server.light(inserts={"note": [(f"n{i}",)]}))
    applied = []
    while len(seen) < 30:
        st = client.tick()
        applied.append(st.messages_applied)
    assert seen == [f"n{i}" for i in range(30)]
    assert applied == [1] * 30  # zero budget: exactly one whole message per tick

    for i in range(25):
        server.send(server.light(inserts={"note": [(f"m{i}",)]}))
    st = client.tick(budget_ms=None, max_messages=10)
    assert st.messages_applied == 10 and st.queue_depth == 15 and st.budget_exhausted
    client.tick(budget_ms=None, max_messages=None)
    assert seen[30:] == [f"m{i}" for i in range(25)]


def test_time_budget_stops_between_messages() -> None:
    clock = FakeClock(step=0.001)  # every clock read costs a millisecond
    client, server = connected_client(clock=clock, budget_ms=3.0)
    for i in range(20):
        server.send(server.light(inserts={"note": [(f"n{i}",)]}))
    st = client.tick()
    assert 1 <= st.messages_applied < 20
    assert st.budget_exhausted and st.queue_depth == 20 - st.messages_applied


def test_bounded_inbound_queue_stops_reading_and_loses_nothing() -> None:
    client, server = connected_client(inbound_queue_limit=5, max_messages=2, budget_ms=None)
    seen: list[str] = []
    client.db.note.on_insert(lambda ctx, row: seen.append(row.text))
    for i in range(40):
        server.send(server.light(inserts={"note": [(f"n{i}",)]}))
    depths = []
    while len(seen) < 40:
        st = client.tick()
        depths.append(st.queue_depth)
        assert server.transport.poll_calls[-1] <= 5
    assert max(depths) <= 5
    assert seen == [f"n{i}" for i in range(40)]


def test_own_reducer_call_is_matched_with_request_id_and_round_trip() -> None:
    clock = FakeClock()
    client, server = connected_client(clock=clock)
    events: list[ReducerEvent] = []
    client.on_reducer("set_x", events.append)
    rid = client.call_reducer("set_x", id=1, x=5)
    (call,) = [m for m in server.received() if isinstance(m, P.CallReducer)]
    assert call.request_id == rid and call.args == bytes.fromhex("010000000000000005000000")
    clock.advance(0.040)
    server.send(server.transaction("set_x", (1, 5), request_id=rid))
    client.tick()
    (ev,) = events
    assert ev.is_ours and ev.request_id == rid and ev.status is ReducerStatus.COMMITTED
    assert ev.args.id == 1 and ev.args.x == 5
    assert ev.round_trip == pytest.approx(0.040)
    assert client.stats.last_rtt == pytest.approx(0.040)


def test_round_trip_is_measured_to_the_read_not_to_the_tick_that_applies_the_answer() -> None:
    """An answer read in one tick but applied a tick later (a backlog under max_messages)
    has the round trip of its read; the wait in the queue shows in call_to_callback."""
    clock = FakeClock()
    client, server = connected_client(clock=clock, max_messages=1)
    seen: list[tuple[float | None, float]] = []
    client.on_reducer("set_x", lambda ev: seen.append((ev.round_trip, clock.now)))
    rid = client.call_reducer("set_x", 1, 5)  # sent at t=1000
    clock.advance(0.002)
    server.send(server.light(inserts={"note": [("backlog",)]}))
    server.send(server.transaction("set_x", (1, 5), request_id=rid))
    stats = client.tick()  # reads both at t=1000.002, applies only the first
    assert (stats.frames_read, stats.messages_applied, seen) == (2, 1, [])
    clock.advance(0.016)  # one frame at 60 FPS
    client.tick()
    assert seen == [(pytest.approx(0.002), pytest.approx(1000.018))]
    assert client.stats.last_rtt == pytest.approx(0.002)
    assert list(client.stats.rtt_samples) == [pytest.approx(0.002)]
    assert client.stats.last_call_to_callback == pytest.approx(0.018)
    assert client.stats.mean_call_to_callback == pytest.approx(0.018)


def test_round_trip_of_an_answer_prepared_across_ticks_is_measured_to_its_read() -> None:
    clock = FakeClock(step=0.001)  # every clock read moves 1 ms: each step ends the budget
    client, server = connected_client(clock=clock, budget_ms=0.5, incremental_decode_bytes=1)
    seen: list[float | None] = []
    client.on_reducer("set_x", lambda ev: seen.append(ev.round_trip))
    sent = clock.now
    rid = client.call_reducer("set_x", 1, 5)
    rows = {"player": [(i, i) for i in range(2000)]}
    server.send(server.transaction("set_x", (1, 5), request_id=rid, inserts=rows))
    read = clock.now  # the tick's start: when it polls
    ticks = 1
    client.tick()
    while not seen:
        ticks += 1
        client.tick()
    assert ticks > 2  # applied in steps, several ticks after the read
    assert seen == [pytest.approx(read - sent)]
    assert client.stats.last_call_to_callback is not None
    assert client.stats.last_call_to_callback > (read - sent) + 0.002


def test_failed_reducer_reports_the_message_and_changes_nothing() -> None:
    client, server = connected_client()
    events: list[ReducerEvent] = []
    client.on_any_reducer(events.append)
    client.call_reducer("set_x", 1, 5)
    server.send(server.transaction("set_x", (1, 5), failed="no such player", request_id=0))
    client.tick()
    (ev,) = events
    assert ev.status is ReducerStatus.FAILED and ev.error == "no such player"
    assert ev.is_ours and ev.request_id is not None  # matched by name although request_id was 0


def test_another_clients_reducer_has_no_request_id_and_zero_connection_is_none() -> None:
    client, server = connected_client()
    events: list[ReducerEvent] = []
    client.on_any_reducer(events.append)
    other = Identity.from_hex("c200" + "11" * 30)
    frame = server.transaction("spawn", (), caller=other, caller_connection_id=ConnectionId.zero())
    msg = P.decode_server_frame(frame)
    assert isinstance(msg, P.TransactionUpdate) and msg.caller_connection_id.value == 0
    server.send(frame)
    server.send(server.transaction("spawn", (), caller=other, request_id=77))
    client.tick()
    scheduled, other_call = events
    assert not scheduled.is_ours and scheduled.request_id is None
    assert scheduled.caller_identity == other and scheduled.caller_connection_id is None
    # Another connection's request id means nothing to us; its connection id is kept.
    assert other_call.request_id is None and other_call.caller_connection_id is not None


def test_b22_timestamps_encode_as_microseconds() -> None:
    client, server = connected_client()
    import datetime as dt

    client.call_reducer("post", "x", dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc))
    client.call_reducer("post", "y", Timestamp(-1))
    calls = [m for m in server.received() if isinstance(m, P.CallReducer)]
    assert calls[0].args.endswith((1735689600000000).to_bytes(8, "little", signed=True))
    assert calls[1].args.endswith((-1).to_bytes(8, "little", signed=True))
    with pytest.raises(ValueError):
        client.call_reducer("post", "z", dt.datetime(2025, 1, 1))  # naive: refused


def test_lifecycle_reducers_are_not_callable() -> None:
    from stdb_game.errors import StdbError, UsageError

    client, server = connected_client()
    with pytest.raises(UsageError) as info:
        client.call_reducer("identity_connected")
    # One family for the SDK's errors, and still the ValueError it used to be.
    assert isinstance(info.value, StdbError) and isinstance(info.value, ValueError)
    assert str(info.value) == (
        "'identity_connected' is a lifecycle reducer (OnConnect): the server runs it itself; "
        "clients cannot call it"
    )
    assert not [m for m in server.received() if isinstance(m, P.CallReducer)]


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("not a url at all", "no usable host name in it"),
        ("ftp://127.0.0.1:3000", "unsupported URL scheme 'ftp'"),
        ("http://127.0.0.1:99999", "the port is not a number from 0 to 65535"),
        ("http://", "it needs a host"),
    ],
)
def test_a_bad_server_address_is_refused_when_the_client_is_made(uri: str, why: str) -> None:
    from stdb_game.errors import InvalidURLError

    with pytest.raises(InvalidURLError) as info:
        Client(uri, "game")
    assert isinstance(info.value, ConnectError) and isinstance(info.value, ValueError)
    assert why in str(info.value) and repr(uri) in str(info.value)


def test_an_empty_database_name_is_refused_when_the_client_is_made() -> None:
    with pytest.raises(ValueError, match="database name or identity is empty"):
        Client("http://127.0.0.1:3000", "")


def test_after_disconnect_requests_and_connect_both_say_make_a_new_client() -> None:
    from stdb_game.errors import StdbError

    client, server = connected_client()
    client.disconnect()
    with pytest.raises(StdbError) as sent:
        client.call_reducer("spawn")
    with pytest.raises(StdbError) as again:
        client.connect()
    assert "make a new Client" in str(sent.value) and "make a new Client" in str(again.value)
    assert "connect() again" not in str(sent.value)
    assert len(server.transports) == 1


def test_after_a_drop_without_reconnect_connect_again_works_as_the_error_says() -> None:
    from stdb_game.errors import StdbError

    client, server = connected_client()
    deleted: list[tuple[Any, EventCause]] = []
    client.db.player.on_delete(lambda ctx, row: deleted.append((row, ctx.cause)))
    sub = client.subscribe("SELECT * FROM player")
    server.send(server.subscribe_applied(sub.query_id, {"player": [(1, 5)]}))
    client.tick()
    server.transport.feed_abnormal()
    client.tick()
    assert client.state is ClientState.DISCONNECTED
    with pytest.raises(StdbError, match=r"call connect\(\) again first"):
        client.call_reducer("spawn")
    client.connect()
    server.send(server.identity_token())
    client.tick()
    assert client.is_connected and len(server.transports) == 2
    # The old connection's rows do not linger as if the server still sent them.
    assert deleted == [(Player(1, 5), EventCause.RECONNECT)] and client.db.player.count() == 0
    client.call_reducer("spawn")
    assert isinstance(server.received()[-1], P.CallReducer)


def test_b23_clean_close_is_reported_with_code_and_reason() -> None:
    client, server = connected_client()
    reasons: list[DisconnectReason] = []
    client.on_disconnect(reasons.append)
    server.transport.feed_close(1001, "module exited")
    client.tick()
    (r,) = reasons
    assert r.kind is DisconnectKind.CLEAN and r.code == 1001 and r.reason == "module exited"
    assert client.state is ClientState.DISCONNECTED


def test_b23_local_disconnect_is_marked_local() -> None:
    client, server = connected_client()
    reasons: list[DisconnectReason] = []
    client.on_disconnect(reasons.append)
    client.disconnect()
    (r,) = reasons
    assert r.kind is DisconnectKind.LOCAL and r.code == 1000
    assert server.transport.closed_reason is not None


def test_frames_before_a_drop_are_applied_before_the_disconnect_fires() -> None:
    client, server = connected_client()
    order: list[str] = []
    client.db.note.on_insert(lambda ctx, r: order.append(r.text))
    client.on_disconnect(lambda r: order.append(f"disconnect {r.kind.value}"))
    server.send(server.light(inserts={"note": [("last words",)]}))
    server.transport.feed_abnormal(ConnectionResetError("reset"))
    client.tick()
    assert order == ["last words", "disconnect abnormal"]


def test_b30_stalled_loop_drop_is_reported_as_a_stall() -> None:
    clock = FakeClock()
    client, server = connected_client(clock=clock, stall_threshold=10.0)
    reasons: list[DisconnectReason] = []
    client.on_disconnect(reasons.append)
    clock.advance(150.0)
    server.transport.feed_abnormal()
    client.tick()
    (r,) = reasons
    assert r.kind is DisconnectKind.STALL and r.stalled_for == pytest.approx(150.0)


def test_protocol_error_fails_the_connection_and_keeps_the_cache() -> None:
    client, server = connected_client(reconnect=ReconnectPolicy(enabled=True))
    sub = client.subscribe("SELECT * FROM player")
    server.send(server.subscribe_applied(sub.query_id, {"player": [(1, 0)]}))
    client.tick()
    reasons: list[DisconnectReason] = []
    client.on_disconnect(reasons.append)
    server.send(b"\x07garbage")  # unknown compression byte
    client.tick()
    (r,) = reasons
    assert r.kind is DisconnectKind.ERROR and not r.will_reconnect
    assert "compression" in str(r.error).lower()
    assert list(client.db.player.iter()) == [Player(1, 0)]


def test_one_off_query_result_reaches_its_callback() -> None:
    client, server = connected_client()
    results: list[Any] = []
    mid = client.one_off_query("SELECT * FROM note", results.append)
    server.send(server.one_off_response(mid, "note", [("a",), ("b",)]))
    client.tick()
    (res,) = results
    assert res.error is None and res.table_name == "note" and res.rows == [Note("a"), Note("b")]


def test_auth_error_at_connect_reaches_on_connect_error() -> None:
    schema = game_schema()
    server = FakeServer(schema)
    server.refuse_next.append(AuthError("token refused", status=401, body="bad signature"))
    client = Client("ws://fake", "game", schema=schema, transport_factory=server.transport_factory)
    errors: list[BaseException] = []
    client.on_connect_error(errors.append)
    with pytest.raises(AuthError):
        client.connect()
    assert len(errors) == 1 and isinstance(errors[0], AuthError) and errors[0].status == 401


def test_b02_two_clients_share_nothing() -> None:
    a, sa = connected_client()
    sub = a.subscribe("SELECT * FROM player")
    sa.send(sa.subscribe_applied(sub.query_id, {"player": [(1, 0), (2, 0), (3, 0)]}))
    a.tick()
    fired: list[Any] = []
    a.db.player.on_insert(lambda ctx, r: fired.append(r))
    a.disconnect()
    b, sb = connected_client()
    sub_b = b.subscribe("SELECT * FROM player WHERE id = 1")
    sb.send(sb.subscribe_applied(sub_b.query_id, {"player": [(1, 0)]}))
    b.tick()
    assert b.db.player.count() == 1 and b.db.player.find(2) is None
    assert fired == []
    assert b.session is not None and a.session is not None
    assert b.session.cache is not a.session.cache


def test_reconnect_restores_subscriptions_and_reconciles_the_cache() -> None:
    clock = FakeClock()
    client, server = connected_client(
        clock=clock, reconnect=ReconnectPolicy(initial_delay=1.0, jitter=0.0)
    )
    sub = client.subscribe(["SELECT * FROM player", "SELECT * FROM note"])
    server.send(
        server.subscribe_applied(
            sub.query_id, {"player": [(1, 0), (2, 0), (3, 0)], "note": [("a",)]}
        )
    )
    client.tick()
    log: list[tuple[Any, ...]] = []
    client.db.player.on_insert(lambda ctx, r: log.append(("insert", r.id, ctx.cause)))
    client.db.player.on_delete(lambda ctx, r: log.append(("delete", r.id, ctx.cause)))
    client.db.player.on_update(lambda ctx, o, n: log.append(("update", o.x, n.x, ctx.cause)))
    client.db.note.on_insert(lambda ctx, r: log.append(("note", r.text)))
    reconnected: list[bool] = []
    client.on_reconnect(lambda: reconnected.append(True))
    reasons: list[DisconnectReason] = []
    client.on_disconnect(reasons.append)
    server.transport.feed_abnormal()
    client.tick()
    assert reasons[0].will_reconnect and client.state is ClientState.RECONNECTING
    client.tick()  # too early: no attempt yet
    assert len(server.transports) == 1
    clock.advance(1.01)
    client.tick()
    assert len(server.transports) == 2
    assert server.tokens[1] == "fake-token"  # the same identity's token
    server.send(server.identity_token("fake-token"))
    client.tick()
    (resub,) = server.received()
    assert isinstance(resub, P.SubscribeMulti)
    assert resub.query_strings == ("SELECT * FROM player", "SELECT * FROM note")
    # While we were away: player 2 moved, player 3 left, player 4 joined; note unchanged.
    server.send(server.subscribe_applied(resub.query_id.id,
                {"player": [(1, 0), (2, 9), (4, 0)], "note": [("a",)]}))  # fmt: skip
    client.tick()
    assert sorted(log, key=str) == sorted(
        [("update", 0, 9, EventCause.RECONNECT), ("delete", 3, EventCause.RECONNECT),
         ("insert", 4, EventCause.RECONNECT)], key=str)  # fmt: skip
    assert reconnected == [True] and sub.is_active
    assert sorted(client.db.player.iter()) == [Player(1, 0), Player(2, 9), Player(4, 0)]
    assert client.stats.reconnects == 1


def test_b16_auth_error_during_reconnect_stops_retrying() -> None:
    clock = FakeClock()
    client, server = connected_client(
        clock=clock, reconnect=ReconnectPolicy(initial_delay=0.1, jitter=0.0)
    )
    errors: list[BaseException] = []
    client.on_connect_error(errors.append)
    server.refuse_next.append(AuthError("token refused", status=401))
    server.transport.feed_abnormal()
    client.tick()
    clock.advance(1.0)
    client.tick()
    assert client.state is ClientState.DISCONNECTED and len(errors) == 1
    clock.advance(100.0)
    client.tick()
    assert len(server.transports) == 1  # no retry loop with a refused token


def test_tick_stats_report_queue_age_and_bytes() -> None:
    clock = FakeClock()
    client, server = connected_client(clock=clock, max_messages=1, budget_ms=None)
    frames = [server.light(inserts={"note": [(f"n{i}",)]}) for i in range(3)]
    for f in frames:
        server.send(f)
    st = client.tick()
    assert st.frames_read == 3 and st.messages_applied == 1 and st.queue_depth == 2
    assert st.bytes_in == sum(map(len, frames))  # what was read, not what was applied
    assert st.oldest_queued_age == 0.0  # read in this very tick
    clock.advance(0.5)
    st2 = client.tick()
    assert st2.frames_read == 0 and st2.bytes_in == 0 and st2.queue_depth == 1
    assert st2.oldest_queued_age == pytest.approx(0.5)
    client.call_reducer("spawn")
    st3 = client.tick()
    assert st3.bytes_out == len(server.transport.sent[-1]) > 0
    assert client.stats.bytes_in == sum(map(len, frames)) + len(server.identity_token())


def _jwt(claims: dict[str, Any]) -> str:
    import base64
    import json

    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none'})}.{b64(claims)}.sig"


def test_b17_anonymous_token_is_stored_and_reused_with_the_same_identity(tmp_path: Any) -> None:
    from stdb_game.credentials import CredentialStore, credentials_key

    store = CredentialStore(tmp_path)
    key = credentials_key("http://127.0.0.1:3000", "game", client=2)
    long_lived = _jwt({"sub": "player", "iat": 1_700_000_000})
    schema = game_schema()
    server = FakeServer(schema)
    first = Client(
        "ws://fake",
        "game",
        schema=schema,
        transport_factory=server.transport_factory,
        credentials=store,
        credentials_key=key,
    )
    first.connect()
    assert server.tokens[0] is None  # nothing stored yet: anonymous connect
    server.send(server.identity_token(long_lived))
    first.tick()
    assert store.load(key) == long_lived
    first.disconnect()
    second = Client(
        "ws://fake",
        "game",
        schema=schema,
        transport_factory=server.transport_factory,
        credentials=store,
        credentials_key=key,
    )
    second.connect()
    assert server.tokens[1] == long_lived  # sent as the Bearer token
    # The server echoes a short-lived websocket token: it must not replace the stored one.
    short = _jwt({"sub": "player", "iat": 1_700_000_000, "exp": 1_700_000_060})
    server.send(server.identity_token(short))
    second.tick()
    assert store.load(key) == long_lived
    assert second.identity == server.identity
    other_slot = credentials_key("http://127.0.0.1:3000", "game", client=3)
    assert store.load(other_slot) is None  # another local instance keeps its own identity


def test_50k_initial_rows_and_1000_transactions_arrive_complete_and_in_order() -> None:
    """Issue 4's budget case: the big message applies whole (by default prepared in steps
    first; only callbacks move this clock, so they all fit in the first tick), the rest
    spread over ticks in order, each tick stopping once the time budget is spent (the real
    timing figures are in bench/; here every update callback costs 0.5 ms of a fake clock)."""
    clock = FakeClock()
    client, server = connected_client(clock=clock, budget_ms=2.0, inbound_queue_limit=256)
    sub = client.subscribe("SELECT * FROM player")
    server.send(server.subscribe_applied(sub.query_id, {"player": [(i, 0) for i in range(50_000)]}))
    for i in range(1000):
        server.send(
            server.transaction(
                "set_x", (i, i + 1), deletes={"player": [(i, 0)]}, inserts={"player": [(i, i + 1)]}
            )
        )
    updates: list[int] = []

    def on_update(ctx: Any, old: Any, new: Any) -> None:
        updates.append(new.id)
        clock.advance(0.0005)

    client.db.player.on_update(on_update)
    per_tick: list[tuple[int, int]] = []  # (messages applied, update callbacks) per tick
    while len(updates) < 1000:
        before = len(updates)
        st = client.tick()
        per_tick.append((st.messages_applied, len(updates) - before))
        assert len(per_tick) < 5000
    assert sub.is_active
    assert updates == list(range(1000))  # arrival order
    assert client.db.player.count() == 50_000
    assert client.db.player.find(999) == Player(999, 1000)
    assert client.db.player.find(1000) == Player(1000, 0)
    assert per_tick[0][0] == per_tick[0][1] + 1  # the 50k-row message, then transactions
    assert sum(applied for applied, _ in per_tick) == 1001
    for _, cost in per_tick[:-1]:
        # 2 ms is spent after 4 callbacks: every tick stops there, or one message later.
        assert cost in (4, 5)


# ---- found by the fresh-eyes review ---------------------------------------------------------


def _upload_schema() -> Any:
    from stdb_game.sats import types as t
    from stdb_game.schema import ModuleSchema, ReducerDef

    base = game_schema()
    return ModuleSchema.build(
        tables=list(base.tables.values()),
        reducers=[
            *base.reducers.values(),
            ReducerDef("upload", t.ProductType([("data", t.bytes_type())])),
        ],
    )


def test_a_lone_bytes_argument_is_a_value_not_pre_encoded_args() -> None:
    client, server = connected_client(_upload_schema())
    client.call_reducer("upload", b"abc")
    client.call_reducer("upload", data=b"xy")
    first, second = [m for m in server.received() if isinstance(m, P.CallReducer)]
    assert first.args == b"\x03\x00\x00\x00abc"  # a bytes parameter: length, then bytes
    assert second.args == b"\x02\x00\x00\x00xy"


def test_raw_args_send_pre_encoded_bsatn_as_is_and_only_alone() -> None:
    from stdb_game.errors import SchemaError

    client, server = connected_client(_upload_schema())
    client.call_reducer("upload", raw_args=b"\x01\x00\x00\x00z")
    client.call_reducer("not_in_the_schema", raw_args=bytearray(b"\x07"))
    sent = [m for m in server.received() if isinstance(m, P.CallReducer)]
    assert [(m.reducer, m.args) for m in sent] == [
        ("upload", b"\x01\x00\x00\x00z"),
        ("not_in_the_schema", b"\x07"),
    ]
    with pytest.raises(TypeError, match="not both"):
        client.call_reducer("upload", b"abc", raw_args=b"")
    with pytest.raises(TypeError, match="BSATN bytes"):
        client.call_reducer("upload", raw_args="abc")  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="raw_args="):
        client.call_reducer("not_in_the_schema", b"\x07")  # a value: there is no type for it
    assert len([m for m in server.received() if isinstance(m, P.CallReducer)]) == 2


def test_reducer_parameters_named_name_and_flags_pass_by_keyword() -> None:
    client, server = connected_client()
    client.call_reducer("rename", name="ada")
    client.call_reducer("configure", flags=7)  # the reducer's own parameter
    client.call_reducer("set_x", 1, 2, flags=P.CallReducerFlags.NO_SUCCESS_NOTIFY)
    client.call_reducer("configure", 3, call_flags=P.CallReducerFlags.NO_SUCCESS_NOTIFY)
    rename, configure, set_x, configure2 = [
        m for m in server.received() if isinstance(m, P.CallReducer)
    ]
    assert rename.args == b"\x03\x00\x00\x00ada"
    assert configure.args == b"\x07" and configure.flags == P.CallReducerFlags.FULL_UPDATE
    assert set_x.flags == P.CallReducerFlags.NO_SUCCESS_NOTIFY
    assert configure2.args == b"\x03" and configure2.flags == P.CallReducerFlags.NO_SUCCESS_NOTIFY


def test_argument_errors_name_the_argument() -> None:
    from stdb_game.errors import EncodeError

    client, _server = connected_client()
    with pytest.raises(EncodeError) as info:
        client.call_reducer("set_x", 1, 2**40)
    assert str(info.value) == (
        "cannot encode the arguments of reducer 'set_x': x: expected i32 "
        "(-2147483648..2147483647), got int 1099511627776 (out of range)"
    )
    with pytest.raises(EncodeError, match="takes 2 argument"):
        client.call_reducer("set_x", 1)
    with pytest.raises(EncodeError) as info:
        client.call_reducer("rename", 123)
    assert str(info.value).endswith("name: expected string, got int 123")


def test_requests_after_disconnect_raise_instead_of_vanishing() -> None:
    from stdb_game.errors import StdbError

    client, _server = connected_client()
    client.disconnect()
    with pytest.raises(StdbError, match="not connected"):
        client.call_reducer("spawn")
    with pytest.raises(StdbError, match="not connected"):
        client.subscribe("SELECT * FROM player")


def test_outbox_is_bounded_while_waiting_for_the_connection() -> None:
    from stdb_game.errors import StdbError

    schema = game_schema()
    server = FakeServer(schema)
    client = Client(
        "ws://fake",
        "game",
        schema=schema,
        transport_factory=server.transport_factory,
        outbox_limit=3,
    )
    client.connect()
    for _ in range(3):
        client.call_reducer("spawn")
    with pytest.raises(StdbError, match="outbox_limit=3"):
        client.call_reducer("spawn")
    server.send(server.identity_token())
    client.tick()
    assert len([m for m in server.received() if isinstance(m, P.CallReducer)]) == 3


def test_oversized_request_is_refused_before_sending() -> None:
    from stdb_game.errors import EncodeError

    client, server = connected_client()
    with pytest.raises(EncodeError, match="33554432"):
        client.call_reducer("post", "x" * (33 * 1024 * 1024), Timestamp(0))
    assert not [m for m in server.received() if isinstance(m, P.CallReducer)]


def test_connect_twice_is_refused() -> None:
    from stdb_game.errors import StdbError

    client, server = connected_client()
    with pytest.raises(StdbError, match="already connected"):
        client.connect()
    assert len(server.transports) == 1


def test_bytes_out_counts_requests_sent_between_ticks() -> None:
    client, server = connected_client()
    client.call_reducer("spawn")
    st = client.tick()
    assert st.bytes_out == server.transport.bytes_out > 0
    assert client.stats.bytes_out == server.transport.bytes_out


def test_tick_inside_a_callback_is_refused_and_reported() -> None:
    client, server = connected_client()
    errors: list[BaseException] = []
    client.on_callback_error(lambda exc, where: errors.append(exc))
    client.db.note.on_insert(lambda ctx, r: client.tick())
    server.send(server.light(inserts={"note": [("a",)]}))
    client.tick()
    assert len(errors) == 1 and "inside a callback" in str(errors[0])


def test_disconnect_inside_a_callback_stops_the_tick() -> None:
    client, server = connected_client()
    seen: list[str] = []

    def on_insert(ctx: Any, row: Any) -> None:
        seen.append(row.text)
        client.disconnect()

    client.db.note.on_insert(on_insert)
    server.send(server.light(inserts={"note": [("first",)]}))
    server.send(server.light(inserts={"note": [("second",)]}))
    client.tick()
    assert seen == ["first"] and client.state is ClientState.CLOSED


def test_on_reconnect_fires_once_without_subscriptions() -> None:
    clock = FakeClock()
    client, server = connected_client(
        clock=clock, reconnect=ReconnectPolicy(initial_delay=0.1, jitter=0.0)
    )
    fired: list[bool] = []
    client.on_reconnect(lambda: fired.append(True))
    server.transport.feed_abnormal()
    client.tick()
    clock.advance(1.0)
    client.tick()
    server.send(server.identity_token())
    client.tick()
    client.tick()
    assert fired == [True] and client.stats.reconnects == 1


def test_stall_is_reported_when_the_drop_shows_a_tick_later() -> None:
    clock = FakeClock()
    client, server = connected_client(clock=clock, stall_threshold=10.0)
    reasons: list[DisconnectReason] = []
    client.on_disconnect(reasons.append)
    clock.advance(40.0)
    server.send(server.light(inserts={"note": [("backlog",)]}))
    client.tick()  # the first tick after the stall reads what piled up
    clock.advance(0.016)
    server.transport.feed_abnormal()
    client.tick()
    (r,) = reasons
    assert r.kind is DisconnectKind.STALL and r.stalled_for == pytest.approx(40.0)


def test_reconnect_giving_up_ends_subscriptions_and_says_so() -> None:
    clock = FakeClock()
    client, server = connected_client(
        clock=clock, reconnect=ReconnectPolicy(initial_delay=0.1, jitter=0.0)
    )
    sub = client.subscribe("SELECT * FROM player")
    server.send(server.subscribe_applied(sub.query_id, {"player": [(1, 0)]}))
    client.tick()
    results: list[Any] = []
    client.one_off_query("SELECT * FROM note", results.append)
    reasons: list[DisconnectReason] = []
    client.on_disconnect(reasons.append)
    server.refuse_next.append(AuthError("token refused", status=401))
    server.transport.feed_abnormal()
    client.tick()
    assert results and results[0].error is not None  # the pending one-off got an answer
    clock.advance(1.0)
    client.tick()
    assert [r.will_reconnect for r in reasons] == [True, False]
    assert not sub.is_active and sub.state.value == "error"


def test_requests_queued_while_reconnecting_are_accounted_for_when_it_gives_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    client, server = connected_client(
        clock=clock, reconnect=ReconnectPolicy(initial_delay=0.1, jitter=0.0, max_attempts=1)
    )
    session = client.session
    assert session is not None
    client.call_reducer("spawn")  # in flight when the connection drops
    server.transport.feed_abnormal()
    client.tick()
    assert client.state is ClientState.RECONNECTING and session.lost_calls == 1
    client.call_reducer("set_x", 1, 2)  # these wait in the outbox for the new connection
    client.call_reducer("spawn", flags=P.CallReducerFlags.NO_SUCCESS_NOTIFY)
    results: list[Any] = []
    client.one_off_query("SELECT * FROM note", results.append)
    client.subscribe("SELECT * FROM item")
    server.refuse_next.append(ConnectError("server gone"))
    clock.advance(1.0)
    with caplog.at_level(logging.WARNING, logger="stdb_game.client"):
        client.tick()
    assert client.state is ClientState.DISCONNECTED
    assert session.lost_calls == 3 and not session.pending_calls
    assert len(results) == 1 and "reconnecting gave up" in (results[0].error or "")
    (warning,) = [r for r in caplog.records if "lost" in r.getMessage()]
    assert warning.getMessage() == (
        "reconnecting gave up: 2 reducer call(s) lost (never sent, or sent with no answer; "
        "counted in session.lost_calls), 1 one-off query(ies) failed, 1 other request(s) "
        "not sent"
    )


def test_calls_in_flight_count_as_lost_when_the_connection_ends_for_good() -> None:
    client, server = connected_client()  # reconnect off
    client.call_reducer("spawn")
    client.call_reducer("set_x", 1, 1)
    server.transport.feed_close(1001, "module exited")
    client.tick()
    assert client.session is not None
    assert client.session.lost_calls == 2 and not client.session.pending_calls
    client.connect()  # connecting again does not count them twice
    assert client.session.lost_calls == 2


# ---- found by the client audit ----------------------------------------------------------


def test_messages_the_transport_still_holds_are_applied_before_the_disconnect() -> None:
    client, server = connected_client(inbound_queue_limit=5)
    order: list[str] = []
    client.db.note.on_insert(lambda ctx, r: order.append(r.text))
    client.on_disconnect(lambda r: order.append(f"disconnect {r.kind.value} {r.code}"))
    for i in range(12):
        server.send(server.light(inserts={"note": [(f"n{i}",)]}))
    server.transport.feed_close(1001, "module exited")
    for _ in range(5):
        client.tick()
    assert order == [f"n{i}" for i in range(12)] + ["disconnect clean 1001"]
    assert server.transport.poll_calls[1:4] == [5, 5, 5]  # the queue bound still held


def test_a_full_queue_still_polls_so_pings_are_answered() -> None:
    clock = FakeClock(step=0.0005)
    client, server = connected_client(
        clock=clock, budget_ms=2.0, incremental_decode_bytes=1000, inbound_queue_limit=2
    )
    sub = client.subscribe("SELECT * FROM player")
    server.send(server.subscribe_applied(sub.query_id, {"player": [(i, 0) for i in range(20000)]}))
    for i in range(5):
        server.send(server.light(inserts={"note": [(f"n{i}",)]}))
    polls: list[list[int]] = []
    while not sub.is_active:
        before = len(server.transport.poll_calls)
        st = client.tick()
        polls.append(server.transport.poll_calls[before:])
        assert st.queue_depth == 2 or sub.is_active
    assert len(polls) >= 3  # the queue stayed full for several ticks
    assert polls[0] == [2]
    assert all(p == [0] for p in polls[1:])  # every full tick polled, for no message


def test_a_refused_nested_tick_changes_nothing() -> None:
    client, server = connected_client()
    errors: list[BaseException] = []
    client.on_callback_error(lambda exc, where: errors.append(exc))
    seen: dict[str, Any] = {}

    def nested(ctx: Any, row: Any) -> None:
        seen["index"] = client._tick_index
        seen["last"] = client._last_tick_at
        seen["ticks"] = client.stats.ticks
        client.tick()

    client.db.note.on_insert(lambda ctx, r: 1 / 0)
    client.db.note.on_insert(nested)
    client.db.note.on_insert(lambda ctx, r: seen.update(after=(client._tick_index,
                                                                 client._last_tick_at)))  # fmt: skip
    server.send(server.light(inserts={"note": [("a",)]}))
    st = client.tick()
    assert st.callback_errors == 2  # the division and the refused tick, neither forgotten
    assert "inside a callback" in str(errors[1])
    assert seen["after"] == (seen["index"], seen["last"])
    assert client.stats.ticks == seen["ticks"] + 1


def test_a_nested_tick_writes_nothing_to_the_recording() -> None:
    calls: list[str] = []

    class Rec:
        def tick(self, index: int, now: float) -> None:
            calls.append(f"tick {index}")

        def tick_end(self, index: int, applied: int, now: float) -> None:
            calls.append(f"end {index}")

        def __getattr__(self, name: str) -> Any:
            return lambda *a: None  # connection, inbound, outbound...

    client, server = connected_client(record_to=Rec())
    client.db.note.on_insert(lambda ctx, r: client.tick())
    server.send(server.light(inserts={"note": [("a",)]}))
    client.tick()
    assert calls == ["tick 1", "end 1", "tick 2", "end 2"]


def test_a_protocol_error_after_a_stall_stays_an_error() -> None:
    clock = FakeClock()
    client, server = connected_client(clock=clock, stall_threshold=10.0)
    reasons: list[DisconnectReason] = []
    client.on_disconnect(reasons.append)
    clock.advance(40.0)
    client.tick()  # the tick after the stall
    clock.advance(0.016)
    server.send(b"\x07garbage")
    client.tick()
    (r,) = reasons
    assert r.kind is DisconnectKind.ERROR and "compression" in str(r.error).lower()


def test_a_transport_error_or_clean_close_after_a_stall_keeps_its_kind() -> None:
    for end, kind in (
        (lambda t: t.feed_error(OSError("tls failure")), DisconnectKind.ERROR),
        (lambda t: t.feed_close(1001, "module exited"), DisconnectKind.CLEAN),
        (lambda t: t.feed_abnormal(), DisconnectKind.STALL),
    ):
        clock = FakeClock()
        client, server = connected_client(clock=clock, stall_threshold=10.0)
        reasons: list[DisconnectReason] = []
        client.on_disconnect(reasons.append)
        clock.advance(40.0)
        end(server.transport)
        client.tick()
        (r,) = reasons
        assert r.kind is kind and r.stalled_for == pytest.approx(40.0)


def test_a_commit_is_matched_by_request_id_only() -> None:
    clock = FakeClock()
    client, server = connected_client(clock=clock)
    events: list[ReducerEvent] = []
    client.on_reducer("set_x", events.append)
    r1 = client.call_reducer("set_x", 1, 1)  # full update: pending
    clock.advance(0.1)
    r2 = client.call_reducer("set_x", 2, 2, flags=P.CallReducerFlags.NO_SUCCESS_NOTIFY)
    clock.advance(0.1)
    # The NO_SUCCESS_NOTIFY call changed subscribed rows, so its commit comes, with its id.
    server.send(server.transaction("set_x", (2, 2), request_id=r2, inserts={"player": [(2, 2)]}))
    client.tick()
    assert [(e.request_id, e.is_ours, e.round_trip) for e in events] == [(r2, True, None)]
    assert client.session is not None
    assert [c.request_id for c in client.session.pending_calls] == [r1]
    clock.advance(0.05)
    server.send(server.transaction("set_x", (1, 1), request_id=r1))
    client.tick()
    assert events[1].request_id == r1 and events[1].round_trip == pytest.approx(0.25)
    assert not client.session.pending_calls


def test_a_failure_with_a_real_request_id_is_matched_by_it() -> None:
    client, server = connected_client()
    events: list[ReducerEvent] = []
    client.on_reducer("set_x", events.append)
    r1 = client.call_reducer("set_x", 1, 1)
    r2 = client.call_reducer("set_x", 2, 2)
    server.send(server.transaction("set_x", (2, 2), failed="no", request_id=r2))  # 2.x servers
    server.send(server.transaction("set_x", (1, 1), failed="no", request_id=0))  # <= 1.12
    client.tick()
    assert [e.request_id for e in events] == [r2, r1]


def test_requests_made_while_the_last_messages_are_applied_do_not_raise() -> None:
    clock = FakeClock()
    client, server = connected_client(
        clock=clock, reconnect=ReconnectPolicy(initial_delay=0.1, jitter=0.0)
    )
    sub = client.subscribe("SELECT * FROM player")
    server.send(server.subscribe_applied(sub.query_id, {"player": [(1, 0)]}))
    client.tick()
    client.db.note.on_insert(lambda ctx, r: client.call_reducer("spawn"))
    server.send(server.light(inserts={"note": [("a",)]}))
    server.transport.feed_abnormal()
    sent_before = len(server.transport.sent)
    st = client.tick()
    assert st.callback_errors == 0 and client.state is ClientState.RECONNECTING
    assert len(server.transport.sent) == sent_before
    assert client.session is not None and client.session.lost_calls == 1
    clock.advance(1.0)
    client.tick()
    server.send(server.identity_token())
    client.tick()
    (resub,) = server.received()
    assert isinstance(resub, P.SubscribeMulti)  # the subscription is back; the call is not


def test_run_forever_ticks_until_disconnect() -> None:
    schema = game_schema()
    server = FakeServer(schema)
    client = Client("ws://fake", "game", schema=schema, transport_factory=server.transport_factory)
    client.connect()
    ticks_seen: list[int] = []
    sub = client.subscribe("SELECT * FROM note")
    client.db.note.on_insert(lambda ctx, r: ticks_seen.append(client.stats.ticks))
    client.on_connect(lambda *a: server.send(server.subscribe_applied(sub.query_id, {})))
    sub.on_applied(lambda h: server.send(server.light(inserts={"note": [("bye",)]})))
    client.db.note.on_insert(lambda ctx, r: client.disconnect())
    server.send(server.identity_token())
    client.run_forever(fps=1000)
    assert client.state is ClientState.CLOSED
    # Three messages, each sent by a callback of the one before: three ticks, then out.
    assert ticks_seen == [2] and client.stats.ticks == 3


def test_reconnect_backoff_grows_jitters_caps_and_gives_up() -> None:
    import random

    class ScriptedRandom(random.Random):
        def __init__(self, values: list[float]) -> None:
            super().__init__(0)
            self.values = values

        def random(self) -> float:
            return self.values.pop(0)

    clock = FakeClock()
    schema = game_schema()
    server = FakeServer(schema)
    attempts: list[float] = []

    def factory(url: str, token: str | None) -> Any:
        attempts.append(clock.now)
        return server.transport_factory(url, token)

    policy = ReconnectPolicy(initial_delay=1.0, multiplier=2.0, max_delay=5.0, jitter=0.5,
                             max_attempts=4)  # fmt: skip
    client = Client("ws://fake", "game", schema=schema, transport_factory=factory, clock=clock,
                    reconnect=policy, rng=ScriptedRandom([0.0, 1.0, 0.5, 0.2]))  # fmt: skip
    client.connect()
    server.send(server.identity_token())
    client.tick()
    errors: list[BaseException] = []
    reasons: list[DisconnectReason] = []
    client.on_connect_error(errors.append)
    client.on_disconnect(reasons.append)
    server.refuse_next.extend(ConnectError(f"refused {i}") for i in range(4))
    dropped_at = clock.now
    server.transport.feed_abnormal()
    client.tick()
    while client.state is ClientState.RECONNECTING:
        clock.advance(0.01)
        client.tick()
        assert clock.now - dropped_at < 60
    gaps = [b - a for a, b in zip([dropped_at, *attempts[1:]], attempts[1:])]
    # base 1, 2, 4, then capped at 5; each scaled by 1 - 0.5 * random()
    assert gaps == pytest.approx([1.0, 1.0, 3.0, 4.5], abs=0.011)
    assert client.state is ClientState.DISCONNECTED
    assert [str(e) for e in errors] == ["refused 3"]  # only the giving up is an error
    assert [r.will_reconnect for r in reasons] == [True, False]
    clock.advance(100.0)
    client.tick()
    assert len(attempts) == 5  # the first connect and four attempts, no more


def test_builder_chain_passes_every_setting() -> None:
    import ssl

    schema = game_schema()
    server = FakeServer(schema)
    ctx = ssl.create_default_context()
    seen: list[str] = []
    policy = ReconnectPolicy(enabled=False)
    client = (
        Client.builder()
        .with_uri("ws://fake:3000")
        .with_module_name("game")
        .with_token("tok")
        .with_schema(schema)
        .with_compression("None")
        .with_light_mode()
        .with_reconnect(policy)
        .with_budget(1.5, 7)
        .with_inbound_queue_limit(9)
        .with_ssl_context(ctx)
        .with_transport_factory(server.transport_factory)
        .with_option("stall_threshold", 3.0)
        .on_connect(lambda ident, token, conn: seen.append(f"connect {token}"))
        .on_disconnect(lambda reason: seen.append(f"disconnect {reason.kind.value}"))
        .connect()
    )
    assert server.urls == ["ws://fake:3000/v1/database/game/subscribe?compression=None&light=true"]
    assert server.tokens == ["tok"]
    assert (client.budget_ms, client.max_messages, client.inbound_queue_limit) == (1.5, 7, 9)
    assert client.ssl_context is ctx and client.reconnect_policy is policy
    assert client.stall_threshold == 3.0
    server.send(server.identity_token("tok"))
    client.tick()
    client.disconnect()
    assert seen == ["connect tok", "disconnect local"]


# ---- keepalive ------------------------------------------------------------------------------

_PING = b"stdb-game keepalive"


def _silent_for(client: Client, clock: FakeClock, seconds: float, step: float = 0.5) -> None:
    """Tick every ``step`` seconds of fake time for ``seconds``, the server saying nothing."""
    for _ in range(round(seconds / step)):
        clock.advance(step)
        client.tick()


def test_keepalive_pings_a_silent_server_then_drops_it_and_reconnects() -> None:
    clock = FakeClock()
    client, server = connected_client(
        clock=clock, keepalive_interval=10.0, keepalive_timeout=5.0,
        reconnect=ReconnectPolicy(initial_delay=1.0, jitter=0.0),
    )  # fmt: skip
    reasons: list[DisconnectReason] = []
    client.on_disconnect(reasons.append)
    first = server.transport
    _silent_for(client, clock, 9.5)
    assert first.pings_sent == []  # not yet silent for keepalive_interval
    # Silence is looked at every interval / 4, so the ping goes out 10 to 12.5 s after the
    # last thing received (never earlier).
    waited = 9.5
    while not first.pings_sent:
        _silent_for(client, clock, 0.5)
        waited += 0.5
    assert 10.0 <= waited <= 13.0 and first.pings_sent == [_PING]
    _silent_for(client, clock, 4.5)
    assert client.is_connected and not reasons  # the ping's timeout has not run out
    _silent_for(client, clock, 1.0)
    (reason,) = reasons
    assert reason.kind is DisconnectKind.ABNORMAL and reason.reason == "server stopped answering"
    assert reason.will_reconnect and client.state is ClientState.RECONNECTING
    assert "the server stopped answering: nothing received for" in reason.describe()
    assert "no reply to a ping sent 5.0 s ago" in reason.describe()
    assert first.pings_sent == [_PING]  # one ping, then it gave up
    _silent_for(client, clock, 1.5)
    assert len(server.transports) == 2  # reconnecting per the policy


def test_anything_from_the_server_counts_as_an_answer() -> None:
    clock = FakeClock()
    client, server = connected_client(clock=clock, keepalive_interval=10.0, keepalive_timeout=5.0)
    t = server.transport
    for i in range(6):  # a message every 8 s: never 10 s of silence, never a ping
        _silent_for(client, clock, 8.0)
        server.send(server.light(inserts={"note": [(f"n{i}",)]}))
    client.tick()
    assert t.pings_sent == [] and client.db.note.count() == 6
    _silent_for(client, clock, 13.0)
    assert t.pings_sent == [_PING]
    t.feed_pong(_PING)
    _silent_for(client, clock, 9.5)  # the pong restarted the silence count: no new ping yet
    assert client.is_connected and t.pings_sent == [_PING]
    _silent_for(client, clock, 3.5)
    assert t.pings_sent == [_PING, _PING]
    _silent_for(client, clock, 30.0)
    assert client.state is ClientState.DISCONNECTED


def test_keepalive_can_be_turned_off() -> None:
    for off in ({"keepalive_interval": None}, {"keepalive_timeout": None}):
        clock = FakeClock()
        client, server = connected_client(clock=clock, **off)
        _silent_for(client, clock, 300.0, step=2.0)
        assert client.is_connected and server.transport.pings_sent == []


def test_keepalive_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="keepalive_timeout must be a positive"):
        Client("ws://fake:3000", "game", keepalive_timeout=0)
    client = Client.builder().with_uri("ws://f:1").with_module_name("g").with_keepalive(3, None)
    built = client.build()
    assert (built.keepalive_interval, built.keepalive_timeout) == (3, None)


def test_after_a_stalled_tick_keepalive_asks_again_instead_of_giving_up() -> None:
    clock = FakeClock()
    client, server = connected_client(
        clock=clock, keepalive_interval=10.0, keepalive_timeout=5.0, stall_threshold=3.0
    )
    t = server.transport
    _silent_for(client, clock, 13.0)
    assert t.pings_sent == [_PING]
    clock.advance(60.0)  # the game loop froze with the ping unanswered
    client.tick()
    assert client.is_connected and t.pings_sent == [_PING, _PING]
    _silent_for(client, clock, 6.0)
    assert client.state is ClientState.DISCONNECTED


def test_keepalive_never_drops_a_connection_whose_messages_wait_to_be_applied() -> None:
    clock = FakeClock()
    client, server = connected_client(
        clock=clock, keepalive_interval=10.0, keepalive_timeout=5.0, inbound_queue_limit=1,
        max_messages=1,
    )  # fmt: skip
    for i in range(80):
        server.send(server.light(inserts={"note": [(f"n{i}",)]}))
    _silent_for(client, clock, 40.0)  # one message per tick: 80 ticks of backlog
    assert client.is_connected and server.transport.pings_sent == []


def test_identity_is_none_after_connect_until_a_tick_reads_the_identity_token() -> None:
    """The README's idiom: connect(), then run_until(identity is not None)."""
    schema = game_schema()
    server = FakeServer(schema)
    client = Client("ws://fake:3000", "game", schema=schema,
                    transport_factory=server.transport_factory)  # fmt: skip
    seen: list[Identity] = []
    client.on_connect(lambda identity, token, conn: seen.append(identity))
    client.connect()
    server.send(server.identity_token())
    assert client.identity is None and not client.is_connected and seen == []
    assert client.run_until(lambda: client.identity is not None, timeout=5)
    assert client.identity == server.identity and seen == [server.identity]


def test_on_before_delete_fires_only_for_rows_leaving_the_cache() -> None:
    """Not for an update's old row (a despawn handler must not fire on every move), not
    for a row another subscription still holds (count 2 -> 1); only at count 1 -> 0."""
    client, server = connected_client()
    a = client.subscribe("SELECT * FROM player")
    b = client.subscribe("SELECT * FROM player WHERE id = 1")
    server.send(server.subscribe_applied(a.query_id, {"player": [(1, 0), (2, 0)]}))
    server.send(server.subscribe_applied(b.query_id, {"player": [(1, 0)]}))
    client.tick()
    despawned: list[tuple[str, Any, bool]] = []
    client.db.player.on_before_delete(
        lambda ctx, row: despawned.append(
            (ctx.cause.value, row, client.db.player.find(row.id) is not None)
        )
    )
    moved: list[tuple[Any, Any]] = []
    client.db.player.on_update(lambda ctx, old, new: moved.append((old, new)))
    server.send(server.transaction("set_x", (2, 5), deletes={"player": [(2, 0)]},
                                   inserts={"player": [(2, 5)]}))  # fmt: skip
    client.tick()
    assert moved == [(Player(2, 0), Player(2, 5))] and despawned == []
    server.send(server.unsubscribe_applied(b.query_id, {"player": [(1, 0)]}))
    client.tick()
    assert despawned == [] and client.db.player.count() == 2  # row 1 still held by `a`
    server.send(server.transaction("spawn", (), deletes={"player": [(1, 0), (2, 5)]}))
    client.tick()
    # Both really leave: each seen while the cache still holds it.
    assert despawned == [("reducer", Player(1, 0), True), ("reducer", Player(2, 5), True)]
    assert client.db.player.count() == 0


def test_table_handle_prefix_lookups_on_a_multi_column_index_by_column_name() -> None:
    """``client.db.<table>`` takes column names; an index on (x, y) also serves x alone."""
    from stdb_game.cache import MissingIndexError
    from stdb_game.errors import SchemaError
    from stdb_game.sats import types as t
    from stdb_game.schema import IndexDef, ModuleSchema, TableDef

    npc = t.ProductType([("id", t.U64), ("x", t.I32), ("y", t.I32)], name="Npc")
    schema = ModuleSchema.build(
        tables=[TableDef("npc", npc, primary_key=0, indexes=(IndexDef("by_pos", (1, 2)),))]
    )
    client, server = connected_client(schema)
    sub = client.subscribe("SELECT * FROM npc")
    rows = [(1, 0, 4), (2, 3, 1), (3, 0, 1), (4, 0, 9)]
    server.send(server.subscribe_applied(sub.query_id, {"npc": rows}))
    client.tick()

    def ids(found: list[Any]) -> list[int]:
        return [r.id for r in found]

    npcs = client.db.npc
    assert ids(npcs.filter(("x",), (0,))) == [3, 1, 4]  # the review's call, in (x, y) order
    assert ids(npcs.filter("x", 0)) == [3, 1, 4]
    assert ids(npcs.range(("x", "y"), 1, 9, prefix=(0,))) == [3, 1]
    assert ids(npcs.range("x", 0, 3, hi_inclusive=True)) == [3, 1, 4, 2]
    with pytest.raises(MissingIndexError, match=r"no index on \(y\).*\(x, y\)"):
        npcs.filter("y", 1)
    with pytest.raises(SchemaError, match=r"no column 'z' \(its columns: id, x, y\)"):
        npcs.filter("z", 1)
    with pytest.raises(
        TypeError,
        match=r"table .npc.: range on \(x\), the leading part of index \(x, y\): x: expected i32",
    ):
        npcs.range("x", "a", "b")


def test_requests_before_connect_queue_with_a_schema_and_raise_without_one() -> None:
    """One rule for typed and untyped calls: a client with a schema queues what is asked
    before connect() and sends it, in order, once connected; one without raises at once."""
    bare = Client("ws://fake:3000", "game")
    with pytest.raises(StdbError, match=r"call_reducer\('spawn'\) before connect\(\).*schema="):
        bare.call_reducer("spawn")
    with pytest.raises(StdbError, match=r"subscribe\(\) before connect\(\)"):
        bare.subscribe("SELECT * FROM player")
    schema = game_schema()
    server = FakeServer(schema)
    client = Client("ws://fake:3000", "game", schema=schema,
                    transport_factory=server.transport_factory)  # fmt: skip
    rid = client.call_reducer("set_x", 1, 2)
    sub = client.subscribe("SELECT * FROM player")
    client.tick()  # not connected yet: nothing to send to
    client.connect()
    assert server.received() == []  # waits for the IdentityToken
    server.send(server.identity_token())
    client.tick()
    sent = server.received()
    assert [type(m).__name__ for m in sent] == ["CallReducer", "SubscribeMulti"]
    assert sent[0].request_id == rid and sent[1].query_id.id == sub.query_id
