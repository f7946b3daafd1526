"""Durability: restart replays the log; a torn or garbage tail is dropped; real corruption refuses."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from stdb_game.devserver import CommitLogError, Database
from stdb_game.devserver.commitlog import MAGIC, CommitLog
from stdb_game.devserver.database import LOG_FILE
from stdb_game.sats.values import ConnectionId, Identity, Timestamp

CHAT = Path(__file__).resolve().parents[2] / "demos" / "chat" / "module.py"
T0 = Timestamp(1_735_689_600_000_000)
ALICE = Identity.from_hex("c200" + "aa" * 30)


def _open(path: Path) -> Database:
    return Database.open(CHAT, data_dir=path, timestamp=T0, fsync=False)


def _send(db: Database, text: str, n: int) -> None:
    res = db.call_reducer_json(
        "send_message",
        [text],
        sender=ALICE,
        connection_id=ConnectionId(1),
        timestamp=Timestamp(T0.micros_since_epoch + n),
    )
    assert res.committed


def _texts(db: Database) -> list[str]:
    return [m.text for m in db.rows("message")]


def test_restart_replays_everything(tmp_path: Path) -> None:
    db = _open(tmp_path)
    db.client_connected(ALICE, ConnectionId(1), T0)
    for i in range(5):
        _send(db, f"m{i}", i)
    db.call_reducer_json("set_name", ["al"], sender=ALICE, connection_id=None, timestamp=T0)
    identity = db.identity
    db.close()
    db2 = _open(tmp_path)
    assert _texts(db2) == [f"m{i}" for i in range(5)]
    # Alice never disconnected: the reopen ran client_disconnected for her (see below)
    assert [(u.name, u.online) for u in db2.rows("user")] == [("al", False)]
    assert db2.identity == identity
    _send(db2, "after", 99)
    db2.close()
    assert _texts(_open(tmp_path)) == [f"m{i}" for i in range(5)] + ["after"]


def test_failed_calls_are_not_logged(tmp_path: Path) -> None:
    db = _open(tmp_path)
    size = (tmp_path / LOG_FILE).stat().st_size
    res = db.call_reducer_json("send_message", [""], sender=ALICE, connection_id=None, timestamp=T0)
    assert not res.committed
    assert (tmp_path / LOG_FILE).stat().st_size == size


def test_torn_last_record_at_every_byte(tmp_path: Path) -> None:
    db = _open(tmp_path)
    _send(db, "keep1", 1)
    _send(db, "keep2", 2)
    log_path = tmp_path / LOG_FILE
    good = log_path.read_bytes()
    _send(db, "torn", 3)
    db.close()
    full = log_path.read_bytes()
    assert len(full) > len(good)
    for cut in range(len(good), len(full)):
        log_path.write_bytes(full[:cut])
        db2 = _open(tmp_path)
        assert _texts(db2) == ["keep1", "keep2"], cut
        db2.close()
        assert log_path.read_bytes() == good  # the torn tail was truncated away
    log_path.write_bytes(full)
    assert _texts(_open(tmp_path)) == ["keep1", "keep2", "torn"]


def test_flipped_byte_in_last_record_is_dropped(tmp_path: Path) -> None:
    db = _open(tmp_path)
    _send(db, "keep", 1)
    good = (tmp_path / LOG_FILE).read_bytes()
    _send(db, "bad", 2)
    db.close()
    data = bytearray((tmp_path / LOG_FILE).read_bytes())
    data[-3] ^= 0xFF
    (tmp_path / LOG_FILE).write_bytes(bytes(data))
    assert _texts(_open(tmp_path)) == ["keep"]
    assert (tmp_path / LOG_FILE).read_bytes() == good


@pytest.mark.parametrize("garbage", [b"\x00", b"\xff" * 3, b"\x05\x00\x00\x00junkjunk", b"x" * 100])
def test_garbage_appended_is_detected_and_dropped(tmp_path: Path, garbage: bytes) -> None:
    db = _open(tmp_path)
    _send(db, "keep", 1)
    db.close()
    good = (tmp_path / LOG_FILE).read_bytes()
    (tmp_path / LOG_FILE).write_bytes(good + garbage)
    clog = CommitLog(tmp_path / LOG_FILE, fsync=False)
    assert clog.dropped_bytes == len(garbage)
    clog.close()
    assert (tmp_path / LOG_FILE).read_bytes() == good
    assert _texts(_open(tmp_path)) == ["keep"]


def test_corruption_before_valid_records_refuses_to_open(tmp_path: Path) -> None:
    db = _open(tmp_path)
    _send(db, "one", 1)
    mid = (tmp_path / LOG_FILE).stat().st_size
    _send(db, "two", 2)
    _send(db, "three", 3)
    db.close()
    data = bytearray((tmp_path / LOG_FILE).read_bytes())
    data[mid + 10] ^= 0xFF  # inside the payload of "two"
    (tmp_path / LOG_FILE).write_bytes(bytes(data))
    with pytest.raises(CommitLogError, match="valid records follow"):
        _open(tmp_path)


def test_not_a_log_and_schema_change_refuse(tmp_path: Path) -> None:
    (tmp_path / LOG_FILE).write_bytes(b"hello world, not a log")
    with pytest.raises(CommitLogError):
        _open(tmp_path)
    other = tmp_path / "other"
    db = _open(other)
    db.close()
    from stdb_game.devserver.module import Module

    m = Module("quickstart-chat")

    @m.table(name="user")
    class User:
        x: int

    with pytest.raises(CommitLogError, match="schema changed"):
        Database.open(m, data_dir=other, name="quickstart-chat", timestamp=T0, fsync=False)


def test_empty_or_magic_only_file_starts_fresh(tmp_path: Path) -> None:
    (tmp_path / LOG_FILE).write_bytes(MAGIC[:3])
    db = _open(tmp_path)
    assert db.rows("message") == []
    _send(db, "x", 1)
    db.close()
    assert _texts(_open(tmp_path)) == ["x"]


def test_init_runs_only_on_creation(tmp_path: Path) -> None:
    from stdb_game.devserver.module import Module, ReducerContext

    m = Module("counter")

    @m.table(name="boot")
    class Boot:
        n: int

    @m.reducer(lifecycle="init")
    def init(ctx: ReducerContext) -> None:
        ctx.db.boot.insert(Boot(n=ctx.db.boot.count() + 1))

    for _ in range(3):
        db = Database.open(m, data_dir=tmp_path, timestamp=T0, fsync=False)
        db.close()
    assert [b.n for b in db.rows("boot")] == [1]


def test_sequences_survive_restart(tmp_path: Path) -> None:
    from stdb_game.devserver.module import Module, ReducerContext, column, u32

    m = Module("seq")

    @m.table(name="thing")
    class Thing:
        id: u32 = column(primary_key=True, auto_inc=True)

    @m.reducer
    def make(ctx: ReducerContext) -> None:
        ctx.db.thing.insert(Thing())

    @m.reducer
    def clear(ctx: ReducerContext) -> None:
        for r in ctx.db.thing.iter():
            ctx.db.thing.delete(r)

    def run(db: Database, name: str) -> None:
        assert db.call_reducer(name, b"", sender=ALICE, connection_id=None, timestamp=T0).committed

    db = Database.open(m, data_dir=tmp_path, timestamp=T0, fsync=False)
    run(db, "make")
    run(db, "make")
    run(db, "clear")
    db.close()
    db = Database.open(m, data_dir=tmp_path, timestamp=T0, fsync=False)
    run(db, "make")
    assert [t.id for t in db.rows("thing")] == [3]


def test_crash_between_creation_and_init_reruns_init(tmp_path: Path) -> None:
    from stdb_game.devserver.commitlog import frame_record
    from stdb_game.devserver.module import Module, ReducerContext

    m = Module("boots")

    @m.table(name="boot")
    class Boot:
        n: int

    @m.reducer(lifecycle="init")
    def init(ctx: ReducerContext) -> None:
        ctx.db.boot.insert(Boot(n=ctx.db.boot.count() + 1))

    db = Database.open(m, data_dir=tmp_path, timestamp=T0, fsync=False)
    db.close()
    records = CommitLog(tmp_path / LOG_FILE, fsync=False)
    header = records.records[0]
    records.close()
    (tmp_path / LOG_FILE).write_bytes(MAGIC + frame_record(header))  # init record lost
    db = Database.open(m, data_dir=tmp_path, timestamp=T0, fsync=False)
    db.close()
    db = Database.open(m, data_dir=tmp_path, timestamp=T0, fsync=False)
    assert [b.n for b in db.rows("boot")] == [1]


def test_init_without_changes_is_still_marked(tmp_path: Path) -> None:
    db = _open(tmp_path)  # the chat module's init changes nothing
    db.close()
    clog = CommitLog(tmp_path / LOG_FILE, fsync=False)
    assert [r.get("init") for r in clog.records] == [None, True]
    clog.close()


# ---- failed appends (ENOSPC / EIO) -----------------------------------------------------------


class FailingFile:
    """Wraps the log's file: the next write stores ``write_then_fail`` bytes and raises ENOSPC,
    ``fsync_fails`` makes the next fsync (via ``fileno``) raise EIO, ``truncate_fails`` makes
    truncation raise EIO. Each armed write/fsync failure fires once."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.write_then_fail: int | None = None
        self.fsync_fails = False
        self.truncate_fails = False

    def write(self, data: Any) -> int:
        if self.write_then_fail is not None:
            keep, self.write_then_fail = self.write_then_fail, None
            self.real.write(bytes(data)[:keep])
            raise OSError(errno.ENOSPC, "No space left on device (injected)")
        return int(self.real.write(data))

    def fileno(self) -> int:
        if self.fsync_fails:
            self.fsync_fails = False
            raise OSError(errno.EIO, "Input/output error (injected fsync)")
        return int(self.real.fileno())

    def truncate(self, size: int) -> int:
        if self.truncate_fails:
            raise OSError(errno.EIO, "Input/output error (injected truncate)")
        return int(self.real.truncate(size))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def _inject(db: Database) -> FailingFile:
    assert db._log is not None
    wrapper = FailingFile(db._log._file)
    db._log._file = wrapper  # type: ignore[assignment]
    return wrapper


