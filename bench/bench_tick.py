"""Tick cost over a real loopback WebSocket to the dev server, and round trips.

Run: ``python bench/bench_tick.py [--quick]`` (or through ``bench/run.py``). Starts the dev
server (its own process) with ``bench/bench_module.py`` and connects ``Client``s with their
defaults (``compression=Gzip``, ``budget_ms=4`` unless a figure names another budget):

* idle tick: connected, subscribed to nothing, nothing to read (one readiness check);
* one small message: the reply to our own ``ping`` call is already in the socket buffer;
  the tick reads it, decodes it, applies it and fires the reducer callback;
* a steady 20 Hz arena-like stream: 100 entities moved by a scheduled reducer every 50 ms,
  the client ticking at 60 FPS with a 2 ms budget;
* a 50,000-row initial subscription and a 10,000-row update arriving while the game ticks
  at 60 FPS with a 2 ms budget, with the client's default (big messages decoded in steps)
  and applied whole (``incremental_decode_bytes=None``): every tick's time, and how many
  frames it takes;
* end to end: reducer call to our own TransactionUpdate callback, with 1 and 50 clients.
"""

from __future__ import annotations

import argparse
import gc
import select
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Machine, fmt_us, median, percentile

from stdb_game.client import DEFAULT_INCREMENTAL_DECODE_BYTES, Client, ReconnectPolicy
from stdb_game.devserver.launcher import DevServerHandle, start_dev_server
from stdb_game.events import ReducerEvent

MODULE = Path(__file__).resolve().parent / "bench_module.py"
#: ``Client(incremental_decode_bytes=...)``: None applies every message whole in one tick;
#: the client's default (64 KiB) decodes big messages in steps.
INCREMENTAL = DEFAULT_INCREMENTAL_DECODE_BYTES
FRAME = 1 / 60


def connect(server: DevServerHandle, **kw: Any) -> Client:
    kw.setdefault("reconnect", ReconnectPolicy(enabled=False))
    c = Client(server.url, server.database, **kw)
    c.connect()
    if not c.run_until(lambda: c.is_connected, 20):
        raise RuntimeError("client did not connect")
    return c


def wait_readable(c: Client, timeout: float = 5.0) -> None:
    transport = c.transport
    assert transport is not None
    select.select([transport.fileno()], [], [], timeout)  # type: ignore[attr-defined]


def call_and_wait(c: Client, name: str, *args: Any, timeout: float = 60.0) -> ReducerEvent:
    got: list[ReducerEvent] = []
    handle = c.on_reducer(name, lambda ev: got.append(ev) if ev.is_ours else None)
    c.call_reducer(name, *args)
    deadline = time.monotonic() + timeout
    while not got and time.monotonic() < deadline:
        wait_readable(c, 0.05)
        c.tick(budget_ms=None)
    handle.remove()
    if not got:
        raise RuntimeError(f"no reply to {name}")
    return got[0]


@dataclass
class Series:
    """Tick times (seconds) of a paced loop and what happened in it."""

    ticks: list[float] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)  # ticks that applied a message
    frames: int = 0
    messages: int = 0
    seconds: float = 0.0
    #: Seconds of CPython garbage collection inside each tick (same order as ``ticks``).
    gc: list[float] = field(default_factory=list)

    def add(self, elapsed: float, applied: int, collecting: float = 0.0) -> None:
        self.ticks.append(elapsed)
        self.gc.append(collecting)
        if applied:
            self.busy.append(elapsed)
            self.messages += applied


