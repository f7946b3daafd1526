"""The client on the real WebSocket transport, against the loopback test server."""

from __future__ import annotations

import select
import time
from typing import Any

from helpers import FakeClock, game_schema

from stdb_game.client import Client, ClientState, ReconnectPolicy
from stdb_game.testing import FakeServer

from .ws_test_server import OP_PING, OP_PONG, ServerConn, WsTestServer, close_body, server_frame


def _connected(server: WsTestServer, **kwargs: Any) -> tuple[Client, ServerConn, FakeServer]:
    schema = game_schema()
    frames = FakeServer(schema)  # builds the server's frames; the socket carries them
    kwargs.setdefault("reconnect", ReconnectPolicy(enabled=False))
    kwargs.setdefault("budget_ms", None)
    client = Client(f"ws://{server.host_port}", "testdb", schema=schema, **kwargs)
    client.connect()
    conn = server.accept()
    conn.send_binary(frames.identity_token())
    _tick_until(client, lambda: client.is_connected)
    return client, conn, frames


def _tick_until(client: Client, done: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        client.tick()
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.0005)


def test_messages_read_before_a_close_are_all_applied_first(server: WsTestServer) -> None:
    client, conn, frames = _connected(server, inbound_queue_limit=5)
    order: list[str] = []
    client.db.note.on_insert(lambda ctx, r: order.append(r.text))
    client.on_disconnect(lambda r: order.append(f"disconnect {r.kind.value} {r.code}"))
    data = b"".join(
        server_frame(2, frames.light(inserts={"note": [(f"n{i}",)]})) for i in range(12)
    )
    conn.send_raw(data + server_frame(8, close_body(1001, "module exited")))
    _tick_until(client, lambda: client.state is ClientState.DISCONNECTED)
    assert order == [f"n{i}" for i in range(12)] + ["disconnect clean 1001"]


def test_pings_are_answered_while_the_inbound_queue_is_full(server: WsTestServer) -> None:
    # Every clock read is a second: each tick runs exactly one step of the big message.
    client, conn, frames = _connected(
        server, clock=FakeClock(step=1.0), budget_ms=2.0, incremental_decode_bytes=1000,
        inbound_queue_limit=2, stall_threshold=1e9,
    )  # fmt: skip
    sub = client.subscribe("SELECT * FROM player")
    assert conn.recv_message().opcode == 2  # the SubscribeMulti: nothing else is unread
    big = frames.subscribe_applied(sub.query_id, {"player": [(i, 0) for i in range(50_000)]})
    small = [frames.light(inserts={"note": [(f"n{i}",)]}) for i in range(2)]
    conn.send_raw(b"".join(server_frame(2, f) for f in [big, *small]))
    transport = client.transport
    assert transport is not None
    _tick_until(client, lambda: client.queue_depth == 2 and transport.buffered_frames == 1)
    conn.send_frame(OP_PING, b"still there?")
    deadline = time.monotonic() + 10
    while True:
        client.tick()
        assert not sub.is_active and client.queue_depth == 2  # the queue is still full
        if select.select([conn.sock], [], [], 0.05)[0]:
            break
        assert time.monotonic() < deadline, "no pong"
    pong = conn.recv_frame()
    assert pong.opcode == OP_PONG and pong.payload == b"still there?"
    client.disconnect()
