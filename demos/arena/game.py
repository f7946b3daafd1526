"""The arena window: steer with the mouse, eat food and smaller circles, grow, split.

Controls: the mouse steers (the farther from your circle, the faster), Space splits (mass 60
and up), Space/Enter/click respawns after being eaten, K gives up (the ``suicide`` reducer),
F3 shows the network overlay, Esc quits. The camera follows you and zooms out as you grow.
"""

from __future__ import annotations

import argparse
import math
from collections import deque
from typing import Any

import pygame
import pygame.gfxdraw

from stdb_game import Client, ReducerEvent

from ..app import PygameDemo
from ..art import FOOD_COLORS, PLAYER_COLORS, shade
from ..common import RunMode, ServerInfo, default_name
from .bindings import SCHEMA, DbVector2
from .bot import ArenaBot
from .world import ArenaWorld, Blob, mass_to_radius

__all__ = ["ArenaGame"]

BG = (14, 17, 26)
OUTSIDE = (8, 10, 15)
GRID = (28, 34, 48)
BORDER = (90, 110, 150)
TEXT = (225, 230, 240)
DIM = (140, 150, 168)
GOLD = (255, 215, 100)
PANEL = (16, 20, 30, 190)

INPUT_INTERVAL = 0.05  # the official client sends its input 20 times a second
RESPAWN_DELAY_BOT = 1.0
GRID_STEP = 25.0


def player_color(player_id: int) -> tuple[int, int, int]:
    return PLAYER_COLORS[player_id % len(PLAYER_COLORS)]


