"""Callback and event order the docs promise, at session and client level (FakeServer).

Each test asserts a whole sequence, so a reordering anywhere in the pipeline fails it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import Player, Position, connected_client, game_schema

from stdb_game import protocol as P
from stdb_game.client import Client
from stdb_game.events import EventCause, ReducerEvent, ReducerStatus
from stdb_game.protocol import compression as compression_module
from stdb_game.sats.values import TimeDuration
from stdb_game.session import SubscriptionState
from stdb_game.testing import FakeServer

# ---- Brotli without its extra -----------------------------------------------------------------


@pytest.fixture
def without_brotli(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pretend the optional brotli package is not installed."""
    monkeypatch.setitem(sys.modules, "brotli", None)  # makes `import brotli` fail
    monkeypatch.setattr(compression_module, "_brotli_module", None)
    yield


def _client(compression: str) -> Client:
    schema = game_schema()
    server = FakeServer(schema)
    return Client(
        "ws://fake:3000",
        "game",
        schema=schema,
        compression=compression,
        transport_factory=server.transport_factory,
    )


@pytest.mark.usefixtures("without_brotli")
def test_brotli_client_without_the_extra_is_refused_up_front_naming_the_extra() -> None:
    with pytest.raises(ValueError, match=r"'brotli' package: pip install stdb-game\[brotli\]"):
        _client("Brotli")
    # The other schemes need nothing optional.
    assert _client("Gzip").compression == "Gzip"
    assert _client("None").compression == "None"


def test_brotli_client_with_the_extra_asks_the_server_for_brotli() -> None:
    pytest.importorskip("brotli")
    client = _client("Brotli")
    assert "compression=Brotli" in client._url()


# ---- per-message order (docs/callbacks.md) ----------------------------------------------------


def _row_log(client: Client, table: str, log: list[str], key: str = "id") -> None:
    """Log every row callback of ``table`` as "<kind> <key>" (updates as "update old->new")."""
    h = getattr(client.db, table)
    h.on_before_delete(lambda ctx, r: log.append(f"before {getattr(r, key)}"))
    h.on_insert(lambda ctx, r: log.append(f"insert {getattr(r, key)}"))
    h.on_delete(lambda ctx, r: log.append(f"delete {getattr(r, key)}"))
    h.on_update(lambda ctx, a, b: log.append(f"update {getattr(a, key)}:{a.x}->{b.x}"))


def test_unsubscribe_fires_on_end_before_the_on_delete_callbacks() -> None:
    client, server = connected_client()
    sub = client.subscribe("SELECT * FROM player")
    server.send(server.subscribe_applied(sub.query_id, {"player": [(1, 0), (2, 0)]}))
    client.tick()
    log: list[str] = []
    _row_log(client, "player", log)
    sub.on_end(lambda s: log.append(f"end {s.query_id} {s.state.value}"))
    sub.unsubscribe()
    server.send(server.unsubscribe_applied(sub.query_id, {"player": [(2, 0), (1, 0)]}))
    client.tick()
    # before_delete sees rows still cached; on_end; then on_delete in message order.
    assert log == ["before 2", "before 1", f"end {sub.query_id} ended", "delete 2", "delete 1"]
    assert client.db.player.count() == 0


def test_subscription_error_with_a_query_id_reaches_only_that_subscription() -> None:
    client, server = connected_client()
    good = client.subscribe("SELECT * FROM player")
    server.send(server.subscribe_applied(good.query_id, {"player": [(1, 0)]}))
    client.tick()
    bad = client.subscribe("SELECT * FROM nope")
    log: list[str] = []
    _row_log(client, "player", log)
    good.on_error(lambda s, e: log.append(f"good error {e}"))
    bad.on_error(lambda s, e: log.append(f"bad error {e} {s.state.value}"))
    server.send(server.subscription_error(bad.query_id, "no such table", request_id=2))
    client.tick()
    assert log == ["bad error no such table error"]
    assert bad.error == "no such table" and good.is_active
    assert list(client.db.player.iter()) == [Player(1, 0)]


def test_subscription_error_without_a_query_id_errors_every_subscription_then_deletes() -> None:
    client, server = connected_client()
    a = client.subscribe("SELECT * FROM player")
    b = client.subscribe("SELECT * FROM item")
    server.send(server.subscribe_applied(a.query_id, {"player": [(1, 0), (2, 0)]}))
    server.send(server.subscribe_applied(b.query_id, {"item": [(5, 1)]}))
    client.tick()
    log: list[str] = []
    causes: list[EventCause] = []
    _row_log(client, "player", log)
    client.db.item.on_delete(lambda ctx, r: log.append(f"delete item {r.id}"))
    client.db.player.on_delete(lambda ctx, r: causes.append(ctx.cause))
    a.on_error(lambda s, e: log.append(f"a error {e}"))
    b.on_error(lambda s, e: log.append(f"b error {e}"))
    server.send(server.subscription_error(None, "query failed in a transaction"))
    client.tick()
    # Every live subscription's on_error first, then the dropped rows' deletes.
    # on_before_delete (cache still full), every live subscription's on_error, then deletes.
    err = "query failed in a transaction"
    assert log == [
        "before 1",
        "before 2",
        f"a error {err}",
        f"b error {err}",
        "delete 1",
        "delete 2",
        "delete item 5",
    ]
    assert causes == [EventCause.SUBSCRIPTION_ERROR] * 2
    assert a.state is b.state is SubscriptionState.ERROR
    assert client.db.player.count() == client.db.item.count() == 0


