"""Row types and encoders shared by the cache tests (the real BSATN codec, no stand-in)."""

from __future__ import annotations

from typing import Any

from stdb_game.cache import TableCache, TableDiff
from stdb_game.sats import get_codec
from stdb_game.sats import types as t
from stdb_game.sats.values import Identity

# player(id u64 pk, x i32): fixed width, the bug-case table.
PLAYER = t.ProductType([("id", t.U64), ("x", t.I32)], name="Player")
# note(text String): no primary key.
NOTE = t.ProductType([("text", t.STRING)], name="Note")
# user(identity Identity pk, name Option<String>, online bool): the quickstart-chat table.
USER = t.ProductType(
    [("identity", t.IDENTITY), ("name", t.option(t.STRING)), ("online", t.BOOL)], name="User"
)
# item(id u32 pk, owner u32, kind String, level u16) with owner and (owner, level) indexes.
ITEM = t.ProductType(
    [("id", t.U32), ("owner", t.U32), ("kind", t.STRING), ("level", t.U16)], name="Item"
)

ALICE = Identity.from_hex("c200" + "11" * 30)
BOB = Identity.from_hex("c200" + "22" * 30)


def enc(ty: t.ProductType, *fields: Any) -> bytes:
    return get_codec(ty).encode(tuple(fields))


def player(pid: int, x: int) -> bytes:
    return enc(PLAYER, pid, x)


def player_table() -> TableCache[Any]:
    return TableCache("player", PLAYER, primary_key=0)


def item(iid: int, owner: int, kind: str = "sword", level: int = 1) -> bytes:
    return enc(ITEM, iid, owner, kind, level)


def item_table() -> TableCache[Any]:
    return TableCache("item", ITEM, primary_key=0, indexes=[(1,), (1, 3), (0,)])


def as_tuples(rows: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in rows]


def events(diff: TableDiff[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    """(inserts, deletes, updates) as plain tuples, for compact assertions."""
    return (
        as_tuples(diff.inserts),
        as_tuples(diff.deletes),
        [(tuple(a), tuple(b)) for a, b in diff.updates],
    )