class ArenaGame(PygameDemo):
    """The pygame arena client (Blackholio rules, official tables and reducers)."""

    title = "stdb_game arena"
    schema = SCHEMA

    def __init__(
        self, client: Client, args: argparse.Namespace, mode: RunMode, server: ServerInfo
    ) -> None:
        super().__init__(client, args, mode, server)
        self.world = ArenaWorld(client)
        self.conn = self.world.conn
        self.name = default_name("bot" if mode.bot else "player", args)
        self.bot = ArenaBot() if mode.bot else None
        self.font = pygame.font.Font(None, 22)
        self.big = pygame.font.Font(None, 56)
        self.mid = pygame.font.Font(None, 30)
        self.cam_x = self.cam_y = 500.0
        self.scale = 4.0
        self.entered = False
        self.direction = (0.0, 0.0)
        self.sent_direction: tuple[float, float] | None = None
        self.last_send = 0.0
        self.blobs: list[Blob] = []
        self.mine: list[Blob] = []
        self.alive = False
        self.alive_since = 0.0
        self.ever_alive = False
        self.dead_at: float | None = None
        self.respawn_asked = -10.0
        self.mass = 0
        self.max_mass = 0
        self.deaths = 0
        self.respawns = 0
        self.splits = 0
        self.max_circles = 0
        self.inputs_sent = 0
        self.toasts: deque[tuple[float, str]] = deque(maxlen=4)
        self._fonts: dict[int, pygame.font.Font] = {}
        self._labels: dict[tuple[str, int, tuple[int, int, int]], pygame.Surface] = {}
        self._panels: dict[tuple[int, int, int], pygame.Surface] = {}
        client.on_any_reducer(self._our_call)

    def make_icon(self) -> pygame.Surface:
        from ..art import arena_icon

        return arena_icon(64)

    # ---- server calls -----------------------------------------------------------------------

    def _our_call(self, ev: ReducerEvent) -> None:
        if ev.is_ours and not ev.committed and ev.reducer_name != "player_split":
            self.toasts.append((self.now, f"{ev.reducer_name}: {ev.error or ev.status.value}"))

    def split(self) -> None:
        if self.alive:
            self.conn.reducers.player_split()
            self.splits += 1

    def respawn(self) -> None:
        # Only on an up-to-date cache: while a reconnect restores it, our circles may be
        # about to come back, and a respawn would give us a second one.
        if (
            not self.alive
            and self.now - self.respawn_asked > 1.0
            and self.client.is_connected
            and self.world.in_sync
            and self.world.my_player is not None
        ):
            self.respawn_asked = self.now
            self.conn.reducers.respawn()
            self.respawns += 1

    def _send_input(self) -> None:
        if not self.alive or not self.client.is_connected:
            return
        if self.now - self.last_send < INPUT_INTERVAL:
            return
        d = self.direction
        last = self.sent_direction
        unchanged = last is not None and abs(d[0] - last[0]) + abs(d[1] - last[1]) < 0.02
        if unchanged and self.now - self.last_send < 1.0:
            return
        self.conn.reducers.update_player_input(DbVector2(d[0], d[1]))
        self.sent_direction = d
        self.last_send = self.now
        self.inputs_sent += 1

    # ---- events and update ------------------------------------------------------------------

    def on_event(self, event: pygame.event.Event) -> None:
        if event.type == pygame.KEYDOWN:
            if event.key == pygame.K_ESCAPE:
                self.running = False
            elif event.key in (pygame.K_SPACE, pygame.K_RETURN, pygame.K_KP_ENTER):
                if self.alive:
                    if event.key == pygame.K_SPACE:
                        self.split()
                elif self.entered:
                    self.respawn()
            elif event.key == pygame.K_k and self.alive:
                self.conn.reducers.suicide()
        elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 1 and self.entered:
            self.respawn()

    def update(self) -> None:
        world = self.world
        client = self.client
        if world.subscription_error is not None:
            self.fatal_error = world.subscription_error
        if world.loaded and client.is_connected and not self.entered:
            player = world.my_player
            if player is not None:
                self.entered = True
                if not player.name:  # a new player; a returning one keeps name and circles
                    self.conn.reducers.enter_game(self.name)
        self.blobs = world.blobs(self.now)
        pid = world.my_player_id
        self.mine = [b for b in self.blobs if b.player_id == pid]
        alive = bool(self.mine)
        if alive and not self.alive:
            if self.dead_at is not None or not self.ever_alive:  # not back from a drop
                self.alive_since = self.now
            self.ever_alive = True
            self.dead_at = None
            self.sent_direction = None
        if world.deaths != self.deaths:  # the server ate us; a drop alone is no death
            self.deaths = world.deaths
            if not alive:
                self.dead_at = self.now
        self.alive = alive
        self.max_circles = max(self.max_circles, len(self.mine))
        if pid is not None:
            self.mass = world.masses().get(pid, 0)
            self.max_mass = max(self.max_mass, self.mass)
        self._update_camera()
        if not self.mode.bot and alive and pygame.mouse.get_focused():
            self.direction = self._mouse_direction()
        self._send_input()

    def bot_step(self) -> None:
        assert self.bot is not None
        if not self.alive:
            if self.entered and self.dead_at is not None:
                if self.now - self.dead_at > RESPAWN_DELAY_BOT:
                    self.respawn()
            elif self.entered and self.now - self.started > 3.0:
                self.respawn()  # entered long ago but never got a circle
            return
        decision = self.bot.think(self.world, self.now, self.world.latest_blobs())
        if decision is not None:
            self.direction = decision.direction
            if decision.split:
                self.split()

    def _mouse_direction(self) -> tuple[float, float]:
        """From our circle's centre on screen to the mouse, full speed at a third of the window."""
        mx, my = pygame.mouse.get_pos()
        cx, cy = self.to_screen(self.cam_x, self.cam_y)
        w, h = self.screen.get_size()
        reach = min(w, h) / 3.0
        dx, dy = (mx - cx) / reach, (my - cy) / reach
        n = math.hypot(dx, dy)
        if n > 1.0:
            dx, dy = dx / n, dy / n
        return (round(dx, 3), round(dy, 3))

    def _update_camera(self) -> None:
        mine = self.mine
        w, h = self.screen.get_size()
        if mine:
            total = sum(b.mass for b in mine)
            tx = sum(b.x * b.mass for b in mine) / total
            ty = sum(b.y * b.mass for b in mine) / total
            spread = max(math.hypot(b.x - tx, b.y - ty) + b.radius for b in mine)
            view = max(80.0 + 8.0 * mass_to_radius(total), spread * 2.6)
            self.cam_x, self.cam_y = tx, ty
        else:
            view = 220.0 if self.dead_at is not None or not self.entered else 110.0
        target = min(w, h) / view
        k = min(1.0, self.dt * 3.0)
        self.scale += (target - self.scale) * k

    # ---- drawing ----------------------------------------------------------------------------

    def to_screen(self, x: float, y: float) -> tuple[int, int]:
        w, h = self.screen.get_size()
        return (
            int((x - self.cam_x) * self.scale + w / 2),
            int((y - self.cam_y) * self.scale + h / 2),
        )

    def draw(self, screen: pygame.Surface) -> None:
        w, h = screen.get_size()
        s = self.scale
        size = self.world.world_size
        x0, y0 = self.to_screen(0.0, 0.0)
        x1, y1 = self.to_screen(size, size)
        arena = pygame.Rect(x0, y0, x1 - x0, y1 - y0)
        if not arena.contains(screen.get_rect()):
            screen.fill(OUTSIDE)
        screen.fill(BG, arena.clip(screen.get_rect()))
        self._draw_grid(screen, arena)
        pygame.draw.rect(screen, BORDER, arena, max(2, int(s)))
        left, top = self.cam_x - w / 2 / s, self.cam_y - h / 2 / s
        right, bottom = left + w / s, top + h / s
        self._draw_food(screen, left, top, right, bottom)
        self._draw_pops(screen)
        for b in self.blobs:
            r = b.radius
            if b.x + r < left or b.x - r > right or b.y + r < top or b.y - r > bottom:
                continue
            self._draw_blob(screen, b)
        self._draw_leaderboard(screen)
        self._draw_minimap(screen)
        self._draw_status(screen)
        self._draw_overlays(screen)

    def _draw_grid(self, screen: pygame.Surface, arena: pygame.Rect) -> None:
        s = self.scale
        step = GRID_STEP * s
        if step < 6:
            return
        area = arena.clip(screen.get_rect())
        ox = arena.x % step
        x = area.x - ((area.x - ox) % step) + step
        while x < area.right:
            pygame.draw.line(screen, GRID, (int(x), area.top), (int(x), area.bottom))
            x += step
        oy = arena.y % step
        y = area.y - ((area.y - oy) % step) + step
        while y < area.bottom:
            pygame.draw.line(screen, GRID, (area.left, int(y)), (area.right, int(y)))
            y += step

    def _draw_food(
        self, screen: pygame.Surface, left: float, top: float, right: float, bottom: float
    ) -> None:
        s = self.scale
        w, h = screen.get_size()
        cx, cy = self.cam_x - w / 2 / s, self.cam_y - h / 2 / s
        n_colors = len(FOOD_COLORS)
        filled, ring = pygame.gfxdraw.filled_circle, pygame.gfxdraw.aacircle
        for fid, (x, y, m) in self.world.food.items():
            if x < left - 3 or x > right + 3 or y < top - 3 or y > bottom + 3:
                continue
            r = max(2, int(math.sqrt(m) * s))
            sx, sy = int((x - cx) * s), int((y - cy) * s)
            color = FOOD_COLORS[fid % n_colors]
            filled(screen, sx, sy, r, color)
            ring(screen, sx, sy, r, color)
            if r >= 5:
                filled(screen, sx - r // 3, sy - r // 3, max(1, r // 3), shade(color, 1.2))

    def _font(self, size: int) -> pygame.font.Font:
        font = self._fonts.get(size)
        if font is None:
            font = self._fonts[size] = pygame.font.Font(None, size)
        return font

    def _label(self, text: str, size: int, color: tuple[int, int, int]) -> pygame.Surface:
        key = (text, size, color)
        surf = self._labels.get(key)
        if surf is None:
            if len(self._labels) > 300:
                self._labels.clear()
            font = self._font(size)
            fg = font.render(text, True, color)
            off = 1 if size < 24 else 2  # a wide shadow smears small text
            surf = pygame.Surface((fg.get_width() + off, fg.get_height() + off), pygame.SRCALPHA)
            surf.blit(font.render(text, True, (0, 0, 0)), (off, off))
            surf.blit(fg, (0, 0))
            self._labels[key] = surf
        return surf

    def _draw_blob(self, screen: pygame.Surface, b: Blob) -> None:
        x, y = self.to_screen(b.x, b.y)
        r = max(3, int(b.radius * self.scale))
        color = player_color(b.player_id)
        rim = shade(color, 0.6)
        pygame.gfxdraw.filled_circle(screen, x, y, r, rim)
        pygame.gfxdraw.aacircle(screen, x, y, r, rim)
        inner = max(2, r - max(2, r // 10))
        pygame.gfxdraw.filled_circle(screen, x, y, inner, color)
        pygame.gfxdraw.aacircle(screen, x, y, inner, color)
        if r >= 10:
            hl = shade(color, 1.22)
            pygame.gfxdraw.filled_circle(screen, x - r // 3, y - r // 3, max(2, r // 4), hl)
        if r >= 14:
            name = self.world.player_name(b.player_id)
            size = max(14, min(48, int(r * 0.55))) // 2 * 2
            label = self._label(name, size, TEXT)
            if r >= 24:
                # The server's mass, as the HUD and leaderboard add it up (the drawn size
                # is interpolated and lags it a little).
                m = self.world.entity_mass(b.entity_id)
                text = str(m if m is not None else int(b.mass))
                mass = self._label(text, max(18, size * 3 // 4) // 2 * 2, TEXT)
                box = label.get_rect(midbottom=(x, y + label.get_height() // 4))
                screen.blit(label, box)
                screen.blit(mass, mass.get_rect(midtop=(x, box.bottom - 3)))
            else:
                screen.blit(label, label.get_rect(center=(x, y)))
        if b.player_id == self.world.my_player_id and len(self.mine) > 1:
            pygame.draw.circle(screen, GOLD, (x, y), r + 2, 1)

    def _draw_pops(self, screen: pygame.Surface) -> None:
        """Fading rings where something was just eaten."""
        now = self.now
        pops = self.world.pops
        while pops and now - pops[0].born > 0.6:
            pops.popleft()
        for p in pops:
            age = (now - p.born) / 0.6
            x, y = self.to_screen(p.x, p.y)
            r = int((p.radius * (1.0 + age * 1.5)) * self.scale) + 2
            base = (
                FOOD_COLORS[p.color_key % len(FOOD_COLORS)]
                if p.is_food
                else player_color(p.color_key)
            )
            alpha = int(200 * (1.0 - age))
            if 2 < r < 400:
                pygame.gfxdraw.aacircle(screen, x, y, r, (*base, alpha))

    def _panel(
        self, screen: pygame.Surface, rect: pygame.Rect, fill: tuple[int, int, int, int] = PANEL
    ) -> None:
        key = (rect.width, rect.height, fill[3])
        panel = self._panels.get(key)
        if panel is None:
            if len(self._panels) > 20:
                self._panels.clear()
            panel = self._panels[key] = pygame.Surface(rect.size, pygame.SRCALPHA)
            panel.fill(fill)
        screen.blit(panel, rect.topleft)

    def _draw_leaderboard(self, screen: pygame.Surface) -> None:
        w = screen.get_width()
        board = self.world.leaderboard(8)
        pid = self.world.my_player_id
        line = self.font.get_linesize()
        rows = len(board) + (0 if any(p == pid for p, _, _ in board) or not self.alive else 1)
        rect = pygame.Rect(w - 220, 10, 210, 34 + line * max(1, rows))
        self._panel(screen, rect)
        screen.blit(self._label("Leaderboard", 24, GOLD), (rect.x + 10, rect.y + 8))
        y = rect.y + 32
        for i, (p, name, mass) in enumerate(board, start=1):
            color = GOLD if p == pid else TEXT
            screen.blit(self.font.render(f"{i}. {name[:16]}", True, color), (rect.x + 10, y))
            m = self.font.render(str(mass), True, color)
            screen.blit(m, (rect.right - 10 - m.get_width(), y))
            y += line
        if rows > len(board):
            ranked = sorted(self.world.masses().items(), key=lambda kv: -kv[1])
            rank = next((i for i, (p, _) in enumerate(ranked, 1) if p == pid), 0)
            text = f"{rank}. {self.name[:16]}"
            screen.blit(self.font.render(text, True, GOLD), (rect.x + 10, y))
        if not board:
            screen.blit(self.font.render("no one yet", True, DIM), (rect.x + 10, y))

    def _draw_minimap(self, screen: pygame.Surface) -> None:
        w, h = screen.get_size()
        size = 150
        rect = pygame.Rect(w - size - 10, h - size - 10, size, size)
        self._panel(screen, rect)
        pygame.draw.rect(screen, BORDER, rect, 1)
        k = size / max(1.0, self.world.world_size)
        pid = self.world.my_player_id
        for b in self.blobs:
            r = max(2, int(b.radius * k * 2))
            color = GOLD if b.player_id == pid else player_color(b.player_id)
            pygame.draw.circle(screen, color, (rect.x + int(b.x * k), rect.y + int(b.y * k)), r)
        s = self.scale
        view = pygame.Rect(
            rect.x + int((self.cam_x - w / 2 / s) * k),
            rect.y + int((self.cam_y - h / 2 / s) * k),
            max(2, int(w / s * k)),
            max(2, int(h / s * k)),
        )
        pygame.draw.rect(screen, DIM, view.clip(rect), 1)

    def _draw_status(self, screen: pygame.Surface) -> None:
        h = screen.get_height()
        players = len({b.player_id for b in self.blobs})
        parts = [f"mass {self.mass}", f"circles {len(self.mine)}", f"players {players}"]
        if self.alive:
            parts.append(f"alive {self.now - self.alive_since:.0f}s")
        text = "   ".join(parts)
        screen.blit(self._label(text, 26, TEXT), (12, h - 56))
        hint = "mouse: steer   space: split (mass 60+)   K: give up   F3: network   Esc: quit"
        screen.blit(self.font.render(hint, True, DIM), (12, h - 28))

    def _draw_overlays(self, screen: pygame.Surface) -> None:
        w, h = screen.get_size()
        center = (w // 2, h // 2)
        if self.fatal_error is not None:
            label = self._label(self.fatal_error[:110], 26, (255, 120, 110))
            screen.blit(label, label.get_rect(center=center))
        elif not self.world.loaded or not self.entered:
            msg = "Joining the arena..." if self.client.is_connected else "Connecting..."
            label = self._label(msg, 40, TEXT)
            screen.blit(label, label.get_rect(center=center))
        elif not self.alive and self.world.in_sync:  # while reconnecting, the banner says so
            self._panel(screen, pygame.Rect(0, 0, w, h), (0, 0, 0, 120))
            eaten = self.dead_at is not None
            title = "You were eaten!" if eaten else "Ready?"
            t = self._label(title, 64, (255, 120, 110) if eaten else GOLD)
            screen.blit(t, t.get_rect(center=(center[0], center[1] - 50)))
            sub = f"best mass {self.max_mass}" if eaten else f"you are {self.name}"
            s = self._label(sub, 30, TEXT)
            screen.blit(s, s.get_rect(center=(center[0], center[1] + 5)))
            hint = self._label("Press Space, Enter or click to respawn", 28, DIM)
            screen.blit(hint, hint.get_rect(center=(center[0], center[1] + 45)))
        y = 60
        for at, text in list(self.toasts):
            if self.now - at > 4.0:
                continue
            label = self._label(text, 24, (255, 150, 130))
            screen.blit(label, label.get_rect(midtop=(w // 2, y)))
            y += label.get_height() + 4

    # ---- summary ----------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        world = self.world
        me = world.my_player
        board = world.leaderboard(10)
        return {
            "name": str(me.name) if me is not None and me.name else self.name,
            "player_id": world.my_player_id,
            "players": sorted(world.players_seen),
            "others_seen": len(world.others_seen - {world.my_player_id}),
            "other_circles_moved": len(world.moved_others),
            "food": {
                "at_load": world.food_at_load,
                "now": len(world.food),
                "eaten": world.food_eaten,
                "spawned": world.food_spawned,
            },
            "mass": self.mass,
            "max_mass": self.max_mass,
            "alive": self.alive,
            "deaths": self.deaths,
            "respawns": self.respawns,
            "splits": self.splits,
            "max_circles": self.max_circles,
            "inputs_sent": self.inputs_sent,
            "leaderboard": [{"name": n, "mass": m} for _p, n, m in board],
        }
