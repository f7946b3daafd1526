"""What both demos share and that needs no pygame: options, the server, the client, summaries.

A demo either starts the dev server with its own module on a free loopback port (no
``--server``) or connects to the server it is given, which may be a real SpacetimeDB hosting the
official module: the demos use only the official table and reducer names.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stdb_game import (
    AuthError,
    Client,
    ConnectError,
    CredentialStore,
    ModuleSchema,
    ReconnectPolicy,
    credentials_key,
)
from stdb_game.errors import StdbError

__all__ = [
    "DEMOS",
    "FALLBACK_SECONDS",
    "DemoInfo",
    "RunMode",
    "ServerInfo",
    "add_arguments",
    "build_parser",
    "connect_client",
    "decide_mode",
    "emit_summary",
    "has_display",
    "make_client",
    "net_summary",
    "serve",
    "server_url_problem",
]

#: How long the README's command plays as a bot when there is no display to open a window on.
FALLBACK_SECONDS = 8.0

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class DemoInfo:
    """A demo's name, module file and the database name the official module is published as."""

    name: str
    module: Path
    database: str
    title: str


DEMOS: dict[str, DemoInfo] = {
    "chat": DemoInfo("chat", HERE / "chat" / "module.py", "quickstart-chat", "stdb_game chat"),
    "arena": DemoInfo("arena", HERE / "arena" / "module.py", "blackholio", "stdb_game arena"),
}


def add_arguments(parser: argparse.ArgumentParser, demo: str) -> None:
    """The options every demo takes (``stdb-game demo X`` and ``python -m demos.X``)."""
    info = DEMOS[demo]
    net = parser.add_argument_group("server")
    net.add_argument(
        "--server",
        metavar="URL",
        help="connect to this server (ws://, wss://, http:// or https:// with host and port) "
        "instead of starting the embedded dev server",
    )
    net.add_argument(
        "--database",
        metavar="NAME",
        help=f"database name or identity on --server (default {info.database!r})",
    )
    net.add_argument(
        "--port",
        type=int,
        default=0,
        help="port for the embedded dev server (default: any free one)",
    )
    net.add_argument(
        "--client",
        metavar="N",
        type=int,
        default=None,
        help="local player slot: each N keeps its own stored identity, so two windows on one "
        "machine are two players",
    )
    net.add_argument(
        "--budget-ms",
        type=float,
        default=2.0,
        help="time budget of client.tick() per frame in ms (default 2.0)",
    )
    net.add_argument("--record", metavar="FILE", type=Path, help="record the session to FILE")
    play = parser.add_argument_group("play")
    play.add_argument("--name", help="your player name (default: a generated one)")
    play.add_argument("--fps", type=float, default=60.0, help="frame rate cap (default 60)")
    play.add_argument("--size", default="1024x640", help="window size WxH (default 1024x640)")
    play.add_argument("--hud", action="store_true", help="start with the F3 network overlay on")
    bot = parser.add_argument_group("headless bot")
    bot.add_argument(
        "--bot",
        action="store_true",
        help="play automatically without a window and print a one-line JSON summary",
    )
    bot.add_argument(
        "--seconds", type=float, default=None, help="stop after this many seconds (any mode)"
    )
    bot.add_argument(
        "--screenshot", metavar="FILE", type=Path, help="save the last frame as a PNG at the end"
    )


def build_parser(demo: str) -> argparse.ArgumentParser:
    """The parser of ``python -m demos.<demo>``."""
    parser = argparse.ArgumentParser(
        prog=f"python -m demos.{demo}", description=DEMOS[demo].title + " (a stdb_game demo)"
    )
    add_arguments(parser, demo)
    return parser


# ---- headless or windowed ---------------------------------------------------------------------


