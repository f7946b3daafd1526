"""The quickstart-chat port behaves like the official module (names, validation, lifecycles)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stdb_game.devserver import Database
from stdb_game.sats.codec import get_codec
from stdb_game.sats.values import ConnectionId, Identity, Timestamp

CHAT = Path(__file__).resolve().parents[2] / "demos" / "chat" / "module.py"
T0 = Timestamp(1_735_689_600_000_000)
ALICE = Identity.from_hex("c200b4e1f9a3d7c5" + "0123456789abcdef" * 3)
CONN = ConnectionId(0x0F1E2D3C4B5A69788796A5B4C3D2E1F0)


@pytest.fixture
def db() -> Database:
    return Database.open(CHAT, timestamp=T0)


def call(db: Database, name: str, arg: str, sender: Identity = ALICE):
    return db.call_reducer_json(name, [arg], sender=sender, connection_id=CONN, timestamp=T0)


def test_reducer_ids_and_args_match_the_real_schema(db: Database) -> None:
    assert db.reducers["send_message"].reducer_id == 3
    res = db.call_reducer(
        "set_name",
        bytes.fromhex("03000000626f62"),
        sender=ALICE,
        connection_id=CONN,
        timestamp=T0,
    )
    assert not res.committed and res.error == "Cannot set name for unknown user"


def test_connect_set_name_send_disconnect(db: Database) -> None:
    res = db.client_connected(ALICE, CONN, T0)
    assert res is not None and res.reducer_name == "identity_connected"
    (user_row,) = res.changes["user"].inserts
    # the exact bytes of bsatn.md's chat `user` row example, minus the name
    assert user_row == ALICE.to_bytes() + b"\x01" + b"\x01"
    res = call(db, "set_name", "bob")
    assert res.committed
    ch = res.changes["user"]
    assert ch.deletes == [user_row]
    assert ch.inserts == [ALICE.to_bytes() + bytes.fromhex("0003000000626f62") + b"\x01"]
    res = call(db, "send_message", "hello")
    assert res.committed
    msg = get_codec(db.tables["message"].row_type).decode(res.changes["message"].inserts[0])
    assert (msg.sender, msg.sent, msg.text) == (ALICE, T0, "hello")
    res = db.client_disconnected(ALICE, CONN, T0)
    assert res is not None and res.reducer_name == "identity_disconnected"
    assert [(u.name, u.online) for u in db.rows("user")] == [("bob", False)]
    res = db.client_connected(ALICE, CONN, T0)
    assert [(u.name, u.online) for u in db.rows("user")] == [("bob", True)]


def test_official_validation_messages(db: Database) -> None:
    db.client_connected(ALICE, CONN, T0)
    res = call(db, "set_name", "")
    assert not res.committed and res.error == "Names must not be empty"
    res = call(db, "send_message", "")
    assert not res.committed and res.error == "Messages must not be empty"
    assert db.rows("message") == []


def test_unknown_user_disconnect_is_harmless(db: Database) -> None:
    res = db.client_disconnected(ALICE, CONN, T0)
    assert res is not None and res.committed and res.changes == {}


def test_reducer_calls_per_second(db: Database) -> None:
    import time

    db.client_connected(ALICE, CONN, T0)
    args = get_codec(db.reducers["send_message"].params).encode(("hi",))
    n = 2000
    start = time.perf_counter()
    for i in range(n):
        db.call_reducer(
            "send_message",
            args,
            sender=ALICE,
            connection_id=CONN,
            timestamp=Timestamp(T0.micros_since_epoch + i),
        )
    rate = n / (time.perf_counter() - start)
    print(f"\nchat send_message: {rate:,.0f} reducer calls/s in-process")
    assert db.row_count("message") == n
    assert rate > 500
