"""The pygame game loop both demos share: one ``client.tick()`` per frame, nothing else.

``PygameDemo`` opens the window (or SDL's dummy one for bots), and each frame: handles
events, ticks the client, lets the game (or its bot) update, draws, draws the F3 network
overlay and the connection banner, then waits for the next frame. It times every frame
for the bot's summary and saves ``--screenshot`` at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame

from stdb_game import Client, ConnectionId, Identity, ModuleSchema, TickStats
from stdb_game.devserver.launcher import DevServerError
from stdb_game.errors import StdbError
from stdb_game.pygame.hud import ConnectionStatus, NetworkHUD, draw_connection_banner
from stdb_game.pygame.timing import FrameTimer

from .common import (
    RunMode,
    ServerInfo,
    connect_client,
    decide_mode,
    describe_connect_failure,
    emit_summary,
    net_summary,
    serve,
    server_url_problem,
    setup_headless_video,
)

__all__ = ["PygameDemo", "parse_size", "run_demo"]


def parse_size(text: str) -> tuple[int, int]:
    """``"1024x640"`` -> (1024, 640), at least 320x240."""
    try:
        w, h = (int(p) for p in text.lower().split("x", 1))
    except ValueError:
        raise SystemExit(f"--size must look like 1024x640, not {text!r}") from None
    return max(320, w), max(240, h)


class PygameDemo:
    """Base class of a demo window: subclasses fill in ``update``, ``draw`` and events."""

    title = "stdb_game demo"
    #: The generated bindings' schema (typed rows); None fetches it from the server.
    schema: ModuleSchema | None = None

    def __init__(
        self, client: Client, args: argparse.Namespace, mode: RunMode, server: ServerInfo
    ) -> None:
        self.client = client
        self.args = args
        self.mode = mode
        self.server = server
        self.fps = max(1.0, float(args.fps))
        self.running = True
        self.frame = 0
        self.timer = FrameTimer()
        self.status = ConnectionStatus(client)
        self.hud = NetworkHUD(client, visible=bool(args.hud), status=self.status)
        self.started = time.perf_counter()
        self.now = self.started
        self.dt = 0.0
        self.last_tick: TickStats | None = None
        self.identity_hex: str | None = None
        self.state_at_end = "unknown"
        #: Why the game cannot work (the server refused its subscription...): a bot stops,
        #: a window shows it, and the demo exits with status 1.
        self.fatal_error: str | None = None
        client.on_connect(self._connected)
        pygame.display.init()
        pygame.font.init()
        flags = 0 if mode.headless else pygame.RESIZABLE
        self.screen = pygame.display.set_mode(parse_size(args.size), flags)
        pygame.display.set_caption(f"{self.title} - {server.database} @ {server.url}")
        icon = self.make_icon()
        if icon is not None:
            pygame.display.set_icon(icon)
        pygame.key.set_repeat(350, 35)
        self.banner_font = pygame.font.Font(None, 22)

    def _connected(self, identity: Identity, _token: str, _conn: ConnectionId) -> None:
        self.identity_hex = identity.to_hex()

    # ---- hooks for subclasses ---------------------------------------------------------------

    def make_icon(self) -> pygame.Surface | None:
        return None

    def on_event(self, event: pygame.event.Event) -> None:
        """A pygame event the base class did not take."""

    def update(self) -> None:
        """Game logic for this frame (after the tick); ``self.now``/``self.dt`` are set."""

    def bot_step(self) -> None:
        """What the bot does this frame (bot mode only)."""

    def draw(self, screen: pygame.Surface) -> None:
        """Draw the game."""

    def summary(self) -> dict[str, Any]:
        """The demo's part of the bot summary."""
        return {}

    # ---- the loop ---------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Play until quit or ``--seconds``; returns the summary."""
        limit = self.mode.seconds
        interval = 1.0 / self.fps
        deadline = time.perf_counter()
        prev = time.perf_counter()
        try:
            while self.running:
                start = time.perf_counter()
                cpu_start = time.thread_time()
                self.dt = start - prev
                prev = start
                self.now = start
                for event in pygame.event.get():
                    if event.type == pygame.QUIT:
                        self.running = False
                    elif not self.hud.handle_event(event):
                        self.on_event(event)
                stats = self.client.tick()
                self.last_tick = stats
                self.update()
                if self.mode.bot:
                    self.bot_step()
                self.draw(self.screen)
                self.hud.record(stats, self.dt)
                self.hud.draw(self.screen, (8, 48))
                draw_connection_banner(self.screen, self.status, self.banner_font)
                pygame.display.flip()
                busy = time.perf_counter() - start
                cpu = time.thread_time() - cpu_start
                if self.frame > 0:
                    self.timer.record(self.dt, busy, stats.elapsed, stats.budget_exhausted, cpu)
                self.frame += 1
                if limit is not None and start - self.started >= limit:
                    break
                if self.fatal_error is not None and self.mode.bot:
                    break  # a bot has nothing to show it to
                deadline = _wait_until(deadline + interval)
            if self.args.screenshot is not None:
                self.save_screenshot(self.args.screenshot)
            self.state_at_end = self.client.state.value
        finally:
            self.client.disconnect()
        return self.full_summary()

    def save_screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        pygame.image.save(self.screen, str(path))

    def full_summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "demo": self.title.split()[-1],
            "identity": self.identity_hex,
            "server": self.server.url,
            "database": self.server.database,
            "embedded_server": self.server.embedded,
            "bot": self.mode.bot,
            "seconds": round(time.perf_counter() - self.started, 2),
        }
        out.update(self.summary())
        out["timing"] = self.timer.summary()
        out["net"] = net_summary(self.client)
        out["drops"] = self.status.drops
        out["state_at_end"] = self.state_at_end
        out["fatal_error"] = self.fatal_error
        return out

    @staticmethod
    def quit_pygame() -> None:
        pygame.quit()


def _wait_until(deadline: float) -> float:
    """Sleep to ``deadline`` (the last millisecond spun, as sleeps overshoot); the next base.

    Deadlines advance by whole frames so the rate does not drift; after a long frame the
    schedule restarts from now instead of rushing to catch up.
    """
    now = time.perf_counter()
    if now >= deadline:
        return now
    if deadline - now > 0.0015:
        time.sleep(deadline - now - 0.001)
    while time.perf_counter() < deadline:
        pass
    return deadline


def run_demo(
    demo: str,
    args: argparse.Namespace,
    make_game: type[PygameDemo],
) -> int:
    """Start or find the server, connect, play, print the bot summary; the exit status.

    0 when the game ran; 1 when it could not connect or could not work (``fatal_error``);
    2 for a ``--server`` that is no server URL.
    """
    problem = server_url_problem(args.server) if args.server else None
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    mode = decide_mode(args, demo)
    if mode.notice:
        print(mode.notice, flush=True)
    if mode.headless:
        setup_headless_video()
    try:
        with serve(args, demo) as server:
            try:
                client = connect_client(args, server, make_game.schema)
            except (StdbError, OSError, ValueError) as exc:
                print(f"error: {describe_connect_failure(exc, server)}", file=sys.stderr)
                return 1
            game = make_game(client, args, mode, server)
            try:
                summary = game.run()
            finally:
                pygame.quit()
    except KeyboardInterrupt:
        return 130
    except DevServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if mode.bot:
        emit_summary(summary)
    if game.fatal_error is not None:
        print(f"error: {game.fatal_error}", file=sys.stderr)
        return 1
    return 0
