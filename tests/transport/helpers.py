"""Bounded waits for transport tests: poll until something holds or a deadline passes."""

from __future__ import annotations

import time
from collections.abc import Callable

from stdb_game.transport import Transport


def poll_until(
    transport: Transport,
    done: Callable[[list[bytes]], bool],
    *,
    timeout: float = 10.0,
    max_frames: int = 1_000_000,
) -> list[bytes]:
    """Poll (and flush) until ``done(received_so_far)`` is true; fail after ``timeout``."""
    received: list[bytes] = []
    deadline = time.monotonic() + timeout
    while True:
        transport.flush()
        received += transport.poll(max_frames)
        if done(received):
            return received
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met after {timeout} s; got {len(received)} frames")
        time.sleep(0.0005)


def poll_until_closed(transport: Transport, timeout: float = 10.0) -> list[bytes]:
    return poll_until(transport, lambda _: not transport.is_open, timeout=timeout)