def test_on_reducer_fires_before_on_any_reducer_and_both_before_row_callbacks() -> None:
    client, server = connected_client()
    sub = client.subscribe("SELECT * FROM player")
    server.send(server.subscribe_applied(sub.query_id, {"player": [(1, 0), (2, 0)]}))
    client.tick()
    log: list[str] = []
    _row_log(client, "player", log)
    client.on_any_reducer(lambda ev: log.append(f"any {ev.reducer_name}"))  # registered first
    client.on_reducer("set_x", lambda ev: log.append("set_x #1"))
    client.on_reducer("set_x", lambda ev: log.append("set_x #2"))
    client.on_reducer("spawn", lambda ev: log.append("spawn"))
    client.call_reducer("set_x", 1, 5)
    server.send(
        server.transaction(
            "set_x", (1, 5), deletes={"player": [(1, 0), (2, 0)]}, inserts={"player": [(1, 5)]}
        )
    )
    client.tick()
    # Row 2 leaves (on_before_delete, before everything); row 1 is updated (no before_delete).
    assert log == [
        "before 2", "set_x #1", "set_x #2", "any set_x", "delete 2", "update 1:0->5"
    ]  # fmt: skip


def test_row_callbacks_per_table_inserts_then_deletes_then_updates_in_message_order() -> None:
    client, server = connected_client()
    sub = client.subscribe(["SELECT * FROM player", "SELECT * FROM item"])
    old = [(1, 0), (2, 0), (3, 0), (4, 0)]
    server.send(server.subscribe_applied(sub.query_id, {"player": old, "item": [(9, 1)]}))
    client.tick()
    log: list[str] = []
    _row_log(client, "player", log)
    client.db.item.on_insert(lambda ctx, r: log.append(f"item insert {r.id}"))
    client.db.item.on_delete(lambda ctx, r: log.append(f"item delete {r.id}"))
    # item appears first in the message (its deletes come first); in player the rows are
    # interleaved: update 3, delete 2, insert 8, update 1, delete 4, insert 6.
    server.send(
        server.transaction(
            "spawn",
            (),
            deletes={"item": [(9, 1)], "player": [(3, 0), (2, 0), (1, 0), (4, 0)]},
            inserts={"item": [(10, 1)], "player": [(3, 7), (8, 0), (1, 9), (6, 0)]},
        )
    )
    client.tick()
    assert log == [
        # on_before_delete first, for the whole message: only the rows leaving the cache
        # (updates' old rows are not leaving; on_update reports them)
        "before 2",
        "before 4",
        # tables in the order they first appear; per table inserts, deletes, updates
        "item insert 10",
        "item delete 9",
        "insert 8",
        "insert 6",
        "delete 2",
        "delete 4",
        "update 3:0->7",
        "update 1:0->9",
    ]


def test_out_of_energy_reaches_our_reducer_event_and_changes_nothing() -> None:
    client, server = connected_client()
    sub = client.subscribe("SELECT * FROM player")
    server.send(server.subscribe_applied(sub.query_id, {"player": [(1, 0)]}))
    client.tick()
    log: list[str] = []
    _row_log(client, "player", log)
    seen: list[ReducerEvent] = []
    client.on_reducer("set_x", seen.append)
    client.on_any_reducer(lambda ev: log.append(f"any {ev.status.value}"))
    rid = client.call_reducer("set_x", 1, 99)
    server.send(server.transaction("set_x", (1, 99), out_of_energy=True))
    client.tick()
    (ev,) = seen
    assert ev.status is ReducerStatus.OUT_OF_ENERGY and not ev.committed
    assert ev.error == "out of energy"
    assert (ev.is_ours, ev.request_id, ev.args) == (True, rid, (1, 99))
    assert ev.energy_quanta_used == 1000
    assert log == ["any out_of_energy"]  # no row callback: the cache did not change
    assert list(client.db.player.iter()) == [Player(1, 0)]
    assert client.session is not None and not client.session.pending_calls


# ---- bug cases at client level (research/bug-cases.md) ----------------------------------------


@pytest.mark.parametrize("frames", [P.Compression.GZIP, P.Compression.BROTLI])
def test_b14_compression_is_always_explicit_and_large_compressed_frames_all_apply(
    frames: P.Compression,
) -> None:
    if frames is P.Compression.BROTLI:
        pytest.importorskip("brotli")
    schema = game_schema()
    server = FakeServer(schema, compression=frames)
    client = Client(
        "ws://fake:3000", "game", schema=schema, transport_factory=server.transport_factory
    )
    client.connect()
    # No compression argument: the URL still names one (Gzip), never the server's default.
    assert "compression=Gzip" in server.urls[0]
    server.send(server.identity_token())
    client.tick()
    sub = client.subscribe("SELECT * FROM note")
    texts = [f"{i:03d}" + "x" * 47 for i in range(100)]  # 100 rows of 50 characters
    frame = server.subscribe_applied(sub.query_id, {"note": [(s,) for s in texts]})
    assert frame[0] == frames.tag and len(frame) < 100 * 50  # compressed; raw is > 5 KiB
    inserted: list[str] = []
    client.db.note.on_insert(lambda ctx, r: inserted.append(r.text))
    server.send(frame)
    client.tick()
    assert inserted == texts  # no frame dropped, every row applied in order
    assert client.db.note.count() == 100


