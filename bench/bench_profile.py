"""Where a message's time goes on our side: the stages of ``Session.receive``, timed apart.

Run: ``python bench/bench_profile.py [--quick]`` (or through ``bench/run.py``). For a few
messages (``bench/workloads.py``) each stage runs on its own, best of N, thread CPU time:
frame decode (``decode_server_frame``), cutting rows into per-row bytes
(``Session._collect``), the cache's prepare (dict work plus decoding the new rows, split
into the two), commit (writes and indexes), and the rest of ``receive`` (events, the
reducer event, dispatch), which is the total minus the stages.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads as W
from _common import Machine, fmt_us

from stdb_game import protocol as P
from stdb_game.session import Session

STAGES = ("frame decode", "row slices", "cache: find new rows", "cache: decode rows",
          "cache: commit", "events and the rest")  # fmt: skip


@dataclass
class Breakdown:
    label: str
    rows: int
    total: float
    stages: dict[str, float]


def _best(fn: Callable[[], Any], reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        c0 = time.thread_time()
        fn()
        best = min(best, time.thread_time() - c0)
    return best


def breakdown(case: W.Case, reps: int) -> Breakdown:
    """Stage costs of the first timed frame of ``case`` on a session prepared by its setup."""
    frame = case.frames[0]
    schema = W.schema()

    def session() -> Session:
        s = Session(schema)
        if case.subscribe:
            s.subscribe([f"SELECT * FROM {case.table}"])
        for f in case.setup:
            s.receive(f)
        for f in case.frames[1:]:  # warm: the timed frame is not the session's first
            s.receive(f)
        return s

    # Each timed call runs on a fresh session so every one applies the same change.
    sessions = [session() for _ in range(reps)]
    total = min(_best(lambda s=s: s.receive(frame), 1) for s in sessions)
    msg = P.decode_server_frame(frame)
    tables = _tables(msg)
    s = session()
    updates = s._collect(tables)
    table = s.cache.table(case.table)
    stages = {
        "frame decode": _best(lambda: P.decode_server_frame(frame), reps),
        "row slices": _best(lambda: s._collect(tables), reps),
    }
    prepare = _best(lambda: s.cache.prepare_message(updates), reps)
    diff = s.cache.prepare_message(updates)
    new_bytes = diff[case.table]._new_bytes
    decode = _best(lambda: table._decode_rows(new_bytes), reps)
    stages["cache: find new rows"] = max(prepare - decode, 0.0)
    stages["cache: decode rows"] = decode
    fresh = [session() for _ in range(reps)]
    diffs = [(x, x.cache.prepare_message(x._collect(tables))) for x in fresh]
    stages["cache: commit"] = min(_best(lambda x=x, d=d: x.cache.commit(d), 1) for x, d in diffs)
    stages["events and the rest"] = max(total - sum(stages.values()), 0.0)
    return Breakdown(case.label, case.rows_per_message, total, stages)


def _tables(msg: Any) -> tuple[Any, ...]:
    if isinstance(msg, P.TransactionUpdate):
        return msg.status.database_update.tables  # type: ignore[union-attr]
    return msg.update.tables  # type: ignore[no-any-return]


@dataclass
class ProfileReport:
    machine: Machine
    rows: list[Breakdown]
    reps: int


def run(quick: bool = False) -> ProfileReport:
    big = 200 if quick else 10_000
    reps = 3 if quick else 9
    machine = Machine()
    cases = [
        W.build_case("entity", "tx_update", 1, 2),
        W.build_case("message", "tx_insert", 1, 2),
        W.build_case("entity", "tx_insert", big, big),
        W.build_case("entity", "tx_update", big, big),
        W.build_case("message", "tx_insert", big, big),
        W.build_case("loadout", "tx_insert", big, big),
    ]
    rows = [breakdown(c, reps) for c in cases]
    machine.load_after = Machine().load_before
    return ProfileReport(machine, rows, reps)


def table(r: ProfileReport) -> str:
    lines = [
        f"`bench/bench_profile.py` via `bench/run.py`; {r.machine.line()}. One message, "
        f"each stage timed on its own (thread CPU, best of {r.reps}); share of the total in "
        "brackets.",
        "",
        "| message | total | " + " | ".join(STAGES) + " |",
        "|---|---:|" + "---:|" * len(STAGES),
    ]
    for b in r.rows:
        cells = [f"{fmt_us(b.stages[s])} ({b.stages[s] / b.total:.0%})" for s in STAGES]
        lines.append(f"| {b.label} | {fmt_us(b.total)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    print(table(run(args.quick)))


if __name__ == "__main__":
    main()
