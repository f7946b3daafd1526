"""The example from docs/testing.md: test a chat bot against the dev server and a fake."""

from __future__ import annotations

import json
from collections.abc import Callable

from shared_data import CHAT_SCHEMA_JSON

from stdb_game import protocol as P
from stdb_game.client import Client
from stdb_game.sats.values import ConnectionId, Identity, Timestamp
from stdb_game.schema import ModuleSchema
from stdb_game.testing import FakeConnection, tick_until

from .example_game import PingBot

CHAT_SCHEMA = CHAT_SCHEMA_JSON


def test_the_bot_answers_ping_on_the_dev_server(
    stdb_client_factory: Callable[..., Client],
) -> None:
    bot_client = stdb_client_factory()
    bot = PingBot(bot_client)
    bot_sub = bot_client.subscribe("SELECT * FROM message")
    player = stdb_client_factory()
    player_sub = player.subscribe("SELECT * FROM message")
    both = [bot_client, player]
    tick_until(both, lambda: bot_sub.is_active and player_sub.is_active, what="subscriptions")

    player.call_reducer("send_message", "ping")

    tick_until(
        both,
        lambda: any(
            m.text == "pong" and m.sender == bot_client.identity for m in player.db.message
        ),
        what="the bot's pong",
    )
    assert bot.replies == 1


def test_the_bot_ignores_history_and_its_own_pings(
    stdb_fake: Callable[..., FakeConnection],
) -> None:
    schema = ModuleSchema.from_json(json.loads(CHAT_SCHEMA.read_text()))
    conn = stdb_fake(schema)
    server = conn.server
    other = Identity.from_be_bytes(b"\xc2\x00" + bytes(30))
    other_conn = ConnectionId(7)
    bot = PingBot(conn.client)
    sub = conn.client.subscribe("SELECT * FROM message")
    old_ping = (other, Timestamp(1), "ping")
    conn.send(server.subscribe_applied(sub.query_id, {"message": [old_ping]}))
    conn.tick()
    assert bot.replies == 0  # history is not answered

    new_ping = (other, Timestamp(2), "ping")
    my_ping = (server.identity, Timestamp(3), "ping")
    conn.send(
        server.transaction(
            "send_message", ("ping",), inserts={"message": [new_ping]},
            caller=other, caller_connection_id=other_conn,
        ),
        server.transaction("send_message", ("ping",), inserts={"message": [my_ping]}),
    )  # fmt: skip
    conn.tick()

    calls = [m for m in conn.sent() if isinstance(m, P.CallReducer)]
    assert [(c.reducer, c.args) for c in calls] == [("send_message", b"\x04\x00\x00\x00pong")]
