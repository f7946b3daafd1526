"""Engine transactions: rollback, constraints, auto_inc, indexes, lifecycle, reducer calls."""

from __future__ import annotations

import asyncio
import enum
import sys

import pytest

from stdb_game.devserver import (
    Database,
    LifecycleCallError,
    ReducerArgsError,
    ReducerNotFoundError,
)
from stdb_game.devserver.module import (
    ConnectionId,
    Identity,
    Module,
    ReducerContext,
    ReducerError,
    SumValue,
    Timestamp,
    column,
    i32,
    index,
    u32,
    u64,
)
from stdb_game.sats import types as t
from stdb_game.sats.codec import get_codec

T0 = Timestamp(1_735_689_600_000_000)
ALICE = Identity.from_hex("c200" + "aa" * 30)
BOB = Identity.from_hex("c200" + "bb" * 30)
CONN = ConnectionId(7)

inv = Module("inventory", seed=42)


@inv.type
class Vec2:
    x: float
    y: float


@inv.type
class Color(enum.Enum):
    RED = 1
    GREEN = 2


@inv.type(sum=True)
class Shape:
    circle: float
    rect: Vec2
    empty: None


@inv.table(name="item", public=True, indexes=[index("owner", "kind", name="by_owner_kind")])
class Item:
    id: u64 = column(primary_key=True, auto_inc=True)
    owner: Identity = column(index=True)
    kind: str
    serial: u32 = column(unique=True)
    pos: Vec2 = column(default=None)
    color: Color = column(default=Color.RED)
    tags: list[str] = column(default=[])
    shape: Shape | None = None


@inv.table(name="log")
class Log:
    seq: i32 = column(primary_key=True, auto_inc=True)
    text: str


@inv.reducer(lifecycle="init")
def init(ctx: ReducerContext) -> None:
    ctx.db.log.insert(Log(text="init"))


@inv.reducer(lifecycle="client_connected")
def connected(ctx: ReducerContext) -> None:
    if ctx.sender == BOB:
        raise ReducerError("bob is banned")
    ctx.db.log.insert(Log(text=f"hello {ctx.connection_id}"))


@inv.reducer(lifecycle="client_disconnected")
def disconnected(ctx: ReducerContext) -> None:
    ctx.db.log.insert(Log(text="bye"))


@inv.reducer
def add(ctx: ReducerContext, kind: str, serial: u32) -> None:
    ctx.db.item.insert(
        Item(owner=ctx.sender, kind=kind, serial=serial, pos=Vec2(1.0, 2.0), tags=[kind])
    )


@inv.reducer
def add_then_fail(ctx: ReducerContext, kind: str, serial: u32) -> None:
    ctx.db.item.insert(Item(owner=ctx.sender, kind=kind, serial=serial, pos=Vec2(0, 0)))
    ctx.db.log.insert(Log(text="about to fail"))
    for it in ctx.db.item.iter():
        ctx.db.item.delete(it)
    raise RuntimeError("boom")


@inv.reducer
def rename_all(ctx: ReducerContext, kind: str) -> None:
    for it in ctx.db.item.owner.filter(ctx.sender):
        it.kind = kind
        ctx.db.item.id.update(it)


@inv.reducer
def set_serial(ctx: ReducerContext, id: u64, serial: u32) -> None:
    it = ctx.db.item.id.find(id)
    if it is None:
        raise ReducerError("no such item")
    it.serial = serial
    ctx.db.item.id.update(it)


@inv.reducer
def paint(ctx: ReducerContext, id: u64, color: Color, shape: Shape | None) -> None:
    it = ctx.db.item.id.find(id)
    it.color = color
    it.shape = shape
    ctx.db.item.id.update(it)


@inv.reducer
def roll(ctx: ReducerContext) -> None:
    ctx.db.log.insert(Log(text=str(ctx.rng.random())))


def _open() -> Database:
    return Database.open(inv, timestamp=T0)


def _args(db: Database, reducer: str, *values: object) -> bytes:
    return get_codec(db.reducers[reducer].params).encode(tuple(values))


def call(db: Database, reducer: str, *values: object, sender: Identity = ALICE, ts: int = 1):
    return db.call_reducer(
        reducer,
        _args(db, reducer, *values),
        sender=sender,
        connection_id=CONN,
        timestamp=Timestamp(T0.micros_since_epoch + ts),
    )


def test_init_runs_once_at_creation() -> None:
    db = _open()
    assert [r.text for r in db.rows("log")] == ["init"]
    assert db.init_result is not None and db.init_result.committed


def test_insert_auto_inc_and_changes_are_bsatn_rows() -> None:
    db = _open()
    res = call(db, "add", "sword", 1)
    assert res.committed and res.error is None
    assert res.reducer_name == "add" and res.reducer_id == db.reducers["add"].reducer_id
    assert res.caller == ALICE and res.caller_connection_id == CONN
    (row,) = db.rows("item")
    assert row.id == 1 and row.kind == "sword" and row.pos == Vec2(1.0, 2.0)
    assert row.color is Color.RED and row.tags == ["sword"] and row.shape is None
    ch = res.changes["item"]
    assert ch.deletes == [] and len(ch.inserts) == 1
    assert get_codec(db.tables["item"].row_type).decode(ch.inserts[0]).id == 1
    call(db, "add", "shield", 2)
    assert sorted(r.id for r in db.rows("item")) == [1, 2]