def has_display(env: dict[str, str] | None = None, platform: str | None = None) -> bool:
    """False on Linux/BSD with neither X11 nor Wayland, or when SDL is told to draw nowhere."""
    env = dict(os.environ) if env is None else env
    platform = sys.platform if platform is None else platform
    if env.get("SDL_VIDEODRIVER", "").lower() in ("dummy", "offscreen"):
        return False
    if platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
    return True  # Windows and macOS always have a desktop to draw on


@dataclass(frozen=True)
class RunMode:
    """How this run plays: a bot or a person, with or without a window, for how long."""

    bot: bool
    headless: bool
    seconds: float | None
    notice: str | None = None


def decide_mode(args: argparse.Namespace, demo: str, display: bool | None = None) -> RunMode:
    """Play as asked; with no display and no ``--bot``, play as a bot for a few seconds."""
    display = has_display() if display is None else display
    if args.bot:
        return RunMode(bot=True, headless=True, seconds=args.seconds)
    if display:
        return RunMode(bot=False, headless=False, seconds=args.seconds)
    seconds = args.seconds if args.seconds is not None else FALLBACK_SECONDS
    extra = " --terminal" if demo == "chat" else ""
    notice = (
        f"No display found (no DISPLAY or WAYLAND_DISPLAY): playing the {demo} demo headless as a "
        f"bot for {seconds:g} s. To play it yourself, run this on a machine with a desktop, e.g. "
        f"`stdb-game demo {demo}`"
        + (f" (or play in this terminal: `stdb-game demo chat{extra}`)" if extra else "")
        + "."
    )
    return RunMode(bot=True, headless=True, seconds=seconds, notice=notice)


def setup_headless_video() -> None:
    """Point SDL at its dummy drivers; must run before pygame opens a window."""
    os.environ["SDL_VIDEODRIVER"] = "dummy"
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


# ---- the server -------------------------------------------------------------------------------

SERVER_SCHEMES = ("ws", "wss", "http", "https")


def server_url_problem(url: str) -> str | None:
    """What is wrong with a ``--server`` URL, in words; None when it can be connected to.

    The client's rules: ``ws://``, ``wss://``, ``http://``, ``https://``, or a bare
    ``host:port`` (plain http), with a host and an optional path prefix.
    """
    text = url.strip()
    try:
        parts = urllib.parse.urlsplit(text if "://" in text else f"http://{text}")
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        return f"--server {url!r} is not a valid URL ({exc})"
    if parts.scheme.lower() not in SERVER_SCHEMES:
        return (
            f"--server {url!r}: {parts.scheme}:// is not supported; use ws://, wss://, "
            "http:// or https:// with a host, e.g. http://127.0.0.1:3000"
        )
    if not parts.hostname:
        return f"--server {url!r} names no host, e.g. http://127.0.0.1:3000"
    if parts.query or parts.fragment:
        return f"--server {url!r}: a server URL has no ?query or #fragment"
    return None


@dataclass(frozen=True)
class ServerInfo:
    """Where the client connects and whether this process started that server."""

    url: str
    database: str
    embedded: bool

    def join_command(self, demo: str) -> str:
        """The command another player runs to join this server."""
        return f"stdb-game demo {demo} --server {self.url} --database {self.database} --client 2"


@contextmanager
def serve(args: argparse.Namespace, demo: str, quiet: bool = False) -> Iterator[ServerInfo]:
    """Start the embedded dev server for the demo (stopped on exit), or use ``--server``."""
    info = DEMOS[demo]
    if args.server:
        yield ServerInfo(args.server, args.database or info.database, embedded=False)
        return
    from stdb_game.devserver.launcher import start_dev_server

    handle = start_dev_server(
        info.module, port=args.port, extra_args=["--log-level", "WARNING"], timeout=30.0
    )
    try:
        server = ServerInfo(handle.url, handle.database, embedded=True)
        if not quiet:
            print(
                f"dev server for the {demo} demo at {server.url} (database {server.database!r}); "
                f"another player can join with: {server.join_command(demo)}",
                flush=True,
            )
        yield server
    finally:
        handle.stop()


