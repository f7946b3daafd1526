"""WebSocketTransport against a real loopback server: handshake, framing, control frames, ends."""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import struct
import threading
import time

import pytest

from stdb_game.errors import AuthError, ConnectError, ProtocolError
from stdb_game.transport import (
    CloseInfo,
    CloseKind,
    WebSocketTransport,
    build_subscribe_url,
)

from .helpers import poll_until, poll_until_closed
from .ws_test_server import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    WsTestServer,
    server_frame,
)

# ---- handshake ---------------------------------------------------------------------------


def test_handshake_sends_subprotocol_bearer_token_and_explicit_compression(server: WsTestServer) -> None:
    url = build_subscribe_url(server.host_port, "quickstart-chat", compression="Gzip")
    t = WebSocketTransport.connect(url, token="tok.en.x", timeout=5)
    try:
        conn = server.accept()
        assert conn.request.path == "/v1/database/quickstart-chat/subscribe?compression=Gzip"
        assert conn.request.headers["sec-websocket-protocol"] == "v1.bsatn.spacetimedb"
        assert conn.request.headers["authorization"] == "Bearer tok.en.x"
        assert "token" not in conn.request.path
        assert t.is_open and t.closed_reason is None
    finally:
        t.abort()


def test_no_token_means_no_authorization_header(server: WsTestServer) -> None:
    t = WebSocketTransport.connect(server.url(), timeout=5)
    try:
        assert "authorization" not in server.accept().request.headers
    finally:
        t.abort()


def test_extra_headers_are_sent(server: WsTestServer) -> None:
    t = WebSocketTransport.connect(server.url(), headers={"X-Game": "demo"}, timeout=5)
    try:
        assert server.accept().request.headers["x-game"] == "demo"
    finally:
        t.abort()


def test_http_401_is_auth_error_with_status_and_body(server: WsTestServer) -> None:
    server.status, server.body = 401, b"token was not signed by this instance"
    with pytest.raises(AuthError) as info:
        WebSocketTransport.connect(server.url(), token="secret-token-value", timeout=5)
    assert info.value.status == 401
    assert "not signed" in info.value.body
    assert "secret-token-value" not in str(info.value)
    assert "the server refused the token" in str(info.value)
    assert "HTTP 401: token was not signed" in str(info.value)


def test_http_400_about_the_token_is_auth_error(server: WsTestServer) -> None:
    server.status, server.body = 400, b"Authorization is invalid: malformed token"
    with pytest.raises(AuthError) as info:
        WebSocketTransport.connect(server.url(), token="not-a-jwt", timeout=5)
    assert info.value.status == 400


def test_http_400_about_something_else_is_connect_error(server: WsTestServer) -> None:
    server.status, server.body = 400, b"no valid protocol selected"
    with pytest.raises(ConnectError) as info:
        WebSocketTransport.connect(server.url(), timeout=5)
    assert not isinstance(info.value, AuthError)
    assert info.value.status == 400


def test_http_404_is_connect_error_with_status(server: WsTestServer) -> None:
    server.status, server.body = 404, b"no such database"
    with pytest.raises(ConnectError) as info:
        WebSocketTransport.connect(server.url(), timeout=5)
    assert not isinstance(info.value, AuthError)
    assert info.value.status == 404
    assert info.value.body == "no such database"


@pytest.mark.parametrize("answer", ["", "v1.json.spacetimedb"])
def test_subprotocol_must_be_echoed(server: WsTestServer, answer: str) -> None:
    server.protocol = answer
    with pytest.raises(ConnectError, match="subprotocol"):
        WebSocketTransport.connect(server.url(), timeout=5)


def test_handshake_timeout_is_connect_error(server: WsTestServer) -> None:
    server.silent = True
    started = time.monotonic()
    with pytest.raises(ConnectError, match="timed out"):
        WebSocketTransport.connect(server.url(), timeout=0.3)
    assert time.monotonic() - started < 3


def test_refused_tcp_connection_is_connect_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectError):
        WebSocketTransport.connect(f"ws://127.0.0.1:{port}/v1/database/x/subscribe", timeout=2)


