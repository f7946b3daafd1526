"""``stdb-game replay``: the session in words, the cache at the end or at a tick."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import msgpack
import pytest

from stdb_game.cli import main
from stdb_game.replay import MAGIC, SessionRecorder, TickEndRecord, read_recording
from stdb_game.replay.format import RECORD_HEAD

from .sessions import CHAT_SCHEMA_JSON, FIXTURES, SCRIPTS, Script, chat, chat_schema, run_live

CHAT = FIXTURES / "chat.stdbrec"
BASIC = FIXTURES / "basic.stdbrec"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["replay", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_summary_counts_kinds_tables_rows_and_reducers(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, str(CHAT), "--summary")
    assert code == 0
    assert "8 ticks (ticks 1..8)" in out
    assert "token=yes" in out
    lines = out.splitlines()
    assert any(line.split() == ["TransactionUpdate", "4"] for line in lines)
    assert any(line.split() == ["SubscribeMultiApplied", "1"] for line in lines)
    assert any(line.split()[:3] == ["message", "+41", "-0"] for line in lines)
    assert any(line.split()[:3] == ["user", "+4", "-2"] for line in lines)
    assert any(line.split() == ["send_message", "committed", "1,", "failed", "1"] for line in lines)
    assert "cache at tick 8 (client state closed):" in out
    assert "message (41 rows)" in out and "user (2 rows)" in out
    assert "name='alice'" in out


def test_timeline_and_until_tick(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, str(CHAT), "--until-tick", "3")
    assert code == 0
    assert "tick 3      in   SubscribeMultiApplied query_id=1 user(+2 -0) message(+40 -0)" in out
    assert "after 1     out  SubscribeMulti" in out
    assert "after 3     out  CallReducer set_name" in out  # between ticks 3 and 4
    assert "send_message" not in out.split("cache at")[0]
    assert "cache at tick 3 (client state connected):" in out
    assert "name='alice'" not in out  # renamed in tick 5


def test_reducer_arguments_are_decoded_with_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _run(capsys, str(CHAT), "--no-cache")
    assert "CallReducer set_name request_id=2 args=('alice',)" in out
    assert "TransactionUpdate send_message failed: Messages must not be empty" in out
    assert "cache at" not in out


def test_a_recording_without_schema_takes_schema_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    class SchemalessRecorder(SessionRecorder):
        """As an older SDK recorded: the connection said nothing of the schema."""

        def connection(self, params: dict[str, Any]) -> None:
            params.pop("schema", None)
            super().connection(params)

    path = tmp_path / "old.stdbrec"
    run_live(Script("old", chat, schema=chat_schema), None, record_to=SchemalessRecorder(path))
    assert read_recording(path).schema_json is None
    code, out, _ = _run(capsys, str(path))
    assert code == 0 and "holds no schema; pass --schema FILE" in out
    code, out, _ = _run(capsys, str(path), "--schema", str(CHAT_SCHEMA_JSON), "--rows", "0")
    assert code == 0 and "message (41 rows)" in out and "… 41 more" in out


def test_bad_files_exit_1_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.stdbrec"
    bad.write_bytes(b"hello")
    code, _, err = _run(capsys, str(bad))
    assert code == 1 and "not a stdb_game recording" in err
    code, _, err = _run(capsys, str(tmp_path / "missing.stdbrec"))
    assert code == 1 and "cannot read recording" in err
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"nope": 1}))
    code, _, err = _run(capsys, str(CHAT), "--schema", str(schema))
    assert code == 1 and "cannot use" in err


def test_damaged_files_show_the_good_part_and_warn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = BASIC.read_bytes()
    torn = tmp_path / "torn.stdbrec"
    torn.write_bytes(data[: len(data) - 7])
    code, out, err = _run(capsys, str(torn), "--schema", str(CHAT_SCHEMA_JSON), "--no-cache")
    assert code == 3  # printed what was there, but it is not the whole session
    assert "warning: recording truncated at byte" in err
    assert "disconnect: local" in out


def test_a_corrupt_record_exits_3_after_the_timeline_and_cache_before_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = bytearray(CHAT.read_bytes())
    records = read_recording(CHAT).records
    end5 = next(r for r in records if isinstance(r, TickEndRecord) and r.index == 5)
    after = min(r.offset for r in records if r.offset > end5.offset)
    data[after + RECORD_HEAD.size] ^= 0xFF  # the first body byte after tick 5: checksum fails
    bad = tmp_path / "corrupt.stdbrec"
    bad.write_bytes(bytes(data))
    code, out, err = _run(capsys, str(bad))
    assert code == 3
    assert "warning: recording corrupt at byte" in err and "checksum mismatch" in err
    assert "tick 3      in   SubscribeMultiApplied" in out  # the good part is shown
    assert "cache at tick 5 (client state connected):" in out
    assert "the cache is as of then" in err


@pytest.mark.parametrize("option", ["--until-tick", "--rows"])
def test_negative_counts_are_refused(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["replay", str(CHAT), option, "-5"])
    assert exc.value.code == 2
    assert f"argument {option}: -5 is negative" in capsys.readouterr().err
    code, out, _ = _run(capsys, str(CHAT), "--until-tick", "0")
    assert code == 0 and "cache at the start" in out


def test_the_command_is_registered() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "stdb_game.cli", "replay", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and "--until-tick" in proc.stdout and "--summary" in proc.stdout


def test_every_script_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in SCRIPTS:
        path = FIXTURES / f"{name}.stdbrec"
        code, out, _ = _run(capsys, str(path), "--summary", "--no-cache")
        assert code == 0 and "messages in by kind:" in out


def test_a_closed_output_pipe_ends_quietly() -> None:
    """`stdb-game replay FILE | head`: no BrokenPipeError traceback, the SIGPIPE status."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "stdb_game.cli", "replay", str(CHAT), "--until-tick", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 141
    assert err == ""


