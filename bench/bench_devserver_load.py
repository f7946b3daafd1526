"""Load on the dev server: many concurrent clients calling a reducer, and whether anything got lost.

Run: ``python bench/bench_devserver_load.py [--clients 100] [--seconds 10] [--fanout]``.

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
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

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
    start_at = time.time() + 2.0 + clients * 0.01  # everyone connected before the clock runs
    stop_at = start_at + seconds
    shares = [clients // workers + (1 if w < clients % workers else 0) for w in range(workers)]
    jobs = [(ws_url, database, w, n, fanout, start_at, stop_at) for w, n in enumerate(shares)]
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


def run(
    clients: int,
    seconds: float,
    workers: int,
    fanout: bool,
    data_dir: str | None,
    attach: str | None,
    database: str,
) -> bool:
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
    failed = sum(r["failed"] for r in results)
    frames = sum(r["frames"] for r in results)
    bench_rows = [t for t in texts if t.startswith("bench-")]
    lost = set(acked) - set(bench_rows)
    extra = set(bench_rows) - set(acked)
    duplicates = len(bench_rows) - len(set(bench_rows))
    mode = "fan-out: every client subscribed to all messages" if fanout else "no subscriptions"
    print(f"dev server load: {clients} clients, {seconds:.0f} s, {mode}")
    print(f"  committed calls      {len(acked):>9}  ({len(acked) / seconds:,.0f}/s)")
    print(f"  failed calls         {failed:>9}")
    print(f"  latency p50          {_percentile(latencies, 50) * 1000:>9.2f} ms")
    print(f"  latency p99          {_percentile(latencies, 99) * 1000:>9.2f} ms")
    print(f"  latency max          {max(latencies, default=0) * 1000:>9.2f} ms")
    print(f"  frames received      {frames:>9}  ({frames / seconds:,.0f}/s)")
    print(f"  rows in db           {len(bench_rows):>9}")
    if server_cpu is not None:
        # Includes connecting and the final SQL read; near 100% means the server is the limit.
        print(f"  server CPU           {server_cpu:>9.1f} s  (run {seconds:.0f} s + setup)")
        per_call = server_cpu / max(1, len(acked)) * 1e6
        print(f"  server CPU per call  {per_call:>9.0f} us")
    ok = not lost and not extra and not duplicates and len(bench_rows) == len(acked)
    print(
        f"  loss check           {'OK' if ok else 'FAILED'}"
        f" (lost {len(lost)}, unacknowledged rows {len(extra)}, duplicates {duplicates})"
    )
    return ok


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
        ok &= run(
            args.clients,
            args.seconds,
            args.workers,
            fanout,
            args.data_dir,
            args.attach,
            args.database,
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
