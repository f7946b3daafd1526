"""The old API against the dev server, schema fetched from it: generated bindings' old-style
callbacks registered before connecting fire, sync and async; the old async example runs."""

from __future__ import annotations

import asyncio
import importlib
import itertools
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from stdb_game.codegen import generate, runtime
from stdb_game.compat import SpacetimeDBAsyncClient, SpacetimeDBClient
from stdb_game.events import ReducerStatus

ROOT = Path(__file__).resolve().parents[2]
CHAT = ROOT / "demos" / "chat"
_names = itertools.count()


@pytest.fixture(scope="module")
def chat_server() -> Iterator[Any]:
    launcher = pytest.importorskip("stdb_game.devserver.launcher")
    pytest.importorskip("aiohttp")
    with launcher.start_dev_server(CHAT / "module.py") as handle:
        yield handle


@pytest.fixture
def bindings(tmp_path: Path) -> Iterator[ModuleType]:
    """The chat module's bindings, generated fresh (the old API keeps module-level state)."""
    runtime.reset()  # no current client left over from another test
    out = tmp_path / f"compat_chat_bindings_{next(_names)}"
    generate(json.loads((CHAT / "schema.json").read_text()), out, "schema.json")
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    try:
        yield importlib.import_module(out.name)
    finally:
        sys.path.remove(str(tmp_path))
        runtime.reset()


def _update_until(client: SpacetimeDBClient, cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        client.update()
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.002)


@pytest.mark.parametrize("how", ["builder", "connect"])
def test_row_callbacks_registered_before_connecting_fire_without_module_bindings(
    chat_server: Any, bindings: ModuleType, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[str, str]] = []
    importlib.import_module(f"{bindings.__name__}.message").Message.register_row_update(
        lambda op, old, new, ev: seen.append((op, new.text))
    )
    text = f"compat-{how}"
    with caplog.at_level(logging.WARNING):
        if how == "builder":
            client = (
                SpacetimeDBClient.builder()
                .with_uri(chat_server.url)
                .with_module_name(chat_server.database)
                .connect()
            )
        else:
            client = SpacetimeDBClient.connect(chat_server.url, chat_server.database)
    try:
        client.subscribe_multi(["SELECT * FROM message"])
        _update_until(client, lambda: client.identity is not None)
        client.call_reducer("send_message", text)
        _update_until(client, lambda: ("insert", text) in seen)
    finally:
        client.close()
    assert "row callbacks stay idle" not in caplog.text


def test_the_compat_clients_own_row_callbacks_wait_for_the_schema_too(chat_server: Any) -> None:
    client = (
        SpacetimeDBClient.builder()
        .with_uri(chat_server.url)
        .with_module_name(chat_server.database)
        .build()
    )
    seen: list[str] = []
    client.register_row_update("message", lambda op, old, new, ev: seen.append(new.text))
    client.client.connect()
    try:
        client.subscribe_multi(["SELECT * FROM message"])
        _update_until(client, lambda: client.identity is not None)
        client.call_reducer("send_message", "compat-own")
        _update_until(client, lambda: "compat-own" in seen)
    finally:
        client.close()


def test_async_client_without_bindings_async_on_connect_and_awaitable_close(
    chat_server: Any, bindings: ModuleType
) -> None:
    rows: list[str] = []
    importlib.import_module(f"{bindings.__name__}.message").Message.register_row_update(
        lambda op, old, new, ev: rows.append(new.text)
    )
    results: list[Any] = []

    async def main() -> None:
        ac = SpacetimeDBAsyncClient(tick_interval=0.002)

        async def on_connect(token: str, identity: Any) -> None:
            results.append(await ac.call_reducer("send_message", "async hi"))
            results.append(await ac.call_reducer("send_message", ""))  # refused by the module
            await ac.close()

        await asyncio.wait_for(
            ac.run(None, chat_server.url, chat_server.database, False, on_connect,
                   ["SELECT * FROM message"]),
            15,
        )  # fmt: skip

    asyncio.run(main())
    ok, refused = results
    assert ok.status is ReducerStatus.COMMITTED and "async hi" in rows
    assert refused.status is ReducerStatus.FAILED and "empty" in (refused.error or "")


def test_the_old_sdks_async_example_runs(chat_server: Any, bindings: ModuleType) -> None:
    """examples/asyncio/send_chat.py of spacetimedb-sdk 0.7.0, with the new import path."""
    out: list[Any] = []

    async def main() -> None:
        client = SpacetimeDBAsyncClient(bindings)
        host = chat_server.url.split("://", 1)[1]
        (auth_token, identity) = await client.connect(  # noqa: RUF059 - as the example reads
            None, host, chat_server.database, False, ["SELECT * FROM user", "SELECT * FROM message"]
        )
        out.append(identity)
        result = await client.call_reducer("send_message", "hi from old example")
        out.append(result.status)
        await client.close()
        out.append(client.is_connected)

    asyncio.run(asyncio.wait_for(main(), 15))
    identity, status, still_connected = out
    assert identity is not None and status is ReducerStatus.COMMITTED and not still_connected
