"""Decoding a big message across ticks changes nothing but when the work happens.

``Session.receive_steps`` (and ``TableCache.prepare_steps`` under it) must give exactly what
``Session.receive`` gives: the same events, the same cache, the same errors. The client's
opt-in ``incremental_decode_bytes`` must keep messages whole and in order and fire their
callbacks once, after the whole message is in the cache. (The bench measures what this buys:
``bench/bench_tick.py``; no timing is asserted here.)
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from stdb_game.client import Client, ReconnectPolicy
from stdb_game.errors import ProtocolError
from stdb_game.session import Session, SessionFailed
from stdb_game.testing import FakeServer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import workloads as W


def drive(steps: Generator[None, None, Any]) -> tuple[Any, int]:
    """Run a step generator to its end: (its return value, how many times it yielded)."""
    n = 0
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value, n
        n += 1


def _session(case: W.Case) -> Session:
    s = Session(W.schema())
    if case.subscribe:
        s.subscribe([f"SELECT * FROM {case.table}"])
    for f in case.setup:
        s.receive(f)
    return s


def _snapshot(s: Session) -> dict[str, list[Any]]:
    return {t.name: sorted(map(repr, t.iter())) for t in s.cache}


CASES = [
    W.build_case("entity", "tx_insert", 300, 600),
    W.build_case("entity", "sub_insert", 300, 300),
    W.build_case("entity", "tx_update", 300, 600),
    W.build_case("message", "tx_insert", 250, 500),
    W.build_case("loadout", "tx_update", 200, 400),
    W.build_case("loadout", "sub_insert", 1, 3),
    W.empty_case(3),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_receive_steps_gives_the_same_events_and_cache(case: W.Case) -> None:
    plain, stepped = _session(case), _session(case)
    yields = 0
    for frame in case.frames:
        expected = plain.receive(frame, 1.0)
        got, n = drive(stepped.receive_steps(frame, 1.0, chunk_rows=64))
        yields += n
        assert repr(got) == repr(expected)
    assert _snapshot(stepped) == _snapshot(plain)
    assert stepped.messages_received == plain.messages_received
    if case.rows_per_message > 64:
        assert yields > len(case.frames)  # the rows really were decoded in chunks


def test_a_corrupt_row_fails_the_same_way_in_steps() -> None:
    srv = FakeServer(W.schema())
    good = [W.message_row(i) for i in range(100)]
    frame = bytearray(srv.transaction(W.REDUCER, inserts={"message": good}))
    # Break the UTF-8 of the last row's text: after the rows come the timestamp (8), caller
    # identity (32) and connection id (16), the reducer name (4 + 4), reducer id (4), args
    # (4 + 0), request id (4), energy (16) and duration (8): 100 bytes.
    frame[-101] = 0xFF
    errors = []
    for use_steps in (False, True):
        s = Session(W.schema())
        with pytest.raises(ProtocolError) as info:
            if use_steps:
                drive(s.receive_steps(bytes(frame), chunk_rows=16))
            else:
                s.receive(bytes(frame))
        errors.append(str(info.value))
        assert "invalid UTF-8" in errors[-1] and "row of table message" in errors[-1]
        assert len(s.cache.table("message")) == 0
        with pytest.raises(SessionFailed):
            s.receive(srv.transaction(W.REDUCER))
    assert errors[0] == errors[1]


def _client(**kw: Any) -> tuple[Client, FakeServer]:
    schema = W.schema()
    srv = FakeServer(schema)
    client = Client("ws://bench", "bench", schema=schema, transport_factory=srv.transport_factory,
                    reconnect=ReconnectPolicy(enabled=False), **kw)  # fmt: skip
    client.connect()
    srv.send(srv.identity_token())
    client.tick()
    return client, srv


class SlowClock:
    """Every read advances 1 ms: a 2 ms budget then allows about one step per tick."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


def test_client_spreads_a_big_message_over_ticks_and_applies_it_whole() -> None:
    client, srv = _client(budget_ms=2.0, incremental_decode_bytes=4096, clock=SlowClock())
    sub = client.subscribe("SELECT * FROM entity")
    seen: list[int] = []
    counts_when_fired: list[int] = []

    def on_insert(ctx: Any, row: Any) -> None:
        seen.append(row.entity_id)
        counts_when_fired.append(client.db.entity.count())

    client.db.entity.on_insert(on_insert)
    big = srv.subscribe_applied(sub.query_id, {"entity": [W.entity_row(i) for i in range(5000)]})
    srv.send(big)
    srv.send(srv.transaction(W.REDUCER, inserts={"entity": [W.entity_row(5000)]}))
    applied = []
    for _ in range(200):
        st = client.tick()
        applied.append(st.messages_applied)
        if len(seen) == 5001:
            break
    assert applied[0] == 0 and applied.count(0) >= 2  # the big one took several ticks
    assert sum(applied) == 2
    assert seen == list(range(5001))  # whole, once each, in order, the small one after
    assert set(counts_when_fired[:5000]) == {5000}  # callbacks saw the whole message applied
    assert sub.is_active


def test_the_same_cache_with_and_without_steps() -> None:
    results = []
    for option in (None, 2048):
        client, srv = _client(budget_ms=1.0, incremental_decode_bytes=option)
        sub = client.subscribe("SELECT * FROM loadout")
        rows = [W.loadout_row(i) for i in range(3000)]
        srv.send(srv.subscribe_applied(sub.query_id, {"loadout": rows}))
        moved = [W.loadout_row(i, 1) for i in range(0, 3000, 2)]
        srv.send(srv.transaction(W.REDUCER, deletes={"loadout": rows[::2]},
                                 inserts={"loadout": moved}))  # fmt: skip
        updates: list[Any] = []
        client.db.loadout.on_update(lambda ctx, old, new, updates=updates: updates.append(new))
        for _ in range(500):
            client.tick()
            if not client.queue_depth:
                break
        results.append((sorted(map(repr, client.db.loadout.iter())), list(map(repr, updates))))
    assert results[0] == results[1]
