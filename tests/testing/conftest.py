"""Use the stdb_game test kit here the way a game's test suite would.

A game enables the plugin in its top-level conftest (``pytest_plugins = [...]``); this
repository's suite is shared, so the fixtures are imported here instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stdb_game.testing.pytest_plugin import (  # noqa: F401 - fixtures, found by name
    stdb_client,
    stdb_client_factory,
    stdb_dev_server,
    stdb_dev_server_factory,
    stdb_fake,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def stdb_module_path() -> Path:
    return ROOT / "demos" / "chat" / "module.py"
