"""The stdb_game test kit's fixtures, for the recordings made against the dev server."""

from __future__ import annotations

from stdb_game.testing.pytest_plugin import stdb_dev_server_factory  # noqa: F401 - a fixture