def paced(c: Client, until: Callable[[], bool], budget_ms: float, limit_s: float) -> Series:
    """Tick at 60 FPS with ``budget_ms`` until ``until()`` (or ``limit_s``); time every tick."""
    s = Series()
    collecting = [0.0, 0.0]  # total seconds in collections, start of the current one

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collecting[1] = time.perf_counter()
        else:
            collecting[0] += time.perf_counter() - collecting[1]

    gc.callbacks.append(on_gc)
    try:
        start = time.perf_counter()
        next_frame = start
        while not until() and time.perf_counter() - start < limit_s:
            before = collecting[0]
            st = c.tick(budget_ms=budget_ms)
            s.add(st.elapsed, st.messages_applied, min(collecting[0] - before, st.elapsed))
            s.frames += 1
            next_frame += FRAME
            rest = next_frame - time.perf_counter()
            if rest > 0:
                time.sleep(rest)
            else:
                next_frame = time.perf_counter()
        s.seconds = time.perf_counter() - start
    finally:
        gc.callbacks.remove(on_gc)
    return s


@dataclass
class TickReport:
    machine: Machine
    idle_cpu: float = 0.0
    idle_wall: float = 0.0
    idle_p50: float = 0.0
    idle_p99: float = 0.0
    small_cpu: float = 0.0
    #: Thread CPU time of one back-to-back pair of ``time.thread_time()`` calls (a system
    #: call here), taken off the per-tick figure of the small message.
    clock_cost: float = 0.0
    small_wall_p50: float = 0.0
    small_wall_p99: float = 0.0
    arena: Series = field(default_factory=Series)
    arena_entities: int = 0
    initial: Series = field(default_factory=Series)
    initial_rows: int = 0
    initial_unbudgeted: float = 0.0
    update: Series = field(default_factory=Series)
    update_rows: int = 0
    initial_steps: Series = field(default_factory=Series)
    update_steps: Series = field(default_factory=Series)
    e2e: dict[int, list[float]] = field(default_factory=dict)
    e2e_seconds: dict[int, float] = field(default_factory=dict)


def idle(c: Client, r: TickReport, n: int) -> None:
    tick = c.tick
    best_c = best_w = float("inf")
    for _ in range(5):
        w0, c0 = time.perf_counter(), time.thread_time()
        for _ in range(n):
            tick()
        best_w = min(best_w, (time.perf_counter() - w0) / n)
        best_c = min(best_c, (time.thread_time() - c0) / n)
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        tick()
        samples.append(time.perf_counter() - t0)
    r.idle_cpu, r.idle_wall = best_c, best_w
    r.idle_p50, r.idle_p99 = median(samples), percentile(samples, 0.99)


def small_message(c: Client, r: TickReport, n: int) -> None:
    """Our ``ping`` reply waiting in the socket: one tick reads, decodes, applies, fires."""
    fired = [0]
    c.on_reducer("ping", lambda ev: fired.__setitem__(0, fired[0] + 1))
    walls, cpus = [], []
    for i in range(n):
        c.call_reducer("ping", i)
        for _ in range(100):  # until the reply is in our socket buffer (untimed)
            wait_readable(c, 1.0)
            transport = c.transport
            assert transport is not None
            if select.select([transport.fileno()], [], [], 0)[0]:  # type: ignore[attr-defined]
                break
        before = fired[0]
        w0, c0 = time.perf_counter(), time.thread_time()
        st = c.tick()
        w, cpu = time.perf_counter() - w0, time.thread_time() - c0
        if st.messages_applied == 1 and fired[0] == before + 1:
            walls.append(w)
            cpus.append(cpu)
        else:  # a split read or a late reply: drain without counting it
            c.run_until(lambda before=before: fired[0] > before, 5)
    r.clock_cost = clock_cost()
    r.small_cpu = min(cpus) - r.clock_cost if cpus else float("nan")
    r.small_wall_p50, r.small_wall_p99 = median(walls), percentile(walls, 0.99)


def clock_cost(n: int = 2000) -> float:
    """What timing one tick with ``thread_time()`` adds by itself (best of ``n``)."""
    tt = time.thread_time
    best = float("inf")
    for _ in range(n):
        a = tt()
        best = min(best, tt() - a)
    return max(best, 0.0)


