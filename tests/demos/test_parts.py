"""Fast checks of the demos' parts: text editing, run modes, timings, the HUD, the arena bot."""

from __future__ import annotations

import argparse
import os
from types import SimpleNamespace
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame
import pytest
from helpers import FakeClock, connected_client

from demos.arena.bot import ArenaBot
from demos.arena.world import Blob, ServerClock
from demos.chat.editor import LineEditor
from demos.common import FALLBACK_SECONDS, build_parser, decide_mode, has_display
from stdb_game import Identity, Timestamp
from stdb_game.client import ReconnectPolicy
from stdb_game.pygame.hud import ConnectionStatus, NetworkHUD
from stdb_game.pygame.timing import FrameTimer, percentile

# ---- the text box -------------------------------------------------------------------------------


def test_editor_moves_inserts_and_deletes() -> None:
    ed = LineEditor()
    ed.insert("hello world")
    ed.home()
    ed.right(word=True)
    assert ed.cursor == 5
    ed.insert(",")
    assert ed.text == "hello, world"
    ed.end()
    ed.backspace(word=True)
    assert ed.text == "hello, "
    ed.left()
    ed.left()
    ed.delete()
    assert ed.text == "hello "
    ed.backspace()
    ed.insert("!\nnext")
    assert ed.text == "hell! next "  # the newline became a space, typed at the cursor
    ed.home()
    ed.delete(word=True)
    assert ed.text == " next "


def test_editor_history_keeps_the_draft() -> None:
    ed = LineEditor()
    for line in ("one", "two", "two", ""):
        ed.insert(line)
        ed.submit()
    assert ed.history == ["one", "two"]  # repeats and empty lines are not kept
    ed.insert("draft")
    ed.history_up()
    assert ed.text == "two"
    ed.history_up()
    ed.history_up()
    assert ed.text == "one"
    ed.history_down()
    assert ed.text == "two"
    ed.history_down()
    assert ed.text == "draft" and ed.cursor == 5


def test_editor_respects_max_length() -> None:
    ed = LineEditor(max_length=5)
    ed.insert("abcdefgh")
    assert ed.text == "abcde"


# ---- run modes ------------------------------------------------------------------------------------


