"""Every type kind through generated classes: codec round trips, sums, options, keys, calls."""

from __future__ import annotations

import uuid
from types import ModuleType
from typing import Any

import pytest
from conftest import connect
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stdb_game import (
    ConnectionId,
    Identity,
    ScheduleAt,
    Some,
    SumValue,
    TimeDuration,
    Timestamp,
)
from stdb_game import protocol as P
from stdb_game.sats.codec import get_codec

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

INT_RANGES = {
    "i8_v": (-(2**7), 2**7 - 1), "u8_v": (0, 2**8 - 1), "i16_v": (-(2**15), 2**15 - 1),
    "u16_v": (0, 2**16 - 1), "i32_v": (-(2**31), 2**31 - 1), "u32_v": (0, 2**32 - 1),
    "i64_v": (-(2**63), 2**63 - 1), "u64_v": (0, 2**64 - 1), "i128_v": (-(2**127), 2**127 - 1),
    "u128_v": (0, 2**128 - 1), "i256_v": (-(2**255), 2**255 - 1), "u256_v": (0, 2**256 - 1),
}  # fmt: skip


def f32() -> st.SearchStrategy[float]:
    return st.floats(width=32, allow_nan=False)


def row_of(pkg: ModuleType, table: str) -> Any:
    return pkg.SCHEMA.tables[table].row_type


def shapes(pkg: ModuleType) -> st.SearchStrategy[Any]:
    vec2 = st.builds(pkg.Vec2, f32(), f32())
    return st.one_of(
        st.builds(pkg.ShapeCircle, f32()),
        st.builds(pkg.ShapeRect, vec2),
        st.just(pkg.ShapeEmpty()),
        st.builds(pkg.ShapeLabel, st.text()),
    )


def everything(pkg: ModuleType) -> st.SearchStrategy[Any]:
    vec2 = st.builds(pkg.Vec2, f32(), f32())
    micros = st.integers(-(2**63), 2**63 - 1)
    sched = st.one_of(
        st.builds(lambda m: ScheduleAt(TimeDuration(m)), micros),
        st.builds(lambda m: ScheduleAt(Timestamp(m)), micros),
    )
    fields: dict[str, st.SearchStrategy[Any]] = {
        "id": st.integers(0, 2**64 - 1),
        "flag": st.booleans(),
        **{k: st.integers(lo, hi) for k, (lo, hi) in INT_RANGES.items()},
        "f32_v": f32(),
        "f64_v": st.floats(allow_nan=False),
        "text": st.text(),
        "raw": st.binary(),
        "ints": st.lists(st.integers(-(2**31), 2**31 - 1)),
        "names": st.lists(st.text(), max_size=4),
        "opt": st.none() | st.text(),
        "opt_opt": st.none() | st.just(Some(None)) | st.integers(-(2**31), 2**31 - 1),
        "color": st.sampled_from(list(pkg.Color)),
        "shape": shapes(pkg),
        "pos": vec2,
        "path": st.lists(vec2, max_size=4),
        "maybe_shape": st.none() | shapes(pkg),
        "who": st.builds(Identity, st.integers(0, 2**256 - 1)),
        "conn": st.builds(ConnectionId, st.integers(0, 2**128 - 1)),
        "at": st.builds(Timestamp, micros),
        "dur": st.builds(TimeDuration, micros),
        "when": sched,
        "uid": st.builds(lambda n: uuid.UUID(int=n), st.integers(0, 2**128 - 1)),
        "pair": st.tuples(st.integers(-(2**31), 2**31 - 1), st.text()),
        "outcome": st.one_of(
            st.builds(lambda n: SumValue(0, "ok", n), st.integers(0, 2**32 - 1)),
            st.builds(lambda t: SumValue(1, "err", t), st.text()),
        ),
        "nothing": st.just(()),
    }
    return st.fixed_dictionaries(fields).map(lambda kw: pkg.Everything(**kw))


def sample_everything(pkg: ModuleType) -> Any:
    """One hand-built row with a value in every field."""
    return pkg.Everything(
        1, True, *(lo for lo, _ in INT_RANGES.values()), 1.5, -2.25, "txt", b"\x00\xff",
        [1, -2], ["a", ""], "o", Some(None), pkg.Color.Blue, pkg.ShapeRect(pkg.Vec2(1.0, 2.0)),
        pkg.Vec2(0.5, 0.25), [pkg.Vec2(1.0, 1.0)], None, Identity(1), ConnectionId(2),
        Timestamp(3), TimeDuration(4), ScheduleAt(Timestamp(5)), uuid.UUID(int=6), (7, "p"),
        SumValue(1, "err", "bad"), (),
    )  # fmt: skip


