"""A token the server refuses (HTTP 401): ``on_token_refused`` and ``forget_token()``.

The real case: a dev server restarted without ``--data-dir`` forgets the key it signed
tokens with, so every client's token is refused, at connect and on the automatic reconnect.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from helpers import FakeClock, Player, game_schema

from stdb_game import CredentialStore
from stdb_game.client import Client, ClientState, ReconnectPolicy
from stdb_game.errors import AuthError, StdbError
from stdb_game.events import EventCause
from stdb_game.sats.values import Identity
from stdb_game.testing import FakeServer

NEW = Identity.from_be_bytes(b"\xc2\x00" + bytes(range(100, 130)))


def _refused() -> AuthError:
    return AuthError("refused (HTTP 401)", status=401)


def _client(clock: FakeClock, **kw: Any) -> tuple[Client, FakeServer, list[tuple[str, Any]]]:
    """A client with a player subscription, connected with token "old", and an event log."""
    schema = game_schema()
    server = FakeServer(schema)
    kw.setdefault("token", "old")
    client = Client("ws://fake:3000", "game", schema=schema, clock=clock, budget_ms=None,
                    transport_factory=server.transport_factory,
                    reconnect=ReconnectPolicy(initial_delay=1.0, jitter=0.0), **kw)  # fmt: skip
    log: list[tuple[str, Any]] = []
    client.on_connect(lambda identity, token, conn: log.append(("connect", identity)))
    client.on_connect_error(lambda e: log.append(("connect_error", e)))
    client.on_disconnect(lambda r: log.append(("disconnect", r.will_reconnect)))
    client.on_reconnect(lambda: log.append(("reconnect", None)))
    client.connect()
    server.send(server.identity_token("old"))
    sub = client.subscribe("SELECT * FROM player")
    client.tick()
    server.send(server.subscribe_applied(sub.query_id, {"player": [(1, 0), (2, 0)]}))
    client.tick()
    assert client.db.player.count() == 2
    log.clear()
    return client, server, log


def _drop_and_refuse(client: Client, server: FakeServer, clock: FakeClock) -> None:
    """The server goes away and comes back refusing the old token (once)."""
    server.transport.feed_abnormal()
    client.tick()
    assert client.state is ClientState.RECONNECTING
    server.refuse_next.append(_refused())
    clock.advance(1.01)
    client.tick()  # the reconnect attempt: 401


def test_reconnect_refused_with_anonymous_goes_on_as_a_new_identity(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    client, server, log = _client(clock, on_token_refused="anonymous")
    old_identity = client.identity
    rows: list[tuple[str, Any, EventCause]] = []
    client.db.player.on_insert(lambda ctx, r: rows.append(("insert", r, ctx.cause)))
    client.db.player.on_delete(lambda ctx, r: rows.append(("delete", r, ctx.cause)))
    with caplog.at_level(logging.WARNING, logger="stdb_game.client"):
        _drop_and_refuse(client, server, clock)
        assert client.state is ClientState.RECONNECTING  # not given up
        assert server.tokens == ["old"] and client.token is None
        assert "clearing it and connecting as a NEW identity" in caplog.text
        client.tick()  # at once, without a token: no backoff for the anonymous attempt
        assert server.tokens == ["old", None]
        server.send(server.identity_token("fresh", identity=NEW))
        client.tick()
    assert "connected as a NEW identity" in caplog.text
    assert client.identity == NEW != old_identity and client.token == "fresh"
    # The subscription is restored; the cache is reconciled with what the new one holds.
    (restore,) = [m for m in server.received() if type(m).__name__ == "SubscribeMulti"]
    server.send(server.subscribe_applied(restore.query_id.id, {"player": [(1, 0), (3, 0)]}))
    client.tick()
    assert log == [("disconnect", True), ("connect", NEW), ("reconnect", None)]
    assert sorted(client.db.player.iter()) == [Player(1, 0), Player(3, 0)]
    assert rows == [("insert", Player(3, 0), EventCause.RECONNECT),
                    ("delete", Player(2, 0), EventCause.RECONNECT)]  # fmt: skip
    assert client.stats.reconnects == 1


def test_anonymous_reconnect_is_tried_once_then_the_refusal_is_reported() -> None:
    clock = FakeClock()
    client, server, log = _client(clock, on_token_refused="anonymous")
    _drop_and_refuse(client, server, clock)
    server.refuse_next.append(AuthError("refused again", status=401))
    client.tick()  # the anonymous attempt is refused too: nothing left to drop
    assert client.state is ClientState.DISCONNECTED
    assert server.tokens == ["old"]
    (kind, error), disconnect = log[1], log[2]
    assert kind == "connect_error" and str(error) == "refused again"
    assert disconnect == ("disconnect", False)


def test_reconnect_refused_without_the_option_gives_up_with_a_hint_that_works() -> None:
    clock = FakeClock()
    client, server, log = _client(clock)
    _drop_and_refuse(client, server, clock)
    assert client.state is ClientState.DISCONNECTED and client.token == "old"
    (error,) = [e[1] for e in log if e[0] == "connect_error"]
    assert isinstance(error, AuthError) and error.status == 401
    assert "call client.forget_token(), then client.connect()" in str(error)
    with pytest.raises(StdbError, match=r"forget_token\(\) then client.connect\(\)"):
        client.call_reducer("spawn")
    # connect() alone re-sends the refused token and is refused again, saying the same.
    server.refuse_next.append(_refused())
    with pytest.raises(AuthError, match=r"forget_token\(\)"):
        client.connect()
    client.forget_token()
    client.connect()
    assert server.tokens == ["old", None]
    server.send(server.identity_token("fresh", identity=NEW))
    client.tick()
    assert client.is_connected and client.identity == NEW and client.token == "fresh"


def test_forget_token_clears_the_stored_copy(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.save("k", "stored")
    clock = FakeClock()
    client, server, _ = _client(clock, token=None, credentials=store, credentials_key="k",
                                on_token_refused="anonymous")  # fmt: skip
    assert server.tokens == ["stored"] and store.load("k") == "old"  # the server's, saved
    _drop_and_refuse(client, server, clock)
    assert store.load("k") is None  # the refused token is gone from the store too
    client.tick()
    server.send(server.identity_token("fresh", identity=NEW))
    client.tick()
    assert server.tokens == ["stored", None] and store.load("k") == "fresh"


def test_a_refused_given_token_with_anonymous_connects_without_it() -> None:
    schema = game_schema()
    server = FakeServer(schema)
    client = Client("ws://fake:3000", "game", schema=schema, token="given",
                    on_token_refused="anonymous",
                    transport_factory=server.transport_factory)  # fmt: skip
    server.refuse_next.append(_refused())
    client.connect()
    assert server.tokens == [None] and client.token is None


def test_a_real_dev_server_restarted_with_a_new_key() -> None:
    """Restart the dev server on the same port with a new signing key (``--ephemeral-key``;
    any restart without --data-dir did this before the dev server kept a per-user key):
    the reconnect is refused (401); with on_token_refused='anonymous' the client goes on
    as a new identity and its subscription comes back."""
    import importlib.util
    import socket

    if importlib.util.find_spec("aiohttp") is None:
        pytest.skip("needs the dev server's extra")
    from stdb_game.devserver.launcher import start_dev_server

    chat = Path(__file__).resolve().parents[1] / "demos" / "chat" / "module.py"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    events: list[str] = []
    fresh_key = ["--ephemeral-key"]
    with start_dev_server(chat, port=port, extra_args=fresh_key) as first:
        c = Client(first.url, first.database, on_token_refused="anonymous",
                   reconnect=ReconnectPolicy(initial_delay=0.05, jitter=0.0))  # fmt: skip
        c.on_connect(lambda identity, token, conn: events.append("connect"))
        c.on_reconnect(lambda: events.append("reconnect"))
        c.on_connect_error(lambda e: events.append(f"error {e}"))
        c.connect()
        sub = c.subscribe("SELECT * FROM user")
        assert c.run_until(lambda: sub.is_active, 10)
        first_identity, first_token = c.identity, c.token
        assert first_token is not None
    c.run_until(lambda: c.state is ClientState.RECONNECTING, 5)
    with start_dev_server(chat, port=port, extra_args=fresh_key):
        try:
            assert c.run_until(lambda: "reconnect" in events, 20), events
            assert c.identity is not None and c.identity != first_identity
            assert c.token not in (None, first_token)
            assert sub.is_active and events == ["connect", "connect", "reconnect"]
            # The new identity is a user like any other: its own row is in the cache.
            assert c.run_until(lambda: any(u.identity == c.identity for u in c.db.user.iter()), 5)
        finally:
            c.disconnect()
