"""Rough throughput of TableCache on 100k fixed-width rows (run by hand; prints rows/s)."""

from __future__ import annotations

import time

from stdb_game.cache import TableCache
from stdb_game.sats import get_codec
from stdb_game.sats import types as t

N = 100_000
ROW = t.ProductType([("id", t.U64), ("x", t.I32), ("y", t.I32), ("hp", t.U32)], name="Entity")


def _best(fn: object, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    codec = get_codec(ROW)
    rows_v0 = [codec.encode((i, i, -i, 100)) for i in range(N)]
    rows_v1 = [codec.encode((i, i + 1, -i, 99)) for i in range(N)]

    def insert_all() -> None:
        TableCache("entity", ROW, primary_key=0).apply((), rows_v0)

    def update_all() -> None:
        tc = TableCache("entity", ROW, primary_key=0)
        tc.apply((), rows_v0)
        start = time.perf_counter()
        diff = tc.apply(rows_v0, rows_v1)
        timings.append(time.perf_counter() - start)
        assert len(diff.updates) == N

    def decode_only() -> None:
        list(map(codec.decode, rows_v0))

    timings: list[float] = []
    ins = _best(insert_all)
    _best(update_all)
    upd = min(timings)
    dec = _best(decode_only)
    print(f"decode only   : {N / dec / 1e6:5.2f} M rows/s")
    print(f"insert (apply): {N / ins / 1e6:5.2f} M rows/s")
    print(f"update (apply): {N / upd / 1e6:5.2f} M updates/s")


if __name__ == "__main__":
    main()
