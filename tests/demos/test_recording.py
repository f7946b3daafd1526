"""A bot's ``--record`` file replays, with no server, to exactly what the bot saw live."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stdb_game import Client
from stdb_game.cli import main as cli_main
from stdb_game.replay import ReplayTransport, read_recording, replay_session
from stdb_game.sats.codec import get_codec

from .conftest import LiveRun, play_in_process

pytestmark = pytest.mark.slow

#: Long enough for the arena bot to reach mass 60 and split at least once.
SECONDS = {"chat": 4.0, "arena": 12.0}


def _bsatn_cache(client: Client) -> dict[str, list[bytes]]:
    """Every cached row as its BSATN bytes: equal for typed and plain rows of equal values."""
    out: dict[str, list[bytes]] = {}
    for handle in client.db:
        codec = get_codec(client.schema.table(handle.name).row_type)
        out[handle.name] = sorted(codec.encode(row) for row in handle.iter())
    return out


@pytest.fixture(scope="module", params=["chat", "arena"])
def recorded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    demo = request.param
    path = tmp_path_factory.mktemp(demo) / f"{demo}.stdbrec"
    live = play_in_process(demo, ["--seconds", str(SECONDS[demo]), "--record", str(path)])
    return demo, live, path


def test_the_recording_is_whole_and_holds_the_schema(recorded: tuple[str, LiveRun, Path]) -> None:
    _, live, path = recorded
    rec = read_recording(path, strict=True)
    assert rec.complete and rec.damage is None
    assert rec.schema_json is not None  # the bindings' SCHEMA, which has no JSON of its own
    stored = rec.schema()
    assert stored is not None and set(stored.tables) == set(live.schema.tables)
    assert rec.tick_count == live.summary["net"]["ticks"]
    assert len(live.events) > 10


def test_a_plain_client_replays_the_events_and_cache_the_bot_saw(
    recorded: tuple[str, LiveRun, Path],
) -> None:
    demo, live, path = recorded
    # replay_session builds a plain Client over ReplayTransports: no game code, no server.
    result = replay_session(path, live.schema)
    assert result.differences == []
    assert result.events is not None
    assert result.events.first_difference(live.events.entries) is None
    assert result.cache() == live.cache
    if demo == "arena":
        assert len(live.cache["food"]) > 100 and len(live.cache["player"]) == 1
    else:
        assert any("hello from" in m["text"] for m in live.cache["message"])


def test_the_stored_schema_alone_rebuilds_the_same_cache(
    recorded: tuple[str, LiveRun, Path],
) -> None:
    _, live, path = recorded
    result = replay_session(path)  # rows decode as plain named tuples here
    assert result.differences == []
    assert result.events is not None and len(result.events) == len(live.events)
    assert _bsatn_cache(result.client) == _bsatn_cache(live.client)


def test_game_code_can_tick_a_client_through_the_recording(
    recorded: tuple[str, LiveRun, Path],
) -> None:
    _, live, path = recorded
    rec = read_recording(path)
    factory = ReplayTransport.factory(rec)
    client = Client("ws://replay", "db", schema=live.schema, transport_factory=factory)
    client.connect()
    for _ in range(rec.tick_count + 5):
        client.tick()
    assert client.identity is not None
    assert client.identity.to_hex() == live.summary["identity"]


def test_stdb_game_replay_prints_the_cache(
    recorded: tuple[str, LiveRun, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, live, path = recorded
    assert cli_main(["replay", str(path), "--summary", "--rows", "1"]) == 0
    out = capsys.readouterr().out
    assert "holds no schema" not in out
    assert f"cache at tick {read_recording(path).tick_count} (client state closed):" in out
    for table, rows in live.cache.items():
        assert f"  {table} ({len(rows)} rows)" in out


def test_the_bot_played_its_part(recorded: tuple[str, LiveRun, Path]) -> None:
    demo, live, _ = recorded
    s = live.summary
    assert s["fatal_error"] is None and s["state_at_end"] == "connected"
    if demo == "arena":
        assert s["splits"] >= 1 and s["max_circles"] >= 2, s  # split when big enough
        assert s["deaths"] == 0 and s["alive"]
    else:
        assert s["my_messages_seen"] == 3 and s["errors"] == ["Messages must not be empty"]