def arena(server: DevServerHandle, r: TickReport, seconds: float, entities: int) -> None:
    c = connect(server)
    try:
        sub = c.subscribe(["SELECT * FROM entity"])
        c.run_until(lambda: sub.is_active, 20)
        call_and_wait(c, "start_arena", entities, 50_000)
        paced(c, lambda: False, 2.0, 1.0)  # settle into the stream
        r.arena = paced(c, lambda: False, 2.0, seconds)
        r.arena_entities = entities
    finally:
        c.disconnect()


def big_messages(server: DevServerHandle, r: TickReport, rows: int, update_rows: int) -> None:
    """A ``rows``-row initial subscription, then one ``update_rows``-row update, at 60 FPS."""
    loader = connect(server)
    try:
        chunk = 10_000
        for first in range(0, rows, chunk):
            call_and_wait(loader, "fill_bulk", first, min(chunk, rows - first))
        # The same subscription once with no budget at all, for the size of the message.
        probe = connect(server)
        sub0 = probe.subscribe(["SELECT * FROM bulk"])
        wait_readable(probe, 30)
        t0 = time.perf_counter()
        while not sub0.is_active:
            probe.tick(budget_ms=None)
            if not sub0.is_active:
                wait_readable(probe, 1)
        r.initial_unbudgeted = max(probe.stats.max_tick_seconds, 0.0)
        del t0
        probe.disconnect()

        for steps in (None, INCREMENTAL):
            c = connect(server, incremental_decode_bytes=steps)
            try:
                sub = c.subscribe(["SELECT * FROM bulk"])
                initial = paced(c, lambda sub=sub: sub.is_active, 2.0, 120)
                r.initial_rows = len(c.table("bulk"))
                done: list[ReducerEvent] = []
                c.on_reducer("move_bulk", lambda ev, done=done: done.append(ev))
                loader.call_reducer("move_bulk", 0, update_rows)
                update = paced(c, lambda done=done: bool(done), 2.0, 120)
                r.update_rows = update_rows
            finally:
                c.disconnect()
            if steps is None:
                r.initial, r.update = initial, update
            else:
                r.initial_steps, r.update_steps = initial, update
    finally:
        loader.disconnect()


def end_to_end(server: DevServerHandle, r: TickReport, clients: int, seconds: float) -> None:
    """Closed loop per client: call ``ping``, wait for our own TransactionUpdate, repeat."""
    cs = [connect(server) for _ in range(clients)]
    latencies: list[float] = []
    sent_at: dict[int, float] = {}
    seq = [0]

    def on_ping(i: int) -> Callable[[ReducerEvent], None]:
        def cb(ev: ReducerEvent) -> None:
            if ev.is_ours:
                latencies.append(time.perf_counter() - sent_at.pop(i))
                call(i)

        return cb

    def call(i: int) -> None:
        seq[0] += 1
        sent_at[i] = time.perf_counter()
        cs[i].call_reducer("ping", seq[0])

    for i, c in enumerate(cs):
        c.on_reducer("ping", on_ping(i))
    fds = {c.transport.fileno(): c for c in cs}  # type: ignore[union-attr]
    for i in range(clients):
        call(i)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        ready, _, _ = select.select(list(fds), [], [], 0.1)
        for fd in ready:
            fds[fd].tick()
    for c in cs:
        c.disconnect()
    r.e2e[clients] = latencies
    r.e2e_seconds[clients] = seconds


def run(quick: bool = False) -> TickReport:
    machine = Machine()
    r = TickReport(machine)
    with start_dev_server(MODULE, log_file=Path("/dev/null")) as server:
        c = connect(server)
        try:
            idle(c, r, 2_000 if quick else 20_000)
            small_message(c, r, 30 if quick else 500)
        finally:
            c.disconnect()
        arena(server, r, 1.0 if quick else 5.0, 100)
        big_messages(server, r, 2_000 if quick else 50_000, 1_000 if quick else 10_000)
        for n in (1, 50):
            end_to_end(server, r, n if not quick else min(n, 5), 1.0 if quick else 5.0)
    machine.load_after = Machine().load_before
    return r


