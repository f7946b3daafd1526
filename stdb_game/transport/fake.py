"""An in-memory transport so client and session tests run from bytes, without a socket."""

from __future__ import annotations

from collections import deque

from ..errors import ConnectError
from .base import CLOSE_NORMAL, CloseInfo, Transport

__all__ = ["FakeTransport"]


class FakeTransport(Transport):
    """Tests hand frames in with ``feed*`` and read what the client wrote in ``sent``.

    It follows the real transport's rules: frames fed before an end are still handed out
    by ``poll`` after it, ``send`` on an ended connection raises, and nothing reaches
    ``sent`` until ``flush`` (set ``blocked`` to make flushes write nothing, like a full
    socket buffer). The client's keepalive pings land in ``pings_sent``; nothing answers
    them unless the test calls ``feed_pong``.
    """

    supports_keepalive = True

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.pings_sent: list[bytes] = []
        #: While True, ``flush`` writes nothing (a socket whose send buffer is full).
        self.blocked = False
        #: ``max_frames`` of every ``poll`` call, for asserting on the client's budgets.
        self.poll_calls: list[int] = []
        self.flush_calls = 0
        self._inbox: deque[bytes] = deque()
        self._outbox: deque[bytes] = deque()
        self._pongs: list[bytes] = []
        self._closed_reason: CloseInfo | None = None
        self._bytes_in = 0
        self._bytes_out = 0

    # ---- test side ---------------------------------------------------------------------

    def feed(self, frame: bytes) -> None:
        """Deliver one binary message from the "server"."""
        if self._closed_reason is not None:
            raise ValueError("cannot feed a frame after the connection ended")
        self._inbox.append(bytes(frame))
        self._bytes_in += len(frame)

    def feed_close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """The server sent a Close frame."""
        self._end(CloseInfo.clean(code, reason))

    def feed_abnormal(self, error: BaseException | None = None) -> None:
        """The socket ended without a Close frame (EOF or reset)."""
        self._end(CloseInfo.abnormal(error))

    def feed_error(self, error: BaseException, code: int | None = None) -> None:
        """This side failed the connection (protocol violation, TLS error...)."""
        self._end(CloseInfo.failed(error, code))

    def feed_pong(self, payload: bytes = b"") -> None:
        """The server answered a Ping (it counts as received bytes, as on a socket)."""
        self._pongs.append(payload)
        self._bytes_in += 2 + len(payload)

    def _end(self, info: CloseInfo) -> None:
        if self._closed_reason is None:
            self._closed_reason = info
            self._outbox.clear()

    # ---- transport side ----------------------------------------------------------------

    def send(self, frame: bytes) -> None:
        if self._closed_reason is not None:
            raise ConnectError(f"cannot send: {self._closed_reason.describe()}")
        self._outbox.append(bytes(frame))

    def poll(self, max_frames: int) -> list[bytes]:
        self.poll_calls.append(max_frames)
        inbox = self._inbox
        count = min(max(max_frames, 0), len(inbox))
        return [inbox.popleft() for _ in range(count)]

    def flush(self) -> None:
        self.flush_calls += 1
        if self.blocked:
            return
        while self._outbox:
            frame = self._outbox.popleft()
            self.sent.append(frame)
            self._bytes_out += len(frame)

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        if self._closed_reason is None:
            self._closed_reason = CloseInfo.clean(code, reason, initiated_locally=True)
            self._inbox.clear()
            self._outbox.clear()

    def send_ping(self, payload: bytes = b"") -> None:
        if self._closed_reason is None:
            self.pings_sent.append(payload)

    def take_pongs(self) -> list[bytes]:
        pongs, self._pongs = self._pongs, []
        return pongs

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
        return sum(map(len, self._outbox))

    @property
    def buffered_frames(self) -> int:
        return len(self._inbox)
