"""Throughput of TableCache on 100k rows, decode included (run by hand: prints rows/s).

``python tests/cache/bench_table_cache.py`` from the repository root.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from stdb_game.cache import TableCache
from stdb_game.sats import get_codec
from stdb_game.sats import types as t
from stdb_game.sats.values import Identity

N = 100_000
ENTITY = t.ProductType([("id", t.U64), ("x", t.I32), ("y", t.I32), ("hp", t.U32)], name="Entity")
USER = t.ProductType(
    [("identity", t.IDENTITY), ("name", t.option(t.STRING)), ("online", t.BOOL)], name="User"
)


def best_of(fn: Callable[[], float], repeat: int = 5) -> float:
    """Smallest of ``repeat`` timings reported by ``fn`` (seconds)."""
    return min(fn() for _ in range(repeat))


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def report(label: str, seconds: float, n: int = N) -> None:
    print(f"{label:42s} {n / seconds / 1e6:5.2f} M/s  ({seconds / n * 1e9:5.0f} ns each)")


def main() -> None:
    ent = get_codec(ENTITY)
    versions = [[ent.encode((i, i + v, -i, 100)) for i in range(N)] for v in range(6)]
    report("decode only, row by row (entity)", best_of(lambda: timed(
        lambda: list(map(ent.decode, versions[0])))))  # fmt: skip
    report("insert 100k new rows (entity, pk)", best_of(lambda: timed(
        lambda: TableCache("e", ENTITY, primary_key=0).apply((), versions[0]))))  # fmt: skip
    report("insert 100k new rows (entity, no pk)", best_of(lambda: timed(
        lambda: TableCache("e", ENTITY).apply((), versions[0]))))  # fmt: skip

    def update_round() -> float:
        table: TableCache[Any] = TableCache("e", ENTITY, primary_key=0)
        table.apply((), versions[0])
        start = time.perf_counter()
        for v in range(1, 6):  # steady state, collector work included
            table.apply(versions[v - 1], versions[v])
        return (time.perf_counter() - start) / 5

    report("update 100k rows by pk (entity)", best_of(update_round, 3))

    def re_insert() -> float:
        table: TableCache[Any] = TableCache("e", ENTITY, primary_key=0)
        table.apply((), versions[0])
        return timed(lambda: table.apply((), versions[0]))

    report("overlapping insert, all rows cached", best_of(re_insert))

    usr = get_codec(USER)
    users = [
        [usr.encode((Identity(i * 7919 + 1), f"user{i}", bool(v))) for i in range(N)]
        for v in range(2)
    ]
    report("insert 100k new rows (chat user)", best_of(lambda: timed(
        lambda: TableCache("u", USER, primary_key=0).apply((), users[0]))))  # fmt: skip

    def user_update() -> float:
        table: TableCache[Any] = TableCache("u", USER, primary_key=0)
        table.apply((), users[0])
        return timed(lambda: table.apply(users[0], users[1]))

    report("update 100k rows by pk (chat user)", best_of(user_update))


if __name__ == "__main__":
    main()
