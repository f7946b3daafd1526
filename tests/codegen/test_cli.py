"""``stdb-game generate`` from the command line: sources, output, exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import CHAT_JSON

from stdb_game import cli
from stdb_game.errors import ConnectError


def run(*args: str) -> int:
    return cli.main(["generate", *args])


def test_generate_from_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "module_bindings"
    assert run("--schema", str(CHAT_JSON), "--out", str(out)) == 0
    assert "11 files (11 written, 0 unchanged, 0 stale removed)" in capsys.readouterr().out
    assert (out / "__init__.py").exists() and (out / "send_message_reducer.py").exists()
    assert run("--schema", str(CHAT_JSON), "--out", str(out), "-q") == 0
    assert capsys.readouterr().out == ""


def test_generate_from_stdin_skips_cli_warning_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "WARNING: This command is UNSTABLE\n" + CHAT_JSON.read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert run("--schema", "-", "--out", str(tmp_path / "b"), "-q") == 0
    assert "from stdin" in (tmp_path / "b" / "_types.py").read_text().splitlines()[0]


def test_generate_from_a_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def fake_get_schema(url: str, db: str, token: str | None = None) -> dict[str, Any]:
        seen.append((url, db, token))
        data: dict[str, Any] = json.loads(CHAT_JSON.read_text())
        return data

    monkeypatch.setattr("stdb_game.http.get_schema", fake_get_schema)
    args = ["--server", "http://localhost:3000", "--database", "chat", "--token", "t"]
    assert run(*args, "--out", str(tmp_path / "c"), "-q") == 0
    assert seen == [("http://localhost:3000", "chat", "t")]
    assert "from database chat" in (tmp_path / "c" / "__init__.py").read_text()


def test_errors_and_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "o")
    assert run("--server", "http://x", "--out", out) == 2
    assert "--server needs --database" in capsys.readouterr().err
    assert run("--schema", str(CHAT_JSON), "--database", "d", "--out", out) == 2
    assert run("--schema", str(tmp_path / "missing.json"), "--out", out) == 1
    bad = tmp_path / "bad.json"
    bad.write_text('{"typespace": {"types": [{"Nope": []}]}, "tables": [], "reducers": []}')
    assert run("--schema", str(bad), "--out", out) == 2
    assert "unknown type tag 'Nope'" in capsys.readouterr().err
    bad.write_text("not json at all")
    assert run("--schema", str(bad), "--out", out) == 2

    def refuse(*_: Any, **__: Any) -> Any:
        raise ConnectError("connection refused")

    monkeypatch.setattr("stdb_game.http.get_schema", refuse)
    assert run("--server", "http://x", "--database", "d", "--out", out) == 1
    assert "connection refused" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run("--out", out)  # a source is required


def test_generate_is_listed_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "generate" in capsys.readouterr().out
