"""Our ``Client`` through the official TS SDK's quickstart-chat scenario, in one go.

The same steps as ``ts/quickstart_chat_check.mjs`` (the official SDK against the dev
server): anonymous connect, subscribe to both tables, set_name, send_message, our own rows
arriving through callbacks, a failing reducer reported failed, a light-mode second client,
and a reconnect with the saved token that keeps the identity and its name. Every wait is
bounded; none is a timing assertion.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stdb_game import Client
from stdb_game.devserver.launcher import DevServerHandle, start_dev_server
from stdb_game.events import EventCause, ReducerEvent, RowEventContext

CHAT = Path(__file__).resolve().parents[2] / "demos" / "chat" / "module.py"
WAIT = 20.0  # seconds; every wait below is bounded by this


@pytest.fixture(scope="module")
def server() -> Iterator[DevServerHandle]:
    with start_dev_server(CHAT) as handle:
        yield handle


class Watched:
    """A connected client and everything its callbacks saw."""

    def __init__(self, server: DevServerHandle, **kw: Any) -> None:
        self.client = Client(server.url, server.database, reconnect=False, **kw)
        self.connected: list[tuple[Any, str]] = []
        self.client.on_connect(
            lambda identity, token, _cid: self.connected.append((identity, token))
        )
        self.client.connect()
        self.user_inserts: list[tuple[RowEventContext, Any]] = []
        self.user_updates: list[tuple[RowEventContext, Any, Any]] = []
        self.message_inserts: list[tuple[RowEventContext, Any]] = []
        self.reducers: list[ReducerEvent] = []
        db = self.client.db
        db.user.on_insert(lambda ctx, row: self.user_inserts.append((ctx, row)))
        db.user.on_update(lambda ctx, old, new: self.user_updates.append((ctx, old, new)))
        db.message.on_insert(lambda ctx, row: self.message_inserts.append((ctx, row)))
        self.client.on_any_reducer(self.reducers.append)

    def subscribe_all(self, everyone: list[Watched]) -> None:
        sub = self.client.subscribe(["SELECT * FROM user", "SELECT * FROM message"])
        wait(everyone, lambda: sub.is_active, "the subscription")

    def find_message(self, text: str) -> tuple[RowEventContext, Any] | None:
        return next(((c, m) for c, m in self.message_inserts if m.text == text), None)

    def reducer(self, name: str, **match: Any) -> ReducerEvent | None:
        for ev in self.reducers:
            if ev.reducer_name == name and all(getattr(ev, k) == v for k, v in match.items()):
                return ev
        return None


def wait(everyone: list[Watched], predicate: Callable[[], Any], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for w in everyone:
            w.client.tick()
        if predicate():
            return
        time.sleep(0.002)
    raise AssertionError(f"timed out waiting for {what}")


def test_quickstart_chat_scenario_of_the_official_sdk(server: DevServerHandle) -> None:
    suffix = f"{time.monotonic_ns() % 10**8:08d}"
    name = f"py-{suffix}"
    text = f"hello from stdb_game {suffix}"

    # 1. anonymous connect: a minted identity and token
    a = Watched(server)
    wait([a], lambda: a.connected, "on_connect")
    ((identity, token),) = a.connected
    assert a.client.identity == identity and identity.to_hex().startswith("c200")
    assert token.count(".") == 2  # a JWT

    # 2. subscribe to both tables: our own user row (client_connected made it) arrives
    a.subscribe_all([a])
    mine = a.client.db.user.find(identity)
    assert mine is not None and mine.online is True and mine.name is None
    assert any(
        row.identity == identity and ctx.cause is EventCause.SUBSCRIBE_APPLIED
        for ctx, row in a.user_inserts
    )

    # 3. set_name: a committed reducer event of ours and an update of our row
    a.client.call_reducer("set_name", name)
    wait([a], lambda: a.reducer("set_name"), "the set_name event")
    ev = a.reducer("set_name")
    assert ev is not None and ev.committed and ev.is_ours and ev.caller_identity == identity
    ((ctx, old, new),) = [u for u in a.user_updates if u[2].identity == identity]
    assert (old.name, new.name) == (None, name)
    assert ctx.cause is EventCause.REDUCER and ctx.reducer_event is not None
    assert ctx.reducer_event.reducer_name == "set_name"
    assert a.client.db.user.find(identity).name == name

    # 4. send_message: our message row arrives as an insert caused by our reducer
    a.client.call_reducer("send_message", text)
    wait([a], lambda: a.find_message(text), "our message insert")
    found = a.find_message(text)
    assert found is not None
    ctx, msg = found
    assert msg.sender == identity and ctx.cause is EventCause.REDUCER
    sent = a.reducer("send_message", error=None)
    assert sent is not None and sent.committed and sent.args.text == text

    # 5. a second client in light mode, no compression, sees the history and our next message
    b = Watched(server, light=True, compression="None")
    wait([a, b], lambda: b.connected, "the second client's on_connect")
    b.subscribe_all([a, b])
    assert any(m.text == text for m in b.client.db.message.iter())
    assert b.client.db.user.find(identity).name == name
    text2 = f"{text} (again)"
    a.client.call_reducer("send_message", text2)
    wait([a, b], lambda: b.find_message(text2), "the light client's insert")
    assert b.reducer("send_message") is None  # light mode: no reducer events for others' calls

    # 6. a failing reducer is reported failed, with the module's message, and changes nothing
    count = a.client.db.message.count()
    a.client.call_reducer("send_message", "")
    wait([a, b], lambda: a.reducer("send_message", committed=False), "the failed call")
    failed = a.reducer("send_message", committed=False)
    assert failed is not None and failed.error == "Messages must not be empty"
    assert a.client.db.message.count() == count

    # 7. reconnect with the saved token: same identity, its name kept; the other client
    # sees it go offline and come back
    a.client.disconnect()
    wait([b], lambda: not b.client.db.user.find(identity).online, "b seeing a go offline")
    c = Watched(server, token=token)
    wait([b, c], lambda: c.connected, "the reconnect")
    assert c.client.identity == identity
    c.subscribe_all([b, c])
    again = c.client.db.user.find(identity)
    assert again is not None and again.name == name and again.online is True
    assert {text, text2} <= {m.text for m in c.client.db.message.iter()}
    wait([b, c], lambda: b.client.db.user.find(identity).online, "b seeing a back online")
    b.client.disconnect()
    c.client.disconnect()
