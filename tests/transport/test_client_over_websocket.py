"""The client on the real WebSocket transport, against the loopback test server."""

from __future__ import annotations

import time
from typing import Any

from helpers import game_schema

from stdb_game.client import Client, ClientState, ReconnectPolicy
from stdb_game.testing import FakeServer

from .ws_test_server import ServerConn, WsTestServer, close_body, server_frame


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