def _frame(body: object) -> bytes:
    data = msgpack.packb(body)
    return RECORD_HEAD.pack(len(data), zlib.crc32(data)) + data


def test_summary_says_a_mark_came_before_the_first_tick(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = _frame([0, {"format": "stdb_game.recording", "version": 1}])
    marks = _frame([8, 0.1, "before anything"]) + _frame([2, 1, 0.5]) + _frame([8, 0.6, "in one"])
    path = tmp_path / "marks.stdbrec"
    path.write_bytes(MAGIC + head + marks + _frame([5, 1, 0, 0.7]))
    code, out, _ = _run(capsys, str(path), "--summary", "--no-cache")
    assert code == 0
    tail = out.split("marks:\n", 1)[1].splitlines()
    assert tail == ["  before the first tick: before anything", "  tick 1: in one"]


def test_the_header_and_the_damage_count_records_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = _frame([0, {"format": "stdb_game.recording", "version": 1}])
    # Two quiet ticks: one record of the file each, but a tick start and end when read.
    body = _frame([9, 1, 0.5, 0, 0.5]) + _frame([9, 2, 0.6, 0, 0.6]) + _frame([8, 0.7, "x"])
    path = tmp_path / "torn.stdbrec"
    torn_end = _frame([7, 0.8])[:-2]
    path.write_bytes(MAGIC + head + body + torn_end)
    rec = read_recording(path)
    assert len(rec.records) == 5 and rec.file_records == 4  # header, 2 quiet ticks, a mark
    assert rec.damage is not None and rec.damage.records_before == 4
    code, out, err = _run(capsys, str(path), "--no-cache")
    assert code == 3
    first = out.splitlines()[0]
    size = path.stat().st_size
    assert first.startswith(f"recording v1, {size} bytes, 4 records (header included), 2 ticks")
    damage = f"(after 4 good records, header included; {len(torn_end)} bytes unread)"
    assert damage in first and damage in err
