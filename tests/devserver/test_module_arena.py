"""The Blackholio port: schema facts from blackholio.md and simulation sanity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stdb_game.devserver import Database
from stdb_game.devserver.database import load_module
from stdb_game.sats.values import ConnectionId, Identity, Timestamp

ARENA = Path(__file__).resolve().parents[2] / "demos" / "arena" / "module.py"
T0 = Timestamp(1_700_000_000_000_000)
TICK = 50_000
P1 = Identity.from_hex("c200" + "11" * 30)
P2 = Identity.from_hex("c200" + "22" * 30)


@pytest.fixture(scope="module")
def arena() -> Any:
    return load_module(ARENA)


def at(micros: int) -> Timestamp:
    return Timestamp(T0.micros_since_epoch + micros)


def json_call(db: Database, who: Identity, name: str, args: list[Any], when: int = 0):
    return db.call_reducer_json(
        name, args, sender=who, connection_id=ConnectionId(1), timestamp=at(when)
    )


def test_schema_matches_blackholio_md(arena: Any) -> None:
    db = Database.open(arena, timestamp=T0)
    schema = db.schema_json()
    tables = {t["name"]: t for t in schema["tables"]}
    assert set(tables) == {
        "config",
        "entity",
        "logged_out_entity",
        "circle",
        "logged_out_circle",
        "player",
        "logged_out_player",
        "food",
        "move_all_players_timer",
        "spawn_food_timer",
        "circle_decay_timer",
        "circle_recombine_timer",
        "consume_entity_timer",
    }
    public = {n for n, t in tables.items() if t["table_access"] == {"Public": []}}
    assert public == {"config", "entity", "circle", "player", "food"}
    assert tables["entity"]["product_type_ref"] == tables["logged_out_entity"]["product_type_ref"]
    assert tables["circle"]["indexes"][1]["accessor_name"] == {"some": "player_id"}
    assert tables["player"]["constraints"][1]["data"] == {"Unique": {"columns": [1]}}
    assert [s["column"] for s in tables["player"]["sequences"]] == [1]
    sched = tables["consume_entity_timer"]["schedule"]["some"]
    assert sched["reducer_name"] == "consume_entity" and sched["scheduled_at_column"] == 1
    names = [r["name"] for r in schema["reducers"]]
    assert names == sorted(names)
    assert set(names) == {
        "circle_decay",
        "circle_recombine",
        "connect",
        "consume_entity",
        "disconnect",
        "enter_game",
        "init",
        "move_all_players",
        "player_split",
        "respawn",
        "spawn_food",
        "suicide",
        "update_player_input",
    }
    sizes = {n: db.tables[n].row_type.static_size for n in db.tables}
    assert sizes["config"] == 12 and sizes["entity"] == 16 and sizes["circle"] == 28
    assert sizes["food"] == 4 and sizes["move_all_players_timer"] == 17
    assert sizes["circle_recombine_timer"] == 21 and sizes["player"] is None
    types = {t["name"]["name"] for t in schema["types"]}
    assert "DbVector2" in types
    entity_type = schema["typespace"]["types"][tables["entity"]["product_type_ref"]]
    position = entity_type["Product"]["elements"][1]["algebraic_type"]
    assert "Ref" in position


def test_connect_enter_and_food_spawns(arena: Any) -> None:
    db = Database.open(arena, timestamp=T0)
    res = db.client_connected(P1, ConnectionId(1), T0)
    assert res is not None and res.committed
    (player,) = db.rows("player")
    assert player.name == "" and player.player_id == 1
    assert json_call(db, P1, "enter_game", ["one"]).committed
    assert len(db.rows("circle")) == 1 and db.rows("entity")[0].mass == 15
    db.run_due(at(500_000))
    assert db.row_count("food") == 600
    assert all(
        2 <= db.stores["entity"].codec.decode(d).mass < 4
        for d in db.stores["entity"].rows
        if db.stores["entity"].codec.decode(d).entity_id != 1
    )


def _place(db: Database, entity_id: int, x: float, y: float, mass: int | None = None) -> None:
    def move(view: Any) -> None:
        e = view.entity.entity_id.find(entity_id)
        e.position = type(e.position)(x, y)
        if mass is not None:
            e.mass = mass
        view.entity.entity_id.update(e)

    assert db.apply_external("place", T0, move).committed


def _circle_entity(db: Database, who_player_id: int) -> Any:
    (c,) = [c for c in db.rows("circle") if c.player_id == who_player_id]
    (e,) = [e for e in db.rows("entity") if e.entity_id == c.entity_id]
    return e


def test_eating_food_increases_mass(arena: Any) -> None:
    db = Database.open(arena, timestamp=T0)
    db.client_connected(P1, ConnectionId(1), T0)
    json_call(db, P1, "enter_game", ["one"])
    db.run_due(at(500_000))  # food appears
    me = _circle_entity(db, 1)
    food_entities = {f.entity_id for f in db.rows("food")}
    target = next(e for e in db.rows("entity") if e.entity_id in food_entities)
    _place(db, me.entity_id, target.position.x, target.position.y)
    db.run_due(at(550_000))
    after = _circle_entity(db, 1)
    assert after.mass == me.mass + target.mass
    assert target.entity_id not in {f.entity_id for f in db.rows("food")}


def test_bigger_circle_eats_smaller_one(arena: Any) -> None:
    db = Database.open(arena, timestamp=T0)
    for who in (P1, P2):
        db.client_connected(who, ConnectionId(1), T0)
        json_call(db, who, "enter_game", [str(who)[-2:]])
    big, small = _circle_entity(db, 1), _circle_entity(db, 2)
    _place(db, big.entity_id, 500, 500, mass=100)
    _place(db, small.entity_id, 503, 500, mass=20)
    db.run_due(at(TICK))
    assert [c.player_id for c in db.rows("circle")] == [1]
    assert _circle_entity(db, 1).mass == 120
    # the eaten player can respawn
    assert json_call(db, P2, "respawn", []).committed
    assert len(db.rows("circle")) == 2


def test_split_and_recombine(arena: Any) -> None:
    db = Database.open(arena, timestamp=T0)
    db.client_connected(P1, ConnectionId(1), T0)
    json_call(db, P1, "enter_game", ["one"])
    me = _circle_entity(db, 1)
    _place(db, me.entity_id, 500, 500, mass=80)
    assert json_call(db, P1, "player_split", [], when=TICK // 2).committed
    masses = sorted(
        e.mass for e in db.rows("entity") if e.entity_id in {c.entity_id for c in db.rows("circle")}
    )
    assert masses == [40, 40]
    assert len(db.rows("circle_recombine_timer")) == 1
    for i in range(1, 7 * 20 + 1):  # 7 s of ticks: recombine fires at 5 s
        db.run_due(at(i * TICK))
    circles = db.rows("circle")
    assert len(circles) == 1
    assert _circle_entity(db, 1).mass >= 79  # merged (minus at most one decay step)


def test_input_moves_circle_and_disconnect_parks_it(arena: Any) -> None:
    db = Database.open(arena, timestamp=T0)
    db.client_connected(P1, ConnectionId(1), T0)
    json_call(db, P1, "enter_game", ["one"])
    me = _circle_entity(db, 1)
    _place(db, me.entity_id, 500, 500)
    assert json_call(db, P1, "update_player_input", [{"x": 3.0, "y": 0.0}]).committed
    db.run_due(at(TICK))
    moved = _circle_entity(db, 1)
    assert moved.position.x > 500 and moved.position.y == pytest.approx(500)
    res = db.client_disconnected(P1, ConnectionId(1), T0)
    assert res is not None and res.committed
    assert db.rows("player") == [] and db.rows("circle") == []
    assert len(db.rows("logged_out_circle")) == 1
    db.client_connected(P1, ConnectionId(1), T0)
    assert len(db.rows("circle")) == 1 and db.rows("logged_out_player") == []
    res = json_call(db, P2, "suicide", [])
    assert not res.committed and res.error == "Sender has no player"


def _run(arena: Any, seed: int) -> list[bytes]:
    db = Database.open(arena, timestamp=T0, seed=seed)
    for n, who in enumerate((P1, P2)):
        db.client_connected(who, ConnectionId(1), at(n))
        json_call(db, who, "enter_game", [f"p{n}"], when=n)
        json_call(db, who, "update_player_input", [{"x": 1 - 2 * n, "y": 0.5}], when=n)
    for i in range(1, 41):
        db.run_due(at(i * TICK))
    return sorted(db.stores["entity"].rows)


def test_simulation_is_deterministic_for_a_seed(arena: Any) -> None:
    assert _run(arena, 7) == _run(arena, 7)
    assert _run(arena, 7) != _run(arena, 8)
