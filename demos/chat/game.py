"""The chat window: history with names and times, who is online, and a text box.

Keys: Enter sends, Up/Down recall sent lines, Left/Right/Home/End move (Ctrl: by word),
Backspace/Delete (Ctrl: a word), PageUp/PageDown and the mouse wheel scroll, Ctrl+End jumps
to the newest line, Esc clears the box, F3 shows the network overlay. ``/name NEW`` renames.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, Protocol

import pygame

from stdb_game import Client

from ..app import PygameDemo
from ..common import RunMode, ServerInfo, default_name
from .editor import LineEditor
from .model import SCHEMA, ChatModel, Entry, display_text, identity_color

__all__ = ["ChatBot", "ChatGame"]

BG = (22, 24, 31)
PANEL = (30, 33, 42)
PANEL_EDGE = (48, 52, 66)
TEXT = (222, 226, 234)
DIM = (128, 136, 152)
ACCENT = (104, 170, 255)
ERROR = (255, 120, 110)
INFO = (160, 200, 170)
ONLINE = (96, 212, 132)

HEADER_H = 44
INPUT_H = 50
SIDEBAR_W = 230
PAD = 12


class ChatBot:
    """Plays the chat headless: picks a name, says hello a few times, tries an empty message."""

    def __init__(self, game: ChatGame, name: str, seconds: float | None) -> None:
        self.game = game
        self.name = name
        span = seconds if seconds is not None else 8.0
        # (time after the subscription is applied, what to type); "" is the empty message.
        self.plan: list[tuple[float, str]] = [(0.1, f"/name {name}")]
        for i, frac in enumerate((0.15, 0.35, 0.55), start=1):
            self.plan.append((span * frac, f"hello from {name} ({i}/3)"))
        self.plan.append((span * 0.45, ""))
        self.plan.sort(key=lambda p: p[0])
        self.started: float | None = None

    def step(self, now: float) -> None:
        model = self.game.model
        if not model.loaded or not self.game.client.is_connected:
            return
        if self.started is None:
            self.started = now
        while self.plan and now - self.started >= self.plan[0][0]:
            _, text = self.plan.pop(0)
            self.game.editor.insert(text)  # typed through the same box a person uses
            self.game.submit()


class ChatGame(PygameDemo):
    """The pygame chat client."""

    title = "stdb_game chat"
    schema = SCHEMA

    def __init__(
        self, client: Client, args: argparse.Namespace, mode: RunMode, server: ServerInfo
    ) -> None:
        super().__init__(client, args, mode, server)
        self.model = ChatModel(client)
        self.model.listeners.append(self._on_entry)
        self.editor = LineEditor()
        self.font = pygame.font.Font(None, 24)
        self.small = pygame.font.Font(None, 20)
        self.title_font = pygame.font.Font(None, 28)
        self.scroll = 0.0  # pixels scrolled up from the newest line
        self.unseen = 0  # lines that arrived while scrolled up
        self._cache: dict[tuple[int, int, str], pygame.Surface] = {}
        self._text_cache: dict[tuple[str, tuple[int, int, int], int], pygame.Surface] = {}
        self._msg_width = 0
        self.name = default_name("bot" if mode.bot else "player", args)
        self.bot = ChatBot(self, self.name, mode.seconds) if mode.bot else None
        self._named = False
        #: "SIGTERM" when a signal ended the run (the summary says so).
        self.stopped_by: str | None = None
        pygame.key.start_text_input()

    def run(self) -> dict[str, Any]:
        """The base loop, ending cleanly (summary printed, client disconnected) on SIGTERM."""
        with _stop_on_sigterm(self):
            return super().run()

    # ---- input ------------------------------------------------------------------------------

    def submit(self) -> None:
        line = self.editor.submit()
        self.model.submit(line)
        self.scroll = 0.0
        self.unseen = 0
        if self.model.quit_requested:
            self.running = False

    def on_event(self, event: pygame.event.Event) -> None:
        ed = self.editor
        if event.type == pygame.TEXTINPUT:
            ed.insert(event.text)
        elif event.type == pygame.MOUSEWHEEL:
            self._scroll_by(event.y * 60)
        elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 1 and self.unseen:
            self.scroll, self.unseen = 0.0, 0
        elif event.type == pygame.KEYDOWN:
            ctrl = bool(event.mod & pygame.KMOD_CTRL)
            key = event.key
            if key in (pygame.K_RETURN, pygame.K_KP_ENTER):
                self.submit()
            elif key == pygame.K_BACKSPACE:
                ed.backspace(word=ctrl)
            elif key == pygame.K_DELETE:
                ed.delete(word=ctrl)
            elif key == pygame.K_LEFT:
                ed.left(word=ctrl)
            elif key == pygame.K_RIGHT:
                ed.right(word=ctrl)
            elif key == pygame.K_HOME:
                ed.home()
            elif key == pygame.K_END:
                if ctrl:
                    self.scroll, self.unseen = 0.0, 0
                else:
                    ed.end()
            elif key == pygame.K_UP:
                ed.history_up()
            elif key == pygame.K_DOWN:
                ed.history_down()
            elif key == pygame.K_PAGEUP:
                self._scroll_by(self._messages_rect().height * 0.85)
            elif key == pygame.K_PAGEDOWN:
                self._scroll_by(-self._messages_rect().height * 0.85)
            elif key == pygame.K_ESCAPE:
                ed.clear()
            elif ctrl and key == pygame.K_q:
                self.running = False

    def _scroll_by(self, pixels: float) -> None:
        self.scroll = max(0.0, self.scroll + pixels)
        if self.scroll == 0.0:
            self.unseen = 0

    def _on_entry(self, entry: Entry) -> None:
        if self.scroll > 0 and self.model.loaded:
            # Keep the lines being read in place while new ones arrive below.
            self.scroll += self._entry_surface(entry).get_height() + 4
            self.unseen += 1

    # ---- frame ------------------------------------------------------------------------------

    def update(self) -> None:
        model = self.model
        if model.subscription_error is not None:
            self.fatal_error = model.subscription_error  # shown in the history as well
        if model.loaded and not self._named and self.client.is_connected:
            self._named = True
            me = model.user(model.me) if model.me is not None else None
            if self.bot is None and (me is None or me.name is None or self.args.name):
                # A person starts with --name or a generated one; /name changes it.
                model.set_name(self.name)
                model.add_local("info", f"Welcome! You are {self.name}. {_help_line()}")

    def bot_step(self) -> None:
        if self.bot is not None:
            self.bot.step(self.now)

    def make_icon(self) -> pygame.Surface:
        from ..art import chat_icon

        return chat_icon(64)

    # ---- drawing ----------------------------------------------------------------------------

    def _messages_rect(self) -> pygame.Rect:
        w, h = self.screen.get_size()
        side = SIDEBAR_W if w >= 640 else 0
        return pygame.Rect(
            PAD, HEADER_H + PAD, w - side - 2 * PAD, h - HEADER_H - INPUT_H - 2 * PAD
        )

    def draw(self, screen: pygame.Surface) -> None:
        screen.fill(BG)
        self._draw_header(screen)
        self._draw_messages(screen)
        self._draw_sidebar(screen)
        self._draw_input(screen)

    def _text(
        self, text: str, color: tuple[int, int, int], font: pygame.font.Font
    ) -> pygame.Surface:
        key = (text, color, id(font))
        surf = self._text_cache.get(key)
        if surf is None:
            if len(self._text_cache) > 400:
                self._text_cache.clear()
            surf = self._text_cache[key] = font.render(text, True, color)
        return surf

    def _draw_header(self, screen: pygame.Surface) -> None:
        w = screen.get_width()
        pygame.draw.rect(screen, PANEL, (0, 0, w, HEADER_H))
        pygame.draw.line(screen, PANEL_EDGE, (0, HEADER_H - 1), (w, HEADER_H - 1))
        title = self._text(f"# {self.server.database}", TEXT, self.title_font)
        screen.blit(title, (PAD, (HEADER_H - title.get_height()) // 2))
        where = self._text(self.server.url, DIM, self.small)
        screen.blit(where, (PAD + title.get_width() + 12, (HEADER_H - where.get_height()) // 2 + 2))
        me = self.model.my_name()
        tag = self._text(f"you are {me}", identity_color(self.model.me), self.font)
        screen.blit(tag, (w - tag.get_width() - PAD, (HEADER_H - tag.get_height()) // 2))

    def _entry_surface(self, entry: Entry) -> pygame.Surface:
        """The entry's wrapped lines, cached per width and sender name."""
        rect = self._messages_rect()
        width = max(120, rect.width - 8)
        if width != self._msg_width:
            self._cache.clear()
            self._msg_width = width
        name = self.model.name_of(entry.sender) if entry.kind == "message" else ""
        key = (entry.seq, width, name)
        surf = self._cache.get(key)
        if surf is not None:
            return surf
        font = self.font
        stamp = font.render(entry.when.strftime("%H:%M "), True, DIM)
        parts: list[pygame.Surface] = [stamp]
        if entry.kind == "message":
            color = identity_color(entry.sender)
            parts.append(font.render(f"{name}: ", True, color))
            text_color = TEXT
        elif entry.kind == "error":
            parts.append(font.render("! ", True, ERROR))
            text_color = ERROR
        elif entry.kind == "notice":
            parts.append(font.render("- ", True, DIM))
            text_color = DIM
        else:
            text_color = INFO
        prefix_w = sum(p.get_width() for p in parts)
        indent = stamp.get_width()
        lines = _wrap(font, display_text(entry.text), width - prefix_w, width - indent)
        if not lines:
            lines = ["(empty)"]
            text_color = DIM
        line_h = font.get_linesize()
        surf = pygame.Surface((width, line_h * len(lines)), pygame.SRCALPHA)
        x = 0
        for p in parts:
            surf.blit(p, (x, 0))
            x += p.get_width()
        for i, line in enumerate(lines):
            surf.blit(
                font.render(line, True, text_color), (prefix_w if i == 0 else indent, i * line_h)
            )
        if len(self._cache) > 3000:
            self._cache.clear()
        self._cache[key] = surf
        return surf

    def _draw_messages(self, screen: pygame.Surface) -> None:
        rect = self._messages_rect()
        entries = self.model.entries
        gap = 4
        # Heights from the newest line up, far enough to fill the view at this scroll.
        need = rect.height + self.scroll
        items: list[tuple[pygame.Surface, float]] = []
        total = 0.0
        for entry in reversed(entries):
            surf = self._entry_surface(entry)
            total += surf.get_height() + gap
            items.append((surf, total))
            if total >= need + rect.height:
                break
        else:
            self.scroll = max(0.0, min(self.scroll, total - rect.height))
        screen.set_clip(rect)
        bottom = rect.bottom + self.scroll
        for surf, acc in items:
            y = bottom - acc
            if y > rect.bottom:
                continue
            if y + surf.get_height() < rect.top:
                break
            screen.blit(surf, (rect.x + 4, y))
        screen.set_clip(None)
        if not entries:
            hint = "Loading history..." if not self.model.loaded else "No messages yet. Say hi!"
            label = self._text(hint, DIM, self.font)
            screen.blit(label, label.get_rect(center=rect.center))
        if self.scroll > 0:
            text = (
                f"{self.unseen} new below - Ctrl+End" if self.unseen else "scrolled up - Ctrl+End"
            )
            badge = self._text(text, (20, 22, 28), self.small)
            box = badge.get_rect(midbottom=(rect.centerx, rect.bottom - 6)).inflate(16, 8)
            pygame.draw.rect(screen, ACCENT, box, border_radius=10)
            screen.blit(badge, badge.get_rect(center=box.center))

    def _draw_sidebar(self, screen: pygame.Surface) -> None:
        w, h = screen.get_size()
        if w < 640:
            return
        x0 = w - SIDEBAR_W
        pygame.draw.rect(screen, PANEL, (x0, HEADER_H, SIDEBAR_W, h - HEADER_H))
        pygame.draw.line(screen, PANEL_EDGE, (x0, HEADER_H), (x0, h))
        online, offline = self.model.users()
        y = HEADER_H + PAD
        me = self.model.me
        for label, rows, alive in (("ONLINE", online, True), ("OFFLINE", offline, False)):
            head = self._text(f"{label} - {len(rows)}", DIM, self.small)
            screen.blit(head, (x0 + PAD, y))
            y += head.get_height() + 6
            for row in rows:
                if y > h - INPUT_H - 24:
                    more = self._text("...", DIM, self.small)
                    screen.blit(more, (x0 + PAD, y))
                    return
                name = self.model.name_of(row.identity) + (" (you)" if row.identity == me else "")
                color = identity_color(row.identity) if alive else DIM
                dot = ONLINE if alive else PANEL_EDGE
                pygame.draw.circle(screen, dot, (x0 + PAD + 5, y + 9), 5)
                screen.blit(self._text(_clip(name, 24), color, self.font), (x0 + PAD + 18, y))
                y += self.font.get_linesize() + 4
            y += 10

    def _draw_input(self, screen: pygame.Surface) -> None:
        w, h = screen.get_size()
        side = SIDEBAR_W if w >= 640 else 0
        box = pygame.Rect(PAD, h - INPUT_H + 6, w - side - 2 * PAD, INPUT_H - 16)
        pygame.draw.rect(screen, PANEL, box, border_radius=8)
        pygame.draw.rect(
            screen, ACCENT if self.editor.text else PANEL_EDGE, box, 1, border_radius=8
        )
        inner = box.inflate(-20, 0)
        ed = self.editor
        font = self.font
        ty = box.centery - font.get_height() // 2
        if not ed.text:
            hint = "Type a message and press Enter   /name NEW to rename   F3 network"
            screen.blit(self._text(hint, DIM, font), (inner.x, ty))
            cursor_x = inner.x
        else:
            before_w = font.size(ed.text[: ed.cursor])[0]
            shift = max(0, before_w - inner.width + 8)
            screen.set_clip(inner)
            screen.blit(font.render(ed.text, True, TEXT), (inner.x - shift, ty))
            screen.set_clip(None)
            cursor_x = inner.x + before_w - shift
        if math.fmod(self.now - self.started, 1.0) < 0.6:
            pygame.draw.line(
                screen, TEXT, (cursor_x, ty - 1), (cursor_x, ty + font.get_height()), 2
            )

    # ---- summary ----------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        model = self.model
        online, offline = model.users()
        me = model.me
        messages = [
            {"from": model.name_of(e.sender), "text": display_text(e.text)}
            for e in model.entries
            if e.kind == "message"
        ]
        return {
            "name": model.my_name(),
            "users_online": [model.name_of(r.identity) for r in online],
            "users_offline": [model.name_of(r.identity) for r in offline],
            "names_seen": sorted(model.names_seen),
            "messages_seen": model.messages_seen,
            "messages_sent": model.sent,
            "my_messages_seen": sum(
                1 for e in model.entries if e.kind == "message" and e.sender == me
            ),
            "messages": messages[-30:],
            "errors": model.errors,
            "stopped_by": self.stopped_by,
        }