def test_token_in_url_is_redacted_from_errors(server: WsTestServer) -> None:
    server.status = 404
    with pytest.raises(ConnectError) as info:
        WebSocketTransport.connect(server.url("/v1/database/x/subscribe?token=sekrit"), timeout=5)
    assert "sekrit" not in str(info.value)


# ---- data both ways ----------------------------------------------------------------------


def test_binary_frames_both_ways(server: WsTestServer) -> None:
    t = WebSocketTransport.connect(server.url(), timeout=5)
    conn = server.accept()
    try:
        t.send(b"\x00hello")
        t.send(b"")
        t.flush()
        first, second = conn.recv_message(), conn.recv_message()
        assert (first.opcode, first.payload, first.masked) == (OP_BINARY, b"\x00hello", True)
        assert (second.opcode, second.payload, second.masked) == (OP_BINARY, b"", True)
        conn.send_binary(b"\x00world")
        assert poll_until(t, lambda got: len(got) == 1) == [b"\x00world"]
        assert t.bytes_in == 2 + 6
        assert t.bytes_out == (2 + 4 + 6) + (2 + 4)
        assert t.pending_out_bytes == 0
    finally:
        t.abort()


@pytest.mark.parametrize("size", [125, 126, 65535, 65536, 300_000])
def test_payload_length_encodings(server: WsTestServer, size: int) -> None:
    t = WebSocketTransport.connect(server.url(), timeout=5)
    conn = server.accept()
    try:
        payload = os.urandom(size)
        t.send(payload)
        sender = threading.Thread(target=lambda: conn.send_binary(payload[::-1]))
        sender.start()
        got = poll_until(t, lambda got: len(got) == 1 and t.pending_out_bytes == 0)
        sender.join()
        assert conn.recv_message().payload == payload
        assert got == [payload[::-1]]
    finally:
        t.abort()


def test_frame_split_over_many_tcp_writes_with_delays_arrives_whole(server: WsTestServer) -> None:
    t = WebSocketTransport.connect(server.url(), timeout=5)
    conn = server.accept()
    try:
        payload = os.urandom(200_000)
        wire = server_frame(OP_BINARY, payload) + server_frame(OP_BINARY, b"\x00after")
        sender = threading.Thread(target=conn.send_in_pieces, args=(wire, 4096, 0.001))
        sender.start()
        polls_before_whole = 0
        received: list[bytes] = []
        deadline = time.monotonic() + 20
        while len(received) < 2 and time.monotonic() < deadline:
            got = t.poll(100)
            if not received and not got:
                polls_before_whole += 1
            received += got
            time.sleep(0.0005)
        sender.join()
        assert [hashlib.sha256(m).digest() for m in received] == [
            hashlib.sha256(payload).digest(),
            hashlib.sha256(b"\x00after").digest(),
        ]
        assert polls_before_whole > 5  # partial frames really were carried across polls
        assert t.is_open
    finally:
        t.abort()


def test_header_split_byte_by_byte(server: WsTestServer) -> None:
    t = WebSocketTransport.connect(server.url(), timeout=5)
    conn = server.accept()
    try:
        wire = server_frame(OP_BINARY, b"x" * 70_000)  # 10-byte header
        sender = threading.Thread(target=conn.send_in_pieces, args=(wire[:12], 1, 0.002))
        sender.start()
        sender.join()
        conn.send_raw(wire[12:])
        assert poll_until(t, lambda got: len(got) == 1) == [b"x" * 70_000]
    finally:
        t.abort()


def test_thousand_small_frames_in_one_burst_arrive_in_order(server: WsTestServer) -> None:
    t = WebSocketTransport.connect(server.url(), timeout=5)
    conn = server.accept()
    try:
        frames = [b"\x00" + i.to_bytes(4, "little") for i in range(1000)]
        conn.send_raw(b"".join(server_frame(OP_BINARY, f) for f in frames))
        assert poll_until(t, lambda got: len(got) == 1000) == frames
    finally:
        t.abort()


