"""Helpers for testing game code: bounded waits that explain themselves, scripted fakes.

Kept free of pytest so they work in any test runner; ``pytest_plugin`` wraps them in
fixtures.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..client import Client, ReconnectPolicy, TickStats
from ..schema import ModuleSchema
from .fake_server import FakeServer

__all__ = ["FakeConnection", "TickTimeout", "connect_fake", "tick_until"]


class TickTimeout(AssertionError):
    """A bounded wait ran out; the message says what was awaited and the clients' state."""


def _describe(clients: Sequence[Client]) -> str:
    parts = []
    for c in clients:
        parts.append(
            f"{c.database}@{c.uri}: state={c.state.value}, queued={c.queue_depth}, "
            f"ticks={c.stats.ticks}, applied={c.stats.messages_applied}"
        )
    return "; ".join(parts)


def tick_until(
    clients: Client | Iterable[Client],
    predicate: Callable[[], bool],
    timeout: float = 5.0,
    *,
    what: str | None = None,
    interval: float = 0.001,
    max_wait: float = 0.05,
) -> int:
    """Tick every client until ``predicate()`` holds; raise ``TickTimeout`` after ``timeout`` s.

    Returns the number of rounds it took. Several clients are ticked in turn each round,
    the way a test with two players would (``tick_until([alice, bob], ...)``). A round in
    which some client had something to do is followed at once by the next; after an idle
    round it waits until a client's socket has data (at most ``max_wait`` s, so conditions
    that change with time are seen too), or sleeps ``interval`` s when some client has no
    socket to wait on (a fake transport, a reconnect under way). So it neither spins nor
    makes a test wait longer than the server does.
    """
    group = [clients] if isinstance(clients, Client) else list(clients)
    deadline = time.monotonic() + timeout
    rounds = 0
    while True:
        busy = False
        for c in group:
            st = c.tick()
            if st.frames_read or st.messages_applied or st.queue_depth:
                busy = True
        rounds += 1
        if predicate():
            return rounds
        left = deadline - time.monotonic()
        if left <= 0:
            label = what or getattr(predicate, "__name__", "the condition")
            raise TickTimeout(
                f"{label} did not happen within {timeout:.1f} s ({rounds} ticks); "
                f"{_describe(group)}"
            )
        if not busy:
            _wait_idle(group, min(max_wait, left), interval)


def _wait_idle(group: Sequence[Client], wait: float, interval: float) -> None:
    """Sleep until a client's socket is readable (at most ``wait`` s), or ``interval`` s."""
    fds: list[int] = []
    for c in group:
        t = c.transport
        fileno = getattr(t, "fileno", None)
        fd = fileno() if callable(fileno) else -1
        if t is None or not isinstance(fd, int) or fd < 0 or t.buffered_frames:
            time.sleep(min(interval, wait))  # nothing to wait on: a short nap
            return
        fds.append(fd)
    try:
        select.select(fds, [], [], wait)
    except (OSError, ValueError):  # a socket closed meanwhile: the next tick reports it
        time.sleep(min(interval, wait))


@dataclass
class FakeConnection:
    """A client wired to a ``FakeServer``, connected (IdentityToken applied)."""

    client: Client
    server: FakeServer
    stats: list[TickStats] = field(default_factory=list)

    def send(self, *frames: bytes) -> None:
        """Deliver frames the server "sent"; they are applied at the next ``tick``."""
        for f in frames:
            self.server.send(f)

    def tick(self, times: int = 1) -> TickStats:
        """Tick ``times`` times; returns the last tick's stats."""
        for _ in range(times):
            self.stats.append(self.client.tick())
        return self.stats[-1]

    def sent(self) -> list[Any]:
        """Client messages the game sent so far on the current connection, decoded."""
        return self.server.received()


def connect_fake(
    schema: ModuleSchema,
    *,
    token: str = "fake-token",
    server: FakeServer | None = None,
    **client_kwargs: Any,
) -> FakeConnection:
    """A client connected to a scripted ``FakeServer``: no socket, no clock, no thread.

    Reconnects are off unless you pass ``reconnect=``; everything else goes to ``Client``.
    """
    server = server or FakeServer(schema)
    client_kwargs.setdefault("reconnect", ReconnectPolicy(enabled=False))
    client = Client(
        "ws://fake-server", "fake", schema=schema, transport_factory=server.transport_factory,
        **client_kwargs,
    )  # fmt: skip
    client.connect()
    server.send(server.identity_token(token))
    conn = FakeConnection(client, server)
    conn.tick()
    return conn
