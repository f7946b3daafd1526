"""Legacy ``Subscribe``: each ``InitialSubscription`` replaces the previous legacy set only.

semantics.md §3: the new legacy set's rows replace "everything obtained through legacy
Subscribe"; rows that SubscribeMulti/Single subscriptions hold are not the legacy set's.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import pytest

from stdb_game import protocol as P
from stdb_game.events import EventCause, SubscriptionAppliedEvent, TableChangeEvent
from stdb_game.sats import types as t
from stdb_game.sats.values import Identity, TimeDuration, Timestamp
from stdb_game.schema import ModuleSchema, ReducerDef, TableDef
from stdb_game.session import Session, SubscriptionState
from stdb_game.testing import FakeServer

USER = t.ProductType(
    [("identity", t.IDENTITY), ("name", t.option(t.STRING)), ("online", t.BOOL)], name="User"
)
MESSAGE = t.ProductType(
    [("sender", t.IDENTITY), ("sent", t.TIMESTAMP), ("text", t.STRING)], name="Message"
)
User = namedtuple("User", "identity name online")
Message = namedtuple("Message", "sender sent text")

ME = Identity(0xC200 << 240 | 1)
BOB = User(Identity(0xC200 << 240 | 2), "bob", True)
CAROL = User(Identity(0xC200 << 240 | 3), "carol", True)
HI = Message(ME, Timestamp(1), "hi")
YO = Message(BOB.identity, Timestamp(2), "yo")
SUP = Message(CAROL.identity, Timestamp(3), "sup")


def chat() -> tuple[Session, FakeServer]:
    schema = ModuleSchema.build(
        tables=[TableDef("user", USER, primary_key=0), TableDef("message", MESSAGE)],
        reducers=[ReducerDef("send_message", t.ProductType([("text", t.STRING)]))],
    )
    server = FakeServer(schema, identity=ME)
    session = Session(schema)
    session.receive(server.identity_token())
    return session, server


def initial(server: FakeServer, request_id: int, rows: dict[str, list[Any]]) -> bytes:
    update = server.database_update(rows)
    return server.frame(P.InitialSubscription(update, request_id, TimeDuration(1)))


def multi(session: Session, server: FakeServer, sql: str, rows: dict[str, list[Any]]) -> int:
    rec, _frame = session.subscribe([sql])
    session.receive(server.subscribe_applied(rec.query_id, rows, rec.request_id))
    return rec.query_id


def legacy(
    session: Session, server: FakeServer, sqls: list[str], rows: dict[str, list[Any]]
) -> list[Any]:
    rec, _frame = session.subscribe_legacy(sqls)
    return session.receive(initial(server, rec.request_id, rows))


def changes(events: list[Any]) -> dict[str, tuple[list[Any], list[Any], list[Any]]]:
    return {
        e.table_name: (sorted(e.inserts), sorted(e.deletes), sorted(e.updates))
        for e in events
        if isinstance(e, TableChangeEvent)
    }


def cached(session: Session, table: str) -> list[Any]:
    return sorted(session.cache.table(table))


def test_legacy_initial_subscription_keeps_rows_of_a_multi_subscription() -> None:
    session, server = chat()
    q = multi(session, server, "SELECT * FROM user", {"user": [BOB]})
    events = legacy(session, server, ["SELECT * FROM message"], {"message": [HI]})
    assert isinstance(events[0], SubscriptionAppliedEvent)
    assert changes(events) == {"message": ([HI], [], [])}
    assert cached(session, "user") == [BOB]  # the old code reconciled user to empty
    assert cached(session, "message") == [HI]
    assert session.subscriptions[q].state is SubscriptionState.ACTIVE


def test_second_legacy_subscribe_removes_only_the_first_legacy_sets_rows() -> None:
    session, server = chat()
    multi(session, server, "SELECT * FROM user WHERE online", {"user": [BOB]})
    legacy(session, server, ["SELECT * FROM message", "SELECT * FROM user"], {
        "message": [HI, YO], "user": [BOB, CAROL],
    })  # fmt: skip
    bob = server.encode_rows("user", [BOB])[0]
    assert session.cache.table("user").ref_count(bob) == 2  # multi + legacy
    events = legacy(session, server, ["SELECT * FROM message WHERE text = 'yo'"], {
        "message": [YO],
    })  # fmt: skip
    # HI and CAROL came only from the first legacy set: gone. YO is in both sets: no event.
    # BOB loses the legacy set's count and keeps the multi subscription's.
    assert changes(events) == {"message": ([], [HI], []), "user": ([], [CAROL], [])}
    assert all(e.context.cause is EventCause.SUBSCRIBE_APPLIED for e in events[1:])
    assert cached(session, "message") == [YO]
    assert cached(session, "user") == [BOB]
    assert session.cache.table("user").ref_count(bob) == 1


def test_legacy_only_table_is_replaced_whole_including_rows_transactions_added() -> None:
    session, server = chat()
    multi(session, server, "SELECT * FROM user", {"user": [BOB]})
    legacy(session, server, ["SELECT * FROM message"], {"message": [HI]})
    session.receive(server.transaction("send_message", ("yo",), inserts={"message": [YO]}))
    # The new set holds HI and YO again plus SUP: HI and YO unchanged (once each), SUP new.
    events = legacy(session, server, ["SELECT * FROM message"], {"message": [HI, YO, SUP]})
    assert changes(events) == {"message": ([SUP], [], [])}
    table = session.cache.table("message")
    assert [table.ref_count(b) for b in server.encode_rows("message", [HI, YO, SUP])] == [1, 1, 1]
    # and the next transaction deleting YO really removes it
    session.receive(server.transaction("send_message", ("x",), deletes={"message": [YO]}))
    assert cached(session, "message") == [HI, SUP]
    assert cached(session, "user") == [BOB]


def test_legacy_rows_a_transaction_deleted_are_not_deleted_twice(
    caplog: pytest.LogCaptureFixture,
) -> None:
    session, server = chat()
    multi(session, server, "SELECT * FROM user", {"user": [BOB]})
    legacy(session, server, ["SELECT * FROM user"], {"user": [BOB, CAROL]})
    # CAROL leaves (one delete per distinct query: the legacy one), then the legacy set
    # is replaced by a message query.
    session.receive(server.transaction("send_message", ("x",), deletes={"user": [CAROL]}))
    events = legacy(session, server, ["SELECT * FROM message"], {"message": [HI]})
    assert changes(events) == {"message": ([HI], [], [])}
    assert session.cache.table("user").ref_count(server.encode_rows("user", [BOB])[0]) == 1
    assert cached(session, "user") == [BOB]
    assert "not in the cache" not in caplog.text  # CAROL's old legacy row is no disagreement


def test_legacy_only_session_still_reconciles_every_table() -> None:
    session, server = chat()
    legacy(session, server, ["SELECT * FROM user", "SELECT * FROM message"], {
        "user": [BOB], "message": [HI],
    })  # fmt: skip
    events = legacy(session, server, ["SELECT * FROM user"], {"user": [BOB, CAROL]})
    assert changes(events) == {"user": ([CAROL], [], []), "message": ([], [HI], [])}
    assert cached(session, "user") == [BOB, CAROL] and cached(session, "message") == []


CAROL_OFF = User(CAROL.identity, "carol", False)
CAZ = User(CAROL.identity, "caz", False)
DAVE = User(Identity(0xC200 << 240 | 4), "dave", True)


def counts(session: Session, server: FakeServer, rows: list[User]) -> list[int]:
    table = session.cache.table("user")
    return [table.ref_count(b) for b in server.encode_rows("user", rows)]


def test_row_a_transaction_updated_in_a_shared_table_is_counted_once_after_resubscribe() -> None:
    session, server = chat()
    multi(session, server, "SELECT * FROM user WHERE online", {"user": [BOB]})
    legacy(session, server, ["SELECT * FROM user"], {"user": [BOB, CAROL_OFF]})
    # Only the legacy query matches carol: one delete and one insert for her rename.
    session.receive(
        server.transaction("send_message", ("x",), deletes={"user": [CAROL_OFF]},
                           inserts={"user": [CAZ]})
    )  # fmt: skip
    events = legacy(session, server, ["SELECT * FROM user"], {"user": [BOB, CAZ]})
    assert changes(events) == {}  # the same set re-sent changes nothing
    assert counts(session, server, [BOB, CAZ]) == [2, 1]  # the old code counted CAZ twice
    session.receive(server.transaction("send_message", ("x",), deletes={"user": [CAZ]}))
    assert cached(session, "user") == [BOB]  # no ghost row once the server deletes her


def test_rows_transactions_insert_in_a_shared_table_keep_the_other_holders_counts() -> None:
    session, server = chat()
    multi(session, server, "SELECT * FROM user WHERE online", {"user": [BOB]})
    legacy(session, server, ["SELECT * FROM user"], {"user": [BOB]})
    # DAVE matches both queries (two inserts); CAROL_OFF one of them, which is not told.
    session.receive(
        server.transaction("send_message", ("x",), inserts={"user": [DAVE, DAVE, CAROL_OFF]})
    )
    events = legacy(session, server, ["SELECT * FROM user"], {"user": [BOB, DAVE, CAROL_OFF]})
    assert changes(events) == {}
    assert counts(session, server, [BOB, DAVE, CAROL_OFF]) == [2, 2, 1]
    # The next set drops the user query: the legacy counts go, the multi's stay.
    events = legacy(session, server, ["SELECT * FROM message"], {"message": []})
    assert changes(events) == {"user": ([], [CAROL_OFF], [])}
    assert counts(session, server, [BOB, DAVE, CAROL_OFF]) == [1, 1, 0]
    session.receive(server.transaction("send_message", ("x",), deletes={"user": [DAVE]}))
    assert cached(session, "user") == [BOB]


def test_row_a_transaction_inserted_that_the_new_legacy_set_lacks_is_kept() -> None:
    session, server = chat()
    multi(session, server, "SELECT * FROM user WHERE online", {"user": [BOB]})
    legacy(session, server, ["SELECT * FROM user"], {"user": [BOB]})
    # One insert: the multi's or the legacy set's, the client cannot tell. Kept, since
    # dropping it could drop the multi subscription's row.
    session.receive(server.transaction("send_message", ("x",), inserts={"user": [DAVE]}))
    events = legacy(session, server, ["SELECT * FROM message"], {"message": [HI]})
    assert changes(events) == {"message": ([HI], [], [])}
    assert counts(session, server, [BOB, DAVE]) == [1, 1]


def test_legacy_layer_is_forgotten_when_a_subscription_error_empties_the_cache() -> None:
    session, server = chat()
    legacy(session, server, ["SELECT * FROM user"], {"user": [BOB]})
    session.receive(server.subscription_error(None, "every subscription dropped"))
    assert cached(session, "user") == []
    multi(session, server, "SELECT * FROM user", {"user": [BOB]})
    events = legacy(session, server, ["SELECT * FROM message"], {"message": [HI]})
    assert changes(events) == {"message": ([HI], [], [])}
    assert cached(session, "user") == [BOB]  # the old code dropped the multi's BOB


def test_legacy_layer_is_forgotten_when_a_reconnect_does_not_bring_the_legacy_set_back() -> None:
    session, server = chat()
    rec, _frame = session.subscribe_legacy(["SELECT * FROM user"])
    session.receive(initial(server, rec.request_id, {"user": [BOB]}))
    # The connection ended for good (the client marks its subscriptions ERROR), then
    # connect() again: nothing to restore, the cache starts clean.
    rec.state = SubscriptionState.ERROR
    session.begin_reconnect()
    session.receive(server.identity_token())
    assert session.restore_frames() == []
    session.complete_restore()
    assert cached(session, "user") == []
    multi(session, server, "SELECT * FROM user", {"user": [BOB]})
    legacy(session, server, ["SELECT * FROM message"], {"message": [HI]})
    assert cached(session, "user") == [BOB]


def test_legacy_set_restored_by_a_reconnect_replaces_the_new_connections_rows() -> None:
    session, server = chat()
    multi(session, server, "SELECT * FROM user WHERE online", {"user": [BOB]})
    legacy(session, server, ["SELECT * FROM user"], {"user": [BOB]})
    session.begin_reconnect()
    session.receive(server.identity_token())
    frames = session.restore_frames()
    assert len(frames) == 2
    multi_rec, legacy_rec = sorted(session.subscriptions.values(), key=lambda r: r.query_id)
    session.receive(initial(server, legacy_rec.request_id, {"user": [BOB, CAROL_OFF]}))
    # A transaction during the restore renames carol (the legacy query alone matches her).
    session.receive(
        server.transaction("send_message", ("x",), deletes={"user": [CAROL_OFF]},
                           inserts={"user": [CAZ]})
    )  # fmt: skip
    session.receive(
        server.subscribe_applied(multi_rec.query_id, {"user": [BOB]}, multi_rec.request_id)
    )
    assert not session.restoring
    assert counts(session, server, [BOB, CAZ]) == [2, 1]
    legacy(session, server, ["SELECT * FROM user"], {"user": [BOB, CAZ]})
    assert counts(session, server, [BOB, CAZ]) == [2, 1]
    legacy(session, server, ["SELECT * FROM message"], {"message": []})
    assert cached(session, "user") == [BOB]
