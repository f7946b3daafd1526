"""The client against the real dev server process: reconnects, budgets, order, identities."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stdb_game import Client, ClientState, CredentialStore, DisconnectKind, ReconnectPolicy
from stdb_game.devserver.launcher import DevServerHandle, start_dev_server

ROOT = Path(__file__).resolve().parents[1]
CHAT = ROOT / "demos" / "chat" / "module.py"


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServerHandle]:
    data = tmp_path_factory.mktemp("chatdata")
    with start_dev_server(CHAT, data_dir=data) as handle:
        yield handle


def _client(server: DevServerHandle, **kw: Any) -> Client:
    c = Client(server.url, server.database, **kw)
    c.connect()
    return c


def tick_all(clients: list[Client], predicate: Any, timeout: float = 20.0, **kw: Any) -> bool:
    """Tick every client until ``predicate()`` holds (bounded wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in clients:
            c.tick(**kw)
        if predicate():
            return True
        time.sleep(0.001)
    return False


def _server_messages(server: DevServerHandle, prefix: str) -> list[str]:
    from stdb_game.http import sql

    (result,) = sql(server.url, server.database, "SELECT * FROM message")
    texts = [row[2] if isinstance(row, list) else row["text"] for row in result.rows]
    return sorted(t for t in texts if isinstance(t, str) and t.startswith(prefix))


def test_reconnect_mid_stream_matches_the_server_with_no_duplicates(
    chat_server: DevServerHandle, tmp_path: Path
) -> None:
    """B01: drop the socket while another client writes; after reconnect the cache equals
    the server's rows, inserts never fired twice, and the identity is the same."""
    store = CredentialStore(tmp_path)
    reader = _client(
        chat_server,
        credentials=store,
        credentials_key="reader",
        reconnect=ReconnectPolicy(initial_delay=0.05, jitter=0.0),
    )
    writer = _client(chat_server, reconnect=False)
    sub = reader.subscribe(["SELECT * FROM message", "SELECT * FROM user"])
    assert tick_all([reader, writer], lambda: sub.is_active and writer.is_connected)
    first_identity = reader.identity
    inserted: list[str] = []
    reader.db.message.on_insert(lambda ctx, m: inserted.append(m.text))
    reasons: list[Any] = []
    reader.on_disconnect(reasons.append)
    reconnected: list[bool] = []
    reader.on_reconnect(lambda: reconnected.append(True))
    prefix = f"b01-{time.monotonic_ns()}-"
    n = 300
    dropped = False
    for i in range(n):
        writer.call_reducer("send_message", f"{prefix}{i:04d}")
        writer.tick()
        reader.tick()
        if i == 100 and not dropped:
            # Kill the reader's TCP connection without a close frame.
            assert reader.transport is not None
            sock = reader.transport._sock  # type: ignore[attr-defined]
            sock.shutdown(socket.SHUT_RDWR)
            dropped = True
    assert tick_all([reader, writer], lambda: not writer.session.pending_calls)  # type: ignore[union-attr]
    assert tick_all([reader, writer], lambda: bool(reconnected) and reader.is_connected)
    expected = _server_messages(chat_server, prefix)
    assert len(expected) == n

    def caught_up() -> bool:
        return (
            sorted(m.text for m in reader.db.message.iter() if m.text.startswith(prefix))
            == expected
        )

    assert reader.run_until(caught_up, 20)
    ours = [t for t in inserted if t.startswith(prefix)]
    assert len(ours) == len(set(ours))  # no duplicate insert callbacks
    assert sorted(ours) == expected  # every row announced exactly once
    assert reasons and reasons[0].kind is DisconnectKind.ABNORMAL and reasons[0].will_reconnect
    assert reader.identity == first_identity
    assert sub.is_active and reader.stats.reconnects == 1
    reader.disconnect()
    writer.disconnect()


def test_reconnect_inside_tick_never_blocks_the_frame(chat_server: DevServerHandle) -> None:
    client = _client(chat_server, reconnect=ReconnectPolicy(initial_delay=0.0, jitter=0.0))
    sub = client.subscribe("SELECT * FROM user")
    assert client.run_until(lambda: sub.is_active, 10)
    client.transport._sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]
    worst = 0.0
    deadline = time.monotonic() + 10
    saw_reconnecting = False
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        client.tick()
        worst = max(worst, time.perf_counter() - t0)
        saw_reconnecting |= client.state is ClientState.RECONNECTING
        if saw_reconnecting and client.is_connected and sub.is_active:
            break
        time.sleep(0.001)
    assert saw_reconnecting and client.is_connected and sub.is_active
    # Loose bound on a shared machine: a blocking handshake would show up as the whole
    # connect; stepping it keeps every tick short.
    assert worst < 0.25
    client.disconnect()


def test_b12_large_then_small_messages_apply_in_arrival_order_with_a_tiny_budget(
    chat_server: DevServerHandle,
) -> None:
    writer = _client(chat_server, reconnect=False)
    reader = _client(chat_server, reconnect=False, budget_ms=0.0, compression="Gzip")
    sub = reader.subscribe(["SELECT * FROM message"])
    assert tick_all([reader, writer], lambda: sub.is_active and writer.is_connected)
    seen: list[str] = []
    reader.db.message.on_insert(lambda ctx, m: seen.append(m.text))
    prefix = f"b12-{time.monotonic_ns()}-"
    big = "x" * 4000  # over 1 KiB: gzip-compressed frames
    sent = []
    for i in range(40):
        text = f"{prefix}{i:03d}" + (big if i % 3 == 0 else "")
        sent.append(text)
        writer.call_reducer("send_message", text)
    assert tick_all([writer], lambda: not writer.session.pending_calls)  # type: ignore[union-attr]
    assert tick_all([reader], lambda: sum(t.startswith(prefix) for t in seen) == 40, budget_ms=0.0)
    assert [t for t in seen if t.startswith(prefix)] == sent
    writer.disconnect()
    reader.disconnect()


def test_callbacks_on_ticking_thread_against_a_real_server(chat_server: DevServerHandle) -> None:
    before = threading.active_count()
    client = _client(chat_server, reconnect=False)
    threads: set[int] = set()
    client.db.user.on_insert(lambda ctx, r: threads.add(threading.get_ident()))
    client.on_any_reducer(lambda ev: threads.add(threading.get_ident()))
    sub = client.subscribe("SELECT * FROM user")
    client.call_reducer("set_name", "thread-check")
    assert client.run_until(
        lambda: sub.is_active and len(threads) > 0 and client.stats.last_rtt is not None, 10
    )
    assert threads == {threading.get_ident()}
    assert threading.active_count() == before
    client.disconnect()