def test_every_field_kind_round_trips_through_the_generated_class(synth: ModuleType) -> None:
    codec = get_codec(row_of(synth, "everything"))

    @SETTINGS
    @given(everything(synth))
    def check(row: Any) -> None:
        back = codec.decode(codec.encode(row))
        assert type(back) is synth.Everything
        assert back == row and hash(back) == hash(row)
        assert type(back.color) is synth.Color and back.color is row.color
        assert type(back.shape) is type(row.shape)
        assert type(back.pos) is synth.Vec2 and all(type(p) is synth.Vec2 for p in back.path)
        assert codec.encode(back) == codec.encode(row)

    check()


def test_nested_options_keep_some_none_apart_from_none(synth: ModuleType) -> None:
    codec = get_codec(row_of(synth, "everything"))
    base = sample_everything(synth)
    for value, wire in (
        (None, b"\x01"),
        (Some(None), b"\x00\x01"),
        (7, b"\x00\x00\x07\x00\x00\x00"),
    ):
        row = base._replace(opt_opt=value)
        data = codec.encode(row)
        assert wire in data
        assert codec.decode(data).opt_opt == value


def test_enum_is_an_int_enum_decoded_by_tag(synth: ModuleType) -> None:
    color = synth.SCHEMA.typespace.types[1]
    codec = get_codec(color)
    assert [int(c) for c in synth.Color] == [0, 1, 2]
    assert [c.name for c in synth.Color] == ["Red", "Green", "Blue"]
    assert codec.encode(synth.Color.Blue) == b"\x02"
    assert codec.decode(b"\x01") is synth.Color.Green
    assert synth.Color._from_sum(2, ()) is synth.Color.Blue


def test_tagged_sum_variants_have_tag_value_and_match(synth: ModuleType) -> None:
    codec = get_codec(synth.SCHEMA.typespace.types[2])
    rect = synth.ShapeRect(synth.Vec2(1.0, 2.0))
    assert (rect.tag, rect.name, rect.value) == (1, "Rect", synth.Vec2(1.0, 2.0))
    assert isinstance(rect, synth.Shape)
    assert codec.encode(rect) == b"\x01" + b"\x00\x00\x80\x3f" + b"\x00\x00\x00\x40"
    assert codec.decode(codec.encode(rect)) == rect
    empty = codec.decode(b"\x02")
    assert empty == synth.ShapeEmpty() and empty.value is None and repr(empty) == "ShapeEmpty()"
    assert repr(synth.ShapeCircle(1.5)) == "ShapeCircle(1.5)"
    assert synth.ShapeCircle(1.0) != synth.ShapeLabel("1.0")
    assert hash(synth.ShapeLabel("a")) == hash(synth.ShapeLabel("a"))
    match codec.decode(codec.encode(synth.ShapeLabel("hi"))):
        case synth.ShapeLabel(text):
            assert text == "hi"
        case _:
            pytest.fail("no match")


def test_recursive_type_round_trips(synth: ModuleType) -> None:
    codec = get_codec(row_of(synth, "forest"))
    tree = synth.Tree(1, [synth.Tree(2, []), synth.Tree(3, [synth.Tree(4, [])])])
    row = synth.Forest(9, tree)
    back = codec.decode(codec.encode(row))
    assert back == row and type(back.tree.children[1].children[0]) is synth.Tree
    assert hash(back) == hash(row)  # lists inside are hashed by value


def test_reserved_and_colliding_names_are_renamed(synth: ModuleType) -> None:
    row = synth.From(1, "t", "f", 2, 3, True, 4, 5)
    assert (row.class_, row.type, row.from_, row.self_, row.int_, row.iter, row.count) == (
        1, "t", "f", 2, 3, True, 4,
    )  # fmt: skip
    assert row.player_id == 5  # camelCase column -> snake_case attribute
    assert callable(synth.From.iter_)  # the old-style classmethod steps aside for the column
    codec = get_codec(row_of(synth, "from"))
    assert codec.decode(codec.encode(row)) == row
    # Wire names stay: the row type still says "class", "from", "playerId".
    assert [e.name for e in row_of(synth, "from").elements][:3] == ["class", "type", "from"]
    import_reducer = __import__(f"{synth.__name__}.import_reducer", fromlist=["import_"])
    assert callable(import_reducer.import_)
    assert hasattr(synth, "FromTableHandle")


