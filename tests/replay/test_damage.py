"""Damaged recordings: clear errors, and everything before the damage still replays."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import msgpack
import pytest

from stdb_game.replay import (
    MAGIC,
    EndRecord,
    RecordingDamaged,
    RecordingError,
    RecordingVersionError,
    read_recording,
    replay_session,
)
from stdb_game.replay.format import RECORD_HEAD

from .sessions import FIXTURES, SCRIPTS, Game, run_live


@pytest.fixture
def basic_recording(tmp_path: Path) -> tuple[Game, bytes]:
    path = tmp_path / "basic.stdbrec"
    live = run_live(SCRIPTS["basic"], path)
    return live, path.read_bytes()


def _frame(body: object) -> bytes:
    data = msgpack.packb(body)
    return RECORD_HEAD.pack(len(data), zlib.crc32(data)) + data


def test_truncation_at_every_byte_of_the_last_record(
    basic_recording: tuple[Game, bytes],
) -> None:
    live, data = basic_recording
    full = read_recording(data)
    last = full.records[-1]
    assert isinstance(last, EndRecord)
    for cut in range(last.offset, len(data)):
        rec = read_recording(data[:cut])
        assert rec.records == full.records[:-1], cut
        assert not rec.complete
        if cut == last.offset:
            assert rec.damage is None  # cut on a record boundary: nothing torn
            continue
        assert rec.damage is not None and rec.damage.kind == "truncated"
        assert rec.damage.offset == last.offset
        assert rec.damage.bytes_lost == cut - last.offset
        with pytest.raises(RecordingDamaged, match=f"truncated at byte {last.offset}"):
            read_recording(data[:cut], strict=True)
        result = replay_session(rec, SCRIPTS["basic"].schema())
        assert result.events is not None and result.events.entries == live.log.entries


def test_truncation_anywhere_keeps_a_readable_prefix(basic_recording: tuple[Game, bytes]) -> None:
    """A crash can stop the file at any byte: reading never fails past the header."""
    _, data = basic_recording
    full = read_recording(data)
    first_record = full.records[0].offset
    for cut in range(len(data)):
        if cut < first_record:
            with pytest.raises(RecordingError):
                read_recording(data[:cut])
            continue
        rec = read_recording(data[:cut])
        assert rec.records == full.records[: len(rec.records)]
        ends = [r.offset for r in full.records] + [len(data)]
        assert (rec.damage is None) == (cut in ends)


def test_truncated_mid_session_replays_the_ticks_before(tmp_path: Path) -> None:
    path = tmp_path / "basic.stdbrec"
    live = run_live(SCRIPTS["basic"], path)
    data = path.read_bytes()
    full = read_recording(data)
    tick6 = next(r for r in full.records if type(r).__name__ == "TickRecord" and r.index == 6)
    rec = read_recording(data[: tick6.offset + 5])
    assert rec.damage is not None
    result = replay_session(rec, SCRIPTS["basic"].schema())
    assert result.last_tick == 5
    assert result.cache() == live.snapshots[5]
    assert result.events is not None
    assert result.events.entries == [e for e in live.log.entries if e[0] < 5]


@pytest.mark.parametrize("where", [0.3, 0.5, 0.7])
def test_flipped_byte_in_the_middle_is_corruption_and_the_prefix_replays(
    tmp_path: Path, where: float
) -> None:
    path = tmp_path / "basic.stdbrec"
    live = run_live(SCRIPTS["basic"], path)
    data = bytearray(path.read_bytes())
    full = read_recording(bytes(data))
    offsets = sorted({r.offset for r in full.records} | {len(data)})
    i = int((len(offsets) - 1) * where)
    target, nxt = offsets[i], offsets[i + 1]
    before = [r for r in full.records if r.offset < target]
    pos = (target + 8 + nxt) // 2  # inside the body
    data[pos] ^= 0x40
    rec = read_recording(bytes(data))
    assert rec.damage is not None
    assert rec.damage.kind == "corrupt" and rec.damage.reason == "checksum mismatch"
    assert rec.damage.offset == target
    assert rec.records == before
    assert "corrupt at byte" in rec.describe()
    with pytest.raises(RecordingDamaged) as info:
        read_recording(bytes(data), strict=True)
    assert info.value.damage == rec.damage
    with pytest.raises(RecordingDamaged):
        replay_session(bytes(data), SCRIPTS["basic"].schema(), strict_recording=True)
    result = replay_session(rec, SCRIPTS["basic"].schema())
    whole = [r.index for r in rec.records if type(r).__name__ == "TickEndRecord"]
    m = max(whole, default=0)  # the last tick recorded whole before the damage
    assert result.events is not None
    assert [e for e in result.events.entries if e[0] < m] == [
        e for e in live.log.entries if e[0] < m
    ]
    if m:
        assert result.last_tick is not None and result.last_tick >= m


def test_flipped_length_field_is_reported(basic_recording: tuple[Game, bytes]) -> None:
    _, data = basic_recording
    full = read_recording(data)
    target = full.records[10]
    bad = bytearray(data)
    bad[target.offset + 3] = 0xFF  # length now ~4 GB
    rec = read_recording(bytes(bad))
    assert rec.damage is not None and rec.damage.offset == target.offset
    assert rec.records == [r for r in full.records if r.offset < target.offset]


def test_unknown_version_is_rejected_with_a_typed_error() -> None:
    head = {"format": "stdb_game.recording", "version": 99}
    data = MAGIC + _frame([0, head]) + _frame([2, 1, 0.0])
    with pytest.raises(RecordingVersionError) as info:
        read_recording(data)
    assert info.value.version == 99
    assert "version 99 is not supported" in str(info.value)
    assert isinstance(info.value, RecordingError)
    with pytest.raises(RecordingVersionError):
        replay_session(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (MAGIC[:5], "ends inside its magic"),
        (b"PK\x03\x04 not a recording", "not a stdb_game recording"),
        (MAGIC, "no header record"),
        (MAGIC + _frame([2, 1, 0.0]), "first record is not a recording header"),
        (MAGIC + _frame([0, {"format": "other", "version": 1}]), "header says format"),
        (MAGIC + _frame([0, {"format": "stdb_game.recording", "version": 1}])[:-1] , "header record is damaged"),
    ],
)  # fmt: skip
def test_not_a_recording(data: bytes, message: str) -> None:
    with pytest.raises(RecordingError, match=message):
        read_recording(data)


def test_unknown_record_kinds_are_skipped_and_bad_shapes_are_corruption() -> None:
    head = _frame([0, {"format": "stdb_game.recording", "version": 1}])
    data = MAGIC + head + _frame([2, 1, 0.5]) + _frame([42, "future"]) + _frame([5, 1, 0, 0.5])
    rec = read_recording(data)
    assert rec.skipped == 1 and len(rec.records) == 2 and rec.damage is None
    bad = MAGIC + head + _frame([2, 1, 0.5]) + _frame([3, "not bytes"])
    rec = read_recording(bad)
    assert rec.damage is not None and rec.damage.kind == "corrupt"
    assert "expected bytes" in rec.damage.reason and len(rec.records) == 1


def test_missing_file_is_a_recording_error(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="cannot read recording"):
        read_recording(tmp_path / "nope.stdbrec")


def test_a_recording_without_schema_needs_one() -> None:
    path = FIXTURES / "basic.stdbrec"  # recorded before hand-built schemas were stored
    assert read_recording(path).schema_json is None
    with pytest.raises(RecordingError, match="pass schema="):
        replay_session(path)


def test_record_head_layout_is_little_endian_length_then_crc() -> None:
    assert RECORD_HEAD.format == "<II" and struct.calcsize(RECORD_HEAD.format) == 8
