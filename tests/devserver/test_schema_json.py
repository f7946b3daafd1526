"""Schema JSON (RawModuleDef v9) against real dumps: same tables, columns, types, keys, reducers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from shared_data import MODULES

from stdb_game.devserver import Database, ModuleError
from stdb_game.devserver.module import (
    Module,
    ReducerContext,
    ScheduleAt,
    column,
    index,
    u8,
    u64,
)
from stdb_game.sats.types import Typespace
from stdb_game.sats.values import Timestamp

ROOT = Path(__file__).resolve().parents[2]
SHARED = MODULES
T0 = Timestamp(1_735_689_600_000_000)
#: The docs' basic module, shared with tests/codegen (bindings used against it live).
BASIC_MODULE = Path(__file__).resolve().parent / "modules" / "basic.py"


def _load(name: str) -> dict[str, Any]:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} not available")
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def _structure(schema: dict[str, Any]) -> dict[str, Any]:
    """Order-insensitive facts: per table its columns and types, keys, access; reducers."""
    ts = Typespace.from_json(schema["typespace"])
    tables = {}
    for t in schema["tables"]:
        row = ts.get(t["product_type_ref"])
        tables[t["name"]] = {
            "columns": [(e.name, e.algebraic_type.resolve()) for e in row.elements],  # type: ignore[attr-defined]
            "primary_key": t["primary_key"],
            "indexes": sorted(json.dumps(i, sort_keys=True) for i in t["indexes"]),
            "constraints": sorted(json.dumps(c, sort_keys=True) for c in t["constraints"]),
            "sequences": t["sequences"],
            "schedule": t["schedule"],
            "access": t["table_access"],
            "type": t["table_type"],
        }
    reducers = {r["name"]: (r["params"], r["lifecycle"]) for r in schema["reducers"]}
    types = sorted(t["name"]["name"] for t in schema["types"])
    return {
        "tables": tables,
        "reducers": reducers,
        "types": types,
        "misc": schema["misc_exports"],
        "rls": schema["row_level_security"],
    }


def test_chat_schema_matches_the_real_dump() -> None:
    real = _load("quickstart-chat.raw_module_def_v9.json")
    db = Database.open(ROOT / "demos" / "chat" / "module.py", timestamp=T0)
    mine = db.schema_json()
    assert _structure(mine) == _structure(real)
    # declared in the dump's order, so even the order of everything matches
    assert mine == real
    assert [r["name"] for r in mine["reducers"]].index("send_message") == 3
    assert json.loads(json.dumps(mine)) == mine


def test_basic_module_schema_matches_the_docs_example() -> None:
    real = _load("docs-example-basic-module.raw_module_def_v9.json")
    assert Database.open(BASIC_MODULE, timestamp=T0).schema_json() == real


shapes = Module("shapes")


@shapes.type
class Point:
    x: u8
    y: u8


@shapes.table(name="tick", scheduled="on_tick")
class Tick:
    scheduled_id: u64 = column(primary_key=True, auto_inc=True)
    scheduled_at: ScheduleAt
    where: Point


@shapes.table(name="grid", public=True, indexes=[index("a", "b", name="ab")])
class Grid:
    a: u8
    b: u8
    origin: Point = column(unique=True)
    path: list[Point] = column(default=[])


@shapes.reducer
def on_tick(ctx: ReducerContext, tick: Tick) -> None:
    pass


def test_refs_schedules_sequences_and_multi_column_indexes() -> None:
    schema = Database.open(shapes, timestamp=T0).schema_json()
    by_name = {t["name"]: t for t in schema["tables"]}
    tick = by_name["tick"]
    assert tick["schedule"] == {
        "some": {
            "name": {"some": "tick_sched"},
            "reducer_name": "on_tick",
            "scheduled_at_column": 1,
        }
    }
    assert tick["sequences"] == [
        {
            "name": {"some": "tick_scheduled_id_seq"},
            "column": 0,
            "start": {"none": []},
            "min_value": {"none": []},
            "max_value": {"none": []},
            "increment": 1,
        }
    ]
    assert tick["table_access"] == {"Private": []}
    grid = by_name["grid"]
    assert [i["name"]["some"] for i in grid["indexes"]] == [
        "grid_a_b_idx_btree",
        "grid_origin_idx_btree",
    ]
    assert grid["indexes"][0]["algorithm"] == {"BTree": [0, 1]}
    assert grid["indexes"][0]["accessor_name"] == {"some": "ab"}
    assert grid["constraints"] == [
        {"name": {"some": "grid_origin_key"}, "data": {"Unique": {"columns": [2]}}}
    ]
    types = {t["name"]["name"]: t["ty"] for t in schema["types"]}
    assert set(types) == {"Point", "Tick", "Grid"}
    grid_row = schema["typespace"]["types"][types["Grid"]]["Product"]["elements"]
    assert grid_row[2]["algebraic_type"] == {"Ref": types["Point"]}
    assert grid_row[3]["algebraic_type"] == {"Array": {"Ref": types["Point"]}}
    (reducer,) = schema["reducers"]
    assert reducer["params"]["elements"][0]["algebraic_type"] == {"Ref": types["Tick"]}
    # the typespace parses back and resolves
    Typespace.from_json(schema["typespace"])


def test_bad_modules_are_reported() -> None:
    m = Module("bad")

    @m.table(name="t", scheduled="missing")
    class T:
        scheduled_id: u64 = column(primary_key=True, auto_inc=True)
        scheduled_at: ScheduleAt

    with pytest.raises(ModuleError, match="not declared"):
        m.build()

    m2 = Module("bad2")

    @m2.table(name="t")
    class T2:
        x: complex

    with pytest.raises(ModuleError, match="cannot map"):
        m2.build()

    m3 = Module("bad3")

    @m3.table(name="t", scheduled="r")
    class T3:
        id: u64
        scheduled_at: ScheduleAt

    @m3.reducer
    def r(ctx: ReducerContext, row: T3) -> None:
        pass

    with pytest.raises(ModuleError, match="scheduled_id"):
        m3.build()

    m4 = Module("bad4")
    with pytest.raises(ModuleError):
        m4.reducer(lifecycle="on_boot")
