"""The client on the real WebSocket transport, against the loopback test server."""

from __future__ import annotations

import asyncio
import queue
import select
import ssl
import threading
import time
from typing import Any

import pytest
from helpers import FakeClock, game_schema

from stdb_game.client import Client, ClientState, ReconnectPolicy
from stdb_game.errors import ConnectError
from stdb_game.testing import FakeServer

from .ws_test_server import OP_PING, OP_PONG, ServerConn, WsTestServer, close_body, server_frame


def _connected(server: WsTestServer, **kwargs: Any) -> tuple[Client, ServerConn, FakeServer]:
    schema = game_schema()
    frames = FakeServer(schema)  # builds the server's frames; the socket carries them
    kwargs.setdefault("reconnect", ReconnectPolicy(enabled=False))
    kwargs.setdefault("budget_ms", None)
    scheme = "wss" if server.ssl_context else "ws"
    client = Client(f"{scheme}://{server.host_port}", "testdb", schema=schema, **kwargs)
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


def test_ssl_context_reaches_connect_and_the_reconnect_handshake(
    tls_server: WsTestServer, client_tls_context: ssl.SSLContext
) -> None:
    client, conn, frames = _connected(
        tls_server,
        ssl_context=client_tls_context,  # the test CA: the system store does not trust it
        reconnect=ReconnectPolicy(initial_delay=0.01, jitter=0.0, max_attempts=3),
    )
    errors: list[BaseException] = []
    client.on_connect_error(errors.append)
    reconnected: list[bool] = []
    client.on_reconnect(lambda: reconnected.append(True))
    conn.close_tcp()
    _tick_until(client, lambda: client.state is ClientState.CONNECTING or bool(errors))
    assert errors == []  # the non-blocking TLS handshake trusted the same CA
    conn2 = tls_server.accept()
    assert conn2.request.headers["authorization"] == "Bearer fake-token"
    conn2.send_binary(frames.identity_token())
    _tick_until(client, lambda: bool(reconnected))
    assert client.is_connected and len(tls_server.requests) == 2
    client.disconnect()


def test_ssl_context_reaches_the_schema_fetch(
    tls_server: WsTestServer, client_tls_context: ssl.SSLContext
) -> None:
    tls_server.status, tls_server.body = 404, b"no such database"
    url = f"wss://{tls_server.host_port}"
    with pytest.raises(ConnectError) as trusted:
        Client(url, "testdb", ssl_context=client_tls_context).connect()
    assert trusted.value.status == 404  # TLS passed: the server's own answer came back
    assert tls_server.requests[0].path == "/v1/database/testdb/schema?version=9"
    with pytest.raises(ConnectError, match=r"(?i)certificate"):
        Client(url, "testdb").connect()  # the system store does not trust the test CA


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_async_client_connects_from_the_loop_without_a_thread(
    server: WsTestServer, host: str
) -> None:
    from stdb_game.compat import SpacetimeDBAsyncClient
    from stdb_game.compat.spacetimedb_async_client import SpacetimeDBAsyncClient as OldPath

    assert OldPath is SpacetimeDBAsyncClient
    schema = game_schema()
    frames = FakeServer(schema)
    threads_before = set(threading.enumerate())

    async def scenario() -> list[Any]:
        sac = SpacetimeDBAsyncClient(schema, tick_interval=0.001)
        connected: list[Any] = []
        task = asyncio.create_task(
            sac.run("tok", f"{host}:{server.port}", "testdb", False,
                    lambda token, ident: connected.append(ident), ["SELECT * FROM note"])
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:  # accept without blocking the loop: the client is stepping its handshake
            try:
                conn = server.accept(timeout=0)
                break
            except queue.Empty:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.001)
        conn.send_binary(frames.identity_token("tok"))
        while not connected:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.001)
        alive = set(threading.enumerate())
        sac.close()
        await asyncio.wait_for(task, 5)
        return [alive, conn.request.headers["authorization"], conn.recv_message().payload]

    alive, auth, first = asyncio.run(scenario())
    assert alive == threads_before  # no executor worker, no helper thread
    assert auth == "Bearer tok"
    assert first[0] == 4  # SubscribeMulti, sent once connected


