"""The benchmark suite for issue #9: one command, every table, ratios from one run.

    python bench/run.py [--quick] [--write] [--no-node] [--sections decode,cache,...]

Sections: ``decode`` (ours and the official TypeScript SDK on the same frames,
``bench_decode.py``), ``profile`` (stage breakdown, ``bench_profile.py``), ``cache``
(callbacks, update detection, memory, ``bench_cache.py``), ``tick`` (idle tick, small
message, 20 Hz stream, big messages under a 2 ms budget, end to end; dev server,
``bench_tick.py``), ``legacy`` (PyPI spacetimedb-sdk 0.7.0, ``bench_legacy.py``), ``load``
(100 clients calling a reducer on the dev server, with a loss check,
``bench_devserver_load.py``). Then a summary of the issue's targets, made only when
``decode`` or ``tick`` ran (so ``--sections load --write`` leaves it alone). ``--quick``
runs tiny sizes, skips node and the network beyond loopback (the smoke test in
``tests/bench`` uses it). ``--write`` puts every table into ``docs/benchmarks.md`` between
its markers.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_cache
import bench_decode
import bench_devserver_load
import bench_legacy
import bench_profile
import bench_tick
from _common import DOC, Machine, ensure_header, fmt_rate, fmt_us, write_section

ALL = ("decode", "profile", "cache", "tick", "legacy", "load")

#: The official SDK's figures on the reference machine named in the issue (fake socket).
REFERENCE = {
    "entity_insert": 0.925e6,  # rows/s (0.85-1.0 M)
    "entity_update": 0.44e6,
    "message": 0.2e6,
    "empty_tx": 7e-6,  # seconds per message
}


def _ok(flag: bool | None) -> str:
    return "n/a" if flag is None else ("met" if flag else "**missed**")


def summary(results: dict[str, Any], machine: Machine) -> str:
    """The issue's targets against this run's figures."""
    rows: list[str] = []
    dec: bench_decode.DecodeReport | None = results.get("decode")
    tick: bench_tick.TickReport | None = results.get("tick")

    def decode_row(target: str, name: str, ref_key: str, need: float, times: float) -> None:
        if dec is None:
            return
        r = dec.find(name)
        if r is None:
            return
        ours = r.rate(r.ours)
        ratio = r.ratio()
        theirs = r.rate(r.theirs) if r.theirs.wall else None
        if ratio is None or theirs is None:
            rows.append(f"| {target} | {fmt_rate(ours)} rows/s | - | - | - | n/a |")
            return
        scaled = ratio * REFERENCE[ref_key]
        met = ratio >= times and scaled >= need
        rows.append(
            f"| {target} | {fmt_rate(ours)} rows/s | {fmt_rate(theirs)} rows/s | "
            f"{ratio:.2f}x | {fmt_rate(scaled)} rows/s | {_ok(met)} |"
        )

    big = 100 if results.get("quick") else 10_000
    decode_row("fixed-width inserts >= 1.0 M rows/s, >= official (TransactionUpdate)",
               f"entity_tx_insert_{big}", "entity_insert", 1.0e6, 1.0)  # fmt: skip
    decode_row("fixed-width inserts (SubscribeMultiApplied)",
               f"entity_sub_insert_{big}", "entity_insert", 1.0e6, 1.0)  # fmt: skip
    decode_row("fixed-width updates >= 0.5 M rows/s, >= official",
               f"entity_tx_update_{big}", "entity_update", 0.5e6, 1.0)  # fmt: skip
    decode_row("variable rows (chat) >= 0.4 M rows/s, 2x official",
               f"message_tx_insert_{big}", "message", 0.4e6, 2.0)  # fmt: skip
    decode_row("variable rows (chat), SubscribeMultiApplied",
               f"message_sub_insert_{big}", "message", 0.4e6, 2.0)  # fmt: skip
    if dec is not None:
        e = dec.find("empty_tx")
        if e is not None:
            ours = e.ours.best_wall / e.case.messages
            if e.theirs.wall:
                theirs = e.theirs.best_wall / e.case.messages
                scaled = REFERENCE["empty_tx"] * ours / theirs
                rows.append(
                    f"| empty TransactionUpdate decoded and applied <= 3 µs | {fmt_us(ours)} | "
                    f"{fmt_us(theirs)} | {theirs / ours:.2f}x | {fmt_us(scaled)} | "
                    f"{_ok(scaled <= 3e-6)} |"
                )
            else:
                rows.append(
                    f"| empty TransactionUpdate <= 3 µs | {fmt_us(ours)} | - | - | - | n/a |"
                )
    factor = None
    if dec is not None:
        e = dec.find("empty_tx")
        if e is not None and e.theirs.wall:
            factor = REFERENCE["empty_tx"] / (e.theirs.best_wall / e.case.messages)
    if tick is not None:

        def tick_row(target: str, value: float, limit: float) -> None:
            scaled = value * factor if factor else None
            shown = fmt_us(scaled) if scaled is not None else "-"
            met = (scaled if scaled is not None else value) <= limit
            rows.append(f"| {target} | {fmt_us(value)} (CPU) | - | - | {shown} | {_ok(met)} |")

        tick_row("idle tick <= 2 µs", tick.idle_cpu, 2e-6)
        tick_row("small message through the real transport <= 15 µs", tick.small_cpu, 15e-6)
        worst = max(tick.update_steps.ticks or [0.0])
        rows.append(
            f"| {tick.update_rows:,}-row update spread by the 2 ms budget, no 20 ms stall "
            f"(default: decoded across ticks, applied whole) | max tick {fmt_us(worst)} over "
            f"{tick.update_steps.frames} frames | - | - | - | {_ok(worst < 0.020)} |"
        )
        worst = max(tick.update.ticks or [0.0])
        rows.append(
            f"| for comparison, `incremental_decode_bytes=None` (applied within one tick) | "
            f"max tick {fmt_us(worst)} | - | - | - | - |"
        )
    head = [
        f"`bench/run.py`; {machine.line()}.",
        "",
        "Absolute targets are stated for the issue's reference machine, where the official SDK "
        "decodes ~0.85-1.0 M fixed-width inserts/s, ~0.44 M updates/s, ~0.2 M chat rows/s and "
        "an empty TransactionUpdate in ~7 µs. Machines differ (this one has run from about "
        "as fast to half as fast), so each figure is also scaled to that machine by the "
        "official SDK's own speed here (ours/official ratio "
        "times its reference figure; tick figures by the empty-TransactionUpdate factor). The "
        "ratio is the measured claim; the scaled column is an estimate.",
        "",
        "| target | ours here | official here | ours / official | scaled to the reference "
        "machine | |",
        "|---|---:|---:|---:|---:|---|",
    ]
    return "\n".join(head + rows)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description="Run the stdb_game benchmark suite (issue #9).")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, no node, no network")
    ap.add_argument("--write", action="store_true", help="write docs/benchmarks.md sections")
    ap.add_argument("--no-node", action="store_true", help="skip the official TypeScript SDK")
    ap.add_argument("--sections", default=",".join(ALL), help=f"comma list of {', '.join(ALL)}")
    ap.add_argument("--reps", type=int, help="repetitions for the decode cases")
    ap.add_argument("--doc", type=Path, default=DOC, help="the file --write updates")
    args = ap.parse_args(argv)
    wanted = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(wanted) - set(ALL)
    if unknown:
        ap.error(f"unknown sections: {', '.join(sorted(unknown))}")
    machine = Machine()
    results: dict[str, Any] = {"quick": args.quick}
    tables: dict[str, str] = {}
    started = time.perf_counter()
    for name in ALL:
        if name not in wanted:
            continue
        t0 = time.perf_counter()
        if name == "decode":
            rep: Any = bench_decode.run(args.quick, not (args.no_node or args.quick), args.reps)
            text = bench_decode.table(rep)
        elif name == "profile":
            rep = bench_profile.run(args.quick)
            text = bench_profile.table(rep)
        elif name == "cache":
            rep = bench_cache.run(args.quick)
            text = bench_cache.table(rep)
        elif name == "tick":
            rep = bench_tick.run(args.quick)
            text = bench_tick.table(rep)
        elif name == "legacy":
            rep = bench_legacy.run(args.quick)
            text = bench_legacy.table(rep)
        else:
            rep = bench_devserver_load.run(args.quick)
            text = bench_devserver_load.table(rep)
        results[name] = rep
        tables[name] = text
        print(f"## {name}  ({time.perf_counter() - t0:.0f} s)\n\n{text}\n", flush=True)
    machine.load_after = Machine().load_before
    if "decode" in results or "tick" in results:
        tables["summary"] = summary(results, machine)
        took = time.perf_counter() - started
        print(f"## summary  (suite {took:.0f} s)\n\n{tables['summary']}\n")
    if args.write:
        ensure_header(args.doc)
        for name in ("summary", *ALL):
            if name in tables:
                write_section(name, tables[name], args.doc)
    results["tables"] = tables
    return results


if __name__ == "__main__":
    main()
