"""Scripted game sessions against the FakeServer, recorded and then replayed by the tests.

A script is game code: it calls the client and ticks. What the "server" does goes through
``Game.serve``, which does nothing when the game runs against a ``ReplayTransport`` — so
one script can run live (recording) and again against its recording.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import FakeClock, game_schema
from shared_data import CHAT_SCHEMA_JSON, require

from stdb_game import protocol as P
from stdb_game.client import Client, ReconnectPolicy, SubscriptionHandle, TickStats
from stdb_game.replay import EventLog, ReplayTransport, snapshot_cache
from stdb_game.sats.values import ConnectionId, Identity
from stdb_game.schema import ModuleSchema
from stdb_game.testing import FakeServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "recordings"

#: A token that must never show up in a recording.
TOKEN = "tok-S3CR3T-" + "a1b2c3d4" * 6
#: Long enough that the server compresses the IdentityToken that carries it.
LONG_TOKEN = "eyJ0eXAiOiJKV1Qi-S3CR3T-" + "Zm9vYmFyYmF6" * 150

ME = Identity.from_be_bytes(b"\xc2\x00" + bytes(range(1, 31)))
ME_CONN = ConnectionId(0x0102030405060708090A0B0C0D0E0F10)
OTHER = Identity.from_be_bytes(b"\xc2\x00" + bytes(range(101, 131)))
OTHER_CONN = ConnectionId(0x1112131415161718191A1B1C1D1E1F20)


def chat_schema() -> ModuleSchema:
    return ModuleSchema.from_json(json.loads(require(CHAT_SCHEMA_JSON).read_text()))


@dataclass
class Game:
    """One run of a script: the client, the fake server (None on replay), the event log."""

    client: Client
    server: FakeServer | None
    clock: FakeClock
    log: EventLog
    snapshots: dict[int, dict[str, list[Any]]] = field(default_factory=dict)

    def tick(self, **kwargs: Any) -> TickStats:
        self.clock.advance(1 / 60)
        stats = self.client.tick(**kwargs)
        self.snapshots[self.client.stats.ticks] = snapshot_cache(self.client)
        return stats

    def serve(self, make: Callable[[FakeServer], bytes]) -> None:
        if self.server is not None:
            self.server.send(make(self.server))

    def server_do(self, action: Callable[[FakeServer], None]) -> None:
        if self.server is not None:
            action(self.server)

    def subscribe(self, queries: str | list[str]) -> SubscriptionHandle:
        return self.log.watch(self.client.subscribe(queries))


@dataclass
class Script:
    name: str
    body: Callable[[Game], None]
    schema: Callable[[], ModuleSchema] = game_schema
    client_kwargs: Callable[[], dict[str, Any]] = dict
    compression: P.Compression = P.Compression.NONE
    token: str = TOKEN
    #: Seconds each clock read adds, so time budgets run out the same way every run.
    clock_step: float = 0.0


def _client(script: Script, schema: ModuleSchema, clock: FakeClock, **kwargs: Any) -> Client:
    opts: dict[str, Any] = {"reconnect": ReconnectPolicy(enabled=False), "token": script.token}
    opts.update(script.client_kwargs())
    opts.update(kwargs)
    return Client("ws://fake:3000", "game", schema=schema, clock=clock, **opts)


def run_live(script: Script, path: Path | None, **kwargs: Any) -> Game:
    """Play ``script`` against a FakeServer, recording to ``path``."""
    schema = script.schema()
    server = FakeServer(schema, identity=ME, connection_id=ME_CONN, compression=script.compression)
    clock = FakeClock(step=script.clock_step)
    client = _client(
        script,
        schema,
        clock,
        transport_factory=server.transport_factory,
        record_to=str(path) if path is not None else kwargs.pop("record_to", None),
        **kwargs,
    )
    game = Game(client, server, clock, EventLog().attach(client))
    script.body(game)
    return game


def run_against_recording(script: Script, path: Path) -> Game:
    """Play ``script`` again with ``ReplayTransport``s handing out the recorded frames."""
    schema = script.schema()
    clock = FakeClock(step=script.clock_step)
    client = _client(script, schema, clock, transport_factory=ReplayTransport.factory(path))
    game = Game(client, None, clock, EventLog().attach(client))
    script.body(game)
    return game


# ---- the scripts --------------------------------------------------------------------------------


def basic(g: Game) -> None:
    """Subscriptions, our reducers, someone else's, a failure, light updates, one-off, unsubscribe."""
    c = g.client
    c.connect()
    players = g.subscribe("SELECT * FROM player")  # queued until IdentityToken
    g.tick()
    g.serve(lambda s: s.identity_token(TOKEN))
    g.tick()
    g.serve(lambda s: s.subscribe_applied(players.query_id, {"player": [(1, 0), (2, 5)]}))
    g.tick()
    stuff = g.subscribe(["SELECT * FROM item", "SELECT * FROM note"])
    g.tick()
    g.serve(
        lambda s: s.subscribe_applied(
            stuff.query_id, {"item": [(10, 1), (11, 2)], "note": [("hello",)]}
        )
    )
    rid = c.call_reducer("set_x", 1, 7)
    g.tick()
    g.serve(
        lambda s: s.transaction(
            "set_x",
            (1, 7),
            deletes={"player": [(1, 0)]},
            inserts={"player": [(1, 7)]},
            request_id=rid,
        )
    )
    g.serve(
        lambda s: s.transaction(
            "spawn",
            (),
            inserts={"player": [(3, 0)]},
            caller=OTHER,
            caller_connection_id=OTHER_CONN,
        )
    )
    g.tick()
    c.call_reducer("set_x", 9, 1)
    g.tick()
    g.serve(lambda s: s.transaction("set_x", (9, 1), failed="no player 9"))
    g.serve(lambda s: s.light(deletes={"item": [(10, 1)]}, inserts={"note": [("world",)]}))
    g.tick()
    mid = c.one_off_query("SELECT * FROM player WHERE x > 1", g.log.one_off_callback)
    g.tick()
    g.serve(lambda s: s.one_off_response(mid, "player", [(1, 7)]))
    stuff.unsubscribe()
    g.tick()
    g.serve(
        lambda s: s.unsubscribe_applied(
            stuff.query_id, {"item": [(11, 2)], "note": [("hello",), ("world",)]}
        )
    )
    g.tick()
    g.tick()
    c.disconnect()


