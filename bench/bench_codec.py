"""BSATN codec throughput (rows/s) next to CPython ceilings measured in the same run.

Run by hand: ``python bench/bench_codec.py`` prints a markdown table; ``--write`` also
replaces the section between the ``bench:codec`` markers in docs/benchmarks.md (other
sections are left alone). ``--quick`` runs fewer rows, for a smoke test.

Times are thread CPU time (other processes on a shared machine cannot inflate them), best
of several runs with the GC paused. Absolute figures move with the machine; the ratios to
the ceilings (plain ``struct.iter_unpack`` tuples, hand-built ``__slots__`` objects, a
hand-written decoder for the one row type) are what to compare across runs.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import platform
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stdb_game.sats import codec
from stdb_game.sats import types as t
from stdb_game.sats.values import Identity, Some, SumValue, Timestamp

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
START, END = "<!-- bench:codec -->", "<!-- /bench:codec -->"

# A Blackholio-style `entity` with u32 id and mass, as the benchmark issue specifies.
VEC2 = t.product(("x", t.F32), ("y", t.F32), name="DbVector2")
ENTITY = t.product(("entity_id", t.U32), ("position", VEC2), ("mass", t.U32), name="Entity")
# quickstart-chat `message`
MESSAGE = t.product(
    ("sender", t.IDENTITY), ("sent", t.TIMESTAMP), ("text", t.STRING), name="Message"
)
# a nested row: options, a sum with payloads, an array of products, u128/u256, Option<Option<u8>>
SHAPE = t.sum_type(
    ("Circle", t.F32),
    ("Rect", t.product(("w", t.U16), ("h", t.U16))),
    ("Label", t.STRING),
    ("Empty", t.UNIT),
    name="Shape",
)
ITEM = t.product(("id", t.U16), ("weight", t.F32), name="Item")
NESTED = t.product(
    ("id", t.U64),
    ("owner", t.option(t.IDENTITY)),
    ("nick", t.option(t.STRING)),
    ("shape", SHAPE),
    ("items", t.array(ITEM)),
    ("balance", t.U128),
    ("hash", t.U256),
    ("flag", t.option(t.option(t.U8))),
    name="Nested",
)


def cpu_seconds_interleaved(fns: list[Callable[[], object]], rounds: int) -> list[float]:
    """Best thread-CPU time of each function over ``rounds`` rounds that call them in turn.

    Interleaving gives every function the same share of a noisy machine's good and bad
    moments, so the ratios between them hold even when the absolute figures drift.
    """
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            gc.collect()
            gc.disable()
            try:
                start = time.thread_time()
                fn()
                best[i] = min(best[i], time.thread_time() - start)
            finally:
                gc.enable()
    return best


# ---- data -------------------------------------------------------------------------------------


def entity_rows(n: int) -> list[tuple[int, tuple[float, float], int]]:
    return [(i, (i * 0.5, -i * 0.25), 15 + i % 100) for i in range(n)]


def message_rows(n: int) -> list[tuple[Identity, Timestamp, str]]:
    base = 1_735_689_600_000_000
    words = [
        "hello",
        "gg",
        "where is everyone?",
        "brb",
        "nice shot 🎯",
        "lorem ipsum dolor sit amet",
    ]
    return [
        (
            Identity(0xC200 << 240 | i % 17),
            Timestamp(base + i * 1000),
            words[i % len(words)] * (1 + i % 3),
        )
        for i in range(n)
    ]


def nested_rows(n: int) -> list[tuple[Any, ...]]:
    shapes = [
        SumValue(0, "Circle", 1.5),
        SumValue(1, "Rect", (3, 4)),
        SumValue(2, "Label", "flag"),
        SumValue(3, "Empty", ()),
    ]
    flags: list[Any] = [None, Some(None), 7]
    return [
        (
            i,
            Identity(i) if i % 2 else None,
            f"p{i}" if i % 3 else None,
            shapes[i % 4],
            [(j, j * 0.5) for j in range(i % 4)],
            (1 << 100) + i,
            (1 << 200) + i,
            flags[i % 3],
        )
        for i in range(n)
    ]


# ---- ceilings (plain CPython, no codec) --------------------------------------------------------


class Vec2Slots:
    __slots__ = ("x", "y")

    def __init__(self, x: float, y: float) -> None:
        self.x = x
        self.y = y


class EntitySlots:
    __slots__ = ("entity_id", "mass", "position")

    def __init__(self, entity_id: int, position: Vec2Slots, mass: int) -> None:
        self.entity_id = entity_id
        self.position = position
        self.mass = mass


_ENTITY_STRUCT = struct.Struct("<IffI")
_MSG_HEAD = struct.Struct("<32sqI")


def ceiling_iter_unpack(data: bytes) -> list[tuple[Any, ...]]:
    """Flat tuples straight from struct: the floor of any fixed-row decoder."""
    return list(_ENTITY_STRUCT.iter_unpack(data))


def ceiling_slots(data: bytes) -> list[EntitySlots]:
    """Nested ``__slots__`` objects built from iter_unpack: what generated classes would cost."""
    return [EntitySlots(a, Vec2Slots(x, y), m) for a, x, y, m in _ENTITY_STRUCT.iter_unpack(data)]


_new = object.__new__
_set_identity = Identity.__dict__["_value"].__set__
_set_micros = Timestamp.__dict__["_micros"].__set__


def ceiling_messages(data: bytes) -> list[tuple[Any, ...]]:
    """A hand-written decoder for exactly the message row: same output objects, fewest steps."""
    out = []
    o, n = 0, len(data)
    unpack = _MSG_HEAD.unpack_from
    from_bytes = int.from_bytes
    while o < n:
        raw, sent, ln = unpack(data, o)
        o += 44
        ident = _new(Identity)
        _set_identity(ident, from_bytes(raw, "little"))
        ts = _new(Timestamp)
        _set_micros(ts, sent)
        out.append((ident, ts, data[o : o + ln].decode()))
        o += ln
    return out


# ---- the runs ---------------------------------------------------------------------------------


class Result:
    def __init__(self, workload: str, path: str, rows: int, seconds: float) -> None:
        self.workload = workload
        self.path = path
        self.rows = rows
        self.seconds = seconds

    @property
    def rate(self) -> float:
        return self.rows / self.seconds

    @property
    def us_per_row(self) -> float:
        return self.seconds / self.rows * 1e6


Adder = Callable[[str, str, int, Callable[[], object]], None]


def fixed_workload(add: Adder, n: int) -> None:
    c = codec.get_codec(ENTITY)
    rows = entity_rows(n)
    data = b"".join(c.encode(r) for r in rows)
    slices = [data[i : i + 16] for i in range(0, len(data), 16)]
    assert c.decode_rows_fixed(data, 16) == rows
    w = "entity (16 B fixed)"
    add(w, "ceiling: `struct.iter_unpack` flat tuples", n, lambda: ceiling_iter_unpack(data))
    add(w, "ceiling: nested `__slots__` objects", n, lambda: ceiling_slots(data))
    add(w, "decode `decode_rows_fixed`", n, lambda: c.decode_rows_fixed(data, 16))
    add(w, "decode per row (`decode(slice)`)", n, lambda: [c.decode(s) for s in slices])
    if hasattr(c, "decode_rows_list"):
        add(w, "decode `decode_rows_list(slices)`", n, lambda: c.decode_rows_list(slices))
    add(w, "encode per row (`encode(row)`)", n, lambda: [c.encode(r) for r in rows])


def message_workload(add: Adder, n: int) -> None:
    c = codec.get_codec(MESSAGE)
    rows = message_rows(n)
    encoded = [c.encode(r) for r in rows]
    data = b"".join(encoded)
    offsets = []
    pos = 0
    for e in encoded:
        offsets.append(pos)
        pos += len(e)
    assert c.decode_rows_packed(data) == rows
    assert [tuple(r) for r in ceiling_messages(data)] == rows
    w = f"message (avg {len(data) / n:.0f} B)"
    add(w, "ceiling: hand-written loop for this row", n, lambda: ceiling_messages(data))
    add(w, "decode `decode_rows_packed`", n, lambda: c.decode_rows_packed(data))
    add(w, "decode `decode_rows_offsets`", n, lambda: c.decode_rows_offsets(data, offsets))
    add(w, "decode per row (`decode(slice)`)", n, lambda: [c.decode(s) for s in encoded])
    if hasattr(c, "decode_rows_list"):
        add(w, "decode `decode_rows_list(slices)`", n, lambda: c.decode_rows_list(encoded))
    add(w, "encode per row (`encode(row)`)", n, lambda: [c.encode(r) for r in rows])


def nested_workload(add: Adder, n: int) -> None:
    c = codec.get_codec(NESTED)
    rows = nested_rows(n)
    encoded = [c.encode(r) for r in rows]
    data = b"".join(encoded)
    assert c.decode_rows_packed(data) == rows
    w = f"nested (avg {len(data) / n:.0f} B)"
    add(w, "decode `decode_rows_packed`", n, lambda: c.decode_rows_packed(data))
    add(w, "decode per row (`decode(slice)`)", n, lambda: [c.decode(s) for s in encoded])
    if hasattr(c, "decode_rows_list"):
        add(w, "decode `decode_rows_list(slices)`", n, lambda: c.decode_rows_list(encoded))
    add(w, "encode per row (`encode(row)`)", n, lambda: [c.encode(r) for r in rows])


def run(n_fixed: int, n_var: int, runs: int) -> list[Result]:
    out: list[Result] = []
    fns: list[Callable[[], object]] = []

    def add(workload: str, path: str, rows: int, fn: Callable[[], object]) -> None:
        out.append(Result(workload, path, rows, 0.0))
        fns.append(fn)

    fixed_workload(add, n_fixed)
    message_workload(add, n_var)
    nested_workload(add, n_var)
    for r, seconds in zip(out, cpu_seconds_interleaved(fns, runs)):
        r.seconds = seconds
    return out


def table(results: list[Result]) -> str:
    lines = [
        "| row | path | rows/s | µs/row | vs iter_unpack | vs row ceiling |",
        "|---|---|---:|---:|---:|---:|",
    ]
    flat = next(r for r in results if r.path.startswith("ceiling: `struct"))
    ceilings: dict[str, Result] = {}
    for r in results:
        if r.path.startswith("ceiling") and r is not flat:
            ceilings.setdefault(r.workload, r)
    for r in results:
        own = ceilings.get(r.workload)
        rel_flat = f"{r.rate / flat.rate:.2f}x"
        rel_own = f"{r.rate / own.rate:.2f}x" if own is not None else "—"
        lines.append(
            f"| {r.workload} | {r.path} | {r.rate:,.0f} | {r.us_per_row:.2f} | {rel_flat} | {rel_own} |"
        )
    return "\n".join(lines)


def header(runs: int, n_fixed: int, n_var: int) -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"Codec (`bench/bench_codec.py`, {dt.date.today().isoformat()}, Python "
        f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{load:.1f}; thread CPU time, best of {runs} interleaved rounds; {n_fixed} fixed rows, {n_var} variable rows). "
        '"vs" columns are rates relative to the ceilings measured in the same run: the flat '
        "`struct.iter_unpack` tuples of the 16-byte entity row, and, per row type, nested "
        "`__slots__` objects (entity) or a hand-written decoder for exactly that row (message)."
    )


def write_section(text: str) -> None:
    """Replace this script's section of docs/benchmarks.md (append it, or create the file)."""
    block = f"{START}\n{text}\n{END}"
    if DOC.exists():
        content = DOC.read_text(encoding="utf-8")
        if START in content and END in content:
            head, rest = content.split(START, 1)
            _, tail = rest.split(END, 1)
            content = head + block + tail
        else:
            content = content.rstrip("\n") + "\n\n## Codec\n\n" + block + "\n"
    else:
        content = (
            "# Benchmarks\n\nFigures written by the scripts in `bench/`; each section belongs "
            "to the script named in it.\n\n## Codec\n\n" + block + "\n"
        )
    DOC.write_text(content, encoding="utf-8")


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    n_fixed, n_var, runs = (2_000, 500, 2) if quick else (20_000, 5_000, 15)
    results = run(n_fixed, n_var, runs)
    text = header(runs, n_fixed, n_var) + "\n\n" + table(results)
    print(text)
    if "--write" in argv:
        write_section(text)
        print(f"\nwritten to {DOC}")


if __name__ == "__main__":
    main(sys.argv[1:])
