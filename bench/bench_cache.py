"""Cache apply: rows/s into the client cache with and without row callbacks, what update
detection costs, and memory per cached row against a plain tuple of the same values.

Run: ``python bench/bench_cache.py [--quick]`` (or through ``bench/run.py``). Rows go in
through ``Client.tick()`` on a ``FakeTransport`` (decode, apply, callbacks), so the
callback figures include dispatch; the split figures call ``TableCache.prepare``/``commit``
directly on row bytes (no protocol decode). Times are this thread's CPU time, best of N.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads as W
from _common import Machine, fmt_rate, fmt_us

from stdb_game.cache import TableCache
from stdb_game.cache.table import _pair_by_key
from stdb_game.client import Client, ReconnectPolicy
from stdb_game.sats.codec import get_codec
from stdb_game.sats.values import Identity, SumValue, Timestamp
from stdb_game.testing import FakeServer


def _best(fn: Callable[[], float], reps: int) -> float:
    return min(fn() for _ in range(reps))


def _client() -> tuple[Client, FakeServer]:
    schema = W.schema()
    srv = FakeServer(schema)
    client = Client("ws://bench", "bench", schema=schema, transport_factory=srv.transport_factory,
                    reconnect=ReconnectPolicy(enabled=False), budget_ms=None)  # fmt: skip
    client.connect()
    srv.send(srv.identity_token())
    client.tick()
    return client, srv


@dataclass
class CallbackRow:
    label: str
    rows: int
    bare: float  # CPU seconds, no callbacks
    with_cb: float  # CPU seconds, one no-op callback per event kind


def _tick_once(table: str, frame: bytes, setup: bytes | None, with_callbacks: bool) -> float:
    """CPU seconds of the one tick that applies ``frame`` on a fresh client."""
    client, srv = _client()
    if with_callbacks:
        h = client.table(table)
        h.on_insert(lambda ctx, row: None)
        h.on_update(lambda ctx, old, new: None)
        h.on_delete(lambda ctx, row: None)
    if setup is not None:
        srv.send(setup)
        client.tick()
    srv.send(frame)
    gc.collect()
    c0 = time.thread_time()
    st = client.tick()
    cpu = time.thread_time() - c0
    assert st.messages_applied == 1, st
    return cpu


def _callback_row(label: str, table: str, n: int, frame: bytes, setup: bytes | None,
                  reps: int) -> CallbackRow:  # fmt: skip
    bare = min(_tick_once(table, frame, setup, False) for _ in range(reps))
    with_cb = min(_tick_once(table, frame, setup, True) for _ in range(reps))
    return CallbackRow(label, n, bare, with_cb)


def callbacks(n: int, reps: int) -> list[CallbackRow]:
    """Inserts then updates of ``n`` rows through tick(), with and without callbacks."""
    out = []
    makers: list[tuple[str, Callable[..., Any]]] = [
        ("entity", W.entity_row),
        ("message", W.message_row),
        ("loadout", W.loadout_row),
    ]
    for table, make in makers:
        srv = FakeServer(W.schema())
        ins = srv.transaction(W.REDUCER, inserts={table: [make(i) for i in range(n)]})
        out.append(_callback_row(f"{table} inserts", table, n, ins, None, reps))
        if table != "message":
            upd = srv.transaction(
                W.REDUCER,
                deletes={table: [make(i) for i in range(n)]},
                inserts={table: [make(i, 1) for i in range(n)]},
            )
            out.append(_callback_row(f"{table} updates", table, n, upd, ins, reps))
    return out


@dataclass
class UpdateDetection:
    rows: int
    prepare_update: float  # prepare of n delete+insert pairs sharing keys (paired)
    prepare_unpaired: float  # prepare of n deletes and n inserts of other keys (no pairs)
    pair_only: float  # _pair_by_key alone on the n decoded pairs


def update_detection(n: int, reps: int) -> UpdateDetection:
    codec = get_codec(W.ENTITY)
    old = [codec.encode(W.entity_row(i)) for i in range(n)]
    moved = [codec.encode(W.entity_row(i, 1)) for i in range(n)]
    others = [codec.encode(W.entity_row(i + n)) for i in range(n)]

    def table() -> TableCache[Any]:
        t: TableCache[Any] = TableCache("entity", W.ENTITY, primary_key=0)
        t.apply((), old)
        return t

    def timed_prepare(inserts: list[bytes]) -> float:
        t = table()
        gc.collect()
        c0 = time.thread_time()
        t.prepare(old, inserts)
        return time.thread_time() - c0

    t = table()
    gone = list(t.iter())
    new = codec.decode_rows_fixed(b"".join(moved), 16)
    key_of = t._pk_of
    assert key_of is not None

    def timed_pair() -> float:
        c0 = time.thread_time()
        _pair_by_key(key_of, gone, new)
        return time.thread_time() - c0

    return UpdateDetection(
        n,
        _best(lambda: timed_prepare(moved), reps),
        _best(lambda: timed_prepare(others), reps),
        _best(timed_pair, reps),
    )


@dataclass
class MemoryRow:
    table: str
    cached: float  # bytes per row held by the TableCache (row objects, keys, dicts, index)
    row_object: float  # bytes per decoded row object alone (what the cache hands out)
    tuple_: float  # bytes per plain tuple of the same values (nested tuples, same objects)


def _traced(fn: Callable[[], Any]) -> tuple[Any, int]:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        obj = fn()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return obj, after - before


def _plain(v: Any) -> Any:
    """The same value as fresh plain Python objects: tuples for products and sums, ints for
    Identity and Timestamp, new float/int/str objects (nothing shared with the decoded row)."""
    if isinstance(v, SumValue):
        return (v.tag, _plain(v.value))
    if isinstance(v, tuple):
        return tuple(_plain(x) for x in v)
    if isinstance(v, Identity):
        return v.value + 0
    if isinstance(v, Timestamp):
        return v.micros_since_epoch + 0
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, float):
        return v + 0.0
    if isinstance(v, int):
        return v + 0
    if isinstance(v, str):
        return v.encode().decode()
    return v


def _filled(table: str, row_type: Any, pk: int | None, rows: list[bytes]) -> TableCache[Any]:
    t: TableCache[Any] = TableCache(table, row_type, primary_key=pk)
    t.apply((), [bytes(r) for r in rows])  # the keys are the cache's own bytes
    return t


def memory(n: int) -> list[MemoryRow]:
    out = []
    specs: list[tuple[str, Any, Callable[[int], Any], int | None]] = [
        ("entity", W.ENTITY, W.entity_row, 0),
        ("message", W.MESSAGE, W.message_row, None),
        ("loadout", W.LOADOUT, W.loadout_row, 0),
    ]
    for table, row_type, make, pk in specs:
        codec = get_codec(row_type)
        rows = [codec.encode(make(i)) for i in range(n)]
        t, cached = _traced(partial(_filled, table, row_type, pk, rows))
        decoded = list(t.iter())
        _, objects = _traced(partial(codec.decode_rows_list, rows))
        _, plain = _traced(partial(_plain_rows, decoded))
        out.append(MemoryRow(table, cached / n, objects / n, plain / n))
        del t, decoded
    return out


def _plain_rows(rows: list[Any]) -> list[Any]:
    return [_plain(r) for r in rows]


@dataclass
class CacheReport:
    machine: Machine
    callbacks: list[CallbackRow]
    detection: UpdateDetection
    memory: list[MemoryRow]
    reps: int


def run(quick: bool = False) -> CacheReport:
    n = 500 if quick else 10_000
    reps = 2 if quick else 7
    machine = Machine()
    report = CacheReport(machine, callbacks(n, reps), update_detection(n, reps),
                         memory(n), reps)  # fmt: skip
    machine.load_after = Machine().load_before
    return report


def table(r: CacheReport) -> str:
    d = r.detection
    lines = [
        f"`bench/bench_cache.py` via `bench/run.py`; {r.machine.line()}. "
        f"Thread CPU time, best of {r.reps}.",
        "",
        f"One message of {r.callbacks[0].rows:,} rows through `Client.tick()` (decode, apply, "
        "dispatch), with no row callbacks and with a no-op `on_insert`/`on_update`/`on_delete`:",
        "",
        "| message | rows/s, no callbacks | rows/s, callbacks | callback cost per row |",
        "|---|---:|---:|---:|",
    ]
    for c in r.callbacks:
        per_row = (c.with_cb - c.bare) / c.rows
        lines.append(
            f"| {c.label} | {fmt_rate(c.rows / c.bare)} | {fmt_rate(c.rows / c.with_cb)} | "
            f"{per_row * 1e9:.0f} ns |"
        )
    lines += [
        "",
        f"Update detection ({d.rows:,} entity rows; `TableCache.prepare`, decode included): "
        f"delete + insert of the same keys (paired into updates) {fmt_us(d.prepare_update)}, "
        f"deletes and inserts of different keys (nothing to pair) {fmt_us(d.prepare_unpaired)}; "
        f"the pairing step alone (`_pair_by_key`) {fmt_us(d.pair_only)}, "
        f"{d.pair_only / d.rows * 1e9:.0f} ns per pair.",
        "",
        f"Memory per row (tracemalloc, {r.callbacks[0].rows:,} rows). *Cache*: everything a "
        "`TableCache` holds per row (the row's BSATN bytes as its key, the decoded row, the "
        "dict entries, a primary-key index entry where there is one). *Decoded row*: the row "
        "object with its field values (identities are shared between rows, see the codec). "
        "*Plain tuple*: the same values as fresh plain objects (tuples, ints for Identity and "
        "Timestamp), for scale:",
        "",
        "| table | cache, per row | decoded row object | plain tuple of the same values |",
        "|---|---:|---:|---:|",
    ]
    for m in r.memory:
        lines.append(f"| {m.table} | {m.cached:.0f} B | {m.row_object:.0f} B | {m.tuple_:.0f} B |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    print(table(run(args.quick)))


if __name__ == "__main__":
    main()
