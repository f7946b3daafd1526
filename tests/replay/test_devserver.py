"""Record real sessions against the dev server (quickstart-chat, a bot and a player) and
replay each without the server: same callbacks, same cache, no token in the file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stdb_game.client import Client
from stdb_game.events import EventCause, RowEventContext
from stdb_game.replay import EventLog, read_recording, replay_session, snapshot_cache
from stdb_game.testing import tick_until

ROOT = Path(__file__).resolve().parents[2]
CHAT = ROOT / "demos" / "chat" / "module.py"


def _bot(client: Client) -> None:
    """Greets each new user and answers "ping" with "pong"."""

    def on_user(ctx: RowEventContext, user: Any) -> None:
        if ctx.cause is EventCause.REDUCER and user.identity != client.identity:
            client.call_reducer("send_message", f"welcome {user.identity.to_hex()[:6]}")

    def on_message(ctx: RowEventContext, msg: Any) -> None:
        if ctx.cause is EventCause.REDUCER and msg.text == "ping":
            client.call_reducer("send_message", "pong")

    client.db.user.on_insert(on_user)
    client.db.message.on_insert(on_message)


@pytest.mark.slow
def test_dev_server_sessions_replay_identically(
    stdb_dev_server_factory: Callable[..., Any], tmp_path: Path
) -> None:
    server = stdb_dev_server_factory(CHAT)
    paths = {name: tmp_path / f"{name}.stdbrec" for name in ("bot", "player")}
    logs = {name: EventLog() for name in paths}
    clients: dict[str, Client] = {}
    for name, path in paths.items():
        c = Client(server.url, server.database, record_to=path)
        c.connect()  # fetches the schema over HTTP: stored in the recording
        logs[name].attach(c)
        tick_until(c, lambda c=c: c.is_connected, 10)
        clients[name] = c
    bot, player = clients["bot"], clients["player"]
    _bot(bot)
    subs = {name: logs[name].watch(c.subscribe_to_all_tables()) for name, c in clients.items()}
    both = [bot, player]
    tick_until(both, lambda: all(s.is_active for s in subs.values()), 10, what="subscriptions")
    bot.call_reducer("set_name", "bot")
    player.call_reducer("set_name", "player")
    player.call_reducer("send_message", "ping")
    player.call_reducer("send_message", "")  # fails: messages must not be empty
    tick_until(
        both,
        lambda: any(m.text == "pong" for m in player.db.message),
        10,
        what="the bot's pong",
    )
    tick_until(both, lambda: len(bot.db.message) == len(player.db.message), 10)
    for _ in range(3):
        bot.tick()
        player.tick()
    caches = {name: snapshot_cache(c) for name, c in clients.items()}
    tokens = {name: c.token for name, c in clients.items()}
    player.disconnect()
    tick_until(bot, lambda: any(not u.online for u in bot.db.user), 10, what="player offline")
    caches["bot"] = snapshot_cache(bot)
    bot.disconnect()

    for name, path in paths.items():
        data = path.read_bytes()
        for token in tokens.values():
            assert token and token.encode() not in data
            assert token.split(".")[-1].encode() not in data  # not even the JWT signature
        recording = read_recording(path, strict=True)
        assert recording.complete and recording.schema_json is not None
        result = replay_session(recording, strict=True)
        assert result.events is not None
        assert result.events.first_difference(logs[name].entries) is None, name
        assert result.cache() == caches[name], name
        assert result.differences == []
    assert any(e[1] == "reducer" and e[2]["status"] == "failed" for e in logs["player"].entries)