def budget(g: Game) -> None:
    """A burst applied over several ticks by a time budget and a small inbound queue."""
    c = g.client
    c.connect()
    g.serve(lambda s: s.identity_token(TOKEN))
    g.tick()
    counters = g.subscribe("SELECT * FROM counter")
    g.tick()
    g.serve(lambda s: s.subscribe_applied(counters.query_id, {"counter": [(1, 0)]}))
    g.tick()
    for i in range(12):
        g.serve(
            lambda s, i=i: s.transaction(
                "increment",
                (),
                deletes={"counter": [(1, i)]},
                inserts={"counter": [(1, i + 1)]},
                caller=OTHER,
                caller_connection_id=OTHER_CONN,
            )
        )
    for _ in range(10):
        g.tick()
    c.disconnect()


def budget_kwargs() -> dict[str, Any]:
    return {"budget_ms": 4.0, "inbound_queue_limit": 5}


def big(g: Game) -> None:
    """A message over 64 KiB prepared across ticks (the default), a call made from one of its
    callbacks, and a small message queued behind it."""
    c = g.client
    c.connect()
    g.serve(lambda s: s.identity_token(TOKEN))
    g.tick()
    players = g.subscribe("SELECT * FROM player")
    c.db.player.on_insert(
        lambda ctx, row: c.call_reducer("set_x", row.id, 1) if row.id == 7 else None
    )
    g.tick()
    g.serve(
        lambda s: s.subscribe_applied(players.query_id, {"player": [(i, 0) for i in range(6000)]})
    )
    g.serve(
        lambda s: s.transaction(
            "set_x", (1, 2), deletes={"player": [(1, 0)]}, inserts={"player": [(1, 2)]},
            caller=OTHER, caller_connection_id=OTHER_CONN,
        )
    )  # fmt: skip
    for _ in range(12):
        g.tick()
    c.disconnect()


def big_kwargs() -> dict[str, Any]:
    return {"budget_ms": 2.0}