def test_table_keys_in_a_client(synth: ModuleType) -> None:
    conn, server = connect(synth)
    P_ = synth.Position
    rows = [P_(1, 10, 0, 0, 7), P_(2, 11, 0, 0, 7), P_(3, 12, 5, 6, 8)]
    timer = synth.TickTimer(1, ScheduleAt(TimeDuration(1_000_000)), "every second")
    odd = synth.From(1, "t", "f", 2, 3, True, 40, 5)
    sub = conn.subscribe(
        ["SELECT * FROM position", "SELECT * FROM tick_timer", "SELECT * FROM from"]
    )
    server.send(
        server.subscribe_applied(
            sub.query_id, {"position": rows, "tick_timer": [timer], "from": [odd]}
        )
    )
    conn.tick()
    pos = conn.db.position
    assert pos.find(2) == rows[1] and pos.entity_id.find(3) == rows[2]
    assert pos.find_by_slot(12) == rows[2] and pos.slot.find(10) == rows[0]
    assert sorted(pos.filter_by_zone(7), key=lambda r: r.entity_id) == rows[:2]
    assert pos.zone.filter(8) == [rows[2]] and pos.zone.range(8, None) == [rows[2]]
    assert sorted(pos.filter_by_x_and_y(0, 0), key=lambda r: r.entity_id) == rows[:2]
    assert pos.filter_by_x_and_y(5, 6) == [rows[2]]
    assert not hasattr(pos, "x")  # x alone is not indexed
    assert conn.db.tick_timer.find(1).scheduled_at == ScheduleAt(TimeDuration(1_000_000))
    assert synth.SCHEMA.tables["tick_timer"].scheduled_reducer == "tick"
    assert synth.SCHEMA.tables["secret"].public is False
    f = conn.db.from_
    found = f.find(1)
    assert found == odd and found is f.class_.find(1) is f.find_by_class(1) is f.count_.find(40)
    assert f.find_by_count(40) is found and f.count() == 1  # count() is still the row count


def test_reducer_calls_encode_every_argument_kind(synth: ModuleType) -> None:
    conn, server = connect(synth)

    def last() -> P.CallReducer:
        msg = server.received()[-1]
        assert isinstance(msg, P.CallReducer)
        return msg

    conn.reducers.send_bytes(data=b"\x01\x02")
    assert (last().reducer, last().args) == ("send_bytes", b"\x02\x00\x00\x00\x01\x02")
    conn.reducers.set_color(id=5, color=synth.Color.Green)
    assert last().args == (5).to_bytes(8, "little") + b"\x01"
    conn.reducers.draw(shape=synth.ShapeCircle(2.0), at=None)
    assert last().args == b"\x00" + b"\x00\x00\x00\x40" + b"\x01"
    conn.reducers.draw(synth.ShapeEmpty(), synth.Vec2(0.0, 1.0))
    assert last().args == b"\x02" + b"\x00" + b"\x00\x00\x00\x00\x00\x00\x80\x3f"
    conn.reducers.import_(class_=1, lambda_="x")
    assert (last().reducer, last().args) == ("import", b"\x01\x00\x00\x00\x01\x00\x00\x00x")
    conn.reducers.no_args()
    assert (last().reducer, last().args) == ("no_args", b"")
    timer = synth.TickTimer(3, ScheduleAt(Timestamp(10)), "once")
    conn.reducers.tick(timer=timer)
    assert last().args == get_codec(row_of(synth, "tick_timer")).encode(timer)
    assert not hasattr(conn.reducers, "init") and not hasattr(conn.reducers, "client_connected")


def test_reducer_event_args_decode_into_generated_classes(synth: ModuleType) -> None:
    conn, server = connect(synth)
    got: list[Any] = []
    conn.reducers.on_draw(got.append)
    conn.reducers.on_no_args(got.append)
    server.send(server.transaction("draw", (synth.ShapeLabel("x"), synth.Vec2(1.0, 1.0))))
    server.send(server.transaction("no_args", ()))
    conn.tick()
    draw, no_args = got
    assert draw.args == synth.DrawArgs(synth.ShapeLabel("x"), synth.Vec2(1.0, 1.0))
    assert type(draw.args.at) is synth.Vec2
    assert no_args.args == ()
