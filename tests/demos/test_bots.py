"""Two headless bots of each demo on one dev server see each other play; screenshots show the game."""

from __future__ import annotations

from pathlib import Path

import pygame
import pytest

from demos.art import PLAYER_COLORS
from stdb_game.devserver.launcher import DevServerHandle

from .conftest import finish, start_bot

pytestmark = pytest.mark.slow


def distinct_colors(path: Path) -> set[tuple[int, int, int]]:
    """The set of colours in a PNG (sampled every 2 pixels)."""
    image = pygame.image.load(str(path))
    w, h = image.get_size()
    return {tuple(image.get_at((x, y)))[:3] for x in range(0, w, 2) for y in range(0, h, 2)}  # type: ignore[misc]


def near(colors: set[tuple[int, int, int]], target: tuple[int, int, int], tol: int = 6) -> bool:
    return any(all(abs(a - b) <= tol for a, b in zip(c, target)) for c in colors)


def test_two_chat_bots_see_each_other(
    chat_server: DevServerHandle, tmp_path: Path, bot_env: dict[str, str]
) -> None:
    shot = tmp_path / "chat.png"
    common = [
        "--bot",
        "--seconds",
        "5",
        "--server",
        chat_server.url,
        "--database",
        chat_server.database,
    ]
    # --client gives each bot its own stored identity, as two windows on one machine.
    alice = start_bot(
        "chat", [*common, "--client", "1", "--name", "alice", "--screenshot", str(shot)], bot_env
    )
    bob = start_bot("chat", [*common, "--client", "2", "--name", "bob"], bot_env)
    a, _ = finish(alice)
    b, _ = finish(bob)
    for me, other, summary in (("alice", "bob", a), ("bob", "alice", b)):
        assert summary["name"] == me
        assert {"alice", "bob"} <= set(summary["names_seen"])
        texts = {(m["from"], m["text"]) for m in summary["messages"]}
        assert (other, f"hello from {other} (3/3)") in texts, summary["messages"]
        assert (me, f"hello from {me} (1/3)") in texts
        assert summary["my_messages_seen"] == 3
        # The empty message is refused by the module and the refusal is reported, not hidden.
        assert summary["errors"] == ["Messages must not be empty"]
        assert summary["timing"]["frames"] > 100
        assert summary["net"]["reconnects"] == 0
        assert summary["identity"] and summary["bot"] is True
    assert a["identity"] != b["identity"]
    stored = sorted(
        p.name for p in (Path(bot_env["HOME"]) / ".spacetimedb_client_credentials").iterdir()
    )
    assert len(stored) == 2 and stored[0].endswith("client1") and stored[1].endswith("client2")
    colors = distinct_colors(shot)
    assert len(colors) > 20, "the chat screenshot is nearly blank"
    assert near(colors, (222, 226, 234)), "no message text drawn"  # TEXT
    assert near(colors, (255, 120, 110)), "the refused message is not shown in red"  # ERROR


def test_two_arena_bots_see_each_other(
    arena_server: DevServerHandle, tmp_path: Path, bot_env: dict[str, str]
) -> None:
    shot = tmp_path / "arena.png"
    common = [
        "--bot",
        "--seconds",
        "6",
        "--server",
        arena_server.url,
        "--database",
        arena_server.database,
    ]
    one = start_bot(
        "arena", [*common, "--client", "1", "--name", "red", "--screenshot", str(shot)], bot_env
    )
    two = start_bot("arena", [*common, "--client", "2", "--name", "blue"], bot_env)
    a, _ = finish(one)
    b, _ = finish(two)
    for summary, other in ((a, "blue"), (b, "red")):
        assert other in summary["players"], summary
        assert summary["others_seen"] >= 1
        assert summary["other_circles_moved"] >= 1, "the other bot's circle never moved"
        food = summary["food"]
        assert food["eaten"] + food["spawned"] > 0, "the food never changed"
        assert summary["inputs_sent"] > 10
        assert summary["max_mass"] >= 15
        assert summary["timing"]["frames"] > 120
    assert a["food"]["eaten"] + b["food"]["eaten"] > 0, "neither bot ate anything"
    colors = distinct_colors(shot)
    assert len(colors) > 30, "the arena screenshot is nearly blank"
    my_color = PLAYER_COLORS[a["player_id"] % len(PLAYER_COLORS)]
    assert near(colors, my_color), f"the player's circle colour {my_color} is not on screen"
