"""``ReplayTransport``: a Transport that plays back what one recorded connection received.

Standalone (``ReplayTransport(path)`` as a normal client's transport) it hands out one
recorded tick's frames per ``poll``, so a client that ticks like the recorded one sees the
same frames in the same ticks. Under ``replay_session`` the driver feeds it instead, tick
by tick, which keeps the grouping exact whatever the client's budgets are. Either way it
compares what the client sends with what the recorded client sent.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import protocol as P
from ..errors import ProtocolError
from ..transport import CloseInfo, CloseKind, Transport
from ..transport.base import CLOSE_NORMAL
from .format import ReplayMismatch
from .plan import connection_segment
from .reader import Recording, RecordingSource, read_recording

__all__ = ["OutboundDifference", "ReplayTransport", "ReplayedError", "close_info_from"]


class ReplayedError(Exception):
    """Stands in for the error a recorded connection ended with; ``str()`` is its text."""

    def __init__(self, message: str, type_name: str | None = None) -> None:
        super().__init__(message)
        self.type_name = type_name


def close_info_from(data: Mapping[str, Any] | None) -> CloseInfo:
    """The ``CloseInfo`` a recorded disconnect carried (abnormal when none was recorded)."""
    if not data:
        return CloseInfo.abnormal()
    try:
        kind = CloseKind(data.get("kind"))
    except ValueError:
        kind = CloseKind.ABNORMAL
    err_text = data.get("error")
    error = None if err_text is None else ReplayedError(str(err_text), data.get("error_type"))
    code = data.get("code")
    return CloseInfo(
        kind,
        code if isinstance(code, int) else None,
        str(data.get("reason") or ""),
        error,
        bool(data.get("initiated_locally", False)),
    )


def describe_client_frame(frame: bytes | None) -> str:
    """A client frame as its decoded message, for difference reports."""
    if frame is None:
        return "nothing"
    try:
        return repr(P.decode_client_message(frame))
    except ProtocolError as exc:
        return f"<undecodable {len(frame)}-byte frame: {exc}>"


@dataclass(frozen=True)
class OutboundDifference:
    """A frame the replayed client sent differently from the recorded one."""

    #: Recorded tick it belongs to (None: between ticks, after ``after_tick``).
    tick: int | None
    #: Position of the frame among the recorded outbound frames (0-based).
    position: int
    expected: bytes | None
    actual: bytes | None
    after_tick: int | None = None
    note: str = ""

    def describe(self) -> str:
        where = f"tick {self.tick}" if self.tick is not None else f"after tick {self.after_tick}"
        head = f"outbound frame #{self.position} ({where})"
        if self.expected is None:
            return f"{head}: the replay sent an extra {describe_client_frame(self.actual)}"
        if self.actual is None:
            text = f"{head}: the replay did not send {describe_client_frame(self.expected)}"
        else:
            text = (
                f"{head}: expected {describe_client_frame(self.expected)}, "
                f"got {describe_client_frame(self.actual)}"
            )
        return f"{text} ({self.note})" if self.note else text


class ReplayTransport(Transport):
    """Plays back connection ``connection`` (0 = the first) of a recording.

    ``strict=True`` raises ``ReplayMismatch`` on the first sent frame that differs from the
    recording; otherwise ``differences()`` lists them. With no ``source`` it is empty and a
    driver feeds it through ``deliver``/``end``.
    """

    def __init__(
        self,
        source: RecordingSource | None = None,
        *,
        connection: int = 0,
        strict: bool = False,
        on_send: Callable[[bytes], None] | None = None,
    ) -> None:
        self.strict = strict
        #: Every frame the client sent, in order.
        self.sent: list[bytes] = []
        #: Recorded outbound frames of this connection, in order (standalone mode).
        self.expected: list[bytes] = []
        #: Recorded tick index of each batch (standalone mode).
        self.tick_indexes: list[int] = []
        self.params: dict[str, Any] = {}
        self._on_send = on_send
        #: Loaded from a recording, so ``expected`` is authoritative (else a driver checks).
        self._standalone = source is not None
        self._batches: deque[list[bytes]] = deque()
        self._ready: deque[bytes] = deque()
        self._polls = 0
        self._close_after: int | None = None
        self._close_data: Mapping[str, Any] | None = None
        self._closed: CloseInfo | None = None
        self._bytes_in = 0
        self._bytes_out = 0
        if source is not None:
            recording = read_recording(source)
            seg = connection_segment(recording, connection)
            self.params = dict(seg.params)
            self._batches.extend(seg.batches)
            self.tick_indexes = seg.tick_indexes
            self.expected = [o.frame for o in seg.outbound]
            if seg.close is not None and seg.close_batch is not None:
                self._close_data = seg.close
                self._close_after = seg.close_batch + 1
                if self._close_after <= 0:
                    self._closed = close_info_from(seg.close)

    @classmethod
    def factory(
        cls, source: RecordingSource, *, strict: bool = False
    ) -> Callable[[str, str | None], ReplayTransport]:
        """A ``transport_factory`` handing out the recording's connections in order."""
        recording = source if isinstance(source, Recording) else read_recording(source)
        made: list[ReplayTransport] = []

        def make(url: str, token: str | None) -> ReplayTransport:
            t = cls(recording, connection=len(made), strict=strict)
            made.append(t)
            return t

        return make

    # ---- driver side ------------------------------------------------------------------------

    def deliver(self, frames: list[bytes]) -> None:
        """Make recorded frames available to the next ``poll``."""
        self._ready.extend(frames)
        self._bytes_in += sum(map(len, frames))

    def end(self, info: CloseInfo) -> None:
        """End the connection as the recorded one ended (frames already delivered stay)."""
        if self._closed is None:
            self._closed = info

    @property
    def remaining_batches(self) -> int:
        """Recorded ticks not yet handed out (standalone mode)."""
        return len(self._batches)

    def differences(self) -> list[OutboundDifference]:
        """Sent frames that differ from the recorded ones, by position (standalone mode)."""
        out: list[OutboundDifference] = []
        for i in range(max(len(self.sent), len(self.expected))):
            exp = self.expected[i] if i < len(self.expected) else None
            got = self.sent[i] if i < len(self.sent) else None
            if exp != got:
                out.append(OutboundDifference(None, i, exp, got))
        return out

    # ---- transport side ---------------------------------------------------------------------

    def send(self, frame: bytes) -> None:
        frame = bytes(frame)
        pos = len(self.sent)
        self.sent.append(frame)
        self._bytes_out += len(frame)
        if (
            self.strict
            and self._standalone
            and (pos >= len(self.expected) or self.expected[pos] != frame)
        ):
            exp = self.expected[pos] if pos < len(self.expected) else None
            diff = OutboundDifference(None, pos, exp, frame)
            raise ReplayMismatch(diff.describe(), diff)
        if self._on_send is not None:
            self._on_send(frame)

    def poll(self, max_frames: int) -> list[bytes]:
        if not self._ready and self._batches:
            batch = self._batches.popleft()
            self._polls += 1
            self._ready.extend(batch)
            self._bytes_in += sum(map(len, batch))
            if self._close_after is not None and self._polls >= self._close_after:
                self.end(close_info_from(self._close_data))
        ready = self._ready
        count = min(max(max_frames, 0), len(ready))
        return [ready.popleft() for _ in range(count)]

    def flush(self) -> None:
        pass

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        if self._closed is None:
            self._closed = CloseInfo.clean(code, reason, initiated_locally=True)

    def send_ping(self, payload: bytes = b"") -> None:
        pass

    def take_pongs(self) -> list[bytes]:
        return []

    @property
    def is_open(self) -> bool:
        return self._closed is None

    @property
    def closed_reason(self) -> CloseInfo | None:
        return self._closed

    @property
    def bytes_in(self) -> int:
        return self._bytes_in

    @property
    def bytes_out(self) -> int:
        return self._bytes_out

    @property
    def pending_out_bytes(self) -> int:
        return 0

    @property
    def buffered_frames(self) -> int:
        return len(self._ready) + sum(map(len, self._batches))

    def __repr__(self) -> str:
        state = "open" if self._closed is None else self._closed.describe()
        return f"<ReplayTransport {state} ticks_left={len(self._batches)} sent={len(self.sent)}>"
