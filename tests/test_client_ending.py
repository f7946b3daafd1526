"""A connection that ends for good, and requests refused because of it.

However the connection ended (reconnects off, or reconnecting gave up), ``connect()`` then
starts clean; a refused request leaves no state; each lost call counts once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from helpers import FakeClock, connected_client, game_schema

from stdb_game import protocol as P
from stdb_game.client import Client, ClientBuilder, ClientState, ReconnectPolicy
from stdb_game.credentials import CredentialStore
from stdb_game.errors import AuthError, ConnectError, StdbError
from stdb_game.events import EventCause
from stdb_game.session import SubscriptionState
from stdb_game.testing import FakeServer


def _reconnecting_client(
    clock: FakeClock, max_attempts: int | None = None, **kw: Any
) -> tuple[Client, FakeServer]:
    schema = game_schema()
    server = FakeServer(schema)
    client = Client("ws://fake:3000", "game", schema=schema, clock=clock, budget_ms=None,
                    transport_factory=server.transport_factory,
                    reconnect=ReconnectPolicy(initial_delay=1.0, jitter=0.0,
                                              max_attempts=max_attempts), **kw)  # fmt: skip
    client.connect()
    server.send(server.identity_token())
    client.tick()
    return client, server


@pytest.mark.parametrize("how", ["reconnect_off", "gave_up"])
def test_connect_after_the_end_starts_clean_however_it_ended(how: str) -> None:
    clock = FakeClock()
    if how == "reconnect_off":
        client, server = connected_client(clock=clock)
    else:
        client, server = _reconnecting_client(clock, max_attempts=1)
    sub = client.subscribe("SELECT * FROM player")
    client.tick()
    server.send(server.subscribe_applied(sub.query_id, {"player": [(1, 0)]}))
    client.tick()
    deleted: list[tuple[Any, EventCause]] = []
    client.table("player").on_delete(lambda ctx, row: deleted.append((row, ctx.cause)))
    server.transport.feed_abnormal()
    client.tick()
    if how == "gave_up":
        server.refuse_next.append(ConnectError("down"))
        clock.advance(2)
        client.tick()
    assert client.state is ClientState.DISCONNECTED
    assert sub.state is SubscriptionState.ERROR
    assert client.session.restoring is False  # the same end state both ways
    server.received()

    client.connect()
    server.send(server.identity_token())
    client.tick()
    # The ended subscription is not resent; the old rows are reconciled away.
    assert [m for m in server.received() if isinstance(m, P.SubscribeMulti)] == []
    assert sub.state is SubscriptionState.ERROR
    assert client.table("player").count() == 0
    assert [cause for _, cause in deleted] == [EventCause.RECONNECT]
    assert client.session.restoring is False


def test_refused_requests_leave_no_state() -> None:
    client, server = connected_client()
    server.transport.feed_abnormal()
    client.tick()
    subs_before = dict(client.session.subscriptions)
    with pytest.raises(StdbError, match="not sent"):
        client.subscribe("SELECT * FROM item")
    with pytest.raises(StdbError, match="not sent"):
        client.subscribe_single("SELECT * FROM item")
    with pytest.raises(StdbError, match="not sent"):
        client.call_reducer("spawn")
    with pytest.raises(StdbError, match="not sent"):
        client.one_off_query("SELECT * FROM item", lambda r: None)
    assert client.session.subscriptions == subs_before
    assert len(client.session.pending_calls) == 0
    client.connect()
    server.send(server.identity_token())
    client.tick()
    assert server.received() == []
    assert client.session.lost_calls == 0


def test_a_request_refused_by_a_full_outbox_leaves_no_state() -> None:
    schema = game_schema()
    server = FakeServer(schema)
    client = Client("ws://fake:3000", "game", schema=schema, budget_ms=None,
                    transport_factory=server.transport_factory, outbox_limit=1)  # fmt: skip
    client.call_reducer("spawn")
    with pytest.raises(StdbError, match="outbox_limit"):
        client.subscribe("SELECT * FROM item")
    with pytest.raises(StdbError, match="outbox_limit"):
        client.call_reducer("spawn")
    assert client.session.subscriptions == {}
    assert [c.request_id for c in client.session.pending_calls] == [1]


def test_a_call_queued_while_reconnecting_counts_lost_once_when_it_gives_up() -> None:
    clock = FakeClock()
    client, server = _reconnecting_client(clock, max_attempts=2)
    server.transport.feed_abnormal()
    client.tick()
    client.call_reducer("spawn")  # waits in the outbox
    clock.advance(2)
    client.tick()  # attempt 1 opens a socket...
    server.transport.feed_abnormal()
    client.tick()  # ...which drops before its IdentityToken: the call was never sent
    assert client.session.lost_calls == 0
    server.refuse_next.append(ConnectError("down"))
    clock.advance(5)
    client.tick()
    assert client.state is ClientState.DISCONNECTED
    assert client.session.lost_calls == 1


def test_a_call_queued_through_a_failed_attempt_is_sent_and_answered_not_lost() -> None:
    clock = FakeClock()
    client, server = _reconnecting_client(clock)
    server.transport.feed_abnormal()
    client.tick()
    rid = client.call_reducer("spawn")
    clock.advance(2)
    client.tick()
    server.transport.feed_abnormal()  # the first attempt drops before its IdentityToken
    client.tick()
    clock.advance(5)
    client.tick()
    server.send(server.identity_token())
    client.tick()
    calls = [m for m in server.received() if isinstance(m, P.CallReducer)]
    assert [m.request_id for m in calls] == [rid]
    assert [c.request_id for c in client.session.pending_calls] == [rid]
    assert client.session.lost_calls == 0


def test_begin_connect_reports_a_failing_factory_in_the_next_tick() -> None:
    schema = game_schema()
    server = FakeServer(schema)
    client = Client("ws://fake:3000", "game", schema=schema,
                    transport_factory=server.transport_factory)  # fmt: skip
    seen: list[tuple[bool, BaseException]] = []
    client.on_connect_error(lambda e: seen.append((client._in_tick, e)))
    server.refuse_next.append(ConnectError("refused"))
    client.begin_connect()  # does not raise
    assert seen == []
    assert client.state is ClientState.CONNECTING
    client.tick()
    assert [(inside, str(e)) for inside, e in seen] == [(True, "refused")]
    assert client.state is ClientState.DISCONNECTED
    client.tick()
    assert len(seen) == 1  # reported once


def test_begin_connect_reports_a_failed_lookup_in_the_next_tick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import stdb_game.client as client_mod

    def no_dns(url: str) -> Any:
        raise ConnectError(f"cannot resolve {url}")

    monkeypatch.setattr(client_mod, "resolve", no_dns)
    client = Client("ws://nowhere:3000", "game", schema=game_schema())
    seen: list[tuple[bool, str]] = []
    client.on_connect_error(lambda e: seen.append((client._in_tick, type(e).__name__)))
    client.begin_connect()
    assert seen == []
    client.tick()
    assert seen == [(True, "ConnectError")]
    assert client.state is ClientState.DISCONNECTED


def test_the_end_warning_counts_one_off_queries_in_flight(caplog: Any) -> None:
    client, server = connected_client()
    results: list[Any] = []
    client.one_off_query("SELECT * FROM player", results.append)
    client.tick()
    with caplog.at_level(logging.WARNING, logger="stdb_game.client"):
        server.transport.feed_abnormal()
        client.tick()
    assert len(results) == 1
    assert "1 one-off query(ies) failed" in caplog.text


def test_after_the_anonymous_retry_is_refused_requests_do_not_say_forget_token() -> None:
    clock = FakeClock()
    schema = game_schema()
    server = FakeServer(schema)
    client = Client("ws://fake:3000", "game", schema=schema, clock=clock, budget_ms=None,
                    token="old", on_token_refused="anonymous",
                    transport_factory=server.transport_factory,
                    reconnect=ReconnectPolicy(initial_delay=1.0, jitter=0.0))  # fmt: skip
    client.connect()
    server.send(server.identity_token("old"))
    client.tick()
    server.transport.feed_abnormal()
    client.tick()
    server.refuse_next += [AuthError("401 a", status=401), AuthError("401 b", status=401)]
    clock.advance(1.01)
    client.tick()
    client.tick()
    assert client.token is None
    with pytest.raises(StdbError) as info:
        client.call_reducer("spawn")
    assert "forget_token" not in str(info.value)
    assert "without a token" in str(info.value)


def test_with_credentials_keeps_an_earlier_on_token_refused(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    builder = (
        ClientBuilder()
        .with_uri("ws://fake:3000")
        .with_module_name("game")
        .with_schema(game_schema())
        .with_option("on_token_refused", "anonymous")
        .with_credentials(store)
    )
    assert builder.build().on_token_refused == "anonymous"
    assert builder.with_credentials(store, on_token_refused="raise").build().on_token_refused == (
        "raise"
    )


def test_keepalive_counts_silence_from_when_frames_arrived() -> None:
    clock = FakeClock()
    client, server = connected_client(clock=clock)  # the IdentityToken was read at t=0
    t = server.transport
    first_ping = None
    for second in range(1, 20):
        clock.advance(1.0)
        client.tick()
        if t.pings_sent and first_ping is None:
            first_ping = second
    # interval=15 s from the read at t=0, not from the look (t=4) that noticed it.
    assert first_ping == 15
