"""A WebSocket transport for a game loop: websocket-client for the handshake, then our own
non-blocking reads and writes on the same socket, with no thread.

Reading: an idle ``poll`` costs one ``poll(2)``/``select`` call with a zero timeout (plus
``SSLSocket.pending()`` under TLS, because bytes already decrypted inside the SSL object are
invisible to a readiness check on the file descriptor). When data is there it is read in
large ``recv_into`` calls into a reused buffer and every whole frame is parsed out of it.

Writing: ``send`` appends a whole masked frame to one outbound byte queue; ``flush`` writes
what the socket takes now and keeps the rest, so the wire never sees half a frame followed
by another frame.
"""

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import websocket

from ..errors import ConnectError
from ..http import refusal_error
from .base import CLOSE_NORMAL, CloseInfo, Transport
from .frames import (
    DEFAULT_MAX_MESSAGE_BYTES,
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    FrameDecoder,
    close_payload,
    encode_frame,
    parse_close,
)

__all__ = ["DEFAULT_SUBPROTOCOL", "WebSocketTransport"]

DEFAULT_SUBPROTOCOL = "v1.bsatn.spacetimedb"
#: Whole received messages held before the transport stops reading (TCP then pushes back).
DEFAULT_READ_AHEAD_BYTES = 16 * 1024 * 1024
#: At most this many bytes are read from the socket in one ``poll``.
DEFAULT_READ_BUDGET_BYTES = 4 * 1024 * 1024
#: Size of the reused receive buffer (one ``recv_into`` call fills at most this).
DEFAULT_READ_CHUNK_BYTES = 256 * 1024
# A TLS record carries at most 16 KiB; writing in record-sized pieces keeps retries simple.
_TLS_WRITE_CHUNK = 16 * 1024

_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
_DROPPED = (
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
)


def _redacted(url: str) -> str:
    """The URL with any ``token`` query parameter hidden, fit for error messages."""
    parts = urlsplit(url)
    if "token" not in parts.query:
        return url
    query = urlencode([(k, "***" if k == "token" else v) for k, v in parse_qsl(parts.query)])
    return urlunsplit(parts._replace(query=query))