def test_exception_rolls_back_everything() -> None:
    db = _open()
    call(db, "add", "sword", 1)
    before = {n: dict(s.rows) for n, s in db.stores.items()}
    seq_before = dict(db.stores["item"].sequences)
    res = call(db, "add_then_fail", "axe", 2)
    assert not res.committed and res.error == "boom" and res.changes == {}
    assert res.status == "Failed"
    assert {n: dict(s.rows) for n, s in db.stores.items()} == before
    assert db.stores["item"].sequences == seq_before
    for store in db.stores.values():  # indexes restored too
        for ix in store.indexes:
            total = sum(1 if ix.unique else len(v) for v in ix.map.values())
            assert total == len(store.rows)


def test_unique_and_primary_key_violations_fail() -> None:
    db = _open()
    call(db, "add", "sword", 1)
    res = call(db, "add", "other", 1)
    assert not res.committed and "unique" in (res.error or "")
    assert len(db.rows("item")) == 1
    call(db, "add", "shield", 2)
    res = call(db, "set_serial", 2, 1)
    assert not res.committed and "duplicate" in (res.error or "")
    assert sorted(r.serial for r in db.rows("item")) == [1, 2]
    res = call(db, "set_serial", 99, 5)
    assert not res.committed and res.error == "no such item"


def test_update_is_delete_plus_insert() -> None:
    db = _open()
    call(db, "add", "sword", 1)
    res = call(db, "rename_all", "blade")
    ch = res.changes["item"]
    assert len(ch.deletes) == 1 and len(ch.inserts) == 1
    row_type = db.tables["item"].row_type
    assert get_codec(row_type).decode(ch.deletes[0]).kind == "sword"
    assert get_codec(row_type).decode(ch.inserts[0]).kind == "blade"


def test_index_filter_and_multi_column_index() -> None:
    db = _open()
    call(db, "add", "sword", 1)
    call(db, "add", "shield", 2)
    call(db, "add", "sword", 3, sender=BOB)
    seen: dict[str, object] = {}

    @inv.reducer
    def probe(ctx: ReducerContext) -> None:
        seen["alice"] = sorted(r.serial for r in ctx.db.item.owner.filter(ALICE))
        seen["both"] = [r.serial for r in ctx.db.item.by_owner_kind.filter((ALICE, "sword"))]
        seen["prefix"] = sorted(r.serial for r in ctx.db.item.by_owner_kind.filter((BOB,)))
        seen["find"] = ctx.db.item.serial.find(2).kind
        seen["count"] = ctx.db.item.count()
        seen["deleted"] = ctx.db.item.owner.delete(BOB)
        seen["after"] = len(ctx.db.item)

    try:
        db2 = Database.open(inv, timestamp=T0)
        call(db2, "add", "sword", 1)
        call(db2, "add", "shield", 2)
        call(db2, "add", "sword", 3, sender=BOB)
        assert call(db2, "probe").committed
    finally:
        inv.reducers.pop()
        inv._built = None
    assert seen == {
        "alice": [1, 2],
        "both": [1],
        "prefix": [3],
        "find": "shield",
        "count": 3,
        "deleted": 1,
        "after": 2,
    }


def test_enum_and_sum_columns_round_trip() -> None:
    db = _open()
    call(db, "add", "sword", 1)
    res = call(db, "paint", 1, Color.GREEN, Shape.circle(2.5))
    assert res.committed, res.error
    (row,) = db.rows("item")
    assert row.color is Color.GREEN
    assert row.shape == SumValue(0, "circle", 2.5)
    assert call(db, "paint", 1, Color.RED, Shape.empty).committed
    assert db.rows("item")[0].shape == Shape.empty


def test_identical_row_insert_is_a_no_op() -> None:
    db = _open()

    def twice(view: object) -> None:
        view["log"].insert(Log(seq=100, text="x"))  # type: ignore[index]
        view["log"].insert(Log(seq=100, text="x"))  # type: ignore[index]

    res = db.apply_external("twice", T0, twice)
    assert res.committed and len(res.changes["log"].inserts) == 1


def test_lifecycle_reducers() -> None:
    db = _open()
    res = db.client_connected(ALICE, CONN, T0)
    assert res is not None and res.committed and res.reducer_name == "connected"
    assert db.rows("log")[-1].text == f"hello {CONN}"
    res = db.client_connected(BOB, CONN, T0)
    assert res is not None and not res.committed and res.error == "bob is banned"
    res = db.client_disconnected(ALICE, CONN, T0)
    assert res is not None and res.committed and db.rows("log")[-1].text == "bye"


def test_lifecycle_absent_returns_none() -> None:
    m = Module("bare")

    @m.table(name="x")
    class X:
        a: int

    db = Database.open(m, timestamp=T0)
    assert db.client_connected(ALICE, CONN, T0) is None
    assert db.client_disconnected(ALICE, CONN, T0) is None