def test_b09_single_unsubscribe_fires_three_delete_callbacks_and_a_second_sends_nothing() -> None:
    client, server = connected_client()
    sub = client.subscribe_single("SELECT * FROM item WHERE owner = 1")
    owned = [(1, 1), (2, 1), (3, 1)]  # the owner=2 rows (4, 2), (5, 2) are never subscribed

    def rows(msg_type: type[Any], deletes: bool) -> bytes:
        tu = server.database_update(**{"deletes" if deletes else "inserts": {"item": owned}})
        body = P.SubscribeRows(server.table_ids["item"], "item", tu.tables[0])
        return server.frame(msg_type(0, 10, P.QueryId(sub.query_id), body))

    server.send(rows(P.SubscribeApplied, deletes=False))
    client.tick()
    assert client.db.item.count() == 3
    deleted: list[int] = []
    client.db.item.on_delete(lambda ctx, r: deleted.append(r.id))
    sub.unsubscribe()
    (msg,) = server.received()[-1:]
    assert isinstance(msg, P.Unsubscribe) and msg.query_id.id == sub.query_id
    sent = len(server.transport.sent)
    sub.unsubscribe()  # refused locally: nothing sent
    assert len(server.transport.sent) == sent
    server.send(rows(P.UnsubscribeApplied, deletes=True))
    client.tick()
    assert deleted == [1, 2, 3]
    assert client.db.item.count() == 0
    assert sub.state is SubscriptionState.ENDED


def _b10_probe(client: Client, seen: list[Any]) -> None:
    """Every callback of the initial result records what the other table holds right then."""
    client.db.player.on_insert(
        lambda ctx, r: seen.append(("player", r.id, client.db.position.find(r.id)))
    )
    client.db.position.on_insert(
        lambda ctx, r: seen.append(("position", r.player_id, client.db.player.find(r.player_id)))
    )


def test_b10_initial_subscription_applies_every_table_before_the_first_callback() -> None:
    client, server = connected_client()
    seen: list[Any] = []
    _b10_probe(client, seen)
    sub = client.subscribe(["SELECT * FROM player", "SELECT * FROM position"])
    sub.on_applied(
        lambda s: seen.append(("applied", client.db.player.count(), client.db.position.count()))
    )
    rows = {"player": [(7, 0), (8, 0)], "position": [(7, 1, 2), (8, 3, 4)]}
    server.send(server.subscribe_applied(sub.query_id, rows))
    client.tick()
    assert seen == [
        ("applied", 2, 2),
        ("player", 7, Position(7, 1, 2)),
        ("player", 8, Position(8, 3, 4)),
        ("position", 7, Player(7, 0)),
        ("position", 8, Player(8, 0)),
    ]


def test_b10_legacy_initial_subscription_applies_every_table_before_the_first_callback() -> None:
    client, server = connected_client()
    seen: list[Any] = []
    _b10_probe(client, seen)
    sub = client.subscribe_legacy(["SELECT * FROM position", "SELECT * FROM player"])
    sub.on_applied(
        lambda s: seen.append(("applied", client.db.player.count(), client.db.position.count()))
    )
    update = server.database_update({"position": [(7, 1, 2)], "player": [(7, 0)]})
    server.send(server.frame(P.InitialSubscription(update, 0, TimeDuration(1))))
    client.tick()
    assert seen == [
        ("applied", 1, 1),
        ("position", 7, Player(7, 0)),
        ("player", 7, Position(7, 1, 2)),
    ]


# ---- reducer arguments that take no bytes ------------------------------------------------------


def test_reducer_whose_parameters_take_no_bytes_decodes_its_empty_args() -> None:
    from stdb_game.sats import types as t
    from stdb_game.schema import ModuleSchema, ReducerDef

    empty = t.ProductType([], name="Nothing")
    schema = ModuleSchema.build(
        tables=[],
        reducers=[
            ReducerDef("poke", t.ProductType([("what", empty)])),
            ReducerDef("greet", t.ProductType([("name", t.STRING)])),
        ],
    )
    client, server = connected_client(schema)
    seen: list[ReducerEvent] = []
    client.on_any_reducer(seen.append)
    server.send(server.transaction("poke", b""))
    # A failed call comes back with empty args: those do not decode for `greet`.
    server.send(server.transaction("greet", b"", failed="no"))
    client.tick()
    poke, greet = seen
    assert poke.reducer_name == "poke" and poke.args is not None
    assert tuple(poke.args) == ((),)
    assert greet.reducer_name == "greet" and greet.args is None
