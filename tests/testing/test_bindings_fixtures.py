"""The test kit's fixtures with generated bindings, as docs/testing.md shows them.

A client from ``stdb_client_factory(schema=SCHEMA)`` or ``stdb_fake(SCHEMA)`` wrapped in the
bindings' ``DbConnection``: typed rows, typed reducer calls and callbacks, on the dev server
and on a fake one.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from stdb_game import protocol as P
from stdb_game.client import Client
from stdb_game.codegen import generate
from stdb_game.devserver import module_schema_json
from stdb_game.testing import FakeConnection, tick_until

CHAT_MODULE = Path(__file__).resolve().parents[2] / "demos" / "chat" / "module.py"


@pytest.fixture(scope="module")
def chat_bindings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """What ``stdb-game generate --module demos/chat/module.py --out kit_chat_bindings``
    writes, imported."""
    root = tmp_path_factory.mktemp("kit_bindings")
    generate(module_schema_json(str(CHAT_MODULE)), root / "kit_chat_bindings", CHAT_MODULE.name)
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    try:
        yield importlib.import_module("kit_chat_bindings")
    finally:
        sys.path.remove(str(root))


def test_generated_bindings_with_the_dev_server_fixtures(
    stdb_client_factory: Callable[..., Client], chat_bindings: ModuleType
) -> None:
    b = chat_bindings
    alice = b.DbConnection(stdb_client_factory(schema=b.SCHEMA))
    bob = b.DbConnection(stdb_client_factory(schema=b.SCHEMA))
    heard: list[Any] = []
    bob.db.message.on_insert(lambda ctx, m: heard.append(m))
    subs = [alice.db.message.subscribe(), bob.db.message.subscribe()]
    both = [alice.client, bob.client]
    tick_until(both, lambda: all(s.is_active for s in subs), what="subscriptions")

    alice.reducers.send_message("hello from the kit")

    tick_until(
        both, lambda: any(m.text == "hello from the kit" for m in heard), what="bob hears alice"
    )
    (msg,) = [m for m in heard if m.text == "hello from the kit"]
    assert isinstance(msg, b.Message) and msg.sender == alice.client.identity


def test_generated_bindings_with_the_fake_server_fixture(
    stdb_fake: Callable[..., FakeConnection], chat_bindings: ModuleType
) -> None:
    b = chat_bindings
    fake = stdb_fake(b.SCHEMA)
    conn = b.DbConnection(fake.client)
    sub = conn.db.user.subscribe()
    someone = b.User(fake.server.identity, "alice", True)
    fake.send(fake.server.subscribe_applied(sub.query_id, {"user": [someone]}))
    fake.tick()
    assert conn.db.user.identity.find(fake.server.identity) == someone
    rid = conn.reducers.set_name("bob")
    (call,) = [m for m in fake.sent() if isinstance(m, P.CallReducer)]
    assert (call.reducer, call.request_id) == ("set_name", rid)