def test_call_errors_before_running() -> None:
    db = _open()
    with pytest.raises(ReducerNotFoundError) as e:
        db.call_reducer("nope", b"", sender=ALICE, connection_id=CONN, timestamp=T0)
    assert e.value.status == 404
    with pytest.raises(LifecycleCallError):
        db.call_reducer("init", b"", sender=ALICE, connection_id=CONN, timestamp=T0)
    with pytest.raises(ReducerArgsError):
        db.call_reducer("add", b"\x01", sender=ALICE, connection_id=CONN, timestamp=T0)


def test_json_arguments() -> None:
    db = _open()
    res = db.call_reducer_json("add", ["sword", 1], sender=ALICE, connection_id=None, timestamp=T0)
    assert res.committed and res.args == _args(db, "add", "sword", 1)
    assert res.caller_connection_id == ConnectionId(0)
    res = db.call_reducer_json(
        "add", {"kind": "axe", "serial": 2}, sender=ALICE, connection_id=None, timestamp=T0
    )
    assert res.committed
    res = db.call_reducer_json(
        "paint",
        [1, {"GREEN": []}, {"some": {"rect": {"x": 1, "y": 2}}}],
        sender=ALICE,
        connection_id=None,
        timestamp=T0,
    )
    assert res.committed, res.error
    (first,) = [r for r in db.rows("item") if r.id == 1]
    assert first.shape == SumValue(1, "rect", Vec2(1.0, 2.0))
    with pytest.raises(ReducerArgsError):
        db.call_reducer_json("add", ["x"], sender=ALICE, connection_id=None, timestamp=T0)
    with pytest.raises(ReducerArgsError):
        db.call_reducer_json("add", ["x", -1], sender=ALICE, connection_id=None, timestamp=T0)


def test_rng_is_deterministic_per_seed_and_timestamp() -> None:
    a, b = _open(), _open()
    for db in (a, b):
        call(db, "roll", ts=5)
        call(db, "roll", ts=6)
    assert [r.text for r in a.rows("log")] == [r.text for r in b.rows("log")]
    texts = [r.text for r in a.rows("log")][1:]
    assert len(set(texts)) == 2


def test_tables_and_reducers_info() -> None:
    db = _open()
    assert db.tables["item"].table_id == 4097 and db.tables["log"].table_id == 4098
    assert db.tables["item"].primary_key == 0 and db.tables["item"].public
    assert not db.tables["log"].public
    assert [r.reducer_id for r in db.reducers.values()] == list(range(len(db.reducers)))
    assert db.reducers["init"].lifecycle == "Init"
    assert db.reducers["add"].params == t.ProductType([("kind", t.STRING), ("serial", t.U32)])


def test_tables_outside_a_reducer_refuse() -> None:
    db = _open()
    with pytest.raises(RuntimeError):
        db.db.item.count()


exiting = Module("exiting")


@exiting.table(name="note", public=True)
class Note:
    text: str


def _insert_then(ctx: ReducerContext, exc: BaseException) -> None:
    ctx.db.note.insert(Note(text="half done"))
    raise exc


@exiting.reducer
def calls_sys_exit(ctx: ReducerContext) -> None:
    ctx.db.note.insert(Note(text="half done"))
    sys.exit(3)


@exiting.reducer
def keyboard_interrupt(ctx: ReducerContext) -> None:
    _insert_then(ctx, KeyboardInterrupt())


@exiting.reducer
def system_exit(ctx: ReducerContext) -> None:
    _insert_then(ctx, SystemExit("bye"))


@exiting.reducer
def cancelled(ctx: ReducerContext) -> None:
    _insert_then(ctx, asyncio.CancelledError())


@exiting.reducer
def ok(ctx: ReducerContext) -> None:
    ctx.db.note.insert(Note(text="fine"))


@pytest.mark.parametrize(
    ("reducer", "error"),
    [
        ("calls_sys_exit", "SystemExit: 3"),
        ("keyboard_interrupt", "KeyboardInterrupt"),
        ("system_exit", "SystemExit: bye"),
    ],
)
def test_base_exceptions_from_module_code_fail_the_reducer(reducer: str, error: str) -> None:
    db = Database.open(exiting, timestamp=T0)
    res = db.call_reducer(reducer, b"", sender=ALICE, connection_id=CONN, timestamp=T0)
    assert not res.committed and res.error == error and res.changes == {}
    assert db.rows("note") == []  # rolled back
    assert db.call_reducer("ok", b"", sender=ALICE, connection_id=CONN, timestamp=T0).committed
    assert [n.text for n in db.rows("note")] == ["fine"]


def test_cancellation_still_propagates_and_rolls_back() -> None:
    db = Database.open(exiting, timestamp=T0)
    with pytest.raises(asyncio.CancelledError):
        db.call_reducer("cancelled", b"", sender=ALICE, connection_id=CONN, timestamp=T0)
    assert db.rows("note") == []
