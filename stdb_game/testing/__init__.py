"""Test kit for games built on stdb_game: a scripted fake server, bounded waits, fixtures.

The pytest fixtures live in ``stdb_game.testing.pytest_plugin`` (``docs/testing.md``);
``EventLog`` renders callbacks to comparable data for replay-style assertions.
"""

from __future__ import annotations

from ..replay.eventlog import EventLog, snapshot_cache
from .fake_server import FakeServer
from .kit import FakeConnection, TickTimeout, connect_fake, tick_until

__all__ = [
    "EventLog",
    "FakeConnection",
    "FakeServer",
    "TickTimeout",
    "connect_fake",
    "snapshot_cache",
    "tick_until",
]