class WebSocketTransport(Transport):
    """A connected WebSocket; see the module docstring for how it reads and writes."""

    supports_keepalive = True

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        token: str | None = None,
        subprotocol: str = DEFAULT_SUBPROTOCOL,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        sslopt: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        sockopt: Sequence[tuple[int, int, int]] = (),
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        read_ahead_bytes: int = DEFAULT_READ_AHEAD_BYTES,
        read_budget_bytes: int = DEFAULT_READ_BUDGET_BYTES,
        read_chunk_bytes: int = DEFAULT_READ_CHUNK_BYTES,
    ) -> WebSocketTransport:
        """Open the connection; the only blocking step, bounded by ``timeout`` per socket wait.

        ``wss://`` verifies the server certificate by default (pass ``ssl_context`` or
        websocket-client ``sslopt`` to change that). ``sockopt`` holds extra
        ``setsockopt`` arguments applied before connecting. Raises ``AuthError`` for HTTP 401 (or
        a 400 that complains about the token) and ``ConnectError`` for anything else,
        including a server that does not echo ``subprotocol``.
        """
        header = dict(headers or {})
        header["Sec-WebSocket-Protocol"] = subprotocol
        if token:
            header["Authorization"] = f"Bearer {token}"
        options = dict(sslopt or {})
        if ssl_context is not None:
            options["context"] = ssl_context
        where = f"WebSocket upgrade at {_redacted(url)}"
        try:
            ws = websocket.create_connection(
                url,
                timeout=timeout,
                header=header,
                sslopt=options,
                sockopt=list(sockopt),
                enable_multithread=False,
                skip_utf8_validation=True,
            )
        except websocket.WebSocketBadStatusException as exc:
            raw = exc.resp_body or b""
            body = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            raise refusal_error(exc.status_code, body, where) from None
        except (websocket.WebSocketTimeoutException, TimeoutError):
            raise ConnectError(f"{where}: timed out after {timeout} s") from None
        except ssl.SSLCertVerificationError as exc:
            raise ConnectError(f"{where}: TLS certificate rejected: {exc.verify_message}") from exc
        except (websocket.WebSocketException, OSError) as exc:
            raise ConnectError(f"{where}: {exc}") from exc
        response_headers: dict[str, str] = ws.getheaders() or {}
        sock = ws.sock
        ws.sock = None  # the socket is ours from here on
        if sock is None:
            raise ConnectError(f"{where}: no socket after the handshake")
        echoed = response_headers.get("sec-websocket-protocol", "")
        if echoed.strip().lower() != subprotocol.lower():
            sock.close()
            raise ConnectError(
                f"{where}: server did not accept subprotocol {subprotocol!r} "
                f"(it answered {echoed or 'none'!r})"
            )
        return cls(
            sock,
            max_message_bytes=max_message_bytes,
            read_ahead_bytes=read_ahead_bytes,
            read_budget_bytes=read_budget_bytes,
            read_chunk_bytes=read_chunk_bytes,
        )

    def __init__(
        self,
        sock: socket.socket,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        read_ahead_bytes: int = DEFAULT_READ_AHEAD_BYTES,
        read_budget_bytes: int = DEFAULT_READ_BUDGET_BYTES,
        read_chunk_bytes: int = DEFAULT_READ_CHUNK_BYTES,
        initial_bytes: bytes = b"",
    ) -> None:
        """Wrap a socket whose WebSocket handshake is already done (``connect`` does that).

        ``initial_bytes`` are bytes read past the handshake response (frames the server
        sent right after its 101), parsed before anything else.
        """
        sock.setblocking(False)
        self._sock: socket.socket | None = sock
        self._tls = isinstance(sock, ssl.SSLSocket)
        # Bytes already decrypted inside the SSL object never show up on the descriptor.
        self._tls_sock: ssl.SSLSocket | None = sock if isinstance(sock, ssl.SSLSocket) else None
        self._fd = sock.fileno()
        self._poller: Any = None
        if hasattr(select, "poll"):
            self._poller = select.poll()
            self._poller.register(self._fd, select.POLLIN)
        #: ``_ready(0)`` is true when a read would find data; None once the socket is gone.
        #: Chosen once here so the idle ``poll`` (every tick) makes one call and no tests.
        self._ready: Callable[[int], object] | None
        if self._tls_sock is not None:
            self._ready = self._tls_ready
        elif self._poller is not None:
            self._ready = self._poller.poll
        else:
            self._ready = self._select_ready
        self._decoder = FrameDecoder(max_message_bytes)
        self._read_ahead_bytes = read_ahead_bytes
        self._read_budget_bytes = read_budget_bytes
        self._chunk = memoryview(bytearray(read_chunk_bytes))
        self._out = bytearray()
        self._tls_retry_len = 0
        self._closed_reason: CloseInfo | None = None
        self._closing = False  # we sent Close and wait for the server's
        self._bytes_in = 0
        self._bytes_out = 0
        self._pongs: list[bytes] = []
        if initial_bytes:
            self._bytes_in += len(initial_bytes)
            controls = self._decoder.feed(memoryview(initial_bytes))
            if controls:
                self._on_controls(controls)
            if self._decoder.finished and self._decoder.error is not None:
                self._fail_protocol()

    # ---- state -------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._closed_reason is None

    @property
    def closed_reason(self) -> CloseInfo | None:
        return self._closed_reason

    @property
    def bytes_in(self) -> int:
        return self._bytes_in

    @property
    def bytes_out(self) -> int:
        return self._bytes_out

    @property
    def pending_out_bytes(self) -> int:
        return len(self._out)

    @property
    def buffered_frames(self) -> int:
        return len(self._decoder.messages)

    @property
    def buffered_bytes(self) -> int:
        """Bytes of whole messages waiting for ``poll`` plus a partial frame."""
        return self._decoder.message_bytes + self._decoder.partial_bytes

    def fileno(self) -> int:
        """The socket's descriptor (-1 once closed), for a loop that sleeps in ``select``."""
        return self._fd if self._sock is not None else -1

    def __repr__(self) -> str:
        reason = self._closed_reason
        state = "open" if reason is None else f"closed: {reason.describe()}"
        return f"<WebSocketTransport fd={self.fileno()} {state}>"

    # ---- sending -----------------------------------------------------------------------

    def send(self, frame: bytes) -> None:
        if self._closed_reason is not None:
            raise ConnectError(f"cannot send: {self._closed_reason.describe()}")
        self._out += encode_frame(OP_BINARY, frame)

    def send_ping(self, payload: bytes = b"") -> None:
        if self._closed_reason is None:
            self._out += encode_frame(OP_PING, payload[:125])

    def take_pongs(self) -> list[bytes]:
        pongs, self._pongs = self._pongs, []
        return pongs

    def flush(self) -> None:
        out = self._out
        sock = self._sock
        if not out or sock is None:
            return
        try:
            while out:
                if self._tls:
                    # OpenSSL wants a retried write to repeat the same bytes.
                    size = self._tls_retry_len or min(len(out), _TLS_WRITE_CHUNK)
                    self._tls_retry_len = size
                    sent = sock.send(out[:size])
                    self._tls_retry_len = 0
                else:
                    sent = sock.send(out)
                self._bytes_out += sent
                del out[:sent]
                if not self._tls and out:
                    break  # the kernel took less than offered: its buffer is full for now
        except _WOULD_BLOCK:
            return
        except _DROPPED as exc:
            self._end(CloseInfo.abnormal(exc))
        except OSError as exc:
            self._end(CloseInfo.failed(exc))

    # ---- receiving ---------------------------------------------------------------------

    def _tls_ready(self, timeout: int) -> bool:
        tls = self._tls_sock
        assert tls is not None
        if tls.pending():
            return True
        if self._poller is not None:
            return bool(self._poller.poll(timeout))
        return self._select_ready(timeout)

    def _select_ready(self, timeout: int) -> bool:
        return bool(select.select([self._fd], [], [], timeout)[0])

    def poll(self, max_frames: int) -> list[bytes]:
        decoder = self._decoder
        ready = self._ready
        if ready is not None and decoder.message_bytes < self._read_ahead_bytes:
            if ready(0):
                self._read()
            if self._closing:
                decoder.messages.clear()  # nothing is delivered after our own close()
                decoder.message_bytes = 0
                if self._out:
                    self.flush()  # push our Close frame out even if the caller stopped flushing
        messages = decoder.messages
        if not messages or max_frames <= 0:
            return []
        if max_frames >= len(messages):
            taken = list(messages)
            messages.clear()
            decoder.message_bytes = 0
            return taken
        taken = [messages.popleft() for _ in range(max_frames)]
        decoder.message_bytes -= sum(map(len, taken))
        return taken

    def _read(self) -> None:
        """Read what the socket has (up to the budgets) and parse every whole frame."""
        sock = self._sock
        assert sock is not None
        decoder = self._decoder
        chunk = self._chunk
        size = len(chunk)
        budget = self._read_budget_bytes
        while budget > 0:
            try:
                n = sock.recv_into(chunk)
            except _WOULD_BLOCK:
                break
            except _DROPPED as exc:
                self._peer_gone(exc)
                return
            except OSError as exc:
                self._end(CloseInfo.failed(exc))
                return
            if n == 0:
                self._peer_gone(None)
                return
            self._bytes_in += n
            budget -= n
            controls = decoder.feed_prefix(chunk, n)
            if controls:
                self._on_controls(controls)
            if decoder.finished:
                if decoder.error is not None:
                    self._fail_protocol()
                return
            if decoder.message_bytes >= self._read_ahead_bytes:
                break
            if n < size and not self._tls:
                break  # a short read emptied the kernel buffer; no need to ask again

    def _on_controls(self, controls: list[tuple[int, bytes]]) -> None:
        for opcode, payload in controls:
            if opcode == OP_PING:
                if not self._closing:
                    self._out += encode_frame(OP_PONG, payload)
            elif opcode == OP_PONG:
                self._pongs.append(payload)
            elif opcode == OP_CLOSE:
                self._on_close_frame(payload)
        self.flush()

    def _on_close_frame(self, payload: bytes) -> None:
        if self._closing:
            self._shutdown_socket()  # our close handshake is complete
            return
        code, reason = parse_close(payload)
        self._closed_reason = CloseInfo.clean(code, reason)
        self._out += encode_frame(OP_CLOSE, close_payload(code))
        self.flush()
        self._shutdown_socket()

    def _fail_protocol(self) -> None:
        decoder = self._decoder
        assert decoder.error is not None
        code = decoder.error_close_code
        if self._closed_reason is None:
            self._closed_reason = CloseInfo.failed(decoder.error, code)
        self._out += encode_frame(OP_CLOSE, close_payload(code, decoder.error.reason[:100]))
        self.flush()
        self._shutdown_socket()

    def _peer_gone(self, error: BaseException | None) -> None:
        """EOF or reset: the end of a close we started, else an abnormal end."""
        if self._closing:
            self._shutdown_socket()
        else:
            self._end(CloseInfo.abnormal(error))

    # ---- closing -----------------------------------------------------------------------

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Send Close and report a clean local close at once; later polls finish the handshake.

        Messages not yet polled are dropped. The socket is released when the server answers
        or hangs up; call ``abort()`` to release it now.
        """
        if self._closed_reason is not None or self._sock is None:
            return
        self._closed_reason = CloseInfo.clean(code, reason, initiated_locally=True)
        self._closing = True
        self._decoder.messages.clear()
        self._decoder.message_bytes = 0
        self._out += encode_frame(OP_CLOSE, close_payload(code, reason))
        self.flush()

    def abort(self) -> None:
        """Drop the socket now, without a close handshake."""
        if self._closed_reason is None:
            self._closed_reason = CloseInfo.clean(CLOSE_NORMAL, "aborted", initiated_locally=True)
        self._shutdown_socket()

    def _end(self, info: CloseInfo) -> None:
        # The first reason wins: a reset during our own close handshake stays a clean close.
        if self._closed_reason is None:
            self._closed_reason = info
        self._shutdown_socket()

    def _shutdown_socket(self) -> None:
        sock = self._sock
        if sock is None:
            return
        self._sock = None
        self._ready = None
        self._out.clear()
        if self._poller is not None:
            try:
                self._poller.unregister(self._fd)
            except (KeyError, ValueError):
                pass
        try:
            sock.close()
        except OSError:
            pass
