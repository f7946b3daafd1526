"""Fixtures for the demo tests: one dev server per demo module, and bots run as subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from demos.common import DEMOS
from stdb_game.devserver.launcher import DevServerHandle, start_dev_server

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