def test_begin_connect_failure_reaches_on_connect_error_inside_a_tick() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    client = Client(f"ws://127.0.0.1:{port}", "testdb", schema=game_schema())
    errors: list[BaseException] = []
    client.on_connect_error(errors.append)
    client.begin_connect()
    assert client.state is ClientState.CONNECTING and errors == []
    _tick_until(client, lambda: bool(errors))
    assert isinstance(errors[0], ConnectError) and client.state is ClientState.DISCONNECTED


def test_begin_connect_needs_a_schema() -> None:
    from stdb_game.errors import StdbError

    with pytest.raises(StdbError, match="needs the schema"):
        Client("ws://127.0.0.1:1", "testdb").begin_connect()


# ---- keepalive over a real socket ---------------------------------------------------------


def test_keepalive_drops_a_server_that_stopped_answering(server: WsTestServer) -> None:
    from stdb_game.client import DisconnectKind, DisconnectReason

    # The test server answers nothing unless told to: a server that hangs after the upgrade.
    client, conn, _frames = _connected(server, keepalive_interval=0.2, keepalive_timeout=0.3)
    reasons: list[DisconnectReason] = []
    client.on_disconnect(reasons.append)
    _tick_until(client, lambda: bool(reasons), timeout=10.0)
    ping = conn.recv_message()
    assert ping.opcode == OP_PING and ping.masked and ping.payload == b"stdb-game keepalive"
    (reason,) = reasons
    assert reason.kind is DisconnectKind.ABNORMAL and reason.reason == "server stopped answering"
    assert client.state is ClientState.DISCONNECTED and client.transport is None
    with pytest.raises(EOFError):  # the socket was let go, not left half open
        while True:
            conn.recv_frame(timeout=5.0)


def test_keepalive_keeps_a_server_that_answers_pings(server: WsTestServer) -> None:
    client, conn, _frames = _connected(server, keepalive_interval=0.1, keepalive_timeout=0.2)
    answered = 0
    deadline = time.monotonic() + 10.0
    while answered < 4:  # each answered ping proves a silent stretch was survived
        client.tick()
        assert client.is_connected and time.monotonic() < deadline
        if select.select([conn.sock], [], [], 0.005)[0]:
            ping = conn.recv_frame()
            assert ping.opcode == OP_PING
            conn.send_frame(OP_PONG, ping.payload)
            answered += 1
    client.disconnect()


def test_keepalive_notices_a_frozen_dev_server() -> None:
    """SIGSTOP the dev server: it keeps the socket open and answers nothing, like a hung host."""
    import importlib.util
    import signal
    from pathlib import Path

    from stdb_game.client import DisconnectReason

    if importlib.util.find_spec("aiohttp") is None or not hasattr(signal, "SIGSTOP"):
        pytest.skip("needs the dev server's extra and POSIX signals")
    from stdb_game.devserver.launcher import start_dev_server

    chat = Path(__file__).resolve().parents[2] / "demos" / "chat" / "module.py"
    with start_dev_server(chat) as dev:
        client = Client(dev.url, dev.database, keepalive_interval=0.2, keepalive_timeout=0.4,
                        reconnect=ReconnectPolicy(enabled=False))  # fmt: skip
        reasons: list[DisconnectReason] = []
        client.on_disconnect(reasons.append)
        client.connect()
        _tick_until(client, lambda: client.is_connected)
        transport = client.transport
        assert transport is not None
        pongs: list[bytes] = []
        take = transport.take_pongs

        def counted() -> list[bytes]:
            got = take()
            pongs.extend(got)
            return got

        transport.take_pongs = counted  # type: ignore[method-assign]
        quiet_until = time.monotonic() + 1.5  # several pings, all answered by aiohttp
        while time.monotonic() < quiet_until:
            client.tick()
            time.sleep(0.005)
        assert client.is_connected and not reasons
        assert pongs.count(b"stdb-game keepalive") >= 2
        dev.process.send_signal(signal.SIGSTOP)
        try:
            _tick_until(client, lambda: bool(reasons), timeout=10.0)
        finally:
            dev.process.send_signal(signal.SIGCONT)
        assert reasons[0].reason == "server stopped answering"
        assert "stopped answering" in reasons[0].describe()
