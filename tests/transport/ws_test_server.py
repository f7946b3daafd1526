"""A loopback WebSocket server made of plain sockets, so tests control every byte and timing.

One long-lived thread accepts connections and performs the HTTP upgrade (the client's
``connect`` blocks meanwhile); after that the test thread drives each connection directly
through ``ServerConn``: send frames whole or in pieces, read the client's frames, close
cleanly or with a TCP reset.
"""

from __future__ import annotations

import base64
import hashlib
import os
import queue
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def server_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0) -> bytes:
    """An unmasked frame as a server sends it."""
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", first, n)
    elif n < 0x10000:
        head = struct.pack("!BBH", first, 126, n)
    else:
        head = struct.pack("!BBQ", first, 127, n)
    return head + payload


def close_body(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode()


@dataclass
class UpgradeRequest:
    """What the client sent in its HTTP upgrade request."""

    path: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ClientFrame:
    fin: bool
    opcode: int
    payload: bytes
    masked: bool


class ServerConn:
    """The server end of one upgraded connection, driven from the test thread."""

    def __init__(self, sock: socket.socket, request: UpgradeRequest) -> None:
        self.sock = sock
        self.request = request
        self._buf = bytearray()
        sock.settimeout(10)

    # sending
    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_frame(self, opcode: int, payload: bytes = b"", *, fin: bool = True) -> None:
        self.sock.sendall(server_frame(opcode, payload, fin=fin))

    def send_binary(self, payload: bytes) -> None:
        self.send_frame(OP_BINARY, payload)

    def send_in_pieces(self, data: bytes, piece: int, delay: float) -> None:
        """Write ``data`` as many small TCP writes with pauses between them."""
        for i in range(0, len(data), piece):
            self.sock.sendall(data[i : i + piece])
            time.sleep(delay)

    def send_close(self, code: int, reason: str = "") -> None:
        self.send_frame(OP_CLOSE, close_body(code, reason))

    # receiving
    def _read_exact(self, n: int, deadline: float) -> bytes:
        while len(self._buf) < n:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("client closed the TCP connection")
            self._buf += chunk
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def recv_frame(self, timeout: float = 10.0) -> ClientFrame:
        deadline = time.monotonic() + timeout
        b0, b1 = self._read_exact(2, deadline)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._read_exact(2, deadline))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._read_exact(8, deadline))
        masked = bool(b1 & 0x80)
        key = self._read_exact(4, deadline) if masked else b""
        payload = self._read_exact(n, deadline)
        if masked and n:
            mask = (key * (n // 4 + 1))[:n]
            payload = (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")).to_bytes(n, "big")
        return ClientFrame(bool(b0 & 0x80), b0 & 0x0F, payload, masked)

    def recv_message(self, timeout: float = 10.0) -> ClientFrame:
        """The next data message or control frame, continuation frames joined."""
        frame = self.recv_frame(timeout)
        parts = [frame.payload]
        while not frame.fin:
            frame = self.recv_frame(timeout)
            parts.append(frame.payload)
        return ClientFrame(True, frame.opcode if len(parts) == 1 else OP_BINARY, b"".join(parts), frame.masked)

    # ending
    def close_tcp(self, *, reset: bool = False) -> None:
        """Drop the connection: a FIN, or with ``reset`` an RST (no close frame either way)."""
        if reset:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


class WsTestServer:
    """Accepts connections on 127.0.0.1 and upgrades them as configured by the attributes."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None, rcvbuf: int | None = None) -> None:
        self.ssl_context = ssl_context
        #: HTTP status to answer with; anything but 101 refuses the upgrade with ``body``.
        self.status = 101
        self.body = b""
        #: Subprotocol put in the 101 response; None echoes the first one offered, "" omits it.
        self.protocol: str | None = None
        #: Accept TCP but never answer (for handshake timeouts).
        self.silent = False
        #: Bytes written in the same send as the 101 response (a frame right behind it).
        self.greeting = b""
        self.requests: list[UpgradeRequest] = []
        self.errors: list[BaseException] = []
        self._conns: queue.Queue[ServerConn] = queue.Queue()
        self._silent_socks: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        if rcvbuf is not None:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.port = self._listener.getsockname()[1]
        self._stopped = False
        self.thread = threading.Thread(target=self._accept_loop, name="ws-test-server", daemon=True)
        self.thread.start()

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str = "/v1/database/testdb/subscribe?compression=None") -> str:
        scheme = "wss" if self.ssl_context else "ws"
        return f"{scheme}://{self.host_port}{path}"

    def accept(self, timeout: float = 10.0) -> ServerConn:
        return self._conns.get(timeout=timeout)

    def stop(self) -> None:
        self._stopped = True
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            pass
        self._listener.close()
        for s in self._silent_socks:
            s.close()
        self.thread.join(5)

    def _accept_loop(self) -> None:
        while not self._stopped:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            if self._stopped:
                sock.close()
                return
            try:
                self._upgrade(sock)
            except Exception as exc:  # recorded for the test to inspect
                self.errors.append(exc)
                sock.close()

    def _upgrade(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.silent:
            self._silent_socks.append(sock)
            return
        sock.settimeout(10)
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True)
        raw = b""
        while b"\r\n\r\n" not in raw:
            chunk = sock.recv(4096)
            if not chunk:
                raise EOFError("client went away during the upgrade")
            raw += chunk
        head, rest = raw.split(b"\r\n\r\n", 1)
        assert not rest, "client sent data before the 101"
        lines = head.decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1]
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        request = UpgradeRequest(path, headers)
        self.requests.append(request)
        if self.status != 101:
            sock.sendall(
                f"HTTP/1.1 {self.status} Refused\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(self.body)}\r\nConnection: close\r\n\r\n".encode()
                + self.body
            )
            sock.close()
            return
        accept = base64.b64encode(
            hashlib.sha1((headers["sec-websocket-key"] + WS_GUID).encode()).digest()
        ).decode()
        offered = headers.get("sec-websocket-protocol", "").split(",")[0].strip()
        protocol = offered if self.protocol is None else self.protocol
        response = (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n"
            + (f"Sec-WebSocket-Protocol: {protocol}\r\n" if protocol else "")
            + f"spacetime-identity: {os.urandom(32).hex()}\r\n\r\n"
        )
        sock.sendall(response.encode() + self.greeting)
        self._conns.put(ServerConn(sock, request))
