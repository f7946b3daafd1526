"""Callback and event order the docs promise, at session and client level (FakeServer).

Each test asserts a whole sequence, so a reordering anywhere in the pipeline fails it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from helpers import game_schema

from stdb_game.client import Client
from stdb_game.protocol import compression as compression_module
from stdb_game.testing import FakeServer

# ---- Brotli without its extra -----------------------------------------------------------------


@pytest.fixture
def without_brotli(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pretend the optional brotli package is not installed."""
    monkeypatch.setitem(sys.modules, "brotli", None)  # makes `import brotli` fail
    monkeypatch.setattr(compression_module, "_brotli_module", None)
    yield


def _client(compression: str) -> Client:
    schema = game_schema()
    server = FakeServer(schema)
    return Client(
        "ws://fake:3000",
        "game",
        schema=schema,
        compression=compression,
        transport_factory=server.transport_factory,
    )


@pytest.mark.usefixtures("without_brotli")
def test_brotli_client_without_the_extra_is_refused_up_front_naming_the_extra() -> None:
    with pytest.raises(ValueError, match=r"'brotli' package: pip install stdb-game\[brotli\]"):
        _client("Brotli")
    # The other schemes need nothing optional.
    assert _client("Gzip").compression == "Gzip"
    assert _client("None").compression == "None"


def test_brotli_client_with_the_extra_asks_the_server_for_brotli() -> None:
    pytest.importorskip("brotli")
    client = _client("Brotli")
    assert "compression=Brotli" in client._url()