@contextmanager
def _stop_on_sigterm(game: ChatGame) -> Iterator[None]:
    """While playing, SIGTERM ends the loop after the current frame; a second one kills.

    SDL would turn SIGTERM into a QUIT event, which a slow frame only reads much later.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def stop(signum: int, _frame: FrameType | None) -> None:
        if game.stopped_by is not None:  # still running after the first: end now
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        game.stopped_by = signal.Signals(signum).name
        game.running = False

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _help_line() -> str:
    return "Type /name NEW to rename, /help for more; F3 shows the network overlay."


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "..."


class _Measures(Protocol):
    def size(self, text: str, /) -> tuple[int, int]: ...


def _wrap(font: _Measures, text: str, first_width: int, width: int) -> list[str]:
    """Greedy word wrap (lines break at spaces and newlines; words longer than a line are cut).

    Each line is found by measuring prefixes of at most about twice its own length, so the
    work grows with the text, not with its square: a long message cannot stall a frame.
    """
    lines: list[str] = []
    limit = first_width
    guess = 32
    for para in text.split("\n"):
        pos, end = 0, len(para)
        while pos < end:
            k = _fit(font, para, pos, limit, guess)
            if pos + k >= end:
                lines.append(para[pos:])
                break
            cut = pos + k
            if para[cut] != " ":
                space = para.rfind(" ", pos + 1, cut)
                if space > pos:
                    cut = space
            lines.append(para[pos:cut])
            pos = cut + 1 if para[cut] == " " else cut
            limit, guess = width, max(1, k)
        else:
            if not para and lines:
                lines.append("")  # an empty line between paragraphs
        limit = width if lines else limit
    return lines


def _fit(font: _Measures, text: str, start: int, limit: int, guess: int) -> int:
    """How many characters from ``start`` fit in ``limit`` pixels (at least one).

    Gallops from ``guess`` (the last line's length) in growing steps, then bisects: lines
    of similar length cost two or three measurements, none longer than about twice a line.
    """
    n = len(text) - start

    def fits(k: int) -> bool:
        return font.size(text[start : start + k])[0] <= limit

    step = 1
    lo = hi = min(max(1, guess), n)  # lo fits, hi does not (once the gallop stops)
    if fits(lo):
        while True:
            if lo >= n:
                return n
            hi = min(lo + step, n)
            if not fits(hi):
                break
            lo, step = hi, step * 2
    else:
        while True:
            lo = max(hi - step, 0)
            if lo == 0 or fits(lo):
                break
            hi, step = lo, step * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return max(1, lo)