def _try_send(db: Database, text: str) -> Any:
    return db.call_reducer_json(
        "send_message", [text], sender=ALICE, connection_id=None, timestamp=T0
    )


def test_failed_write_midway_is_cut_back_and_later_commits_survive(tmp_path: Path) -> None:
    db = _open(tmp_path)
    _send(db, "before", 1)
    f = _inject(db)
    f.write_then_fail = 11  # part of the header and payload reach the file
    res = _try_send(db, "lost")
    assert not res.committed and "No space left" in (res.error or "")
    assert _texts(db) == ["before"]  # rolled back in memory too
    _send(db, "after1", 2)
    _send(db, "after2", 3)
    db.close()
    clog = CommitLog(tmp_path / LOG_FILE, fsync=False)
    assert clog.dropped_bytes == 0  # no garbage was left between records
    clog.close()
    assert _texts(_open(tmp_path)) == ["before", "after1", "after2"]


def test_failed_fsync_after_a_complete_write_is_not_replayed(tmp_path: Path) -> None:
    db = Database.open(CHAT, data_dir=tmp_path, timestamp=T0, fsync=True)
    _send(db, "before", 1)
    f = _inject(db)
    f.fsync_fails = True
    res = _try_send(db, "reported failed")
    assert not res.committed and "fsync" in (res.error or "")
    _send(db, "after", 2)
    db.close()
    # The failed transaction must not come back on replay.
    assert _texts(_open(tmp_path)) == ["before", "after"]


