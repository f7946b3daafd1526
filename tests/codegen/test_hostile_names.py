"""Bindings for names that break naive codegen, imported and used, not just compiled.

``hostile_names_schema`` has dunder and ``__x`` names for tables, columns and reducers,
names of base-class members (``client``, ``_call``, ``count``, ``handle``, ``_cache``), a
table ``9lives``, enum variants named like ``int`` attributes, a named empty struct and
nested options.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import connect, generate_and_import
from synthetic import hostile_names_schema

from stdb_game import Some
from stdb_game import protocol as P
from stdb_game.client import TableHandle
from stdb_game.codegen import runtime
from stdb_game.codegen.model import build_model
from stdb_game.sats.codec import get_codec


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    root = tmp_path_factory.mktemp("hostile")
    return generate_and_import(hostile_names_schema(), root, "hostile", "hostile.json")


def _last_call(server: Any) -> P.CallReducer:
    msg = server.received()[-1]
    assert isinstance(msg, P.CallReducer)
    return msg


def test_leading_double_underscores_collapse_to_one() -> None:
    m = build_model(hostile_names_schema())
    by_wire = {t.wire: t for t in m.tables}
    assert [(w, t.attr, t.module) for w, t in by_wire.items()] == [
        ("__init__", "_init__", "_init__"),
        ("9lives", "_9lives", "_9lives"),
        ("__class__", "_class__", "_class__"),
    ]
    row = by_wire["__init__"].columns
    assert [c.attr for c in row][:4] == ["_init__", "_secret", "_slots__", "_class__"]
    calls = {r.wire: (r.call_method, r.callback_method, r.module) for r in m.reducers}
    assert calls["__init__"] == ("_init__", "on__init__", "_init___reducer")
    assert calls["client"][0] == "client_" and calls["_call"][0] == "_call_"


def test_rows_with_dunder_names_decode_and_look_up(hostile: ModuleType) -> None:
    conn, server = connect(hostile)
    assert type(conn.reducers) is hostile.RemoteReducers  # its __init__ is the base's
    assert isinstance(conn.reducers.client, type(conn.client))  # not shadowed by a reducer
    db = conn.db
    sub = conn.subscribe([db._init__.query(), db._9lives.query(), db._class__.query()])
    row = hostile.Init(1, "s", 2, 3, 40, 50, 60, 7, hostile.Numberish.real_)
    lives = hostile._9lives(9, 10)
    server.send(server.subscribe_applied(sub.query_id, {"__init__": [row], "9lives": [lives]}))
    conn.tick()
    got = db._init__.find(1)
    assert got == row and type(got) is hostile.Init
    assert (got._secret, got._slots__, got._class__, got._cache) == ("s", 2, 3, 60)
    assert got.kind is hostile.Numberish.real_
    assert repr(got).startswith("Init(_init__=1, _secret='s', _slots__=2, _class__=3,")
    assert db._init__.count_.find(40) is got and db._init__.find_by_count(40) is got
    assert db._init__.handle_.find(50) is got and db._init__.find_by_handle(50) is got
    assert db._init__.count() == 1 and isinstance(db._init__.handle, TableHandle)
    assert list(db._9lives.iter()) == [lives] and lives._1st == 9 and lives._hash__ == 10
    assert hash(lives) == hash(hostile._9lives(9, 10))  # __hash__ is still the class's
    runtime.set_current_client(conn)
    assert hostile.Init.filter_by__secret("s") == [got]
    assert hostile._9lives.filter_by__hash__(10) == [lives]


def test_reducers_with_base_class_names_send_the_wire_name(hostile: ModuleType) -> None:
    conn, server = connect(hostile)
    conn.reducers._init__(_self=3)
    assert (_last_call(server).reducer, _last_call(server).args) == ("__init__", b"\x03")
    conn.reducers.client_(kind=hostile.Numberish.bit_length_)
    assert (_last_call(server).reducer, _last_call(server).args) == ("client", b"\x04")
    conn.reducers._call_(empty=hostile.Nothing(), n=6)
    assert (_last_call(server).reducer, _last_call(server).args) == ("_call", b"\x06")
    conn.reducers._slots__()
    assert _last_call(server).reducer == "__slots__"
    seen: list[Any] = []
    conn.reducers.on__init__(seen.append)
    conn.reducers.on__call(seen.append)
    server.send(server.transaction("__init__", (5,)))
    server.send(server.transaction("_call", (hostile.Nothing(), 8)))
    conn.tick()
    assert seen[0].args == hostile.InitArgs(5) and seen[0].args._self == 5
    assert seen[1].args == hostile.CallArgs(hostile.Nothing(), 8)
    assert type(seen[1].args.empty) is hostile.Nothing


def test_enum_variants_named_like_int_attributes_are_renamed(hostile: ModuleType) -> None:
    e = hostile.Numberish
    assert [m.name for m in e][:4] == ["real_", "imag_", "numerator_", "denominator_"]
    assert e.real_ == 0 and e.is_integer_ == 10 and e.plain == 13
    assert e.name_ == 11 and e.value_ == 12
    assert e(3).real == 3  # int's own attributes still work on members
    codec = get_codec(hostile.SCHEMA.reducers["client"].params)
    assert codec.decode(b"\x01") == hostile.ClientArgs(e.imag_)


def test_named_empty_struct_is_a_class(hostile: ModuleType) -> None:
    n = hostile.Nothing()
    assert n == hostile.Nothing() and hash(n) == hash(hostile.Nothing())
    assert repr(n) == "Nothing()" and hostile.Nothing._FIELDS == ()
    row = hostile.Nested(1, None, [], n)
    codec = get_codec(hostile.SCHEMA.tables["__class__"].row_type)
    back = codec.decode(codec.encode(row))
    assert back == row and type(back.nothing) is hostile.Nothing


def test_some_is_canonical_in_rows_so_equal_values_compare_and_hash_alike(
    hostile: ModuleType,
) -> None:
    nothing = hostile.Nothing()
    wrapped = hostile.Nested(1, Some([1, 2]), [Some(5), Some(None), None], nothing)
    bare = hostile.Nested(1, [1, 2], [5, Some(None), None], nothing)
    assert wrapped.maybe == [1, 2] and wrapped.many == [5, Some(None), None]
    assert wrapped == bare and hash(wrapped) == hash(bare)
    codec = get_codec(hostile.SCHEMA.tables["__class__"].row_type)
    assert codec.encode(wrapped) == codec.encode(bare)
    back = codec.decode(codec.encode(wrapped))
    assert back == wrapped and hash(back) == hash(wrapped)
    present_empty = hostile.Nested(2, Some(None), [], nothing)
    assert present_empty.maybe == Some(None)  # the one Some that carries meaning
    assert present_empty != hostile.Nested(2, None, [], nothing)
    assert codec.decode(codec.encode(present_empty)) == present_empty
    assert hash(hostile.Nested(3, Some(Some([1])), [], nothing)) == hash(
        hostile.Nested(3, [1], [], nothing)
    )


def test_canonical_keeps_meaningful_wrappers() -> None:
    assert runtime.canonical(Some(Some(5))) == 5
    assert runtime.canonical(Some(Some(None))) == Some(Some(None))
    assert runtime.canonical(Some(None)) == Some(None)
    assert runtime.canonical([Some(1), (Some(2), None)]) == [1, (2, None)]
    assert runtime.canonical(None) is None


def test_hostile_package_files_are_named_safely(hostile: ModuleType) -> None:
    files = sorted(p.name for p in Path(hostile.__file__).parent.glob("*.py"))
    assert files == [
        "_9lives.py", "__init__.py", "_call_reducer.py", "_class__.py", "_db.py", "_init__.py",
        "_init___reducer.py", "_schema.py", "_slots___reducer.py", "_types.py",
        "client_reducer.py",
    ]  # fmt: skip
