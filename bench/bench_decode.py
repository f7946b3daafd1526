"""Decode + apply throughput through ``Session.receive``, next to the official TypeScript SDK.

Run: ``python bench/bench_decode.py [--quick] [--no-node] [--reps N]`` (or through
``bench/run.py``). Every case is a list of whole server frames (``bench/workloads.py``):
TransactionUpdate and SubscribeMultiApplied inserts, and TransactionUpdate updates
(delete + insert of the same primary key), for a fixed-width, a variable and a wide row,
at 1, 100 and 10,000 rows per message. Our side feeds them to a fresh ``Session`` (decode
and apply into the cache); the official SDK ``spacetimedb@1.12.0`` gets the very same bytes
in node through its public ``DbConnection`` and a fake WebSocket (``bench/ts``). The two
run alternately, case by case, in one run; each figure is the best of N repetitions (the
first is a warm-up for both). No row callbacks are registered on either side.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads as W
from _common import Machine, fmt_rate, fmt_us, node_version, ts_sdk_dir

from stdb_game.schema import ModuleSchema
from stdb_game.session import Session


@dataclass
class Timing:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    count_ok: bool = True

    def add(self, wall: float, cpu: float) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)

    @property
    def best_wall(self) -> float:
        return min(self.wall) if self.wall else float("nan")

    @property
    def best_cpu(self) -> float:
        return min(self.cpu) if self.cpu else float("nan")


@dataclass
class CaseResult:
    case: W.Case
    ours: Timing = field(default_factory=Timing)
    theirs: Timing = field(default_factory=Timing)

    def rate(self, t: Timing, cpu: bool = False) -> float:
        best = t.best_cpu if cpu else t.best_wall
        units = self.case.rows if self.case.kind != "empty_tx" else self.case.messages
        return units / best if best > 0 else float("nan")

    def ratio(self, cpu: bool = False) -> float | None:
        if not self.theirs.wall:
            return None
        mine = self.ours.best_cpu if cpu else self.ours.best_wall
        other = self.theirs.best_cpu if cpu else self.theirs.best_wall
        return other / mine if mine > 0 else None


def ours_once(case: W.Case, schema: ModuleSchema) -> tuple[float, float, int]:
    """One repetition on a fresh session: (wall s, CPU s, rows in the table after)."""
    s = Session(schema)
    if case.subscribe:
        s.subscribe([f"SELECT * FROM {case.table}"])
    for f in case.setup:
        s.receive(f)
    receive = s.receive
    frames = case.frames
    gc.collect()
    w0, c0 = time.perf_counter(), time.thread_time()
    for f in frames:
        receive(f)
    wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
    return wall, cpu, len(s.cache.table(case.table))


class NodeHarness:
    """The official SDK in a node process, answering one repetition per command."""

    def __init__(self, sdk_dir: Path, manifest: Path) -> None:
        self.proc = subprocess.Popen(
            ["node", "--expose-gc", "decode_bench.mjs", str(manifest)],
            cwd=sdk_dir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        ready = self._read()
        if not ready.get("ready"):
            raise RuntimeError(f"node harness did not start: {ready}")
        self.node = str(ready.get("node", ""))

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("node harness exited")
            if line.startswith("RESULT "):
                result: dict[str, Any] = json.loads(line[7:])
                return result

    def run(self, name: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": "run", "case": name}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write('{"op": "quit"}\n')
                self.proc.stdin.flush()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(10)


@dataclass
class DecodeReport:
    results: list[CaseResult]
    machine: Machine
    reps: int
    node_note: str

    def find(self, name: str) -> CaseResult | None:
        return next((r for r in self.results if r.case.name == name), None)


def run(quick: bool = False, use_node: bool = True, reps: int | None = None) -> DecodeReport:
    machine = Machine()
    cases = W.decode_cases(quick)
    schema = W.schema()
    reps = reps or (2 if quick else 15)
    harness: NodeHarness | None = None
    note = "not run (--no-node)"
    if use_node:
        sdk_dir, why = ts_sdk_dir()
        if sdk_dir is None:
            note = f"not run: {why}"
        else:
            folder = Path(tempfile.mkdtemp(prefix="stdb-game-bench-frames-"))
            manifest = W.write_manifest(cases, folder)
            try:
                harness = NodeHarness(sdk_dir, manifest)
                machine.node = harness.node or node_version()
                note = f"spacetimedb@1.12.0 in node {machine.node}"
            except (OSError, RuntimeError) as exc:
                note = f"not run: {exc}"
    results = [CaseResult(c) for c in cases]
    try:
        for rep in range(reps + 1):  # round 0 warms both sides up and is not counted
            for r in results:
                wall, cpu, count = ours_once(r.case, schema)
                r.ours.count_ok &= count == r.case.expect_count
                if rep:
                    r.ours.add(wall, cpu)
                if harness is not None:
                    got = harness.run(r.case.name)
                    if "error" in got:
                        raise RuntimeError(f"official SDK failed on {r.case.name}: {got['error']}")
                    r.theirs.count_ok &= bool(got.get("ok"))
                    if rep:
                        r.theirs.add(float(got["wall"]), float(got["cpu"]))
    finally:
        if harness is not None:
            harness.close()
    machine.load_after = Machine().load_before
    return DecodeReport(results, machine, reps, note)


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def table(report: DecodeReport) -> str:
    lines = [
        f"`bench/bench_decode.py` via `bench/run.py`; {report.machine.line()}.",
        f"Official SDK: {report.node_note}. Best of {report.reps} alternating repetitions "
        "(after a warm-up round); wall time, and the CPU-time ratio beside it (ours: this "
        "thread; node: the whole process, its GC helper threads included).",
        "",
        "| case | msgs | ours rows/s | official rows/s | ours / official (wall) | (CPU) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in report.results:
        c = r.case
        bad = "" if r.ours.count_ok and r.theirs.count_ok else " **(row count mismatch)**"
        if c.kind == "empty_tx":
            ours = f"{fmt_us(r.ours.best_wall / c.messages)}/msg"
            theirs = f"{fmt_us(r.theirs.best_wall / c.messages)}/msg" if r.theirs.wall else "-"
        else:
            ours = fmt_rate(r.rate(r.ours))
            theirs = fmt_rate(r.rate(r.theirs)) if r.theirs.wall else "-"
        lines.append(
            f"| {c.label}{bad} | {c.messages:,} | {ours} | {theirs} | "
            f"{_ratio(r.ratio())} | {_ratio(r.ratio(cpu=True))} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-node", action="store_true")
    ap.add_argument("--reps", type=int)
    args = ap.parse_args(argv)
    print(table(run(args.quick, not args.no_node, args.reps)))


if __name__ == "__main__":
    main()
