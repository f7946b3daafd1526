"""Load on the dev server: many concurrent clients calling a reducer, and whether anything got lost.

Run: ``python bench/bench_devserver_load.py [--clients 100] [--seconds 10] [--fanout]``, or
through ``bench/run.py`` (section ``load``: 100 clients, without and with fan-out; ``--quick``
runs 8 clients for 1 s in this process, which the smoke test in ``tests/bench`` uses).

Starts the dev server (its own process, quickstart-chat module, in memory unless
``--data-dir``) on a free loopback port. ``--clients`` WebSocket clients, spread over
``--workers`` client processes so the load generator is not the bottleneck, each run a closed
loop: call ``send_message`` (FullUpdate), wait for its own ``TransactionUpdate``, repeat, for
``--seconds``. With ``--fanout`` every client also subscribes to ``SELECT * FROM message``, so
each transaction is sent to every client. Reported: committed calls per second, call latency
p50/p99 (send to own TransactionUpdate), frames received per second, and the loss check:
the message rows in the database must be exactly the calls acknowledged as committed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp
from _common import Machine, fmt_us

from stdb_game.devserver.launcher import start_dev_server
from stdb_game.protocol import (
    SUBPROTOCOL,
    CallReducer,
    CallReducerFlags,
    Committed,
    IdentityToken,
    QueryId,
    SubscribeMulti,
    SubscribeMultiApplied,
    TransactionUpdate,
    decode_server_frame,
    encode_client_message,
)

CHAT = Path(__file__).resolve().parents[1] / "demos" / "chat" / "module.py"


def _string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(4, "little") + data


async def _client(
    ws_url: str,
    database: str,
    tag: str,
    fanout: bool,
    start_at: float,
    stop_at: float,
    session: aiohttp.ClientSession,
) -> dict[str, Any]:
    """One closed-loop client; returns its latencies and the texts the server acknowledged."""
    url = f"{ws_url}/v1/database/{database}/subscribe?compression=None"
    latencies: list[float] = []
    acked: list[str] = []
    failed = 0
    frames = 0
    async with session.ws_connect(url, protocols=(SUBPROTOCOL,), max_msg_size=0) as ws:
        hello = decode_server_frame(await ws.receive_bytes())
        assert isinstance(hello, IdentityToken)
        me = hello.connection_id
        me_bytes = me.to_bytes()
        if fanout:
            await ws.send_bytes(
                encode_client_message(SubscribeMulti(("SELECT * FROM message",), 0, QueryId(0)))
            )
            while not isinstance(
                decode_server_frame(await ws.receive_bytes()), SubscribeMultiApplied
            ):
                pass
        await asyncio.sleep(max(0.0, start_at - time.time()))
        seq = 0
        while time.time() < stop_at:
            seq += 1
            text = f"{tag}-{seq}"
            msg = CallReducer("send_message", _string(text), seq, CallReducerFlags.FULL_UPDATE)
            sent = time.perf_counter()
            await ws.send_bytes(encode_client_message(msg))
            while True:
                data = await ws.receive_bytes()
                frames += 1
                # Fan-out frames of other callers never contain our connection id; skip
                # decoding them so the load generator stays cheap.
                if me_bytes not in data:
                    continue
                reply = decode_server_frame(data)
                if (
                    isinstance(reply, TransactionUpdate)
                    and reply.caller_connection_id == me
                    and reply.reducer_call.reducer_name == "send_message"
                ):
                    break
            latencies.append(time.perf_counter() - sent)
            if isinstance(reply.status, Committed):
                acked.append(text)
            else:
                failed += 1
    return {"latencies": latencies, "acked": acked, "failed": failed, "frames": frames}


async def _worker_main(
    ws_url: str, database: str, worker: int, n: int, fanout: bool, start_at: float, stop_at: float
) -> list[dict[str, Any]]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [
            _client(ws_url, database, f"bench-{worker}-{i}", fanout, start_at, stop_at, session)
            for i in range(n)
        ]
        return await asyncio.gather(*tasks)


def _worker(args: tuple[str, str, int, int, bool, float, float]) -> list[dict[str, Any]]:
    return asyncio.run(_worker_main(*args))


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def _message_texts(url: str, database: str) -> list[str]:
    req = urllib.request.Request(
        f"{url}/v1/database/{database}/sql", data=b"SELECT text FROM message", method="POST"
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        (result,) = json.loads(resp.read())
    return [row[0] for row in result["rows"]]


def _drive(
    url: str, database: str, clients: int, seconds: float, workers: int, fanout: bool
) -> tuple[list[dict[str, Any]], list[str]]:
    """Run the client processes against a server; their results and the message texts after."""
    ws_url = "ws" + url[4:]
    # Everyone connected before the clock runs (spawned workers need a moment to start).
    lead = (2.0 if workers > 1 else 0.5) + clients * 0.01
    start_at = time.time() + lead
    stop_at = start_at + seconds
    shares = [clients // workers + (1 if w < clients % workers else 0) for w in range(workers)]
    jobs = [(ws_url, database, w, n, fanout, start_at, stop_at) for w, n in enumerate(shares)]
    if workers == 1:
        results = _worker(jobs[0])
    else:
        with mp.get_context("spawn").Pool(workers) as pool:
            results = [r for chunk in pool.map(_worker, jobs) for r in chunk]
    return results, _message_texts(url, database)


def _cpu_seconds(pid: int) -> float | None:
    """User+system CPU time of a process (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


@dataclass
class LoadFigures:
    """One load run: what was committed, how fast, and whether anything got lost."""

    clients: int
    seconds: float
    fanout: bool
    committed: int = 0
    failed: int = 0
    p50: float = 0.0
    p99: float = 0.0
    worst: float = 0.0
    frames: int = 0
    rows: int = 0
    server_cpu: float | None = None
    lost: int = 0
    extra: int = 0
    duplicates: int = 0

    @property
    def ok(self) -> bool:
        """The loss check: the rows in the database are exactly the acknowledged calls."""
        return not (self.lost or self.extra or self.duplicates) and self.rows == self.committed

    @property
    def mode(self) -> str:
        return "every client subscribed to all messages" if self.fanout else "none"


def run_load(
    clients: int,
    seconds: float,
    workers: int,
    fanout: bool,
    data_dir: str | None = None,
    attach: str | None = None,
    database: str = "quickstart-chat",
) -> LoadFigures:
    """Drive ``clients`` closed-loop clients for ``seconds`` (a server of our own unless
    ``attach``) and check the database holds exactly the acknowledged calls."""
    workers = max(1, min(workers, clients))
    if attach is not None:
        results, texts = _drive(attach.rstrip("/"), database, clients, seconds, workers, fanout)
        server_cpu = None
    else:
        with start_dev_server(CHAT, data_dir=data_dir, log_file=os.devnull) as srv:
            cpu_before = _cpu_seconds(srv.process.pid)
            results, texts = _drive(srv.url, srv.database, clients, seconds, workers, fanout)
            cpu_after = _cpu_seconds(srv.process.pid)
        server_cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    latencies = [x for r in results for x in r["latencies"]]
    acked = [t for r in results for t in r["acked"]]
    bench_rows = [t for t in texts if t.startswith("bench-")]
    return LoadFigures(
        clients=clients,
        seconds=seconds,
        fanout=fanout,
        committed=len(acked),
        failed=sum(r["failed"] for r in results),
        p50=_percentile(latencies, 50),
        p99=_percentile(latencies, 99),
        worst=max(latencies, default=0.0),
        frames=sum(r["frames"] for r in results),
        rows=len(bench_rows),
        server_cpu=server_cpu,
        lost=len(set(acked) - set(bench_rows)),
        extra=len(set(bench_rows) - set(acked)),
        duplicates=len(bench_rows) - len(set(bench_rows)),
    )


def print_figures(f: LoadFigures) -> None:
    """The command line's report of one run."""
    seconds = f.seconds
    mode = "fan-out: every client subscribed to all messages" if f.fanout else "no subscriptions"
    print(f"dev server load: {f.clients} clients, {seconds:.0f} s, {mode}")
    print(f"  committed calls      {f.committed:>9}  ({f.committed / seconds:,.0f}/s)")
    print(f"  failed calls         {f.failed:>9}")
    print(f"  latency p50          {f.p50 * 1000:>9.2f} ms")
    print(f"  latency p99          {f.p99 * 1000:>9.2f} ms")
    print(f"  latency max          {f.worst * 1000:>9.2f} ms")
    print(f"  frames received      {f.frames:>9}  ({f.frames / seconds:,.0f}/s)")
    print(f"  rows in db           {f.rows:>9}")
    if f.server_cpu is not None:
        # Includes connecting and the final SQL read; near 100% means the server is the limit.
        print(f"  server CPU           {f.server_cpu:>9.1f} s  (run {seconds:.0f} s + setup)")
        per_call = f.server_cpu / max(1, f.committed) * 1e6
        print(f"  server CPU per call  {per_call:>9.0f} us")
    print(
        f"  loss check           {'OK' if f.ok else 'FAILED'}"
        f" (lost {f.lost}, unacknowledged rows {f.extra}, duplicates {f.duplicates})"
    )


# ---- bench/run.py section ``load`` -----------------------------------------------------------


@dataclass
class LoadReport:
    machine: Machine
    workers: int
    runs: list[LoadFigures] = field(default_factory=list)


def run(quick: bool = False) -> LoadReport:
    """The runner's section: 100 clients (8 with ``quick``), without and with fan-out."""
    clients, seconds, workers = (8, 1.0, 1) if quick else (100, 5.0, 4)
    report = LoadReport(Machine(), workers)
    for fanout in (False, True):
        report.runs.append(run_load(clients, seconds, workers, fanout))
    return report


def table(r: LoadReport) -> str:
    lines = [
        f"`bench/bench_devserver_load.py` via `bench/run.py`; {r.machine.line()}. The dev "
        "server (quickstart-chat module, in memory) in its own process; the clients in "
        f"{r.workers} other process{'es' if r.workers > 1 else ''} on the same machine, each "
        "in a closed loop: call `send_message`, wait for its own TransactionUpdate, repeat. "
        "Latency is from the send to that TransactionUpdate. Server CPU per call is the "
        "server process's CPU time (connecting and the final read included) over the "
        "committed calls. Loss check: the message rows in the database are exactly the calls "
        "acknowledged as committed.",
        "",
        "| clients | subscriptions | seconds | committed calls | calls/s | p50 | p99 | max | "
        "frames/s | server CPU per call | loss check |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for f in r.runs:
        cpu = fmt_us(f.server_cpu / max(1, f.committed)) if f.server_cpu is not None else "-"
        check = "OK" if f.ok else f"**FAILED** (lost {f.lost}, extra {f.extra})"
        lines.append(
            f"| {f.clients} | {f.mode} | {f.seconds:.0f} | {f.committed:,} | "
            f"{f.committed / f.seconds:,.0f} | {fmt_us(f.p50)} | {fmt_us(f.p99)} | "
            f"{fmt_us(f.worst)} | {f.frames / f.seconds:,.0f} | {cpu} | {check} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=4, help="client processes")
    parser.add_argument("--fanout", action="store_true", help="every client subscribes to all")
    parser.add_argument("--both", action="store_true", help="run without and with --fanout")
    parser.add_argument("--data-dir", default=None, help="durable database (commit log + fsync)")
    parser.add_argument("--attach", default=None, help="use a running server at this http URL")
    parser.add_argument("--database", default="quickstart-chat", help="with --attach")
    args = parser.parse_args()
    modes = [False, True] if args.both else [args.fanout]
    ok = True
    for fanout in modes:
        figures = run_load(
            args.clients,
            args.seconds,
            args.workers,
            fanout,
            args.data_dir,
            args.attach,
            args.database,
        )
        print_figures(figures)
        ok &= figures.ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
