"""Transport costs per game frame: idle poll, one small message in, one out, round trip, burst.

Run: ``python bench/bench_transport.py``. Uses a tiny echo server on loopback (its own
thread, outside the measured code). Figures are per call, best of several runs.
"""

from __future__ import annotations

import base64
import hashlib
import select
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stdb_game.transport import WebSocketTransport

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SMALL = b"\x00" + bytes(40)  # a compression tag plus a small reducer-sized payload


def frame(payload: bytes) -> bytes:
    n = len(payload)
    head = struct.pack("!BB", 0x82, n) if n < 126 else struct.pack("!BBH", 0x82, 126, n)
    return head + payload


class EchoServer:
    """Upgrades one connection; once ``echo`` is set, echoes each binary message back.

    Until then its thread sleeps, so measurements of the client's own work do not compete
    with it for the GIL (the kernel buffers what the client sends meanwhile).
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket | None = None
        self.ready = threading.Event()
        self.echo = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        sock, _ = self.listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        raw = b""
        while b"\r\n\r\n" not in raw:
            raw += sock.recv(4096)
        key = next(
            line.split(":", 1)[1].strip()
            for line in raw.decode().split("\r\n")
            if line.lower().startswith("sec-websocket-key")
        )
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        sock.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: v1.bsatn.spacetimedb\r\n\r\n"
            ).encode()
        )
        self.conn = sock
        self.ready.set()
        self.echo.wait()
        buf = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while len(buf) >= 6:
                n = buf[1] & 0x7F
                head = 2
                if n == 126:
                    n = struct.unpack_from("!H", buf, 2)[0]
                    head = 4
                if len(buf) < head + 4 + n:
                    break
                key4 = buf[head : head + 4]
                body = buf[head + 4 : head + 4 + n]
                buf = buf[head + 4 + n :]
                payload = bytes(b ^ key4[i % 4] for i, b in enumerate(body))
                try:
                    sock.sendall(frame(payload))
                except OSError:
                    return


def best_per_call(fn: Callable[[], object], calls: int, repeats: int = 5) -> float:
    """Best-of-``repeats`` seconds per call."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def idle_check_strategies() -> None:
    """Compare ways to ask "anything to read?" on an idle non-blocking socket."""
    a, b = socket.socketpair()
    a.setblocking(False)
    buf = bytearray(65536)
    poller = select.poll()
    poller.register(a.fileno(), select.POLLIN)
    fd = a.fileno()

    def recv_would_block() -> None:
        try:
            a.recv_into(buf)
        except BlockingIOError:
            pass

    print("idle readiness check, raw socket:")
    for name, fn in [
        ("recv_into -> BlockingIOError", recv_would_block),
        ("select.select(timeout 0)", lambda: select.select([fd], [], [], 0)),
        ("select.poll().poll(0)  [used]", lambda: poller.poll(0)),
    ]:
        print(f"  {name:32s} {best_per_call(fn, 200_000) * 1e6:6.3f} us")
    a.close()
    b.close()


def main() -> None:
    idle_check_strategies()
    server = EchoServer()
    t = WebSocketTransport.connect(f"ws://127.0.0.1:{server.port}/v1/database/bench/subscribe", timeout=5)
    server.ready.wait(5)
    assert server.conn is not None
    print("\nWebSocketTransport over loopback:")
    idle = best_per_call(lambda: t.poll(100), 200_000)
    print(f"  idle poll                        {idle * 1e6:6.3f} us")

    # One small message in: wait (untimed) until the kernel has it, then time the poll.
    wire = frame(SMALL)
    samples = []
    for _ in range(5000):
        server.conn.sendall(wire)
        select.select([t.fileno()], [], [], 1)
        start = time.perf_counter()
        got = t.poll(100)
        samples.append(time.perf_counter() - start)
        assert got == [SMALL], got
    samples.sort()
    median, p90 = samples[len(samples) // 2], samples[len(samples) * 9 // 10]
    print(f"  poll with one small message      {median * 1e6:6.3f} us median, {p90 * 1e6:.3f} us p90")

    # One small message out: frame, mask, queue, write.
    def send_one() -> None:
        t.send(SMALL)
        t.flush()

    out = best_per_call(send_one, 2000, repeats=3)
    print(f"  send + flush one small message   {out * 1e6:6.3f} us")
    server.echo.set()
    drained = 0
    deadline = time.monotonic() + 10
    while drained < 2000 * 3 and time.monotonic() < deadline:
        drained += len(t.poll(10_000))

    # Round trip through the echo thread (includes its wake-ups, its Python work and the GIL).
    rounds = 2000
    start = time.perf_counter()
    for _ in range(rounds):
        t.send(SMALL)
        t.flush()
        while not t.poll(1):
            pass
    rtt = (time.perf_counter() - start) / rounds
    print(f"  round trip via echo server       {rtt * 1e6:6.1f} us")

    # A burst: 1000 small frames waiting in the kernel, taken in one poll.
    burst = wire * 1000
    best = float("inf")
    for _ in range(5):
        server.conn.sendall(burst)
        time.sleep(0.05)
        start = time.perf_counter()
        got = []
        while len(got) < 1000:
            got += t.poll(10_000)
        best = min(best, time.perf_counter() - start)
    print(f"  burst of 1000, per message       {best / 1000 * 1e6:6.3f} us")
    t.close()
    print(f"\npython {sys.version.split()[0]}, openssl {ssl.OPENSSL_VERSION}")


if __name__ == "__main__":
    main()
