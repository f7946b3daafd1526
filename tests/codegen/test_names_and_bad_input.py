"""Naming rules (case conversion, keywords, clashes) and what bad schemas produce."""

from __future__ import annotations

import copy
import enum
from pathlib import Path
from typing import Any, Generic

import pytest
from conftest import CHAT_JSON, connect, generate_and_import
from synthetic import UNIT, prim, product, reducer, ref, sum_, synthetic_schema, table

from stdb_game import protocol as P
from stdb_game.codegen import load_schema_file, render_bindings, runtime
from stdb_game.codegen.model import (
    ENUM_MEMBERS,
    PRODUCT_MEMBERS,
    REDUCERS_VIEW_MEMBERS,
    TABLE_VIEW_MEMBERS,
    build_model,
)
from stdb_game.codegen.names import Namespace, pascal_case, snake_case
from stdb_game.errors import SchemaError


@pytest.mark.parametrize(
    ("name", "snake", "pascal"),
    [
        ("send_message", "send_message", "SendMessage"),
        ("SendMessage", "send_message", "SendMessage"),
        ("sendMessage", "send_message", "SendMessage"),
        ("HTTPServer", "http_server", "HTTPServer"),
        ("player2Id", "player2_id", "Player2Id"),
        ("user", "user", "User"),
        ("with-dash", "with_dash", "WithDash"),
        ("3d", "_3d", "_3d"),
    ],
)
def test_case_conversion(name: str, snake: str, pascal: str) -> None:
    assert snake_case(name) == snake
    assert pascal_case(name) == pascal


def test_namespace_renames_keywords_and_fixed_names_and_refuses_clashes() -> None:
    ns = Namespace("type 'T'", {"iter"})
    assert ns.add("class", "class") == "class_"
    assert ns.add("iter", "iter") == "iter_"
    assert ns.add("id", "id") == "id"
    with pytest.raises(SchemaError, match=r"'class_'.*both become the Python name 'class_'"):
        ns.add("class_", "class_")


def minimal(**parts: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "typespace": {"types": [product(("id", prim("U32")))]},
        "tables": [table("thing", 0, pk=0)],
        "reducers": [],
        "types": [{"name": {"scope": [], "name": "Thing"}, "ty": 0, "custom_ordering": True}],
        "misc_exports": [],
        "row_level_security": [],
    }
    base.update(parts)
    return base


