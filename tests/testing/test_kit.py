"""The test kit itself: bounded waits, the fake connection, and the plugin as users enable it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import Player, game_schema

from stdb_game.client import Client, ClientState
from stdb_game.replay import read_recording, replay_session
from stdb_game.testing import FakeConnection, TickTimeout, connect_fake, tick_until

ROOT = Path(__file__).resolve().parents[2]


def test_connect_fake_is_connected_and_scriptable() -> None:
    conn = connect_fake(game_schema())
    assert conn.client.state is ClientState.CONNECTED
    sub = conn.client.subscribe("SELECT * FROM player")
    conn.send(conn.server.subscribe_applied(sub.query_id, {"player": [(1, 2)]}))
    stats = conn.tick()
    assert stats.messages_applied == 1
    assert list(conn.client.db.player) == [Player(1, 2)]
    assert [type(m).__name__ for m in conn.sent()] == ["SubscribeMulti"]


def test_tick_until_returns_the_rounds_it_took() -> None:
    conn = connect_fake(game_schema())
    sub = conn.client.subscribe("SELECT * FROM player")
    conn.send(conn.server.subscribe_applied(sub.query_id, {"player": []}))
    assert tick_until(conn.client, lambda: sub.is_active, 1.0) == 1


def test_tick_until_explains_a_timeout() -> None:
    a = connect_fake(game_schema())
    b = connect_fake(game_schema())
    with pytest.raises(TickTimeout) as info:
        tick_until([a.client, b.client], lambda: False, 0.05, what="the impossible")
    text = str(info.value)
    assert text.startswith("the impossible did not happen within 0.1 s")
    assert text.count("state=connected") == 2


def test_tick_until_goes_on_at_once_while_there_is_work_and_naps_when_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import stdb_game.testing.kit as kit

    naps: list[float] = []
    monkeypatch.setattr(kit.time, "sleep", naps.append)
    conn = connect_fake(game_schema(), max_messages=1)
    for i in range(5):
        conn.send(conn.server.light(inserts={"note": [(f"n{i}",)]}))
    # One message per tick: five busy rounds, none followed by a nap.
    assert tick_until(conn.client, lambda: conn.client.db.note.count() == 5) == 5
    assert naps == []
    calls = iter([False, False, True])
    # Idle rounds on a fake transport (no socket to wait on) nap ``interval`` each.
    assert tick_until(conn.client, lambda: next(calls), interval=0.002) == 3
    assert naps == [0.002, 0.002]


def test_tick_until_waits_on_the_socket_instead_of_spinning(
    stdb_client_factory: Callable[..., Client],
) -> None:
    client = stdb_client_factory()
    with pytest.raises(TickTimeout) as info:
        tick_until(client, lambda: False, timeout=0.3, what="nothing")
    ticks = int(str(info.value).split("(")[1].split(" ticks")[0])
    # An idle connection: one round per max_wait (50 ms) at most, not one per millisecond.
    assert 1 <= ticks <= 15
    answers: list[object] = []
    client.on_reducer("set_name", answers.append)
    client.call_reducer("set_name", "prompt")
    # The answer wakes the wait: were it not, the first idle round would wait out the whole
    # timeout (max_wait is longer) and tick_until would raise.
    rounds = tick_until(client, lambda: bool(answers), timeout=5.0, max_wait=60.0)
    assert answers and rounds <= 5


def test_stdb_fake_fixture_disconnects_afterwards(
    stdb_fake: Callable[..., FakeConnection],
) -> None:
    conn = stdb_fake(game_schema(), budget_ms=None)
    assert conn.client.budget_ms is None and conn.client.is_connected


def test_dev_server_factory_runs_any_module(stdb_dev_server_factory: Callable[..., object]) -> None:
    handle = stdb_dev_server_factory(ROOT / "demos" / "chat" / "module.py")
    assert handle.running and handle.url.startswith("http://127.0.0.1:")  # type: ignore[attr-defined]


@pytest.mark.slow
def test_the_plugin_as_a_game_enables_it(tmp_path: Path) -> None:
    """A game's own suite: root conftest + ini option, and the failing session recorded."""
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["stdb_game.testing.pytest_plugin"]\n')
    module = ROOT / "demos" / "chat" / "module.py"
    (tmp_path / "pytest.ini").write_text(f"[pytest]\nstdb_module = {module}\n")
    (tmp_path / "test_game.py").write_text(
        textwrap.dedent(
            """
            from stdb_game.testing import tick_until

            def test_names(stdb_client):
                sub = stdb_client.subscribe("SELECT * FROM user")
                tick_until(stdb_client, lambda: sub.is_active)
                stdb_client.call_reducer("set_name", "tester")
                tick_until(
                    stdb_client,
                    lambda: any(u.name == "tester" for u in stdb_client.db.user),
                    what="the new name",
                )
                assert False, "fails on purpose, so the recording matters"
            """
        )
    )
    records = tmp_path / "recordings"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"--stdb-record-dir={records}", "test_game.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "fails on purpose" in proc.stdout
    (path,) = records.glob("*.stdbrec")
    assert path.name == "test_game.py_test_names-0.stdbrec"
    recording = read_recording(path)
    assert recording.complete and recording.schema_json is not None
    result = replay_session(recording)
    assert any(u.name == "tester" for u in result.client.db.user)
    assert result.differences == []
