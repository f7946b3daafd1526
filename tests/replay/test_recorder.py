"""The recorder: flushed at tick boundaries, survives a crash, never breaks the game."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from helpers import FakeClock, game_schema
from hypothesis import given, settings
from hypothesis import strategies as st

from stdb_game.client import Client, ReconnectPolicy
from stdb_game.replay import (
    ConnectionRecord,
    DisconnectRecord,
    EndRecord,
    InboundRecord,
    MarkRecord,
    OutboundRecord,
    SessionRecorder,
    TickEndRecord,
    TickRecord,
    read_recording,
    replay_session,
    summarize,
)
from stdb_game.schema import ModuleSchema
from stdb_game.testing import FakeServer

from .sessions import CHAT_SCHEMA_JSON, SCRIPTS, chat_schema, run_live

ROOT = Path(__file__).resolve().parents[2]


def _client(path: Any, **kwargs: Any) -> tuple[Client, FakeServer, FakeClock]:
    schema = kwargs.pop("schema", None) or game_schema()
    server = FakeServer(schema)
    clock = FakeClock()
    client = Client(
        "ws://fake:3000", "game", schema=schema, transport_factory=server.transport_factory,
        record_to=path, clock=clock, reconnect=ReconnectPolicy(enabled=False), **kwargs,
    )  # fmt: skip
    return client, server, clock


def test_each_tick_is_on_disk_when_tick_returns(tmp_path: Path) -> None:
    path = tmp_path / "s.stdbrec"
    client, server, clock = _client(path)
    client.connect()
    server.send(server.identity_token())
    for i in range(1, 6):
        clock.advance(0.016)
        client.tick()
        rec = read_recording(path)  # the recorder is still open
        assert rec.damage is None and not rec.complete
        assert rec.records[-1] == TickEndRecord(
            i, 1 if i == 1 else 0, clock.now, rec.records[-1].offset
        )
    client.disconnect()
    assert read_recording(path).complete


def test_between_ticks_records_wait_for_the_next_tick(tmp_path: Path) -> None:
    path = tmp_path / "s.stdbrec"
    client, server, _clock = _client(path)
    client.connect()
    server.send(server.identity_token())
    client.tick()
    size = path.stat().st_size
    client.subscribe("SELECT * FROM player")  # sent now, recorded now, written at the tick
    assert path.stat().st_size == size
    client.tick()
    rec = read_recording(path)
    kinds = [type(r) for r in rec.records]
    assert kinds[-3:] == [OutboundRecord, TickRecord, TickEndRecord]


def test_flush_interval_spaces_out_writes(tmp_path: Path) -> None:
    path = tmp_path / "s.stdbrec"
    recorder = SessionRecorder(path, flush_interval=0.1)
    client, server, clock = _client(recorder)
    client.connect()
    server.send(server.identity_token())
    sizes = []
    for _ in range(12):
        clock.advance(1 / 60)
        client.tick()
        sizes.append(path.stat().st_size)
    assert len(set(sizes)) <= 3  # written at the first tick and about every 6 ticks


def test_flush_bytes_bounds_the_buffer(tmp_path: Path) -> None:
    path = tmp_path / "s.stdbrec"
    recorder = SessionRecorder(path, flush_bytes=4096, flush_interval=3600)
    for i in range(100):
        recorder.inbound(b"\x00\x01" + bytes(100), float(i))
    written = path.stat().st_size
    assert written == recorder.bytes_written and written >= 4096
    assert 100 * (8 + 4 + 102) - written < 4096  # never more than flush_bytes held back
    recorder.close()
    assert len(read_recording(path).records) == 101


def test_a_crash_keeps_every_finished_tick(tmp_path: Path) -> None:
    path = tmp_path / "crash.stdbrec"
    code = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from replay.sessions import SCRIPTS, Game, run_live
        import replay.sessions as s

        def crashing(g):
            s.basic.__code__  # same game, but the process dies before disconnect()
            c = g.client
            c.connect()
            players = g.subscribe("SELECT * FROM player")
            g.tick()
            g.serve(lambda srv: srv.identity_token(s.TOKEN))
            g.tick()
            g.serve(lambda srv: srv.subscribe_applied(players.query_id, {{"player": [(1, 0)]}}))
            g.tick()
            c.call_reducer("set_x", 1, 2)   # buffered, never flushed by a tick
            os._exit(3)

        run_live(s.Script("crash", crashing), {str(path)!r})
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60)
    assert proc.returncode == 3
    rec = read_recording(path)
    assert not rec.complete and rec.damage is None
    assert rec.tick_count == 3
    assert not any(isinstance(r, OutboundRecord) and b"set_x" in r.frame for r in rec.records)
    result = replay_session(rec, game_schema())
    assert result.events is not None and [e[1] for e in result.events.entries] == [
        "connect",
        "applied",
        "insert",
    ]


def test_an_uncaught_exception_still_writes_the_buffer(tmp_path: Path) -> None:
    path = tmp_path / "exc.stdbrec"
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(ROOT / "tests")!r})
        import replay.sessions as s

        def failing(g):
            c = g.client
            c.connect()
            g.serve(lambda srv: srv.identity_token(s.TOKEN))
            g.tick()
            c.subscribe("SELECT * FROM player")
            raise RuntimeError("the game crashed")

        s.run_live(s.Script("exc", failing), {str(path)!r})
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60, capture_output=True)
    assert proc.returncode == 1 and b"the game crashed" in proc.stderr
    rec = read_recording(path)
    assert isinstance(rec.records[-1], OutboundRecord)  # flushed at exit
    assert not rec.complete


class _FullDisk(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        raise OSError(28, "No space left on device")


def test_a_failing_disk_stops_recording_not_the_game(caplog: Any) -> None:
    recorder = SessionRecorder(_FullDisk())  # type: ignore[arg-type]
    client, server, _clock = _client(recorder)
    client.connect()
    server.send(server.identity_token())
    with caplog.at_level(logging.ERROR, logger="stdb_game.replay"):
        for _ in range(3):
            client.tick()
    assert client.is_connected
    assert recorder.failed is not None and recorder.closed
    assert sum("session recording stopped" in r.message for r in caplog.records) == 1
    client.disconnect()


def test_marks_and_meta_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.stdbrec"
    recorder = SessionRecorder(path, meta={"build": "1.2.3", "player": 42})
    client, server, _clock = _client(recorder)
    client.connect()
    server.send(server.identity_token())
    client.tick()
    recorder.mark("player pressed F9")
    client.tick()
    client.disconnect()
    rec = read_recording(path)
    assert rec.header.meta == {"build": "1.2.3", "player": 42}
    marks = [r for r in rec.records if isinstance(r, MarkRecord)]
    assert [m.text for m in marks] == ["player pressed F9"]
    assert summarize(rec).marks == [(1, "player pressed F9")]
    result = replay_session(rec, game_schema())
    assert [m.text for m in result.marks] == ["player pressed F9"]


def test_builder_records_too(tmp_path: Path) -> None:
    path = tmp_path / "b.stdbrec"
    schema = game_schema()
    server = FakeServer(schema)
    client = (
        Client.builder()
        .with_uri("ws://fake:3000")
        .with_module_name("game")
        .with_schema(schema)
        .with_transport_factory(server.transport_factory)
        .with_record_to(path)
        .build()
    )
    client.connect()
    server.send(server.identity_token())
    client.tick()
    client.disconnect()
    rec = read_recording(path)
    assert rec.complete and rec.tick_count == 1
    assert rec.connections[0].params["settings"]["budget_ms"] == 4.0


def test_schema_from_json_goes_in_the_header(tmp_path: Path) -> None:
    path = tmp_path / "chat.stdbrec"
    run_live(SCRIPTS["chat"], path)
    rec = read_recording(path)
    assert rec.header.schema_json is not None
    assert json.loads(rec.header.schema_json) == json.loads(CHAT_SCHEMA_JSON.read_text())
    assert "schema" not in rec.connections[0].params
    assert rec.schema() is not None and set(rec.schema().tables) == {"message", "user"}  # type: ignore[union-attr]


def _schema_key(schema: ModuleSchema) -> tuple[Any, ...]:
    tables = {
        n: (t.row_type, t.primary_key, t.unique_columns, t.indexes, t.public, t.scheduled_reducer)
        for n, t in schema.tables.items()
    }
    reducers = {n: (r.params, r.lifecycle, r.reducer_id) for n, r in schema.reducers.items()}
    return tables, reducers


def test_a_schema_built_without_json_is_stored_and_the_replay_needs_no_other(
    tmp_path: Path,
) -> None:
    path = tmp_path / "basic.stdbrec"
    schema = game_schema()  # assembled from objects: schema.raw is None
    assert schema.raw is None
    live = run_live(SCRIPTS["basic"], path)
    rec = read_recording(path)
    assert rec.header.schema_json is not None
    stored = rec.schema()
    assert stored is not None and _schema_key(stored) == _schema_key(schema)
    result = replay_session(rec)  # no schema given: the stored one is used
    assert result.events is not None and result.events.entries == live.log.entries
    assert result.cache() == live.snapshots[max(live.snapshots)]


def test_generated_bindings_schema_turns_back_into_its_module_json() -> None:
    from demos.chat.bindings import SCHEMA

    from_file = ModuleSchema.from_json(json.loads((ROOT / "demos/chat/schema.json").read_text()))
    assert SCHEMA.raw is None
    assert SCHEMA.to_json() == from_file.to_json()
    back = ModuleSchema.from_json(json.loads(json.dumps(SCHEMA.to_json())))
    assert _schema_key(back) == _schema_key(from_file)
    assert back.type_names == from_file.type_names == {0: "Message", 1: "User"}


def test_schema_known_only_after_a_flush_goes_in_the_connection(tmp_path: Path) -> None:
    path = tmp_path / "late.stdbrec"
    client, server, _clock = _client(path, schema=chat_schema())
    client.tick()  # ticking before connect() writes the header without a schema
    client.connect()
    server.send(server.identity_token())
    client.tick()
    client.disconnect()
    rec = read_recording(path)
    assert rec.header.schema_json is None
    assert isinstance(rec.connections[0].params.get("schema"), str)
    assert rec.schema_json == rec.connections[0].params["schema"]
    assert replay_session(rec).ticks == 2


def test_a_hand_built_schema_can_be_given_to_the_recorder(tmp_path: Path) -> None:
    path = tmp_path / "hand.stdbrec"
    raw = json.loads(CHAT_SCHEMA_JSON.read_text())
    recorder = SessionRecorder(path, schema=raw)
    recorder.close()
    assert read_recording(path).schema_json is not None


records = st.lists(
    st.one_of(
        st.tuples(st.just("in"), st.binary(max_size=300).map(lambda b: b"\x00\x01" + b)),
        st.tuples(st.just("out"), st.binary(max_size=70000)),
        st.tuples(st.just("tick"), st.integers(0, 2**40)),
        st.tuples(st.just("mark"), st.text(max_size=50)),
        # "schema" is not a plain parameter: the recorder stores it once (tested above).
        st.tuples(
            st.just("conn"),
            st.dictionaries(
                st.text(max_size=8).filter(lambda k: k != "schema"), st.integers(), max_size=4
            ),
        ),
        st.tuples(st.just("disc"), st.text(max_size=30)),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(records)
def test_what_is_recorded_is_read_back(items: list[tuple[str, Any]]) -> None:
    buf = io.BytesIO()
    rec = SessionRecorder(buf)
    expected: list[Any] = []
    now = 0.0
    for kind, value in items:
        now += 0.25
        if kind == "in":
            rec.inbound(value, now)
            expected.append(InboundRecord(value))
        elif kind == "out":
            rec.outbound(value, now)
            expected.append(OutboundRecord(now, value))
        elif kind == "tick":
            rec.tick(value, now)
            rec.tick_end(value, 3, now)
            expected += [TickRecord(value, now), TickEndRecord(value, 3, now)]
        elif kind == "mark":
            rec.mark(value)
            last = max((e.now for e in expected if isinstance(e, (TickRecord,))), default=None)
            expected.append(MarkRecord(last, value))
        elif kind == "conn":
            rec.connection(dict(value))
            last = max((e.now for e in expected if isinstance(e, (TickRecord,))), default=None)
            kept = {k: v if -(2**63) <= v < 2**64 else str(v) for k, v in value.items()}
            expected.append(
                ConnectionRecord(last, {k: v for k, v in kept.items() if "token" not in k})
            )
        else:
            rec.disconnect(value, now)
            expected.append(DisconnectRecord(now, value, None))
    rec.close()
    got = read_recording(buf.getvalue())
    assert got.damage is None and got.complete
    assert isinstance(got.records[-1], EndRecord)
    strip = [_no_offset(r) for r in got.records[:-1]]
    assert strip == [_no_offset(e) for e in expected]


def _no_offset(r: Any) -> Any:
    from dataclasses import replace

    return replace(r, offset=-1)


def test_a_quiet_tick_is_one_small_record() -> None:
    buf = io.BytesIO()
    rec = SessionRecorder(buf)
    rec.tick(1, 1.0)
    rec.tick_end(1, 0, 1.5)
    rec.flush()
    size_one = len(buf.getvalue())
    rec.tick(2, 2.0)
    rec.tick_end(2, 3, 2.5)
    rec.flush()
    assert len(buf.getvalue()) - size_one <= 40
    rec.tick(3, 3.0)  # the client raised: no end for tick 3
    rec.tick(4, 4.0)
    rec.inbound(b"\x00\x01", 4.0)
    rec.tick_end(4, 1, 4.5)
    rec.close()
    got = [_no_offset(r) for r in read_recording(buf.getvalue()).records]
    assert got == [
        TickRecord(1, 1.0),
        TickEndRecord(1, 0, 1.5),
        TickRecord(2, 2.0),
        TickEndRecord(2, 3, 2.5),
        TickRecord(3, 3.0),
        TickRecord(4, 4.0),
        InboundRecord(b"\x00\x01"),
        TickEndRecord(4, 1, 4.5),
        EndRecord(4.5),
    ]