def test_minimal_schema_renders() -> None:
    files = render_bindings(minimal(), "m.json")
    assert "thing.py" in files and "class Thing(_rt.GeneratedProduct):" in files["_types.py"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"typespace": {"types": [product(("id", {"Map": []}))]}}, "unknown type tag 'Map'"),
        ({"typespace": {"types": [product(("id", ref(5)))]}}, "dangling type ref 5"),
        ({"tables": [table("thing", 3, pk=0)]}, "outside the typespace"),
        ({"reducers": [reducer("r", ("x", ref(9)))]}, "dangling type ref 9"),
        ({"typespace": {"types": [prim("U32")]}}, "not a product type"),
        ({"tables": "nope"}, "'tables' must be a list"),
    ],
)
def test_bad_schemas_raise_schema_error(change: dict[str, Any], message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        render_bindings(minimal(**change), "bad.json")


def test_missing_sections_and_non_objects() -> None:
    with pytest.raises(SchemaError, match="lacks 'typespace'"):
        render_bindings({"tables": []}, "x.json")
    with pytest.raises(SchemaError):
        render_bindings([], "x.json")  # type: ignore[arg-type]


def test_bad_index_algorithm() -> None:
    t = table("thing", 0, pk=0)
    t["indexes"] = [
        {"name": {"some": "i"}, "accessor_name": {"none": []}, "algorithm": {"Zip": [0]}}
    ]
    with pytest.raises(SchemaError, match="unknown index algorithm"):
        render_bindings(minimal(tables=[t]), "x.json")
    t["indexes"][0]["algorithm"] = {"BTree": [4]}
    with pytest.raises(SchemaError, match="out of range"):
        render_bindings(minimal(tables=[t]), "x.json")


def test_reserved_python_names_are_renamed_not_broken(tmp_path: Path) -> None:
    types = [product(("class", prim("U32")), ("from", prim("String")), ("def", prim("Bool")))]
    raw = minimal(
        typespace={"types": types},
        tables=[table("class", 0, pk=0, btree=[("class", [0])], unique=[[0]])],
        reducers=[reducer("from", ("lambda", prim("U8")), ("self", prim("U8")))],
        types=[{"name": {"scope": [], "name": "return"}, "ty": 0, "custom_ordering": True}],
    )
    m = build_model(raw)
    (t,) = m.tables
    assert (t.attr, t.module, t.handle_class) == ("class_", "class_", "ClassTableHandle")
    assert [c.attr for c in t.columns] == ["class_", "from_", "def_"]
    assert m.classes[0].name == "Return"
    (r,) = m.reducers
    assert (r.call_method, r.callback_method, r.module) == ("from_", "on_from", "from_reducer")
    assert [p.attr for p in r.params] == ["lambda_", "self_"]
    # Imported and used, not just compiled: the renamed names reach the wire names.
    pkg = generate_and_import(raw, tmp_path, "reserved", "x.json")
    conn, server = connect(pkg)
    sub = conn.db.class_.subscribe()
    row = pkg.Return(7, "a", True)
    server.send(server.subscribe_applied(sub.query_id, {"class": [row]}))
    conn.tick()
    assert conn.db.class_.find(7) == row and conn.db.class_.class_.find(7) is not None
    assert conn.db.class_.find_by_class(7).from_ == "a"
    conn.reducers.from_(lambda_=1, self_=2)
    call = server.received()[-1]
    assert isinstance(call, P.CallReducer) and (call.reducer, call.args) == ("from", b"\x01\x02")
    from importlib import import_module

    old = import_module(f"{pkg.__name__}.from_reducer")
    runtime.set_current_client(conn)
    old.from_(3, 4)
    assert server.received()[-1].args == b"\x03\x04"


def test_a_rename_that_lands_on_another_schema_name_is_an_error() -> None:
    types = [product(("class", prim("U32")), ("class_", prim("U32")))]
    with pytest.raises(SchemaError, match=r"'class_' and field 'class' both become .*'class_'"):
        build_model(minimal(typespace={"types": types}))


def test_sdk_class_names_are_renamed() -> None:
    raw = minimal(
        types=[{"name": {"scope": [], "name": "Timestamp"}, "ty": 0, "custom_ordering": True}]
    )
    assert build_model(raw).classes[0].name == "Timestamp_"


@pytest.mark.parametrize(
    ("raw_change", "message"),
    [
        (
            {
                "typespace": {
                    "types": [product(("playerId", prim("U32")), ("player_id", prim("U32")))]
                }
            },
            r"field 'player_id' and field 'playerId' both become the Python name 'player_id'",
        ),
        (
            {
                "typespace": {"types": [product(("id", prim("U32"))), product(("id", prim("U8")))]},
                "tables": [table("Player", 0), table("player", 1)],
                "types": [
                    {"name": {"scope": [], "name": "A"}, "ty": 0, "custom_ordering": True},
                    {"name": {"scope": [], "name": "B"}, "ty": 1, "custom_ordering": True},
                ],
            },
            r"table 'player' and table 'Player' both become the Python name 'player'",
        ),
        (
            {
                "typespace": {"types": [product(("id", prim("U32"))), product(("x", prim("U8")))]},
                "types": [
                    {"name": {"scope": [], "name": "my_type"}, "ty": 0, "custom_ordering": True},
                    {"name": {"scope": [], "name": "MyType"}, "ty": 1, "custom_ordering": True},
                ],
            },
            r"type 'MyType' and type 'my_type' both become the Python name 'MyType'",
        ),
        (
            {"reducers": [reducer("doIt"), reducer("do_it")]},
            r"reducer 'do_it' and reducer 'doIt' both become the Python name 'do_it'",
        ),
        (
            {
                "typespace": {"types": [product(("id", prim("U32"))), sum_(("_a", UNIT))]},
                "types": [{"name": {"scope": [], "name": "E"}, "ty": 1, "custom_ordering": True}],
            },
            "starts with '_'",
        ),
    ],
)
def test_names_colliding_after_conversion_raise_schema_error(
    raw_change: dict[str, Any], message: str
) -> None:
    with pytest.raises(SchemaError, match=message):
        render_bindings(minimal(**raw_change), "x.json")


def test_unnamed_and_scoped_types_get_derived_class_names() -> None:
    raw = copy.deepcopy(synthetic_schema())
    raw["types"] = [t for t in raw["types"] if t["name"]["name"] != "Vec2"]
    raw["types"].append(
        {"name": {"scope": ["geo"], "name": "Point"}, "ty": 0, "custom_ordering": True}
    )
    raw["types"] = [t for t in raw["types"] if t["name"]["name"] != "Everything"]
    m = build_model(raw)
    assert m.classes[0].name == "GeoPoint"
    assert m.classes[3].name == "Type3"  # referenced, unnamed, not a table row


def test_v9_wrapper_is_accepted() -> None:
    raw = load_schema_file(CHAT_JSON)
    assert render_bindings({"V9": raw}, "c.json") == render_bindings(raw, "c.json")


def test_a_row_type_shared_by_two_tables_gets_no_old_style_classmethods() -> None:
    raw = minimal(tables=[table("thing", 0, pk=0), table("other_thing", 0, pk=0)])
    m = build_model(raw)
    assert [t.wire for t in m.classes[0].tables] == ["thing", "other_thing"]  # type: ignore[union-attr]
    files = render_bindings(raw, "x.json")
    assert "register_row_update" not in files["_types.py"]
    assert "class OtherThingTableHandle(_rt.TableView[Thing]):" in files["other_thing.py"]


def test_a_client_without_the_bindings_schema_is_refused() -> None:
    import importlib
    import sys
    import tempfile
    from pathlib import Path

    from stdb_game.client import Client
    from stdb_game.codegen import generate

    with tempfile.TemporaryDirectory() as tmp:
        generate(minimal(), Path(tmp) / "mini_pkg", "m.json")
        sys.path.insert(0, tmp)
        try:
            pkg = importlib.import_module("mini_pkg")
            with pytest.raises(SchemaError, match="another schema"):
                pkg.DbConnection(Client("ws://x", "db"))
        finally:
            sys.path.remove(tmp)
            for name in [n for n in sys.modules if n.split(".")[0] == "mini_pkg"]:
                del sys.modules[name]


def _members(cls: type) -> set[str]:
    """Non-dunder attributes ``cls`` adds to ``Generic``/``object``."""
    base = set(dir(Generic)) | set(dir(object))
    return {n for n in set(dir(cls)) - base if not (n.startswith("__") and n.endswith("__"))}


def test_reserved_member_lists_cover_the_runtime_base_classes() -> None:
    """A schema name equal to a base-class member is renamed; the lists must not go stale."""
    assert _members(runtime.TableView) <= TABLE_VIEW_MEMBERS
    assert _members(runtime.ReducersView) <= REDUCERS_VIEW_MEMBERS
    assert _members(runtime.GeneratedProduct) <= PRODUCT_MEMBERS | {"_values"}
    public_int = {n for n in dir(int) if not n.startswith("_")}
    public_enum = {n for n in dir(enum.IntEnum) if not n.startswith("_")}
    assert public_int | public_enum <= ENUM_MEMBERS