# ---- the client -------------------------------------------------------------------------------


def identity_store(
    args: argparse.Namespace, server: ServerInfo
) -> tuple[CredentialStore | None, str | None]:
    """Where the player's identity is kept: per server, database and ``--client`` slot.

    The embedded dev server keeps nothing across runs, so a token saved for it would be
    refused next time: there the identity lives only as long as the process.
    """
    if server.embedded:
        return None, None
    return CredentialStore(), credentials_key(server.url, server.database, client=args.client)


def make_client(
    args: argparse.Namespace, server: ServerInfo, schema: ModuleSchema | None = None
) -> Client:
    """A client with the demo's tick budget, stored identity and optional recording.

    ``schema`` is the generated bindings' ``SCHEMA``: rows then arrive as the typed classes
    and no schema is fetched (the official modules have the same layout).
    """
    store, key = identity_store(args, server)
    return Client(
        server.url,
        server.database,
        schema=schema,
        budget_ms=args.budget_ms,
        # Big messages (the 600-pellet food spawn, initial subscriptions) are decoded across
        # frames and applied whole, instead of one 30 ms frame (docs/tick.md, step 3).
        incremental_decode_bytes=8 * 1024,
        credentials=store,
        credentials_key=key,
        record_to=getattr(args, "record", None),
        connect_timeout=8.0,
        # A game retries at least every 2 s: a player waits for the server, not the backoff.
        reconnect=ReconnectPolicy(max_delay=2.0, connect_timeout=2.0),
    )


def connect_client(
    args: argparse.Namespace, server: ServerInfo, schema: ModuleSchema | None = None
) -> Client:
    """Connect; if a stored token is refused (the server was reset), forget it and retry once."""
    try:
        return make_client(args, server, schema).connect()
    except AuthError:
        store, key = identity_store(args, server)
        if store is None or key is None or store.load(key) is None:
            raise
        store.clear(key)
        print("the server refused the stored identity; starting with a new one", file=sys.stderr)
        return make_client(args, server, schema).connect()


def describe_connect_failure(exc: BaseException, server: ServerInfo) -> str:
    """A one-line explanation for a failed first connection."""
    if isinstance(exc, AuthError):
        return f"{server.url} refused our identity: {exc}"
    if isinstance(exc, (ConnectError, OSError)):
        return f"could not connect to {server.url} (database {server.database!r}): {exc}"
    if isinstance(exc, StdbError):
        return f"{server.url}: {exc}"
    if isinstance(exc, ValueError):  # a URL the client cannot use
        return f"cannot use {server.url!r} (database {server.database!r}): {exc}"
    return f"{type(exc).__name__}: {exc}"


def default_name(prefix: str, args: argparse.Namespace) -> str:
    """``--name`` or a short generated one, different per process and slot."""
    if args.name:
        return str(args.name)
    slot = f"{args.client}-" if args.client is not None else ""
    return f"{prefix}-{slot}{os.getpid() % 1000:03d}"


# ---- summaries --------------------------------------------------------------------------------


def net_summary(client: Client) -> dict[str, Any]:
    """Totals of the client's traffic for a bot's summary."""
    st = client.stats
    mean = st.mean_rtt
    return {
        "messages": st.messages_applied,
        "bytes_in": st.bytes_in,
        "bytes_out": st.bytes_out,
        "reconnects": st.reconnects,
        "callback_errors": st.callback_errors,
        "mean_rtt_ms": None if mean is None else round(mean * 1000.0, 2),
        "ticks": st.ticks,
    }


def emit_summary(summary: dict[str, Any]) -> None:
    """Print the bot's one-line JSON summary (always the last line of stdout)."""
    sys.stdout.write(json.dumps(summary, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()


def monotonic() -> float:
    """The clock the demos use for game time."""
    return time.perf_counter()
