"""The module-author API: row classes, declarations, loading module files, identity minting."""

from __future__ import annotations

from pathlib import Path

import pytest

from stdb_game.devserver import Database, ModuleError, load_module, mint_identity
from stdb_game.devserver.module import (
    Identity,
    Module,
    ReducerContext,
    SpacetimeType,
    Timestamp,
    column,
    u16,
)

T0 = Timestamp(1_735_689_600_000_000)


def test_mint_identity_matches_spacetimedb() -> None:
    # value from SpacetimeDB's own C# runtime test (JwtClaimsTest.TestIdentity)
    ident = mint_identity("example.com", "123")
    assert ident.to_hex() == "c200ef884364c1a99be0298dc68f2004e6b97c09d1b1658b7db22f51fb662059"
    assert mint_identity("localhost", "a").to_hex().startswith("c200")
    assert mint_identity("localhost", "a") != mint_identity("localhost", "b")


m = Module("api")


class Stats(SpacetimeType):
    hp: u16
    tags: list[str]


@m.table(name="archived")
@m.table(name="unit", public=True)
class Unit:
    id: u16 = column(primary_key=True, auto_inc=True)
    name: str
    stats: Stats
    note: str | None = None

    def label(self) -> str:
        return f"{self.name}#{self.id}"


@m.reducer
def make(ctx: ReducerContext, name: str, hp: u16) -> None:
    u = ctx.db.unit.insert(Unit(name=name, stats=Stats(hp, [name])))
    assert u.id > 0 and u.label() == f"{name}#{u.id}"


@m.reducer
def archive(ctx: ReducerContext, id: u16) -> None:
    u = ctx.db.unit.id.find(id)
    ctx.db.unit.id.delete(id)
    ctx.db.archived.insert(u)


def test_row_classes() -> None:
    u = Unit(name="a", stats=Stats(1, []))
    assert (u.id, u.note) == (0, None)
    assert u == Unit(0, "a", Stats(1, []), None)
    assert u != Unit(0, "b", Stats(1, []), None)
    assert repr(u).startswith("Unit(id=0, name='a'")
    assert u._replace(name="z").name == "z" and u.name == "a"
    with pytest.raises(TypeError, match="stats"):
        Unit(name="x")
    with pytest.raises(AttributeError):
        u.nope = 1  # type: ignore[attr-defined]
    a, b = Unit(name="a", stats=Stats(1, [])), Unit(name="a", stats=Stats(1, []))
    a.stats.tags.append("x")
    assert b.stats.tags == []


def test_stacked_tables_share_a_row_type_and_reads_are_copies() -> None:
    db = Database.open(m, timestamp=T0)
    assert db.tables["unit"].row_type is db.tables["archived"].row_type
    assert db.tables["archived"].public is False
    res = db.call_reducer_json(
        "make", ["orc", 10], sender=db.owner, connection_id=None, timestamp=T0
    )
    assert res.committed, res.error
    row = db.rows("unit")[0]
    row.stats.tags.append("mutated")  # a copy: storage unchanged
    assert db.rows("unit")[0].stats.tags == ["orc"]
    res = db.call_reducer_json("archive", [1], sender=db.owner, connection_id=None, timestamp=T0)
    assert res.committed and set(res.changes) == {"unit", "archived"}
    assert db.rows("unit") == [] and db.rows("archived")[0].name == "orc"


def test_load_module_file(tmp_path: Path) -> None:
    src = tmp_path / "mod.py"
    src.write_text(
        "from stdb_game.devserver.module import Module, ReducerContext\n"
        "mine = Module('filemod')\n"
        "@mine.table(name='kv', public=True)\n"
        "class Kv:\n"
        "    k: str\n"
        "    v: int\n"
        "@mine.reducer\n"
        "def put(ctx: ReducerContext, k: str, v: int) -> None:\n"
        "    ctx.db.kv.insert(Kv(k, v))\n"
    )
    mod = load_module(src)
    assert mod.name == "filemod"
    db = Database.open(src, timestamp=T0)
    assert db.name == "filemod"
    res = db.call_reducer_json("put", ["a", 1], sender=db.owner, connection_id=None, timestamp=T0)
    assert res.committed and db.rows("kv")[0].v == 1
    (tmp_path / "two.py").write_text(
        "from stdb_game.devserver.module import Module\na = Module('a')\nb = Module('b')\n"
    )
    with pytest.raises(ModuleError, match="exactly one"):
        load_module(tmp_path / "two.py")


def test_declaration_errors() -> None:
    bad = Module("dup")

    @bad.table(name="t")
    class T:
        x: int

    with pytest.raises(ModuleError, match="twice"):
        bad.table(name="t")(T)

    twopk = Module("twopk")

    @twopk.table(name="t")
    class P:
        a: int = column(primary_key=True)
        b: int = column(primary_key=True)

    with pytest.raises(ModuleError, match="two primary keys"):
        twopk.build()

    lc = Module("lc")

    @lc.reducer(lifecycle="init")
    def init(ctx: ReducerContext, x: int) -> None:
        pass

    with pytest.raises(ModuleError, match="takes only ctx"):
        lc.build()

    inc = Module("inc")

    @inc.table(name="t")
    class S:
        s: str = column(auto_inc=True)

    with pytest.raises(ModuleError, match="integer"):
        inc.build()

    db_identity = Database.open(Module("empty"), timestamp=T0).identity
    assert isinstance(db_identity, Identity) and db_identity.to_hex().startswith("c200")