def test_failed_cut_back_poisons_the_log(tmp_path: Path) -> None:
    db = _open(tmp_path)
    _send(db, "before", 1)
    f = _inject(db)
    f.write_then_fail = 5
    f.truncate_fails = True
    res = _try_send(db, "lost")
    assert not res.committed and "refusing further commits" in (res.error or "")
    f.truncate_fails = False  # even once the disk recovers, nothing more is appended
    res = _try_send(db, "refused")
    assert not res.committed and "refusing further commits" in (res.error or "")
    assert _texts(db) == ["before"]
    size = (tmp_path / LOG_FILE).stat().st_size
    db.close()
    db2 = _open(tmp_path)  # the partial record is a torn tail and is dropped on open
    assert _texts(db2) == ["before"]
    assert (tmp_path / LOG_FILE).stat().st_size == size - 5


# ---- clients left connected by a crash ---------------------------------------------------------

BOB = Identity.from_hex("c200" + "bb" * 30)


def _online(db: Database) -> dict[Identity, bool]:
    return {u.identity: u.online for u in db.rows("user")}


def test_reopen_disconnects_clients_a_crash_left_connected(tmp_path: Path) -> None:
    db = _open(tmp_path)
    db.client_connected(ALICE, ConnectionId(1), T0)
    db.client_connected(BOB, ConnectionId(2), T0)
    db.client_disconnected(BOB, ConnectionId(2), T0)
    db.client_connected(BOB, ConnectionId(3), T0)
    assert list(db.clients) == [(ALICE, ConnectionId(1)), (BOB, ConnectionId(3))]
    db.close()  # no client_disconnected: what kill -9 leaves behind
    later = Timestamp(T0.micros_since_epoch + 5_000_000)
    db2 = Database.open(CHAT, data_dir=tmp_path, timestamp=later, fsync=False)
    assert _online(db2) == {ALICE: False, BOB: False}
    ran = [(r.reducer_name, r.caller, r.caller_connection_id) for r in db2.startup_disconnects]
    assert ran == [
        ("identity_disconnected", ALICE, ConnectionId(1)),
        ("identity_disconnected", BOB, ConnectionId(3)),
    ]
    assert all(r.committed and r.timestamp == later for r in db2.startup_disconnects)
    assert db2.clients == {}
    db2.close()
    # ... and only once: the disconnects were logged like any other
    db3 = _open(tmp_path)
    assert db3.startup_disconnects == [] and _online(db3) == {ALICE: False, BOB: False}


