"""The non-blocking handshake used for reconnects inside tick()."""

from __future__ import annotations

import ssl
import time

import pytest

from stdb_game.errors import AuthError, ConnectError
from stdb_game.transport.base import CloseKind
from stdb_game.transport.handshake import PendingWebSocket
from stdb_game.transport.websocket_transport import WebSocketTransport

from .helpers import poll_until
from .ws_test_server import WsTestServer, server_frame


def finish(pending: PendingWebSocket, timeout: float = 5.0) -> tuple[WebSocketTransport, int]:
    """Step until done; also count steps, each of which must return at once."""
    deadline = time.monotonic() + timeout
    steps = 0
    while True:
        t0 = time.perf_counter()
        result = pending.step()
        # A blocking step would wait for the server (seconds in the silent-server test); a
        # TLS step is CPU work that a loaded machine can stretch, hence the loose bound.
        assert time.perf_counter() - t0 < 0.5, "a handshake step blocked"
        steps += 1
        if result is not None:
            return result, steps
        assert time.monotonic() < deadline
        time.sleep(0.001)


def test_upgrade_sends_the_headers_and_yields_a_working_transport(server: WsTestServer) -> None:
    pending = PendingWebSocket(server.url(), token="secret-token", timeout=5)
    transport, _steps = finish(pending)
    conn = server.accept()
    req = server.requests[0]
    assert req.headers["authorization"] == "Bearer secret-token"
    assert req.headers["sec-websocket-protocol"] == "v1.bsatn.spacetimedb"
    assert "compression=None" in req.path
    conn.send_binary(b"\x00hello")
    assert poll_until(transport, lambda r: len(r) >= 1) == [b"\x00hello"]
    transport.send(b"ping-ish")
    transport.flush()
    assert conn.recv_message().payload == b"ping-ish"
    transport.abort()


def test_frames_right_behind_the_101_are_kept(server: WsTestServer) -> None:
    server.greeting = server_frame(2, b"\x00first") + server_frame(2, b"\x00second")
    transport, _ = finish(PendingWebSocket(server.url(), timeout=5))
    assert poll_until(transport, lambda r: len(r) >= 2) == [b"\x00first", b"\x00second"]
    transport.abort()


def test_refusals_become_typed_errors(server: WsTestServer) -> None:
    server.status, server.body = 401, b"token not signed by this server"
    with pytest.raises(AuthError) as info:
        finish(PendingWebSocket(server.url(), token="t", timeout=5))
    assert info.value.status == 401 and "not signed" in info.value.body
    assert "the server refused the token" in str(info.value)  # the same words as connect()
    server.status, server.body = 404, b"no such database"
    with pytest.raises(ConnectError) as info2:
        finish(PendingWebSocket(server.url(), timeout=5))
    assert info2.value.status == 404 and not isinstance(info2.value, AuthError)


def test_missing_subprotocol_echo_is_refused(server: WsTestServer) -> None:
    server.protocol = ""
    with pytest.raises(ConnectError, match="subprotocol"):
        finish(PendingWebSocket(server.url(), timeout=5))


def test_silent_server_times_out_without_blocking(server: WsTestServer) -> None:
    server.silent = True
    pending = PendingWebSocket(server.url(), timeout=1.5)
    t0 = time.monotonic()
    with pytest.raises(ConnectError, match="timed out"):
        finish(pending, timeout=5)
    assert time.monotonic() - t0 >= 1.4  # it waited by stepping, each step returning at once


def test_refused_port_fails_cleanly() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(ConnectError, match="cannot connect"):
        finish(PendingWebSocket(f"ws://127.0.0.1:{port}/x", timeout=2))


def test_tls_handshake_steps_and_verifies(
    tls_server: WsTestServer, client_tls_context: ssl.SSLContext
) -> None:
    transport, _ = finish(
        PendingWebSocket(tls_server.url(), timeout=5, ssl_context=client_tls_context)
    )
    conn = tls_server.accept()
    conn.send_binary(b"\x00secure")
    assert poll_until(transport, lambda r: len(r) >= 1) == [b"\x00secure"]
    transport.abort()
    with pytest.raises(ConnectError, match="certificate"):
        finish(PendingWebSocket(tls_server.url(), timeout=5))  # default context: not trusted


def test_server_close_after_handshake_is_reported(server: WsTestServer) -> None:
    transport, _ = finish(PendingWebSocket(server.url(), timeout=5))
    conn = server.accept()
    conn.send_close(1001, "module exited")
    deadline = time.monotonic() + 5
    while transport.is_open and time.monotonic() < deadline:
        transport.poll(10)
        time.sleep(0.001)
    info = transport.closed_reason
    assert info is not None and info.kind is CloseKind.CLEAN and info.code == 1001
