"""The README's command without a display, the CLI, the terminal chat, and surviving a restart."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from demos.common import DEMOS, server_url_problem
from stdb_game.cli import main as cli_main
from stdb_game.devserver.launcher import DevServerHandle, start_dev_server

from .conftest import ROOT, finish, start_bot

pytestmark = pytest.mark.slow


def test_no_display_falls_back_to_a_headless_bot(bot_env: dict[str, str]) -> None:
    """`stdb-game demo arena` with no display: embedded server, bot mode, a clear notice."""
    env = dict(bot_env)
    env.pop("SDL_VIDEODRIVER")  # nothing forces headless but the missing display
    proc = subprocess.run(
        [sys.executable, "-m", "stdb_game.cli", "demo", "arena", "--seconds", "3"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("No display found"), lines[0]
    assert "stdb-game demo arena" in lines[0]
    assert any(ln.startswith("dev server for the arena demo at http://127.0.0.1:") for ln in lines)
    summary = json.loads(lines[-1])
    assert summary["bot"] is True and summary["embedded_server"] is True
    assert summary["timing"]["frames"] > 60
    assert summary["food"]["at_load"] + summary["food"]["spawned"] > 0


def test_demo_help_lists_both_demos(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli_main(["demo", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "chat" in out and "arena" in out
    with pytest.raises(SystemExit):
        cli_main(["demo", "chat", "--help"])
    out = capsys.readouterr().out
    for option in (
        "--server",
        "--database",
        "--name",
        "--client",
        "--fps",
        "--bot",
        "--seconds",
        "--screenshot",
        "--record",
        "--terminal",
    ):
        assert option in out
    assert cli_main(["demo"]) == 2  # no demo named: usage, not a crash


def test_terminal_chat_sends_and_shows_lines(
    chat_server: DevServerHandle, bot_env: dict[str, str]
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "demos.chat", "--terminal", "--server", chat_server.url,
         "--client", "7", "--name", "termie", "--seconds", "4"],
        cwd=ROOT, env=bot_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdin is not None
    proc.stdin.write("typed in a terminal\n")
    proc.stdin.flush()
    time.sleep(1.5)
    proc.stdin.write("\n/name termie2\n")
    proc.stdin.flush()
    proc.wait(timeout=30)  # stdin stays open: the chat stops on --seconds
    out, err = proc.communicate(timeout=5)
    assert proc.returncode == 0, err
    assert "termie: typed in a terminal" in out
    assert "! message refused by the server: Messages must not be empty" in out
    # The notice comes from the server's update of our user row: the rename took.
    assert "termie is now known as termie2" in out


@pytest.mark.parametrize("ending", ["/quit\nnot sent\n", ""])
def test_terminal_chat_echoes_piped_input_before_exiting(
    ending: str, bot_env: dict[str, str]
) -> None:
    """`printf ... | stdb-game demo chat --terminal`: each line's result is shown, then exit."""
    proc = subprocess.run(
        [sys.executable, "-m", "demos.chat", "--terminal", "--name", "pipe-in"],
        cwd=ROOT, env=bot_env, input="hi from pipe\n/name piper\n\n" + ending,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("dev server for the chat demo at http://127.0.0.1:")  # embedded
    echoed = [ln[6:] for ln in lines if ln[:2].isdigit()]  # after "HH:MM "
    assert echoed[0].startswith("- ") and echoed[0].endswith(" is now known as pipe-in")
    assert echoed[1:] == [
        "pipe-in: hi from pipe",
        "- pipe-in is now known as piper",
        "! message refused by the server: Messages must not be empty",
    ], proc.stdout
    assert "unanswered" not in proc.stdout


def test_chat_bot_rides_out_a_server_restart(tmp_path: Path, bot_env: dict[str, str]) -> None:
    """The server goes away mid-game: the bot keeps its frame rate, reconnects, carries on."""
    summary = _bot_through_a_restart(
        "chat", ["--seconds", "16", "--name", "phoenix"], tmp_path, bot_env, up=3.5, down=1.0
    )
    assert summary["drops"] >= 1
    assert summary["net"]["reconnects"] >= 1
    assert summary["state_at_end"] == "connected"
    # Lines typed while the server was away were sent once it was back (timing on a busy
    # machine decides how many made it before the end).
    assert summary["my_messages_seen"] >= 1, summary["messages"]
    assert summary["identity"] is not None
    assert summary["timing"]["frames"] > 16 * 30  # the loop kept running while the server was gone


def test_arena_bot_rides_out_a_server_restart(tmp_path: Path, bot_env: dict[str, str]) -> None:
    """A drop is no death: the player keeps its circle and identity and plays on."""
    shot = tmp_path / "arena.png"
    summary = _bot_through_a_restart(
        "arena",
        ["--seconds", "14", "--name", "phoenix", "--screenshot", str(shot)],
        tmp_path,
        bot_env,
        up=4.0,
        down=1.5,
    )
    assert summary["drops"] >= 1 and summary["net"]["reconnects"] >= 1
    assert summary["state_at_end"] == "connected"
    assert summary["deaths"] == 0, summary  # not "You were eaten!" for a lost connection
    assert summary["respawns"] == 0  # nor a second circle asked for while reconnecting
    assert summary["alive"] and summary["player_id"] is not None
    assert summary["name"] == "phoenix" and "phoenix" in summary["players"]
    assert summary["mass"] > 15  # it kept eating after the restart
    assert summary["timing"]["frames"] > 14 * 30


def test_chat_bot_on_a_database_without_its_tables_fails(
    arena_server: DevServerHandle, bot_env: dict[str, str]
) -> None:
    bot = start_bot(
        "chat",
        ["--bot", "--seconds", "10", "--server", arena_server.url, "--database",
         arena_server.database],
        bot_env,
    )  # fmt: skip
    out, err = bot.communicate(timeout=60)
    assert bot.returncode == 1, (out, err)
    summary = json.loads(out.strip().splitlines()[-1])
    (error,) = summary["errors"]
    assert error.startswith("the server refused the subscription") and "user" in error
    assert summary["fatal_error"] == error
    assert summary["seconds"] < 8  # a bot stops at once: nothing to show the error to
    assert f"error: {error}" in err


@pytest.mark.parametrize("url", ["ftp://x:1", "http://x:port", "http://:3000", "ws://h:1/?a=b"])
def test_a_server_that_is_no_url_is_a_usage_error(url: str, bot_env: dict[str, str]) -> None:
    for mode in ("--bot", "--terminal"):
        proc = subprocess.run(
            [sys.executable, "-m", "demos.chat", mode, "--seconds", "1", "--server", url],
            cwd=ROOT, env=bot_env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith(f"error: --server {url!r}"), proc.stderr
        assert "Traceback" not in proc.stderr


def test_server_urls_the_client_takes_pass_the_check() -> None:
    for url in ("localhost:3000", "ws://127.0.0.1:3000", "wss://h", "https://h:443/prefix"):
        assert server_url_problem(url) is None, url


def test_record_flag_writes_a_replayable_session(
    chat_server: DevServerHandle, bot_env: dict[str, str], tmp_path: Path
) -> None:
    rec = tmp_path / "chat.stdbrec"
    bot = start_bot(
        "chat", ["--bot", "--seconds", "3", "--server", chat_server.url, "--client", "9",
                 "--record", str(rec)], bot_env,
    )  # fmt: skip
    finish(bot)
    out = subprocess.run(
        [sys.executable, "-m", "stdb_game.cli", "replay", str(rec), "--summary"],
        cwd=ROOT, env=bot_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "SubscribeMultiApplied" in out.stdout and "CallReducer" in out.stdout


def test_chat_bot_with_a_huge_message_in_history_keeps_to_its_seconds(
    bot_env: dict[str, str],
) -> None:
    """A 1 MiB message (one unbroken word) once froze every frame that drew it."""
    from demos.chat.bindings import SCHEMA
    from stdb_game import Client

    with start_dev_server(DEMOS["chat"].module, extra_args=["--log-level", "WARNING"]) as server:
        sender = Client(server.url, server.database, schema=SCHEMA)
        sender.connect()
        results: list[bool] = []
        sender.on_reducer(
            "send_message", lambda ev: results.append(ev.committed) if ev.is_ours else None
        )
        sender.call_reducer("send_message", "x" * (1024 * 1024))
        sender.run_until(lambda: bool(results), 30.0)
        sender.disconnect()
        assert results == [True]
        started = time.monotonic()
        bot = start_bot(
            "chat",
            ["--bot", "--seconds", "3", "--server", server.url, "--database", server.database],
            bot_env,
        )
        try:
            summary, _ = finish(bot, timeout=90.0)
        finally:
            if bot.poll() is None:
                bot.kill()
        took = time.monotonic() - started
    assert summary["seconds"] < 3 + 3, summary["seconds"]  # the game loop's own clock
    assert took < 3 + 40  # with starting Python, connecting and loading the history
    huge = [m["text"] for m in summary["messages"] if m["text"].startswith("xxx")]
    assert huge == ["x" * 4096 + "... (message truncated, 1024 KB)"]
    assert summary["timing"]["frames"] > 3 * 20
    assert summary["stopped_by"] is None


def _bot_through_a_restart(
    demo: str, options: list[str], tmp_path: Path, bot_env: dict[str, str], up: float, down: float
) -> dict[str, Any]:
    """Run a bot against a dev server (with a data dir) that is stopped after ``up`` seconds
    and started again on the same port ``down`` seconds later; the bot's summary."""
    data = tmp_path / "data"
    module = DEMOS[demo].module
    args = ["--log-level", "WARNING"]
    server = start_dev_server(module, data_dir=data, extra_args=args)
    port = server.port
    bot = start_bot(demo, ["--bot", "--server", server.url, *options], bot_env)
    try:
        time.sleep(up)  # the outage is the point of the test: it needs wall time
        server.stop()
        time.sleep(down)
        server = start_dev_server(module, port=port, data_dir=data, extra_args=args)
        summary, _ = finish(bot)
    finally:
        server.stop()
        if bot.poll() is None:
            bot.kill()
    return summary
