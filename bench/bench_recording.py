"""What recording a session costs a game: per tick, per frame, per MB, and on disk.

Run: ``python bench/bench_recording.py [--write]``. Each figure is the best of several
runs of the same loop with and without ``record_to=``, in one process, so the ratios hold
even where the absolute numbers move. Times are the thread's CPU time (system time, so the
writes, included), which a loaded machine does not inflate. ``--write`` puts the table in ``docs/benchmarks.md``
between the ``bench:recording`` markers (other sections are left alone).
"""

from __future__ import annotations

import gc
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Machine
from _common import write_section as write_doc_section

from stdb_game import protocol as P
from stdb_game.client import Client, ReconnectPolicy
from stdb_game.replay import SessionRecorder, read_recording, replay_session
from stdb_game.sats import types as t
from stdb_game.schema import ModuleSchema, ReducerDef, TableDef
from stdb_game.testing import FakeServer

ROOT = Path(__file__).resolve().parents[1]
#: CPU time of this thread (user + system, so the file writes count): other processes on a
#: busy machine cannot inflate it the way they inflate wall time.
cpu = time.thread_time
DOC = ROOT / "docs" / "benchmarks.md"
TMP = Path(tempfile.mkdtemp(prefix="bench-recording-"))


def schema() -> ModuleSchema:
    pos = t.ProductType([("id", t.U64), ("x", t.F32), ("y", t.F32), ("name", t.STRING)])
    return ModuleSchema.build(
        tables=[TableDef("entity", pos, primary_key=0)],
        reducers=[ReducerDef("move", t.ProductType([("x", t.F32), ("y", t.F32)]))],
    )


def best(fn: Callable[[], float], runs: int = 5) -> float:
    """Smallest of ``runs`` timings (seconds), with the GC quiet while measuring."""
    out = []
    for _ in range(runs):
        gc.collect()
        gc.disable()
        try:
            out.append(fn())
        finally:
            gc.enable()
    return min(out)


def connected(record: Path | SessionRecorder | None) -> tuple[Client, FakeServer]:
    s = schema()
    server = FakeServer(s)
    client = Client(
        "ws://bench", "bench", schema=s, transport_factory=server.transport_factory,
        record_to=record, reconnect=ReconnectPolicy(enabled=False), budget_ms=None,
    )  # fmt: skip
    client.connect()
    server.send(server.identity_token("bench-token"))
    client.tick()
    sub = client.subscribe("SELECT * FROM entity")
    rows = [(i, float(i), 0.0, f"entity-{i}") for i in range(100)]
    server.send(server.subscribe_applied(sub.query_id, {"entity": rows}))
    client.tick()
    return client, server


def paired(run: Callable[[bool], float], rounds: int = 15) -> tuple[float, float]:
    """Best time without and with recording, the two runs alternating so that a busy
    machine slows both alike."""
    off: list[float] = []
    on: list[float] = []
    for _ in range(rounds):
        for record, out in ((False, off), (True, on)):
            gc.collect()
            gc.disable()
            try:
                out.append(run(record))
            finally:
                gc.enable()
    return min(off), min(on)


def idle_ticks(n: int = 3000, flush_interval: float = 0.0) -> tuple[float, float]:
    def run(record: bool) -> float:
        target = SessionRecorder(TMP / "idle.stdbrec", flush_interval=flush_interval)
        client, _ = connected(target if record else None)
        t0 = cpu()
        for _ in range(n):
            client.tick()
        dt = cpu() - t0
        client.disconnect()
        return dt / n

    return paired(run)


def game_ticks(n: int = 300, per_tick: int = 4) -> tuple[float, float, list[bytes]]:
    """Ticks that each apply ``per_tick`` small row updates and send one reducer call."""
    client0, server0 = connected(None)
    frames = []
    for i in range(per_tick * n):
        e = i % 100
        frames.append(
            server0.transaction(
                "move", (1.0, 2.0),
                deletes={"entity": [(e, float(e), 0.0, f"entity-{e}")]},
                inserts={"entity": [(e, float(e), 0.0, f"entity-{e}")]},
            )
        )  # fmt: skip
    client0.disconnect()

    def run(record: bool) -> float:
        client, server = connected(TMP / "game.stdbrec" if record else None)
        transport = server.transport
        t0 = cpu()
        k = 0
        for _ in range(n):
            for _ in range(per_tick):
                transport.feed(frames[k])
                k += 1
            client.call_reducer("move", 1.0, 2.0)
            client.tick()
        dt = cpu() - t0
        client.disconnect()
        return dt / n

    off, on = paired(run)
    return off, on, frames


def recorder_game_ticks(frames: list[bytes], flush_interval: float, n: int = 3000) -> float:
    """The recorder calls of one game tick alone (4 frames in, 1 out), to a real file."""
    out = b"\x00\x04\x00\x00\x00move\x08\x00\x00\x00" + bytes(8) + bytes(5)

    def run() -> float:
        rec = SessionRecorder(TMP / "calls.stdbrec", flush_interval=flush_interval)
        now = 0.0
        k = 0
        t0 = cpu()
        for i in range(n):
            now += 1 / 60
            rec.tick(i, now)
            for _ in range(4):
                rec.inbound(frames[k % len(frames)], now)
                k += 1
            rec.outbound(out, now)
            rec.tick_end(i, 4, now)
        rec.close()
        return (cpu() - t0) / n

    return best(run)