def test_max_frames_is_respected_and_the_rest_stays_buffered(server: WsTestServer) -> None:
    t = WebSocketTransport.connect(server.url(), timeout=5)
    conn = server.accept()
    try:
        frames = [bytes([i]) for i in range(50)]
        conn.send_raw(b"".join(server_frame(OP_BINARY, f) for f in frames))
        poll_until(t, lambda _: t.buffered_frames == 50, max_frames=0)
        assert t.poll(0) == []
        assert t.poll(10) == frames[:10]
        assert t.buffered_frames == 40
        assert t.poll(1) == frames[10:11]
        assert t.poll(100) == frames[11:]
        assert t.buffered_frames == 0
    finally:
        t.abort()


def test_read_ahead_limit_stops_reading_the_socket(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server()
    t = WebSocketTransport.connect(server.url(), timeout=5, read_ahead_bytes=10_000)
    conn = server.accept()
    try:
        sender = threading.Thread(
            target=conn.send_raw, args=(b"".join(server_frame(OP_BINARY, b"z" * 1000) for _ in range(3000)),)
        )
        sender.start()
        poll_until(t, lambda _: t.buffered_frames >= 10, max_frames=0)
        for _ in range(200):
            t.poll(0)
        # reading stopped near the limit (plus at most one read budget); TCP holds the rest
        assert 10 <= t.buffered_frames < 300
        got = poll_until(t, lambda got: len(got) == 3000, max_frames=100)
        sender.join()
        assert len(got) == 3000
    finally:
        t.abort()


def test_big_frames_both_ways_with_partial_sends(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server(rcvbuf=8192)
    small_sndbuf = [(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)]
    t = WebSocketTransport.connect(server.url(), timeout=5, sockopt=small_sndbuf)
    conn = server.accept()
    try:
        up = os.urandom(5 * 1024 * 1024)
        down = os.urandom(5 * 1024 * 1024)
        received: list[bytes] = []
        server_got: list[bytes] = []

        def server_side() -> None:
            conn.send_binary(down)
            server_got.append(conn.recv_message(timeout=30).payload)

        worker = threading.Thread(target=server_side)
        worker.start()
        t.send(up)
        t.flush()
        saw_partial_send = 0 < t.pending_out_bytes < len(up) + 14
        deadline = time.monotonic() + 30
        while (not received or t.pending_out_bytes) and time.monotonic() < deadline:
            t.flush()
            received += t.poll(10)
            time.sleep(0.0005)
        worker.join(30)
        assert saw_partial_send
        assert t.pending_out_bytes == 0
        assert len(received) == 1 and hashlib.sha256(received[0]).digest() == hashlib.sha256(down).digest()
        assert len(server_got) == 1 and hashlib.sha256(server_got[0]).digest() == hashlib.sha256(up).digest()
    finally:
        t.abort()


def test_fragmented_message_with_ping_in_between_is_reassembled(server: WsTestServer) -> None:
    t = WebSocketTransport.connect(server.url(), timeout=5)
    conn = server.accept()
    try:
        conn.send_raw(
            server_frame(OP_BINARY, b"\x00par", fin=False)
            + server_frame(OP_PING, b"mid")
            + server_frame(OP_CONT, b"ts-", fin=False)
            + server_frame(OP_CONT, b"joined", fin=True)
        )
        assert poll_until(t, lambda got: len(got) == 1) == [b"\x00parts-joined"]
        pong = conn.recv_frame()
        assert (pong.opcode, pong.payload, pong.masked) == (OP_PONG, b"mid", True)
    finally:
        t.abort()


# ---- control frames and ends -------------------------------------------------------------


def test_server_ping_is_answered_with_pong(server: WsTestServer) -> None:
    t = WebSocketTransport.connect(server.url(), timeout=5)
    conn = server.accept()
    try:
        conn.send_frame(OP_PING, b"heartbeat")
        poll_until(t, lambda _: t.bytes_out > 0, max_frames=0)  # poll(0) still answers pings
        pong = conn.recv_frame()
        assert (pong.opcode, pong.payload) == (OP_PONG, b"heartbeat")
    finally:
        t.abort()


def test_client_ping_and_pong_payloads(server: WsTestServer) -> None:
    t = WebSocketTransport.connect(server.url(), timeout=5)
    conn = server.accept()
    try:
        t.send_ping(b"rtt-1")
        t.flush()
        ping = conn.recv_frame()
        assert (ping.opcode, ping.payload) == (OP_PING, b"rtt-1")
        conn.send_frame(OP_PONG, ping.payload)
        poll_until(t, lambda _: t.bytes_in > 0)
        assert t.take_pongs() == [b"rtt-1"]
        assert t.take_pongs() == []
    finally:
        t.abort()


def test_server_close_1001_module_exited(server: WsTestServer) -> None:
    t = WebSocketTransport.connect(server.url(), timeout=5)
    conn = server.accept()
    conn.send_binary(b"\x00last words")
    conn.send_close(1001, "module exited")
    poll_until(t, lambda _: not t.is_open, max_frames=0)
    assert t.closed_reason == CloseInfo(CloseKind.CLEAN, 1001, "module exited")
    assert t.closed_reason.is_clean and not t.closed_reason.initiated_locally
    # a message that arrived before the close is still handed out
    assert t.poll(10) == [b"\x00last words"]
    reply = conn.recv_frame()
    assert reply.opcode == OP_CLOSE and struct.unpack("!H", reply.payload[:2])[0] == 1001
    assert t.fileno() == -1
    with pytest.raises(ConnectError):
        t.send(b"\x00late")


def test_close_without_status_code(server: WsTestServer) -> None:
    t = WebSocketTransport.connect(server.url(), timeout=5)
    conn = server.accept()
    conn.send_frame(OP_CLOSE, b"")
    poll_until_closed(t)
    assert t.closed_reason == CloseInfo.clean(1005, "")


@pytest.mark.parametrize("reset", [False, True])
def test_server_vanishing_is_an_abnormal_end(server: WsTestServer, reset: bool) -> None:
    t = WebSocketTransport.connect(server.url(), timeout=5)
    conn = server.accept()
    conn.send_binary(b"\x00before")
    # let the data arrive first so the RST does not discard it
    poll_until(t, lambda _: t.buffered_frames == 1, max_frames=0)
    conn.close_tcp(reset=reset)
    poll_until(t, lambda _: not t.is_open, max_frames=0)
    info = t.closed_reason
    assert info is not None and info.kind is CloseKind.ABNORMAL and info.code == 1006
    if reset:
        assert isinstance(info.error, ConnectionResetError)
    else:
        assert info.error is None
    assert t.poll(10) == [b"\x00before"]


def test_text_frame_is_a_protocol_error_and_closes_with_1003(server: WsTestServer) -> None:
    t = WebSocketTransport.connect(server.url(), timeout=5)
    conn = server.accept()
    conn.send_frame(OP_TEXT, b'{"IdentityToken": {}}')
    poll_until_closed(t)
    info = t.closed_reason
    assert info is not None and info.kind is CloseKind.ERROR and info.code == 1003
    assert isinstance(info.error, ProtocolError) and "text frame" in str(info.error)
    close = conn.recv_frame()
    assert close.opcode == OP_CLOSE and struct.unpack("!H", close.payload[:2])[0] == 1003


def test_oversized_message_is_refused_from_its_header(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server()
    t = WebSocketTransport.connect(server.url(), timeout=5, max_message_bytes=1000)
    conn = server.accept()
    # header announces 10 MB; only a few bytes follow: the refusal must not wait for the rest
    conn.send_raw(struct.pack("!BBQ", 0x82, 127, 10_000_000) + b"abc")
    poll_until_closed(t)
    info = t.closed_reason
    assert info is not None and info.kind is CloseKind.ERROR and info.code == 1009


def test_oversized_fragmented_message_is_refused(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server()
    t = WebSocketTransport.connect(server.url(), timeout=5, max_message_bytes=1000)
    conn = server.accept()
    conn.send_raw(server_frame(OP_BINARY, b"a" * 600, fin=False) + server_frame(OP_CONT, b"b" * 600))
    poll_until_closed(t)
    assert t.closed_reason is not None and t.closed_reason.code == 1009


def test_local_close_sends_close_and_reports_clean_local(server: WsTestServer) -> None:
    t = WebSocketTransport.connect(server.url(), timeout=5)
    conn = server.accept()
    t.close(1000, "bye")
    assert t.closed_reason == CloseInfo.clean(1000, "bye", initiated_locally=True)
    assert not t.is_open
    close = conn.recv_frame()
    assert close.opcode == OP_CLOSE and close.payload == struct.pack("!H", 1000) + b"bye"
    conn.send_binary(b"\x00ignored after close")
    conn.send_close(1000)
    deadline = time.monotonic() + 5
    while t.fileno() != -1 and time.monotonic() < deadline:
        assert t.poll(10) == []
        time.sleep(0.001)
    assert t.fileno() == -1
    assert t.closed_reason == CloseInfo.clean(1000, "bye", initiated_locally=True)


def test_idle_poll_is_fast_and_never_raises(transport: WebSocketTransport) -> None:
    n = 20_000
    started = time.perf_counter()
    for _ in range(n):
        assert transport.poll(100) == []
    per_poll = (time.perf_counter() - started) / n
    assert transport.is_open
    assert per_poll < 50e-6, f"idle poll took {per_poll * 1e6:.2f} us"


def test_transport_starts_no_thread_and_everything_happens_on_the_caller(
    server: WsTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = threading.active_count()
    started: list[str] = []
    real_start = threading.Thread.start

    def spy_start(self: threading.Thread) -> None:
        started.append(self.name)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", spy_start)
    t = WebSocketTransport.connect(server.url(), timeout=5)
    conn = server.accept()
    conn.send_binary(b"\x00a")
    conn.send_frame(OP_PING)
    poll_until(t, lambda got: len(got) == 1)
    t.send(b"\x00b")
    t.flush()
    assert conn.recv_frame().opcode == OP_PONG
    assert conn.recv_frame().payload == b"\x00b"
    conn.send_close(1000)
    poll_until_closed(t)
    assert started == []
    assert threading.active_count() == before


# ---- TLS ---------------------------------------------------------------------------------


def test_wss_with_trusted_certificate(tls_server: WsTestServer, client_tls_context: ssl.SSLContext) -> None:
    t = WebSocketTransport.connect(tls_server.url(), ssl_context=client_tls_context, timeout=5)
    conn = tls_server.accept()
    try:
        for _ in range(2000):
            assert t.poll(10) == []  # idle TLS polls: no SSLWantReadError escapes
        frames = [b"\x00" + i.to_bytes(4, "little") * 10 for i in range(1000)]
        conn.send_raw(b"".join(server_frame(OP_BINARY, f) for f in frames))
        big = os.urandom(1_000_000)
        sender = threading.Thread(target=conn.send_binary, args=(big,))
        sender.start()
        got = poll_until(t, lambda got: len(got) == 1001)
        sender.join()
        assert got[:1000] == frames and got[1000] == big
        t.send(b"\x00up" * 30_000)
        t.flush()
        poll_until(t, lambda _: t.pending_out_bytes == 0)
        assert conn.recv_message().payload == b"\x00up" * 30_000
    finally:
        t.abort()


def test_wss_verifies_certificates_by_default(tls_server: WsTestServer) -> None:
    with pytest.raises(ConnectError, match="certificate"):
        WebSocketTransport.connect(tls_server.url(), timeout=5)


def test_wss_bytes_decrypted_inside_the_ssl_object_are_not_missed(
    tls_server: WsTestServer, client_tls_context: ssl.SSLContext
) -> None:
    # One 1 KiB read per poll: after the first read the whole TLS record has left the kernel,
    # so only SSLSocket.pending() knows the rest of the message is there.
    t = WebSocketTransport.connect(
        tls_server.url(),
        ssl_context=client_tls_context,
        timeout=5,
        read_chunk_bytes=1024,
        read_budget_bytes=1024,
    )
    conn = tls_server.accept()
    try:
        payload = os.urandom(12_000)
        conn.send_binary(payload)
        assert poll_until(t, lambda got: len(got) == 1, timeout=5) == [payload]
    finally:
        t.abort()
