"""The interface every transport offers the client, and how a connection ended."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass

__all__ = ["CloseInfo", "CloseKind", "Transport"]

#: RFC 6455 close codes the transport itself uses.
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_NO_STATUS = 1005
CLOSE_ABNORMAL = 1006
CLOSE_MESSAGE_TOO_BIG = 1009


class CloseKind(enum.Enum):
    """Why a connection is over: a close handshake, a dropped socket, or a failure."""

    CLEAN = "clean"
    ABNORMAL = "abnormal"
    ERROR = "error"


@dataclass(frozen=True)
class CloseInfo:
    """How a connection ended, in a form a disconnect callback can branch on.

    ``CLEAN``: a Close frame was exchanged; ``code`` and ``reason`` are the ones in it
    (the peer's, or ours when ``initiated_locally``). ``ABNORMAL``: the socket ended
    without a Close frame (EOF or reset); ``error`` holds the socket error if there was one.
    ``ERROR``: this side gave up (protocol violation, oversized message, TLS or socket
    failure); ``error`` says why and ``code`` is the close code we sent, if any.
    """

    kind: CloseKind
    code: int | None = None
    reason: str = ""
    error: BaseException | None = None
    initiated_locally: bool = False

    @classmethod
    def clean(cls, code: int, reason: str = "", *, initiated_locally: bool = False) -> CloseInfo:
        return cls(CloseKind.CLEAN, code, reason, None, initiated_locally)

    @classmethod
    def abnormal(cls, error: BaseException | None = None) -> CloseInfo:
        return cls(CloseKind.ABNORMAL, CLOSE_ABNORMAL, "", error, False)

    @classmethod
    def failed(cls, error: BaseException, code: int | None = None) -> CloseInfo:
        return cls(CloseKind.ERROR, code, "", error, True)

    @property
    def is_clean(self) -> bool:
        return self.kind is CloseKind.CLEAN

    def describe(self) -> str:
        """A one-line human summary for logs and HUDs."""
        if self.kind is CloseKind.CLEAN:
            who = "we closed" if self.initiated_locally else "server closed"
            return f"{who} ({self.code}{': ' + self.reason if self.reason else ''})"
        if self.kind is CloseKind.ABNORMAL:
            cause = f": {self.error}" if self.error is not None else ""
            return f"connection dropped without a close frame{cause}"
        return f"connection failed: {self.error}"


class Transport(ABC):
    """Moves whole binary WebSocket messages; never blocks, never starts a thread.

    The client drives it once per tick: ``flush()`` what is queued, ``poll(n)`` for at most
    ``n`` received messages. Not calling ``poll`` (or calling ``poll(0)``) leaves data in the
    socket so TCP pushes back on the server; ``poll(0)`` still answers pings that are already
    within the transport's read-ahead window.

    ``supports_keepalive`` says the client may watch the connection for silence: Pongs
    (and every other frame) count in ``bytes_in`` and ``send_ping`` reaches the server.
    A transport that plays something back (a recording) leaves it False.
    """

    supports_keepalive: bool = False

    @abstractmethod
    def send(self, frame: bytes) -> None:
        """Queue one binary message; it goes out whole on this or a later ``flush``."""

    @abstractmethod
    def poll(self, max_frames: int) -> list[bytes]:
        """Return up to ``max_frames`` whole received messages, in order; never blocks."""

    @abstractmethod
    def flush(self) -> None:
        """Write as much of the outbound queue as the socket accepts now."""

    @abstractmethod
    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Start the close handshake; ``closed_reason`` is set at once."""

    def abort(self) -> None:
        """Drop the connection now, without waiting for the close handshake to finish."""
        self.close()

    @property
    @abstractmethod
    def is_open(self) -> bool:
        """True until the connection ended for any reason (see ``closed_reason``)."""

    @property
    @abstractmethod
    def closed_reason(self) -> CloseInfo | None:
        """How the connection ended, or None while it is open."""

    @property
    @abstractmethod
    def bytes_in(self) -> int:
        """Bytes received so far, framing included."""

    @property
    @abstractmethod
    def bytes_out(self) -> int:
        """Bytes handed to the socket so far, framing included."""

    @property
    @abstractmethod
    def pending_out_bytes(self) -> int:
        """Bytes queued by ``send`` that the socket has not taken yet."""

    @property
    @abstractmethod
    def buffered_frames(self) -> int:
        """Whole messages received and waiting for ``poll``; still served after the end."""

    @abstractmethod
    def send_ping(self, payload: bytes = b"") -> None:
        """Queue a WebSocket Ping (keepalive, round trips); ignored once closed."""

    @abstractmethod
    def take_pongs(self) -> list[bytes]:
        """Payloads of the Pongs received since the last call."""
