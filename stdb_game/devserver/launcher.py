"""Start the dev server as its own process and wait until it answers, for tests, demos and games.

The server runs in a child process (``python -m stdb_game.devserver``), never in a thread of the
caller: its event loop and the caller's game loop must not share a GIL-bound scheduler or die
together. The child binds the requested port (0 = any free one) and prints one ready line on
stdout, ``stdb-game-dev-ready {json}``, which carries the real port; we wait for that line.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .keyfile import KEY_FILE_ENV

__all__ = ["READY_PREFIX", "DevServerError", "DevServerHandle", "start_dev_server"]

#: First word of the line the server prints on stdout once it accepts connections.
READY_PREFIX = "stdb-game-dev-ready"


class DevServerError(RuntimeError):
    """The dev server process did not come up (exited, or no ready line in time)."""


class DevServerHandle:
    """A running dev server process: where to reach it and how to stop it."""

    def __init__(self, process: subprocess.Popen[str], info: dict[str, Any]) -> None:
        self.process = process
        self.info = info
        self.url: str = info["url"]
        self.ws_url: str = info["ws_url"]
        self.host: str = info["host"]
        self.port: int = int(info["port"])
        self.database: str = info["database"]
        self.database_identity: str = info["database_identity"]

    @property
    def running(self) -> bool:
        """Whether the process is still alive."""
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """Ask the server to shut down (it disconnects clients cleanly), kill it if it lingers."""
        proc = self.process
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode

    def kill(self) -> None:
        """Stop without a clean shutdown, as a crash would (tests of durability use this)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10.0)

    def __enter__(self) -> DevServerHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited {self.process.returncode}"
        return f"<DevServerHandle {self.url} db={self.database!r} pid={self.process.pid} {state}>"


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Read the child's stdout until EOF so it never blocks on a full pipe."""
    try:
        for line in stream:
            lines.put(line)
    except (OSError, ValueError):
        pass
    finally:
        lines.put(None)


def start_dev_server(
    module: Path | str,
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    data_dir: Path | str | None = None,
    database: str | None = None,
    timeout: float = 20.0,
    ping_interval: float | None = None,
    extra_args: Sequence[str] = (),
    log_file: Path | str | None = None,
    env: dict[str, str] | None = None,
    key_file: Path | str | None = None,
) -> DevServerHandle:
    """Run ``python -m stdb_game.devserver`` for ``module`` and return once it is ready.

    ``port=0`` lets the server pick a free port (no race between choosing and binding).
    The server's log goes to ``log_file`` if given, else to this process's stderr.

    Tokens are signed with the key in ``key_file``, else the data directory's, else the file
    ``$STDB_GAME_DEV_KEY_FILE`` names; with none of these the key is new each start. Unlike
    ``stdb-game dev`` the launcher never uses the per-user key in the home directory: the
    tests, demos and fixtures that start servers this way must not write there.
    """
    args = [sys.executable, "-m", "stdb_game.devserver", "--module", str(module)]
    args += ["--host", host, "--port", str(port)]
    if data_dir is not None:
        args += ["--data-dir", str(data_dir)]
    if database is not None:
        args += ["--database", database]
    if ping_interval is not None:
        args += ["--ping-interval", str(ping_interval)]
    child_env = dict(os.environ if env is None else env)
    if key_file is not None:
        args += ["--key-file", str(key_file)]
    elif (
        data_dir is None
        and not child_env.get(KEY_FILE_ENV)
        and not any(a.startswith(("--key-file", "--ephemeral-key")) for a in extra_args)
    ):
        args.append("--ephemeral-key")
    args += list(extra_args)
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    # The child imports stdb_game (and so do module files) even from an uninstalled checkout.
    source_root = str(Path(__file__).resolve().parents[2])
    paths = [p for p in child_env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if source_root not in paths:
        child_env["PYTHONPATH"] = os.pathsep.join([source_root, *paths])
    stderr: Any = None
    log_handle = None
    if log_file is not None:
        log_handle = open(log_file, "a", encoding="utf-8")  # noqa: SIM115 - child owns it
        stderr = log_handle
    try:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            encoding="utf-8",
            env=child_env,
        )
    finally:
        if log_handle is not None:
            log_handle.close()
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(
        target=_pump, args=(proc.stdout, lines), name="devserver-stdout", daemon=True
    ).start()
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _abort(proc)
            raise DevServerError(f"dev server for {module} not ready after {timeout:.1f} s")
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        if line is None:
            code = proc.wait(5.0)
            raise DevServerError(
                f"dev server for {module} exited with code {code} before it was ready"
                " (its log went to stderr)"
            )
        if line.startswith(READY_PREFIX):
            info = json.loads(line[len(READY_PREFIX) :].strip())
            return DevServerHandle(proc, info)


def _abort(proc: subprocess.Popen[str]) -> None:
    """Kill a child that never became ready."""
    with contextlib.suppress(OSError):
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5.0)
