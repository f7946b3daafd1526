"""Shared test fixtures: a small game schema (the bug-case tables) and a controllable clock."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from stdb_game.client import Client, ReconnectPolicy
from stdb_game.sats import types as t
from stdb_game.schema import IndexDef, ModuleSchema, ReducerDef, TableDef
from stdb_game.testing import FakeServer

PLAYER = t.ProductType([("id", t.U64), ("x", t.I32)], name="Player")
ITEM = t.ProductType([("id", t.U32), ("owner", t.U32)], name="Item")
NOTE = t.ProductType([("text", t.STRING)], name="Note")
POSITION = t.ProductType([("player_id", t.U64), ("x", t.I32), ("y", t.I32)], name="Position")
COUNTER = t.ProductType([("id", t.U32), ("value", t.U64)], name="Counter")

Player = namedtuple("Player", "id x")
Item = namedtuple("Item", "id owner")
Note = namedtuple("Note", "text")
Position = namedtuple("Position", "player_id x y")


def game_schema() -> ModuleSchema:
    """The tables the bug cases use: keyed, unkeyed, indexed, two related tables."""
    return ModuleSchema.build(
        tables=[
            TableDef("player", PLAYER, primary_key=0),
            TableDef("item", ITEM, primary_key=0, indexes=(IndexDef("item_owner", (1,)),)),
            TableDef("note", NOTE),
            TableDef("position", POSITION, primary_key=0),
            TableDef("counter", COUNTER, primary_key=0),
        ],
        reducers=[
            ReducerDef("set_x", t.ProductType([("id", t.U64), ("x", t.I32)])),
            ReducerDef("spawn", t.ProductType([])),
            ReducerDef("post", t.ProductType([("text", t.STRING), ("sent", t.TIMESTAMP)])),
            ReducerDef("increment", t.ProductType([])),
            ReducerDef("identity_connected", t.ProductType([]), lifecycle="OnConnect"),
            ReducerDef("rename", t.ProductType([("name", t.STRING)])),
            ReducerDef("configure", t.ProductType([("flags", t.U8)])),
        ],
    )


class FakeClock:
    """A clock tests move by hand; each read can also advance it by ``step``."""

    def __init__(self, start: float = 1000.0, step: float = 0.0) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> float:
        v = self.now
        self.now += self.step
        return v

    def advance(self, seconds: float) -> None:
        self.now += seconds


def connected_client(
    schema: ModuleSchema | None = None, **kwargs: Any
) -> tuple[Client, FakeServer]:
    """A client connected to a fake server that already said IdentityToken (ticked once)."""
    schema = schema or game_schema()
    server = FakeServer(schema)
    kwargs.setdefault("reconnect", ReconnectPolicy(enabled=False))
    # No time budget unless a test sets one: on a loaded machine a budget would split what
    # these tests expect one tick to apply (budget tests pass their own).
    kwargs.setdefault("budget_ms", None)
    client = Client("ws://fake:3000", "game", schema=schema,
                    transport_factory=server.transport_factory, **kwargs)  # fmt: skip
    client.connect()
    server.send(server.identity_token())
    client.tick()
    return client, server