def test_a_failing_disconnect_reducer_still_forgets_the_client(tmp_path: Path) -> None:
    from stdb_game.devserver.module import Module, ReducerContext

    mod = Module("grumpy")
    calls: list[str] = []

    @mod.table(name="seen", public=True)
    class Seen:
        who: Identity

    @mod.reducer(lifecycle="client_disconnected")
    def gone(ctx: ReducerContext) -> None:
        calls.append(ctx.sender.to_hex())
        raise RuntimeError("no goodbyes")

    db = Database.open(mod, data_dir=tmp_path, timestamp=T0, fsync=False)
    db.client_connected(ALICE, ConnectionId(1), T0)  # no connect reducer: still tracked
    assert list(db.clients) == [(ALICE, ConnectionId(1))]
    res = db.client_disconnected(ALICE, ConnectionId(1), T0)
    assert res is not None and not res.committed
    assert db.clients == {}
    db.client_connected(BOB, ConnectionId(2), T0)
    db.close()
    db2 = Database.open(mod, data_dir=tmp_path, timestamp=T0, fsync=False)
    assert calls == [ALICE.to_hex(), BOB.to_hex()]  # Alice's failed run is not repeated
    assert db2.clients == {}
    db2.close()
    db3 = Database.open(mod, data_dir=tmp_path, timestamp=T0, fsync=False)
    assert calls == [ALICE.to_hex(), BOB.to_hex()] and db3.startup_disconnects == []


def test_a_refused_connection_is_not_left_connected(tmp_path: Path) -> None:
    from stdb_game.devserver.module import Module, ReducerContext

    mod = Module("bouncer")
    gone: list[Identity] = []

    @mod.table(name="seen", public=True)
    class Seen:
        who: Identity

    @mod.reducer(lifecycle="client_connected")
    def hello(ctx: ReducerContext) -> None:
        if ctx.sender == BOB:
            raise RuntimeError("not you")

    @mod.reducer(lifecycle="client_disconnected")
    def bye(ctx: ReducerContext) -> None:
        gone.append(ctx.sender)

    db = Database.open(mod, data_dir=tmp_path, timestamp=T0, fsync=False)
    refused = db.client_connected(BOB, ConnectionId(2), T0)
    welcome = db.client_connected(ALICE, ConnectionId(1), T0)
    assert refused is not None and not refused.committed
    assert welcome is not None and welcome.committed
    db.close()
    Database.open(mod, data_dir=tmp_path, timestamp=T0, fsync=False).close()
    assert gone == [ALICE]
