"""Test kit for games built on stdb_game: a scripted fake server and pytest fixtures."""

from __future__ import annotations

from .fake_server import FakeServer

__all__ = ["FakeServer"]
