"""Fixtures for the demo tests: one dev server per demo module, bots as subprocesses or in here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from demos.common import DEMOS
from stdb_game import Client, ModuleSchema
from stdb_game.devserver.launcher import DevServerHandle, start_dev_server
from stdb_game.replay import EventLog, snapshot_cache

ROOT = Path(__file__).resolve().parents[2]


def headless_env(**extra: str) -> dict[str, str]:
    """The environment of a bot subprocess: no display, dummy SDL drivers."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", PYGAME_HIDE_SUPPORT_PROMPT="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def start_bot(
    demo: str, args: Sequence[str], env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """``python -m demos.<demo> ARGS`` in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", f"demos.{demo}", *args],
        cwd=ROOT,
        env=env or headless_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 60.0) -> tuple[dict[str, Any], str]:
    """Wait for a bot; its JSON summary (the last stdout line) and its whole stdout."""
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert lines, f"no output\nstderr:\n{err}"
    return json.loads(lines[-1]), out


@dataclass
class LiveRun:
    """A bot played in this process: its summary, and what its client saw, as comparable data."""

    summary: dict[str, Any]
    #: Every callback the client fired (and the game subscription's), from before connect().
    events: EventLog
    #: ``snapshot_cache`` of the client when the game ended.
    cache: dict[str, list[Any]]
    client: Client
    schema: ModuleSchema


def play_in_process(demo: str, argv: Sequence[str]) -> LiveRun:
    """``python -m demos.<demo> --bot ARGV``, but here, with an event log on its client."""
    from demos.common import RunMode, build_parser, make_client, serve, setup_headless_video

    setup_headless_video()
    import pygame

    if demo == "chat":
        from demos.chat.game import ChatGame as game_class
    else:
        from demos.arena.game import ArenaGame as game_class  # type: ignore[assignment]
    args = build_parser(demo).parse_args(["--bot", *argv])
    mode = RunMode(bot=True, headless=True, seconds=args.seconds)
    assert game_class.schema is not None
    with serve(args, demo, quiet=True) as server:
        client = make_client(args, server, game_class.schema)
        events = EventLog().attach(client)
        client.connect()
        try:
            game = game_class(client, args, mode, server)
            sub = game.model.subscription if demo == "chat" else game.world.subscription  # type: ignore[attr-defined]
            events.watch(sub)
            summary = game.run()
        finally:
            pygame.quit()
    return LiveRun(summary, events, snapshot_cache(client), client, game_class.schema)


@pytest.fixture
def bot_env(tmp_path: Path) -> dict[str, str]:
    """A headless environment whose home (and so the stored identities) is a temp folder."""
    home = tmp_path / "home"
    home.mkdir()
    return headless_env(HOME=str(home), USERPROFILE=str(home))


@pytest.fixture(scope="session")
def chat_server() -> Iterator[DevServerHandle]:
    with start_dev_server(DEMOS["chat"].module, extra_args=["--log-level", "WARNING"]) as handle:
        yield handle


@pytest.fixture(scope="session")
def arena_server() -> Iterator[DevServerHandle]:
    with start_dev_server(DEMOS["arena"].module, extra_args=["--log-level", "WARNING"]) as handle:
        yield handle
