"""Bindings of the real quickstart-chat and basic-module schemas, used against a fake server."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import pytest
from conftest import connect

from stdb_game import Identity, Timestamp
from stdb_game import protocol as P
from stdb_game.codegen import runtime
from stdb_game.errors import SchemaError, StdbError
from stdb_game.events import EventCause, ReducerStatus

ALICE = Identity(0xA1)
BOB = Identity(0xB0B)


def _last_call(server: Any) -> P.CallReducer:
    msg = server.received()[-1]
    assert isinstance(msg, P.CallReducer)
    return msg


def test_row_classes_have_typed_slots_value_equality_and_repr(chat: ModuleType) -> None:
    u = chat.User(ALICE, "alice", True)
    assert u.identity == ALICE and u.name == "alice" and u.online is True
    assert chat.User.__slots__ == ("identity", "name", "online")
    assert not hasattr(u, "__dict__")
    assert u == chat.User(ALICE, "alice", True)
    assert u != chat.User(ALICE, None, True)
    assert hash(u) == hash(chat.User(ALICE, "alice", True))
    assert len({u, chat.User(ALICE, "alice", True)}) == 1
    assert u != (ALICE, "alice", True)  # a row is not a tuple
    assert repr(u) == f"User(identity={ALICE!r}, name='alice', online=True)"
    assert u._replace(online=False) == chat.User(ALICE, "alice", False)
    assert u._asdict() == {"identity": ALICE, "name": "alice", "online": True}
    with pytest.raises(TypeError):
        u._replace(nope=1)


def test_schema_matches_the_parsed_json(chat: ModuleType) -> None:
    from conftest import CHAT_JSON

    from stdb_game.codegen import load_schema_file
    from stdb_game.schema import ModuleSchema

    ref = ModuleSchema.from_json(load_schema_file(CHAT_JSON))
    gen = chat.SCHEMA
    assert list(gen.tables) == list(ref.tables)
    for name, t in ref.tables.items():
        g = gen.tables[name]
        assert g.row_type == t.row_type  # same wire structure
        assert (g.primary_key, g.unique_columns, g.public) == (
            t.primary_key,
            t.unique_columns,
            t.public,
        )
        assert g.indexes == t.indexes
    assert {n: (r.reducer_id, r.lifecycle, r.params) for n, r in gen.reducers.items()} == {
        n: (r.reducer_id, r.lifecycle, r.params) for n, r in ref.reducers.items()
    }
    assert gen.tables["user"].row_type.py_class is chat.User


def test_typed_rows_arrive_in_callbacks_and_lookups_hit_the_index(chat: ModuleType) -> None:
    conn, server = connect(chat)
    seen: list[Any] = []
    conn.db.user.on_insert(lambda ctx, row: seen.append(("insert", ctx.cause, row)))
    conn.db.message.on_insert(lambda ctx, row: seen.append(("message", row)))
    sub = conn.subscribe_to_all_tables()
    alice = chat.User(ALICE, "alice", True)
    bob = chat.User(BOB, None, False)
    hello = chat.Message(ALICE, Timestamp(1_700_000_000_000_000), "hello")
    server.send(server.subscribe_applied(sub.query_id, {"user": [alice, bob], "message": [hello]}))
    conn.tick()
    assert seen == [
        ("insert", EventCause.SUBSCRIBE_APPLIED, alice),
        ("insert", EventCause.SUBSCRIBE_APPLIED, bob),
        ("message", hello),
    ]
    assert all(type(r) is chat.User for r in conn.db.user.iter())
    assert conn.db.user.count() == 2 and len(conn.db.user) == 2
    assert conn.db.user.find(ALICE) == alice
    assert conn.db.user.find_by_identity(BOB) is conn.db.user.identity.find(BOB)
    assert conn.db.user.identity.find(Identity(7)) is None
    assert conn.db.user.filter_by_identity(ALICE) == [alice]
    assert conn.db.user.identity.range(None, None) == sorted([alice, bob], key=lambda u: u.identity)
    assert list(conn.db.message) == [hello]
    assert not hasattr(conn.db.message, "find")  # no primary key, no find
    assert conn.db.user.name == "user"
    assert conn.db.user.query("online = true") == "SELECT * FROM user WHERE online = true"


def test_updates_and_before_delete_are_typed(chat: ModuleType) -> None:
    conn, server = connect(chat)
    sub = conn.db.user.subscribe()
    alice = chat.User(ALICE, "alice", True)
    server.send(server.subscribe_applied(sub.query_id, {"user": [alice]}))
    conn.tick()
    calls: list[Any] = []
    conn.db.user.on_update(lambda ctx, old, new: calls.append(("update", old, new)))
    conn.db.user.on_before_delete(lambda ctx, row: calls.append(("before", row)))
    conn.db.user.on_delete(lambda ctx, row: calls.append(("delete", row)))
    renamed = alice._replace(name="al")
    server.send(
        server.transaction(
            "set_name", ("al",), deletes={"user": [alice]}, inserts={"user": [renamed]}
        )
    )
    conn.tick()
    assert calls == [("update", alice, renamed)]  # an update's old row is not leaving
    server.send(server.transaction("set_name", ("x",), deletes={"user": [renamed]}))
    conn.tick()
    assert calls[-2:] == [("before", renamed), ("delete", renamed)]


def test_reducer_calls_encode_the_exact_bytes(chat: ModuleType) -> None:
    conn, server = connect(chat)
    rid = conn.reducers.set_name(name="bob")
    call = _last_call(server)
    assert (call.reducer, call.args, call.request_id) == ("set_name", b"\x03\x00\x00\x00bob", rid)
    conn.reducers.send_message("hi")
    call = _last_call(server)
    assert (call.reducer, call.args) == ("send_message", b"\x02\x00\x00\x00hi")
    # Lifecycle reducers: callbacks only, nothing to call.
    assert not hasattr(conn.reducers, "identity_connected")
    assert not hasattr(conn.reducers, "init")
    assert callable(conn.reducers.on_identity_connected)


def test_reducer_callbacks_get_typed_args(chat: ModuleType) -> None:
    conn, server = connect(chat)
    events: list[Any] = []
    conn.reducers.on_send_message(events.append)
    conn.reducers.on_identity_connected(events.append)
    server.send(server.transaction("send_message", ("hi there",)))
    server.send(server.transaction("identity_connected", (), caller=BOB))
    server.send(server.transaction("send_message", ("",), failed="Messages must not be empty"))
    conn.tick()
    sent, connected, failed = events
    assert type(sent.args) is chat.SendMessageArgs and sent.args.text == "hi there"
    assert sent.args == chat.SendMessageArgs("hi there") and sent.committed
    assert connected.args == () and connected.caller_identity == BOB
    assert failed.status is ReducerStatus.FAILED and failed.args.text == ""


def test_connect_helper_and_schema_guard(chat: ModuleType, basic: ModuleType) -> None:
    from stdb_game.client import Client
    from stdb_game.testing import FakeServer

    server = FakeServer(chat.SCHEMA)
    conn = chat.connect("ws://fake", "chat", transport_factory=server.transport_factory)
    assert isinstance(conn, chat.DbConnection)
    server.send(server.identity_token())
    conn.tick()
    assert conn.is_connected and conn.identity == server.identity
    with pytest.raises(TypeError):
        chat.connect("ws://fake", "chat", schema=chat.SCHEMA)
    other = Client("ws://fake", "x", schema=basic.SCHEMA)
    with pytest.raises(SchemaError):
        chat.DbConnection(other)


def test_old_style_api_on_the_current_client(chat: ModuleType) -> None:
    User, Message = chat.User, chat.Message
    send_message_reducer = importlib.import_module(f"{chat.__name__}.send_message_reducer")
    user_module = importlib.import_module(f"{chat.__name__}.user")
    assert user_module.User is User and send_message_reducer.reducer_name == "send_message"
    with pytest.raises(StdbError, match="set_current_client"):
        User.iter()
    # Registrations made before a client exists fire once one is set.
    rows: list[Any] = []
    calls: list[Any] = []
    Message.register_row_update(lambda op, old, new, ev: rows.append((op, old, new, ev)))
    send_message_reducer.register_on_send_message(lambda *a: calls.append(a))
    conn, server = connect(chat)
    runtime.set_current_client(conn)
    assert runtime.get_current_client() is conn.client
    hello = Message(ALICE, Timestamp(5), "hello")
    alice = User(ALICE, "alice", True)
    sub = conn.subscribe(["SELECT * FROM user", "SELECT * FROM message"])
    server.send(server.subscribe_applied(sub.query_id, {"user": [alice]}))
    server.send(server.transaction("send_message", ("hello",), inserts={"message": [hello]}))
    conn.tick()
    assert [r[:3] for r in rows] == [("insert", None, hello)]
    assert rows[0][3].reducer_name == "send_message"
    assert calls == [(server.identity, "committed", "", "hello")]
    assert list(User.iter()) == [alice]
    assert User.filter_by_identity(ALICE) == alice
    assert User.filter_by_identity(BOB) is None
    assert User.filter_by_online(True) == [alice]  # unindexed: a scan
    rid = send_message_reducer.send_message("again")
    call = _last_call(server)
    assert (call.reducer, call.args, call.request_id) == (
        "send_message",
        b"\x05\x00\x00\x00again",
        rid,
    )


def test_switching_the_current_client_moves_old_style_callbacks(chat: ModuleType) -> None:
    rows: list[str] = []
    handle = chat.Message.register_row_update(lambda op, old, new, ev: rows.append(new.text))
    conn1, server1 = connect(chat)
    conn2, server2 = connect(chat)
    conn1.make_current()
    runtime.set_current_client(conn2)
    for conn, server, text in ((conn1, server1, "one"), (conn2, server2, "two")):
        sub = conn.db.message.subscribe()
        server.send(
            server.subscribe_applied(
                sub.query_id, {"message": [chat.Message(ALICE, Timestamp(1), text)]}
            )
        )
        conn.tick()
    assert rows == ["two"]
    handle.remove()
    server2.send(
        server2.transaction(
            "send_message", ("x",), inserts={"message": [chat.Message(BOB, Timestamp(2), "x")]}
        )
    )
    conn2.tick()
    assert rows == ["two"]


def test_basic_module_private_table_without_primary_key(basic: ModuleType) -> None:
    conn, server = connect(basic)
    assert basic.SCHEMA.tables["person"].public is False
    assert not hasattr(conn.db.person, "find") and not hasattr(conn.db.person, "on_update")
    seen: list[Any] = []
    conn.db.person.on_insert(lambda ctx, row: seen.append(row))
    sub = conn.db.person.subscribe()
    server.send(server.subscribe_applied(sub.query_id, {"person": [basic.Person("ada")]}))
    conn.tick()
    assert seen == [basic.Person("ada")] and type(seen[0]) is basic.Person
    conn.reducers.add(name="bo")
    assert _last_call(server).args == b"\x02\x00\x00\x00bo"
    conn.reducers.say_hello()
    call = _last_call(server)
    assert (call.reducer, call.args) == ("say_hello", b"")