def reconnect(g: Game) -> None:
    """A dropped socket, a reconnect that reconciles the cache, then a stall."""
    c = g.client
    c.connect()
    g.serve(lambda s: s.identity_token(TOKEN))
    g.tick()
    players = g.subscribe("SELECT * FROM player")
    g.tick()
    g.serve(lambda s: s.subscribe_applied(players.query_id, {"player": [(1, 0), (2, 0)]}))
    g.tick()
    g.server_do(lambda s: s.transport.feed_abnormal(ConnectionResetError("reset by peer")))
    g.tick()
    for _ in range(12):  # the reconnect delay is at most 0.1 s: 6 ticks
        g.tick()
    g.serve(lambda s: s.identity_token(TOKEN))
    g.tick()  # resubscribes
    g.serve(
        lambda s: s.subscribe_applied(players.query_id, {"player": [(1, 4), (3, 0)]}, request_id=0)
    )
    g.tick()  # reconciles: 1 updated, 2 deleted, 3 inserted
    g.clock.advance(12.0)  # the game froze for 12 s and the socket died meanwhile
    g.server_do(lambda s: s.transport.feed_abnormal())
    g.tick()
    g.tick()
    c.disconnect()


def reconnect_kwargs() -> dict[str, Any]:
    return {
        "reconnect": ReconnectPolicy(enabled=True, initial_delay=0.05, max_delay=0.1),
        "rng": random.Random(7),
    }


def protocol_error(g: Game) -> None:
    """A frame that does not decode ends the connection with an error, no reconnect."""
    c = g.client
    c.connect()
    g.serve(lambda s: s.identity_token(TOKEN))
    g.tick()
    players = g.subscribe("SELECT * FROM player")
    g.tick()
    g.serve(lambda s: s.subscribe_applied(players.query_id, {"player": [(1, 0)]}))
    g.serve(lambda s: b"\x00\xee\x01\x02")
    g.tick()
    g.tick()
    c.disconnect()


def chat(g: Game) -> None:
    """The quickstart-chat schema from JSON, gzip frames, a long (compressed) token."""
    c = g.client
    c.connect()
    g.serve(lambda s: s.identity_token(LONG_TOKEN))
    g.tick()
    sub = g.log.watch(c.subscribe_to_all_tables())
    g.tick()
    history = [(OTHER, s_ts(i), f"message number {i} " + "x" * 40) for i in range(40)]
    g.serve(
        lambda s: s.subscribe_applied(
            sub.query_id,
            {"user": [(ME, None, True), (OTHER, "bob", True)], "message": history},
        )
    )
    g.tick()
    rid = c.call_reducer("set_name", "alice")
    g.tick()
    g.serve(
        lambda s: s.transaction(
            "set_name",
            ("alice",),
            deletes={"user": [(ME, None, True)]},
            inserts={"user": [(ME, "alice", True)]},
            request_id=rid,
        )
    )
    rid2 = c.call_reducer("send_message", "hi bob")
    g.tick()
    g.serve(
        lambda s: s.transaction(
            "send_message",
            ("hi bob",),
            inserts={"message": [(ME, s_ts(100), "hi bob")]},
            request_id=rid2,
        )
    )
    c.call_reducer("send_message", "")
    g.tick()
    g.serve(lambda s: s.transaction("send_message", ("",), failed="Messages must not be empty"))
    g.serve(
        lambda s: s.transaction(
            "identity_disconnected",
            (),
            deletes={"user": [(OTHER, "bob", True)]},
            inserts={"user": [(OTHER, "bob", False)]},
            caller=OTHER,
            caller_connection_id=OTHER_CONN,
        )
    )
    g.tick()
    g.tick()
    c.disconnect()


def s_ts(i: int) -> Any:
    from stdb_game.sats.values import Timestamp

    return Timestamp(1_735_689_600_000_000 + i * 1_000_000)


SCRIPTS = {
    s.name: s
    for s in [
        Script("basic", basic),
        Script("budget", budget, client_kwargs=budget_kwargs, clock_step=0.0015),
        Script("reconnect", reconnect, client_kwargs=reconnect_kwargs),
        Script("protocol_error", protocol_error),
        Script("chat", chat, schema=chat_schema, compression=P.Compression.GZIP, token=LONG_TOKEN),
    ]
}

#: Not in SCRIPTS (those each have a stored fixture): a big message prepared across ticks.
BIG = Script("big", big, client_kwargs=big_kwargs, clock_step=0.0005)