def _series_row(label: str, s: Series) -> str:
    busy = s.busy or [0.0]
    over = sum(1 for t in s.ticks if t > 0.002)
    worst = max(range(len(s.ticks)), key=s.ticks.__getitem__) if s.ticks else None
    worst_gc = s.gc[worst] if worst is not None and worst < len(s.gc) else 0.0
    return (
        f"| {label} | {s.frames} | {s.messages} | {fmt_us(median(s.ticks))} | "
        f"{fmt_us(percentile(s.ticks, 0.99))} | {fmt_us(max(s.ticks or [0.0]))} | "
        f"{fmt_us(worst_gc)} | {fmt_us(median(busy))} / {fmt_us(max(busy))} | {over} |"
    )


def table(r: TickReport) -> str:
    lines = [
        f"`bench/bench_tick.py` via `bench/run.py`; {r.machine.line()}. Dev server "
        "(`bench/bench_module.py`) on loopback, `Client` defaults (`compression=Gzip`).",
        "",
        "| tick | CPU (best) | wall p50 | wall p99 |",
        "|---|---:|---:|---:|",
        f"| idle: connected, nothing to read (one `poll(2)` readiness check) | "
        f"{fmt_us(r.idle_cpu)} | {fmt_us(r.idle_p50)} | {fmt_us(r.idle_p99)} |",
        f"| one small message waiting (our `ping` reply): read, decode, apply, callback | "
        f"{fmt_us(r.small_cpu)} | {fmt_us(r.small_wall_p50)} | {fmt_us(r.small_wall_p99)} |",
        "",
        "The small message is timed tick by tick, right after `select` woke the process (cold "
        "caches, as when a frame starts); its CPU figure is the best of "
        f"the ticks minus the clock's own cost ({fmt_us(r.clock_cost)}, two `thread_time()` "
        "calls back to back). The idle figure is the best of five loops' mean per tick.",
        "",
        "Paced at 60 FPS with `tick(budget_ms=2.0)`; tick wall times:",
        "",
        "| stream | frames | messages | p50 | p99 | max | of the max: garbage collection |"
        " ticks with a message: p50 / max | ticks > 2 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        _series_row(
            f"20 Hz arena stream, {r.arena_entities} entities moved per step, "
            f"{r.arena.seconds:.0f} s",
            r.arena,
        ),
        _series_row(
            f"{r.initial_rows:,}-row initial subscription, from subscribe() to applied "
            "(default: decoded in steps)",
            r.initial_steps,
        ),
        _series_row(
            f"{r.update_rows:,}-row update, from the call to applied (default)", r.update_steps
        ),
        _series_row(
            f"{r.initial_rows:,}-row initial subscription, applied whole "
            "(`incremental_decode_bytes=None`)",
            r.initial,
        ),
        _series_row(
            f"{r.update_rows:,}-row update, applied whole (`incremental_decode_bytes=None`)",
            r.update,
        ),
        "",
        f"The {r.initial_rows:,}-row subscription is one message; applied with no budget it "
        f"took {fmt_us(r.initial_unbudgeted)} in one tick. By default (a time budget and "
        "`incremental_decode_bytes` 64 KiB) a message that big is decoded across ticks within "
        "the budget and applied whole in the tick its decoding ends; with "
        "`incremental_decode_bytes=None` every message is applied within one tick, whatever "
        "its size (the budget is checked between messages; `docs/tick.md`).",
        "",
        "End to end: `call_reducer` to our own TransactionUpdate's reducer callback, each "
        "client in a closed loop, all clients in this process (woken by `select`), the dev "
        "server in its own process on the same 2 CPUs:",
        "",
        "| clients | calls | calls/s | p50 | p99 |",
        "|---:|---:|---:|---:|---:|",
    ]
    for n, lat in sorted(r.e2e.items()):
        secs = r.e2e_seconds[n]
        lines.append(
            f"| {n} | {len(lat):,} | {len(lat) / secs:,.0f} | {fmt_us(median(lat))} | "
            f"{fmt_us(percentile(lat, 0.99))} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    print(table(run(args.quick)))


if __name__ == "__main__":
    main()
