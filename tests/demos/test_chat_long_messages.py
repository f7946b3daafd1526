"""A very long chat message costs work in proportion to what is shown, not its square."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame
import pytest
from helpers import connected_client

from demos.chat.bindings import SCHEMA, Message, User
from demos.chat.game import ChatGame, _wrap
from demos.chat.model import DISPLAY_LIMIT, display_text
from demos.common import RunMode, ServerInfo, build_parser
from stdb_game import Identity, Timestamp


class FixedFont:
    """Every character is 7 px wide; counts the calls and the characters measured."""

    def __init__(self) -> None:
        self.calls = 0
        self.chars = 0

    def size(self, text: str) -> tuple[int, int]:
        self.calls += 1
        self.chars += len(text)
        return 7 * len(text), 16


class CountingFont:
    """A real font that counts ``size`` calls and keeps what was rendered."""

    def __init__(self, font: pygame.font.Font) -> None:
        self.font = font
        self.calls = 0
        self.rendered: list[str] = []

    def size(self, text: str) -> tuple[int, int]:
        self.calls += 1
        return self.font.size(text)

    def render(self, text: str, *args: Any) -> pygame.Surface:
        self.rendered.append(text)
        return self.font.render(text, *args)

    def get_linesize(self) -> int:
        return self.font.get_linesize()

    def get_height(self) -> int:
        return self.font.get_height()


def test_wrap_measures_a_long_word_a_bounded_number_of_times() -> None:
    font = FixedFont()
    lines = _wrap(font, "x" * 200_000, 300, 420)
    # The old wrap re-measured the whole rest for every line cut: ~n^2/60 characters.
    assert font.chars < 3 * 200_000 and font.calls < 3 * len(lines)
    assert lines[0] == "x" * 42 and lines[1:-1] == ["x" * 60] * (len(lines) - 2)
    assert "".join(lines) == "x" * 200_000


def test_wrap_measures_mixed_text_in_linear_work() -> None:
    words = ["lorem", "ipsum", "x" * 300, "dolor", "sit", "amet"]
    text = " ".join(words[i % len(words)] for i in range(40_000))  # ~1.3 MB of text
    font = FixedFont()
    lines = _wrap(font, text, 300, 420)
    # The quadratic wrap measured the whole rest of the text per line: ~n^2/120 characters.
    assert font.chars < 4 * len(text)  # the old wrap: 10 per character
    assert font.calls < 4 * len(lines)
    assert lines[0] == "lorem ipsum"  # the long word starts its own line
    assert all(7 * len(ln) <= 420 for ln in lines) and 7 * len(lines[0]) <= 300
    # Nothing lost: the lines are the words again, long ones cut where the line was full.
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert lines[1:6] == ["x" * 60] * 5  # 420 px hold 60 characters
    assert lines[6] == "dolor sit amet lorem ipsum"


def test_wrap_breaks_at_newlines_and_keeps_blank_lines() -> None:
    assert _wrap(FixedFont(), "one two\n\nthree", 1000, 1000) == ["one two", "", "three"]
    assert _wrap(FixedFont(), "", 100, 100) == []


def test_display_text_caps_a_huge_message_and_says_how_big_it_was() -> None:
    assert display_text("short") == "short"
    shown = display_text("é" * (512 * 1024))  # 1 MiB of UTF-8
    assert shown.startswith("é" * DISPLAY_LIMIT)
    assert shown.endswith("... (message truncated, 1024 KB)")
    assert len(shown) == DISPLAY_LIMIT + len("... (message truncated, 1024 KB)")


@pytest.fixture
def game() -> Iterator[tuple[ChatGame, Any]]:
    client, server = connected_client(SCHEMA)
    args = build_parser("chat").parse_args(["--bot", "--name", "reader"])
    game = ChatGame(client, args, RunMode(True, True, 1.0), ServerInfo("ws://fake", "chat", False))
    try:
        yield game, server
    finally:
        pygame.quit()


def test_a_1_mib_message_is_drawn_with_bounded_work_and_once(
    game: tuple[ChatGame, Any],
) -> None:
    chat, server = game
    other = Identity.from_be_bytes(b"\xc2\x00" + bytes(range(40, 70)))
    huge = "word " * (1024 * 1024 // 5) + "THE-END"
    rows = [Message(other, Timestamp.now(), "before"), Message(other, Timestamp.now(), huge)]
    users = [User(other, "bigmouth", True)]
    sub = chat.model.subscription
    server.send(server.subscribe_applied(sub.query_id, {"user": users, "message": rows}))
    chat.client.tick()
    assert chat.model.loaded and len(chat.model.entries) == 2
    font = CountingFont(chat.font)
    chat.font = font  # type: ignore[assignment]
    chat.draw(chat.screen)
    # Only the first DISPLAY_LIMIT characters are wrapped: ~50 lines, a few probes each.
    assert 0 < font.calls < 1500
    body = [t for t in font.rendered if t.startswith("word")]
    assert body[-1].endswith("(message truncated, 1024 KB)")
    shown = "".join(body)
    assert "THE-END" not in shown and shown.count("word") == DISPLAY_LIMIT // 5
    # The next frames reuse the wrapped lines: no measuring, no rendering of the history.
    font.calls, font.rendered = 0, []
    chat.draw(chat.screen)
    chat.draw(chat.screen)
    assert font.calls == 0 and not any(t.startswith("word") for t in font.rendered)
    texts = [m["text"] for m in chat.summary()["messages"]]
    assert texts[0] == "before" and texts[1].endswith("(message truncated, 1024 KB)")


def test_sigterm_ends_the_loop_after_the_frame(game: tuple[ChatGame, Any]) -> None:
    chat, _server = game
    chat.mode = RunMode(True, True, 5.0)  # a bound in case the signal does not end it
    frames: list[int] = []
    got: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: got.append(signum))  # not fatal

    def update() -> None:
        frames.append(chat.frame)
        if chat.frame == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    chat.update = update  # type: ignore[method-assign]
    before = signal.getsignal(signal.SIGTERM)
    try:
        summary = chat.run()
    finally:
        now = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    assert got == []  # the game's handler took it
    assert frames == [0, 1, 2, 3]  # the frame that got the signal finished, no more began
    assert summary["stopped_by"] == "SIGTERM" and summary["seconds"] < 5.0
    assert summary["state_at_end"] == "connected" and not chat.client.is_connected
    assert now is before  # the old handler is back