def test_has_display() -> None:
    assert not has_display({}, "linux")
    assert has_display({"DISPLAY": ":0"}, "linux")
    assert has_display({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert not has_display({"DISPLAY": ":0", "SDL_VIDEODRIVER": "dummy"}, "linux")
    assert has_display({}, "win32") and has_display({}, "darwin")


def test_decide_mode_falls_back_to_a_bot_without_display() -> None:
    args = build_parser("arena").parse_args([])
    mode = decide_mode(args, "arena", display=False)
    assert mode.bot and mode.headless and mode.seconds == FALLBACK_SECONDS
    assert mode.notice is not None and "stdb-game demo arena" in mode.notice
    assert decide_mode(args, "arena", display=True).bot is False
    bot = decide_mode(build_parser("chat").parse_args(["--bot", "--seconds", "3"]), "chat", True)
    assert bot.bot and bot.seconds == 3 and bot.notice is None
    chat = decide_mode(build_parser("chat").parse_args([]), "chat", display=False)
    assert chat.notice is not None and "--terminal" in chat.notice


def test_options_parse() -> None:
    args = build_parser("chat").parse_args(
        ["--server", "wss://example.com:443", "--database", "db", "--client", "2", "--fps", "30"]
    )
    assert isinstance(args, argparse.Namespace)
    assert (args.server, args.database, args.client, args.fps) == (
        "wss://example.com:443",
        "db",
        2,
        30.0,
    )


# ---- timings and the HUD --------------------------------------------------------------------------


def test_percentile_and_summary() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile(list(range(1, 101)), 99) == 99
    timer = FrameTimer()
    for i in range(100):
        timer.record(1 / 60, 0.002, 0.0001 * i, budget_exhausted=i == 5)
    s = timer.summary()
    assert s["frames"] == 100 and 59 < s["fps"] < 61
    assert s["tick_max_ms"] == pytest.approx(9.9)
    assert s["budget_exhausted_frames"] == 1


def test_hud_shows_the_connection_and_a_drop() -> None:
    client, server = connected_client(reconnect=ReconnectPolicy(initial_delay=60.0))
    status = ConnectionStatus(client)
    hud = NetworkHUD(client, status=status, visible=True)
    hud.record(client.tick(), 1 / 60)
    text = "\n".join(line for line, _ in hud.lines())
    assert text.startswith("CONNECTED")
    assert "rtt" in text and "queue" in text and "tick" in text and "reconnects 0" in text
    assert status.message() is None
    server.transport.feed_close(1001, "going away")
    hud.record(client.tick(), 1 / 60)
    assert status.drops == 1 and status.is_down
    msg = status.message()
    assert msg is not None and "reconnecting" in msg and "1001" in msg
    text = "\n".join(line for line, _ in hud.lines())
    assert text.startswith("RECONNECTING") and "last drop" in text
    pygame.display.init()
    pygame.font.init()
    try:
        surface = pygame.Surface((640, 400))
        rect = hud.draw(surface)
        assert rect is not None and rect.width > 200
        hud.handle_event(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_F3))
        assert hud.draw(surface) is None
    finally:
        pygame.quit()


# ---- the arena ------------------------------------------------------------------------------------


def test_server_clock_keeps_the_least_delayed_offset() -> None:
    clock = ServerClock()
    clock.observe(100.0, 10.05)
    clock.observe(100.05, 10.08)  # arrived quicker than the first
    assert clock.offset == pytest.approx(89.97)
    assert clock.now(11.0) == pytest.approx(100.97)


def _world(my_pid: int, food: dict[int, tuple[float, float, float]]) -> Any:
    return SimpleNamespace(my_player_id=my_pid, food=food, world_size=1000.0)


def test_bot_heads_for_food_and_flees_bigger_circles() -> None:
    bot = ArenaBot()
    me = Blob(1, 1, 500.0, 500.0, 15.0)
    world = _world(1, {7: (560.0, 500.0, 2.0), 8: (300.0, 300.0, 2.0)})
    d = bot.think(world, 0.0, [me])
    assert d is not None and d.direction[0] > 0.9 and abs(d.direction[1]) < 0.1
    assert bot.think(world, 0.05, [me]) is None  # thinks ten times a second
    big = Blob(2, 2, 470.0, 500.0, 200.0)  # to our left, and hungry
    d = bot.think(world, 0.2, [me, big])
    assert d is not None and d.direction[0] > 0.5
    prey = Blob(3, 3, 500.0, 540.0, 5.0)
    d = bot.think(_world(1, {}), 0.4, [me, prey])
    assert d is not None and d.direction[1] > 0.9  # chases the small one rather than wandering


# ---- the arena's world from the client's callbacks ------------------------------------------------


def _arena_world() -> tuple[Any, Any, Any, FakeClock]:
    from demos.arena.bindings import SCHEMA
    from demos.arena.world import ArenaWorld

    clock = FakeClock()
    client, server = connected_client(
        SCHEMA, clock=clock, reconnect=ReconnectPolicy(initial_delay=0.5, jitter=0.0)
    )
    return client, server, ArenaWorld(client, clock=clock), clock


def _me_and_food(server: Any) -> dict[str, list[Any]]:
    from demos.arena.bindings import Circle, DbVector2, Entity, Food, Player

    return {
        "player": [Player(server.identity, 1, "me")],
        "entity": [
            Entity(1, DbVector2(10.0, 10.0), 20),
            *(Entity(i, DbVector2(i, i), 3) for i in (2, 3, 4)),
        ],
        "circle": [Circle(1, 1, DbVector2(0.0, 0.0), 0.0, Timestamp(0))],
        "food": [Food(2), Food(3), Food(4)],
    }


def _my_circle(server: Any, entity_id: int = 1) -> dict[str, list[Any]]:
    from demos.arena.bindings import Circle, DbVector2, Entity

    return {
        "entity": [Entity(entity_id, DbVector2(10.0, 10.0), 20)],
        "circle": [Circle(entity_id, 1, DbVector2(0.0, 0.0), 0.0, Timestamp(0))],
    }


def test_arena_world_counts_the_food_it_loaded_with() -> None:
    client, server, world, _ = _arena_world()
    server.send(server.subscribe_applied(world.subscription.query_id, _me_and_food(server)))
    client.tick()
    assert world.loaded and world.in_sync
    # on_applied fires before the rows' insert callbacks: they are what is counted.
    assert world.food_at_load == 3 and world.food_spawned == 0 and len(world.food) == 3
    assert world.my_player_id == 1 and world.circles == {1: 1}


def test_arena_world_counts_a_death_only_when_a_game_reducer_took_our_last_circle() -> None:
    client, server, world, clock = _arena_world()
    server.send(server.subscribe_applied(world.subscription.query_id, _me_and_food(server)))
    client.tick()
    # The lifecycle reducer that parks our circles when we disconnect is no death.
    server.send(server.transaction("disconnect", b"", deletes=_my_circle(server)))
    client.tick()
    assert world.circles == {} and world.deaths == 0
    server.send(server.transaction("respawn", b"", inserts=_my_circle(server, 5)))
    client.tick()
    assert world.circles == {5: 1}
    # A drop: the cache is kept, and who we are with it.
    server.transport.feed_abnormal()
    client.tick()
    assert not world.in_sync and world.deaths == 0
    assert client.identity == server.identity and world.my_player_id == 1
    clock.advance(1.0)
    client.tick()
    server.send(server.identity_token())
    client.tick()
    (resub,) = server.received()
    # The server lost our circle while we were away: reconciled away, still no death.
    rows = _me_and_food(server)
    rows["circle"], rows["entity"] = [], rows["entity"][1:]
    server.send(server.subscribe_applied(resub.query_id.id, rows))
    client.tick()
    assert world.in_sync and world.circles == {} and world.deaths == 0
    server.send(server.transaction("respawn", b"", inserts=_my_circle(server, 6)))
    client.tick()
    server.send(server.transaction("consume_entity", b"", deletes=_my_circle(server, 6)))
    client.tick()
    assert world.deaths == 1 and world.died_at == clock.now


def test_bot_splits_only_when_big_enough_and_a_smaller_target_is_in_reach() -> None:
    food = {7: (520.0, 500.0, 2.0)}  # 20 units ahead
    small = ArenaBot()
    d = small.think(_world(1, food), 0.0, [Blob(1, 1, 500.0, 500.0, 59.0)])
    assert d is not None and not d.split  # the module splits from mass 60
    bot = ArenaBot()
    d = bot.think(_world(1, food), 0.0, [Blob(1, 1, 500.0, 500.0, 60.0)])
    assert d is not None and d.split and d.direction[0] > 0.5
    d = bot.think(_world(1, food), 1.0, [Blob(1, 1, 500.0, 500.0, 80.0)])
    assert d is not None and not d.split  # cooling down: the halves have not merged yet
    d = bot.think(_world(1, food), 7.0, [Blob(1, 1, 500.0, 500.0, 80.0)])
    assert d is not None and d.split
    far = ArenaBot()
    d = far.think(_world(1, {7: (700.0, 500.0, 2.0)}), 0.0, [Blob(1, 1, 500.0, 500.0, 80.0)])
    assert d is not None and not d.split  # nothing in reach
    chased = ArenaBot()
    big = Blob(2, 2, 440.0, 500.0, 400.0)
    d = chased.think(_world(1, food), 0.0, [Blob(1, 1, 500.0, 500.0, 80.0), big])
    assert d is not None and not d.split  # halves would be eaten
    hunter = ArenaBot()
    prey = Blob(3, 3, 530.0, 500.0, 30.0)  # a half (50) still eats it (< 0.85 * 50)
    d = hunter.think(_world(1, {}), 0.0, [Blob(1, 1, 500.0, 500.0, 100.0), prey])
    assert d is not None and d.split
    too_big = Blob(3, 3, 530.0, 500.0, 60.0)  # edible whole, not by a half
    d = ArenaBot().think(_world(1, {}), 0.0, [Blob(1, 1, 500.0, 500.0, 100.0), too_big])
    assert d is not None and not d.split and d.direction[0] > 0.5


def test_chat_keeps_knowing_who_you_are_while_reconnecting() -> None:
    from demos.chat.bindings import SCHEMA, User
    from demos.chat.model import ChatModel

    clock = FakeClock()
    client, server = connected_client(
        SCHEMA, clock=clock, reconnect=ReconnectPolicy(initial_delay=5.0, jitter=0.0)
    )
    model = ChatModel(client)
    other = Identity.from_be_bytes(b"\xc2\x00" + bytes(range(40, 70)))
    users = [User(other, "aaron", True), User(server.identity, "zoe", True)]
    server.send(server.subscribe_applied(model.subscription.query_id, {"user": users}))
    client.tick()
    assert [u.name for u in model.users()[0]] == ["zoe", "aaron"]  # you first
    server.transport.feed_abnormal()
    client.tick()
    assert not client.is_connected
    # The window's "(you)" tag and header come from model.me: still us during the outage.
    assert model.me == server.identity and model.my_name() == "zoe"
    assert [u.name for u in model.users()[0]] == ["zoe", "aaron"]


def test_terminal_chat_waits_for_the_results_of_its_calls_but_not_forever(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from demos.chat.bindings import SCHEMA, Message
    from demos.chat.model import ChatModel
    from demos.chat.terminal import _settle

    client, server = connected_client(SCHEMA)
    model = ChatModel(client)
    model.submit("hello")
    model.submit("")
    (first, second) = sorted(model.awaiting)
    refused = server.transaction("send_message", ("",), failed="empty", request_id=second)
    server.send(refused)
    _settle(client, model, limit=0.05)  # the first call never gets its answer
    assert model.awaiting == {first} and model.errors == ["empty"]
    assert "leaving with 1 call(s) unanswered after 0.05 s" in capsys.readouterr().out
    row = Message(server.identity, Timestamp.now(), "hello")
    server.send(server.transaction("send_message", ("hello",), inserts={"message": [row]},
                                   request_id=first))  # fmt: skip
    _settle(client, model, limit=60.0)  # returns as soon as the answer is in
    assert not model.awaiting
    assert capsys.readouterr().out == ""
