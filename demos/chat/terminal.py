"""The chat in a terminal: the same client and model, lines in and out, ticking between reads.

On POSIX, stdin is polled with ``select`` for at most one frame, so the client ticks at
``--fps`` while you type; elsewhere a reader thread hands whole lines to the loop (the
network is still only touched by ``tick()``).
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import threading
import time

from stdb_game import Client, ClientState
from stdb_game.errors import StdbError

from ..common import (
    connect_client,
    default_name,
    describe_connect_failure,
    serve,
    server_url_problem,
)
from .model import SCHEMA, ChatModel, Entry, display_text

__all__ = ["SETTLE_SECONDS", "LineReader", "format_entry", "run_terminal"]

#: How long the chat waits, when told to stop, for the results of the calls it made.
SETTLE_SECONDS = 3.0


def format_entry(model: ChatModel, entry: Entry, color: bool = False) -> str:
    """One history line as text, e.g. ``12:03 alice: hello``."""
    stamp = entry.when.strftime("%H:%M")
    if entry.kind == "message":
        name = model.name_of(entry.sender)
        if color:
            r, g, b = _rgb(entry.sender, model)
            name = f"\x1b[1;38;2;{r};{g};{b}m{name}\x1b[0m"
        return f"{stamp} {name}: {display_text(entry.text) if entry.text else '(empty)'}"
    mark = {"error": "!", "notice": "-", "info": "*"}.get(entry.kind, "*")
    line = f"{stamp} {mark} {entry.text}"
    if color and entry.kind == "error":
        return f"\x1b[31m{line}\x1b[0m"
    if color:
        return f"\x1b[2m{line}\x1b[0m"
    return line


def _rgb(identity: object, model: ChatModel) -> tuple[int, int, int]:
    from .model import identity_color

    return identity_color(model.me if identity is None else identity)  # type: ignore[arg-type]


class LineReader:
    """Whole lines from stdin without blocking the game loop."""

    def __init__(self) -> None:
        self.eof = False
        self._buffer = b""
        self._fd = sys.stdin.fileno()
        self._queue: queue.Queue[str | None] | None = None
        if os.name != "posix":
            self._queue = queue.Queue()
            threading.Thread(target=self._pump, name="stdin-lines", daemon=True).start()

    def _pump(self) -> None:
        assert self._queue is not None
        for line in sys.stdin:
            self._queue.put(line.rstrip("\r\n"))
        self._queue.put(None)

    def poll(self, timeout: float) -> list[str]:
        """Lines typed so far, waiting at most ``timeout`` seconds for the first."""
        if self._queue is not None:
            return self._poll_queue(timeout)
        import select

        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            return []
        chunk = os.read(self._fd, 65536)
        if not chunk:
            self.eof = True
            rest, self._buffer = self._buffer, b""
            return [rest.decode("utf-8", "replace")] if rest else []
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        return [ln.decode("utf-8", "replace").rstrip("\r") for ln in lines]

    def _poll_queue(self, timeout: float) -> list[str]:
        assert self._queue is not None
        out: list[str] = []
        try:
            item = self._queue.get(timeout=timeout)
            while True:
                if item is None:
                    self.eof = True
                    break
                out.append(item)
                item = self._queue.get_nowait()
        except queue.Empty:
            pass
        return out


def run_terminal(args: argparse.Namespace) -> int:
    """Chat line by line in this terminal until /quit, Ctrl+D or ``--seconds``."""
    color = sys.stdout.isatty() and os.environ.get("NO_COLOR") is None
    problem = server_url_problem(args.server) if args.server else None
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        with serve(args, "chat") as server:
            try:
                client = connect_client(args, server, SCHEMA)
            except (StdbError, OSError, ValueError) as exc:
                print(f"error: {describe_connect_failure(exc, server)}", file=sys.stderr)
                return 1
            try:
                failure = _loop(client, args, color)
            finally:
                client.disconnect()
    except KeyboardInterrupt:
        print()
        return 130
    if failure is not None:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    return 0


def _loop(client: Client, args: argparse.Namespace, color: bool) -> str | None:
    """Chat until told to stop; why the chat cannot work, if it cannot."""
    model = ChatModel(client)
    reader = LineReader()
    name = default_name("player", args)
    shown = False
    named = False
    was_down = False
    interval = 1.0 / max(1.0, float(args.fps))
    started = time.monotonic()

    def show(entry: Entry) -> None:
        if shown:
            print(format_entry(model, entry, color), flush=True)

    model.listeners.append(show)
    print(f"connecting to {client.uri} ({client.database})... /help for commands, Ctrl+D quits")
    while not model.quit_requested:
        client.tick()
        if model.subscription_error is not None:
            break
        if model.loaded and not shown:
            shown = True
            for entry in model.entries[-20:]:
                print(format_entry(model, entry, color))
            print(f"-- {len(model.entries)} lines of history; you are {model.my_name()} --")
        if model.loaded and not named and client.is_connected:
            named = True
            me = model.user(model.me) if model.me is not None else None
            if me is None or me.name is None or args.name:
                model.set_name(name)
        down = client.state is not ClientState.CONNECTED
        if down != was_down:
            print("-- connection lost, reconnecting..." if down else "-- reconnected", flush=True)
            was_down = down
        if args.seconds is not None and time.monotonic() - started >= args.seconds:
            break
        if not named:  # typed lines wait in the pipe until we know who we are
            time.sleep(interval)
            continue
        if reader.eof:
            break
        for line in reader.poll(interval):
            model.submit(line)
            if model.quit_requested:
                break  # lines after /quit are not sent
    if model.subscription_error is None:
        _settle(client, model)
    return model.subscription_error


def _settle(client: Client, model: ChatModel, limit: float = SETTLE_SECONDS) -> None:
    """Tick until our calls have their results (shown as they come), at most ``limit`` s.

    Piped input ends (EOF or ``/quit``) right after its last line was sent; without this
    the chat would exit before echoing those lines, the rename or the refusal.
    """
    deadline = time.monotonic() + limit
    while model.awaiting and time.monotonic() < deadline:
        client.tick()
        if model.awaiting:
            time.sleep(0.005)
    client.tick()  # sends anything still queued
    if model.awaiting:
        n = len(model.awaiting)
        print(f"-- leaving with {n} call(s) unanswered after {limit:g} s", flush=True)
