"""A WebSocket opening handshake that never blocks, advanced one step per game tick.

``Client.connect()`` may block (it is called from a loading screen); a reconnect happens in
the middle of play, inside ``tick()``, which must not. ``PendingWebSocket`` does the same
work as websocket-client's handshake — TCP connect, TLS handshake, HTTP upgrade request,
101 response checks — on a non-blocking socket, a little each ``step()``. Name resolution
is the one call that can wait; the client resolves once and reuses the address.
"""

from __future__ import annotations

import base64
import hashlib
import os
import select
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConnectError
from ..http import refusal_error
from .websocket_transport import DEFAULT_SUBPROTOCOL, WebSocketTransport

__all__ = ["AddrInfo", "PendingWebSocket", "resolve"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_RESPONSE_HEAD = 64 * 1024
_MAX_REFUSAL_BODY = 64 * 1024
AddrInfo = tuple[int, int, int, str, Any]


def resolve(url: str) -> list[AddrInfo]:
    """The addresses of ``url``'s host (this can wait on DNS: do it before play)."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = parts.port or (443 if parts.scheme in ("wss", "https") else 80)
    try:
        return [
            (int(f), int(k), p, name, addr)
            for f, k, p, name, addr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        ]
    except OSError as exc:
        raise ConnectError(f"cannot resolve {host}: {exc}") from exc


class PendingWebSocket:
    """A connection being opened; call ``step()`` until it returns the transport.

    ``step()`` returns None while work remains, the ``WebSocketTransport`` once the server
    accepted the upgrade, and raises ``ConnectError``/``AuthError`` on failure or after
    ``timeout`` seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        subprotocol: str = DEFAULT_SUBPROTOCOL,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        headers: Mapping[str, str] | None = None,
        addresses: list[AddrInfo] | None = None,
        clock: Callable[[], float] = time.monotonic,
        transport_options: Mapping[str, Any] | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss"):
            raise ConnectError(f"a WebSocket URL starts with ws:// or wss://, got {url!r}")
        self._tls = parts.scheme == "wss"
        self._host = parts.hostname or "localhost"
        default_port = 443 if self._tls else 80
        port = parts.port or default_port
        host_header = self._host if port == default_port else f"{self._host}:{port}"
        if ":" in self._host and not host_header.startswith("["):
            host_header = f"[{self._host}]" + ("" if port == default_port else f":{port}")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._key = base64.b64encode(os.urandom(16)).decode()
        self._subprotocol = subprotocol
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host_header}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self._key}",
            "Sec-WebSocket-Version: 13",
            f"Sec-WebSocket-Protocol: {subprotocol}",
        ]
        if token:
            lines.append(f"Authorization: Bearer {token}")
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        self._request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self._where = f"WebSocket upgrade at {parts.scheme}://{host_header}{parts.path}"
        self._clock = clock
        self._deadline = clock() + timeout
        self._timeout = timeout
        self._ssl_context = ssl_context
        self._options = dict(transport_options or {})
        self._addresses = list(addresses) if addresses is not None else resolve(url)
        self._sock: socket.socket | None = None
        self._state = "connect"
        self._sent = 0
        self._head = bytearray()
        self._status = 0
        self._response_headers: dict[str, str] = {}
        self._body = bytearray()
        self._body_needed = 0
        self._leftover = b""
        self._start_tcp()

    # ---- steps -------------------------------------------------------------------------

    def _start_tcp(self) -> None:
        last: OSError | None = None
        while self._addresses:
            family, kind, proto, _name, addr = self._addresses.pop(0)
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            err = sock.connect_ex(addr)
            if err in (0, 115, 36, 10035, 10036):  # done, EINPROGRESS (Linux, macOS, Windows)
                self._sock = sock
                self._state = "connect"
                return
            sock.close()
            last = OSError(err, os.strerror(err))
        raise ConnectError(f"{self._where}: cannot connect: {last}")

    def step(self) -> WebSocketTransport | None:
        """Advance the handshake as far as the socket allows right now."""
        if self._clock() > self._deadline:
            self.abort()
            raise ConnectError(f"{self._where}: timed out after {self._timeout} s")
        try:
            return self._advance()
        except (ConnectError, ssl.SSLCertVerificationError) as exc:
            self.abort()
            if isinstance(exc, ssl.SSLCertVerificationError):
                raise ConnectError(
                    f"{self._where}: TLS certificate rejected: {exc.verify_message}"
                ) from exc
            raise
        except (ssl.SSLError, OSError) as exc:
            self.abort()
            raise ConnectError(f"{self._where}: {exc}") from exc

    def _advance(self) -> WebSocketTransport | None:
        sock = self._sock
        assert sock is not None
        if self._state == "connect":
            if not _writable(sock):
                return None
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                sock.close()
                self._sock = None
                if self._addresses:
                    self._start_tcp()
                    return None
                raise ConnectError(f"{self._where}: cannot connect: {os.strerror(err)}")
            if self._tls:
                ctx = self._ssl_context or ssl.create_default_context()
                self._sock = sock = ctx.wrap_socket(
                    sock, server_hostname=self._host, do_handshake_on_connect=False
                )
                self._state = "tls"
            else:
                self._state = "send"
        if self._state == "tls":
            assert isinstance(sock, ssl.SSLSocket)
            try:
                sock.do_handshake()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return None
            self._state = "send"
        if self._state == "send":
            try:
                while self._sent < len(self._request):
                    self._sent += sock.send(self._request[self._sent :])
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return None
            self._state = "head"
        if self._state == "head" and not self._read_head(sock):
            return None
        if self._state == "body":
            if not self._read_body(sock):
                return None
            body = bytes(self._body).decode("utf-8", "replace")
            raise refusal_error(self._status, body, self._where)
        if self._state == "done":
            return self._finish()
        return None

    def _recv(self, sock: socket.socket, n: int) -> bytes | None:
        try:
            data = sock.recv(n)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return None
        return data

    def _read_head(self, sock: socket.socket) -> bool:
        while True:
            data = self._recv(sock, 4096)
            if data is None:
                return False
            if not data:
                raise ConnectError(
                    f"{self._where}: the server closed the connection during the handshake"
                )
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end >= 0:
                rest = bytes(self._head[end + 4 :])
                del self._head[end + 4 :]
                self._parse_head(rest)
                return True
            if len(self._head) > _MAX_RESPONSE_HEAD:
                raise ConnectError(f"{self._where}: response head over {_MAX_RESPONSE_HEAD} bytes")

    def _parse_head(self, rest: bytes) -> None:
        text = bytes(self._head).decode("latin-1")
        status_line, _, header_text = text.partition("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ConnectError(f"{self._where}: not an HTTP response: {status_line[:80]!r}")
        self._status = int(parts[1])
        for line in header_text.split("\r\n"):
            name, sep, value = line.partition(":")
            if sep:
                self._response_headers[name.strip().lower()] = value.strip()
        self._leftover = rest
        if self._status == 101:
            self._state = "done"
            return
        self._body += rest
        length = self._response_headers.get("content-length", "")
        self._body_needed = (
            min(int(length), _MAX_REFUSAL_BODY) if length.isdigit() else _MAX_REFUSAL_BODY
        )
        self._state = "body"

    def _read_body(self, sock: socket.socket) -> bool:
        while len(self._body) < self._body_needed:
            data = self._recv(sock, 4096)
            if data is None:
                return False
            if not data:
                break  # the server closed after the body
            self._body += data
        return True

    def _finish(self) -> WebSocketTransport:
        headers = self._response_headers
        if headers.get("upgrade", "").lower() != "websocket":
            raise ConnectError(f"{self._where}: 101 response without Upgrade: websocket")
        expected = base64.b64encode(hashlib.sha1(self._key.encode() + _GUID).digest()).decode()
        if headers.get("sec-websocket-accept", "") != expected:
            raise ConnectError(f"{self._where}: wrong Sec-WebSocket-Accept in the 101 response")
        echoed = headers.get("sec-websocket-protocol", "")
        if echoed.strip().lower() != self._subprotocol.lower():
            raise ConnectError(
                f"{self._where}: server did not accept subprotocol {self._subprotocol!r} "
                f"(it answered {echoed or 'none'!r})"
            )
        sock = self._sock
        assert sock is not None
        self._sock = None
        return WebSocketTransport(sock, initial_bytes=self._leftover, **self._options)

    def abort(self) -> None:
        """Give up: close the socket."""
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None

    def fileno(self) -> int:
        return self._sock.fileno() if self._sock is not None else -1


def _writable(sock: socket.socket) -> bool:
    if hasattr(select, "poll"):  # select.select fails on descriptors >= 1024
        p = select.poll()
        p.register(sock, select.POLLOUT)
        return bool(p.poll(0))
    return bool(select.select([], [sock], [], 0)[1])