def recorder_per_mb(frame_size: int, compression: P.Compression, total: int = 16 << 20) -> float:
    """Seconds the recorder spends per MB of inbound frames (as received) of one size."""
    rng = random.Random(frame_size)
    payload = bytes(rng.choices(b"abcdefgh01234567", k=frame_size))  # compresses ~2x
    body = b"\x01" + payload[: frame_size - 2]  # message tag 1: not an IdentityToken
    if compression is P.Compression.NONE:
        frame = b"\x00" + body
    else:
        frame = bytes((compression.tag,)) + P.compression.compress(body, compression)
    count = max(total // len(frame), 1)

    def run() -> float:
        with open(os.devnull, "wb", buffering=0) as sink:
            rec = SessionRecorder(sink)  # type: ignore[arg-type]
            t0 = cpu()
            for i in range(count):
                rec.inbound(frame, 0.0)
                if i % 8 == 7:
                    rec.tick_end(i, 8, float(i))
            rec.flush()
            dt = cpu() - t0
        return dt / (count * len(frame)) * (1 << 20)

    return best(run, 3)


def replay_speed() -> tuple[float, int]:
    path = TMP / "game.stdbrec"
    recording = read_recording(path)

    def run() -> float:
        t0 = cpu()
        replay_session(recording, schema(), event_log=False)
        return cpu() - t0

    return best(run, 3), recording.tick_count


def main() -> None:
    machine = Machine()
    idle_off, idle_on = idle_ticks()
    idle_size = (TMP / "idle.stdbrec").stat().st_size
    _, idle_lazy = idle_ticks(flush_interval=0.1)
    game_off, game_on, frames = game_ticks()
    in_bytes = sum(map(len, frames)) // 300
    calls_every = recorder_game_ticks(frames, 0.0)
    calls_lazy = recorder_game_ticks(frames, 0.1)
    game_ticks_recorded = read_recording(TMP / "game.stdbrec").tick_count
    game_file = (TMP / "game.stdbrec").stat().st_size
    per_mb = {
        (size, comp): recorder_per_mb(size, comp)
        for size, comp in [
            (256, P.Compression.NONE),
            (4096, P.Compression.NONE),
            (65536, P.Compression.NONE),
            (4096, P.Compression.GZIP),
            (65536, P.Compression.GZIP),
        ]
    }
    replay_s, replay_ticks = replay_speed()
    machine.load_after = Machine().load_before
    us = 1e6
    rows = [
        ("idle tick (nothing received), written every tick", idle_off * us, idle_on * us),
        ("idle tick, `flush_interval=0.1` s", idle_off * us, idle_lazy * us),
        ("game tick (4 row updates in, 1 reducer call out)", game_off * us, game_on * us),
    ]
    lines = [
        f"Recording (`bench/bench_recording.py`; {machine.line()}; thread CPU time, best of 15 "
        "alternating runs):",
        "",
        "| per tick | without | with `record_to=` | overhead |",
        "|---|---:|---:|---:|",
    ]
    for name, off, on in rows:
        lines.append(
            f"| {name} | {off:.1f} µs | {on:.1f} µs | +{on - off:.1f} µs ({on / off:.2f}x) |"
        )
    lines += [
        "",
        "| recorder alone, the calls of one game tick (4 frames in, 1 out) | µs/tick |",
        "|---|---:|",
        f"| written to the file every tick (default) | {calls_every * us:.1f} |",
        f"| `flush_interval=0.1` s (one write per 6 ticks at 60 Hz) | {calls_lazy * us:.1f} |",
        "",
        "| recorder alone, per MB of inbound frames as received (written to /dev/null) | ms/MB |",
        "|---|---:|",
    ]
    for (size, comp), sec in per_mb.items():
        label = f"{size} B messages" + (
            "" if comp is P.Compression.NONE else f", {comp.value} (the recorder peeks 1 byte)"
        )
        lines.append(f"| {label} | {sec * 1000:.2f} |")
    empty_tick = idle_size / 3000
    lines += [
        "",
        f"On disk: {empty_tick:.0f} bytes per empty tick (tick start + end records); the "
        f"game-tick run wrote {game_file / game_ticks_recorded:.0f} bytes per tick for "
        f"{in_bytes} bytes of frames received per tick. Each frame costs "
        "12-15 bytes of framing. A 10-minute session at 60 ticks/s with no traffic is "
        f"{empty_tick * 36000 / 1e6:.1f} MB.",
        "",
        f"Replay: {replay_ticks} recorded game ticks replay in {replay_s * 1000:.0f} ms "
        f"({replay_ticks / replay_s:.0f} ticks/s).",
    ]
    text = "\n".join(lines)
    print(text)
    if "--write" in sys.argv:
        write_doc_section("recording", text, DOC)
        print(f"\nwritten to {DOC}")


if __name__ == "__main__":
    main()
