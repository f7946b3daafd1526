"""Typed accessors for multi-column btree indexes: ``conn.db.cell.by_layer_pos.filter(layer)``
... ``.filter(layer, x, y)``, ``.range(...)`` with and without a fixed prefix, the prefix
``filter_by_`` helpers and the old-style classmethods that now use the index."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import connect, generate_and_import
from synthetic import grid_schema

from stdb_game.codegen import render_bindings, runtime


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return generate_and_import(grid_schema(), tmp_path_factory.mktemp("grid"), "grid", "grid.json")


def _cells(grid: ModuleType) -> list[Any]:
    C = grid.Cell
    return [
        C(1, 0, 0, 0, None),
        C(2, 0, 0, 5, "b"),
        C(3, 0, 1, 2, "a"),
        C(4, 1, 0, 0, "a"),
        C(5, 1, 3, 9, None),
        C(6, 2, 0, 1, "c"),
        C(7, 0, 1, 7, "a"),
    ]


def _loaded(grid: ModuleType) -> tuple[Any, list[Any]]:
    conn, server = connect(grid)
    rows = _cells(grid)
    sub = conn.subscribe("SELECT * FROM cell")
    server.send(server.subscribe_applied(sub.query_id, {"cell": rows}))
    conn.tick()
    return conn, rows


def ids(rows: list[Any]) -> list[int]:
    return [r.id for r in rows]


def test_filter_on_every_leading_part(grid: ModuleType) -> None:
    conn, _ = _loaded(grid)
    idx = conn.db.cell.by_layer_pos
    assert ids(idx.filter(0)) == [1, 2, 3, 7]  # (layer, x, y) order
    assert ids(idx.filter(0, 1)) == [3, 7]
    assert ids(idx.filter(0, 1, 7)) == [7]
    assert ids(idx.filter(layer=1, x=3)) == [5]
    assert idx.filter(9) == [] and idx.filter(0, 1, 3) == []
    assert idx.columns == (1, 2, 3)
    # an option column leads: None is a value to match, not "left out"
    assert ids(conn.db.cell.by_label.filter(None)) == [1, 5]
    assert ids(conn.db.cell.by_label.filter("a")) == [3, 4, 7]
    assert ids(conn.db.cell.by_label.filter("a", 4)) == [4]


def test_range_over_the_first_column_and_after_a_prefix(grid: ModuleType) -> None:
    conn, _ = _loaded(grid)
    idx = conn.db.cell.by_layer_pos
    assert ids(idx.range(0, 1)) == [1, 2, 3, 7]  # 0 <= layer < 1
    assert ids(idx.range(1, 2, hi_inclusive=True)) == [4, 5, 6]
    assert ids(idx.range(1)) == [4, 5, 6] and ids(idx.range(None, 1)) == [1, 2, 3, 7]
    assert ids(idx.range(1, 5, prefix=(0,))) == [3, 7]  # layer 0, 1 <= x < 5
    assert ids(idx.range(0, 1, prefix=(0,), hi_inclusive=True)) == [1, 2, 3, 7]
    assert ids(idx.range(2, 7, prefix=(0, 1))) == [3]  # layer 0, x 1, 2 <= y < 7
    assert ids(idx.range(2, 7, prefix=(0, 1), hi_inclusive=True)) == [3, 7]
    assert ids(idx.range(None, None, prefix=(1, 0))) == [4]


def test_bad_lookups_are_type_errors(grid: ModuleType) -> None:
    conn, _ = _loaded(grid)
    idx = conn.db.cell.by_layer_pos
    with pytest.raises(TypeError, match="first 1 to 3 columns, in order"):
        idx.filter(layer=0, y=2)  # x left out in the middle
    with pytest.raises(TypeError, match=r"prefix= fixes at most 2 columns"):
        idx.range(0, 1, prefix=(0, 1, 2))
    with pytest.raises(TypeError, match="cell"):
        idx.range("a", "b")


def test_prefix_helpers_and_old_style_use_the_index(grid: ModuleType) -> None:
    conn, _ = _loaded(grid)
    t = conn.db.cell
    assert ids(t.filter_by_layer(0)) == [1, 2, 3, 7]  # its own index
    assert ids(t.filter_by_layer_and_x(0, 1)) == [3, 7]  # leading part of by_layer_pos
    assert ids(t.filter_by_layer_and_x_and_y(1, 3, 9)) == [5]
    assert ids(t.filter_by_label("a")) == [3, 4, 7]  # leading part of by_label
    assert not hasattr(t, "filter_by_x")  # x leads no index
    runtime.set_current_client(conn)
    assert ids(grid.Cell.filter_by_label("a")) == [3, 4, 7]
    assert "multi-column index" in (grid.Cell.filter_by_label.__doc__ or "")
    assert "no index" in (grid.Cell.filter_by_x.__doc__ or "")
    assert ids(grid.Cell.filter_by_x(1)) == [3, 7]


def test_the_accessor_is_exported_and_typed_in_the_source(grid: ModuleType) -> None:
    conn, _ = _loaded(grid)
    assert isinstance(conn.db.cell.by_layer_pos, grid.CellByLayerPosIndex)
    assert isinstance(conn.db.cell.by_label, grid.CellByLabelIndex)
    files = render_bindings(grid_schema(), "grid.json")
    cell = files["cell.py"]
    assert "class CellByLayerPosIndex(_rt.MultiColumnIndex[Cell]):" in cell
    assert "def filter(self, layer: int, x: int) -> list[Cell]: ..." in cell
    assert "prefix: tuple[int, int]," in cell
    assert "lo: str | None = None," in cell  # option column: no `| None | None`
    assert "CellByLabelIndex" in files["__init__.py"]


def test_the_accessor_over_the_dev_server_module_api(tmp_path: Path) -> None:
    """The same lookups the module side offers (``ctx.db.npc.by_pos.filter``), generated
    from a dev-server module file."""
    from stdb_game.devserver import module_schema_json

    module = tmp_path / "npcs.py"
    module.write_text(
        "from stdb_game.devserver.module import Module, column, index, i32, u32\n"
        "module = Module('npcs')\n"
        "@module.table(name='npc', public=True, indexes=[index('x', 'y', name='by_pos')])\n"
        "class Npc:\n"
        "    id: u32 = column(primary_key=True)\n"
        "    name: str\n"
        "    x: i32\n"
        "    y: i32\n"
    )
    pkg = generate_and_import(module_schema_json(module), tmp_path, "npcs", "npcs.py")
    conn, server = connect(pkg)
    rows = [pkg.Npc(1, "a", 2, 3), pkg.Npc(2, "b", 2, 1), pkg.Npc(3, "c", 4, 0)]
    sub = conn.subscribe("SELECT * FROM npc")
    server.send(server.subscribe_applied(sub.query_id, {"npc": rows}))
    conn.tick()
    assert ids(conn.db.npc.by_pos.filter(2)) == [2, 1]
    assert ids(conn.db.npc.by_pos.range(3, None)) == [3]
    assert ids(conn.db.npc.filter_by_x(2)) == [2, 1]
