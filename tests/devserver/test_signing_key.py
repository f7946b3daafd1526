"""The token signing key outlives a restart, with or without ``--data-dir``, so clients keep
their identities while the module is restarted. Every test here points the key (``HOME``,
``--key-file`` or the variable) at its temporary directory: never the real home."""

from __future__ import annotations

import json
import os
import queue
import stat
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from stdb_game.devserver.keyfile import (
    KEY_FILE_ENV,
    SigningKeyError,
    default_key_file,
    load_or_create_key,
)
from stdb_game.devserver.launcher import READY_PREFIX, start_dev_server

ROOT = Path(__file__).resolve().parents[2]
CHAT = ROOT / "demos" / "chat" / "module.py"
QUIET = ["--log-level", "WARNING"]


def _request(method: str, url: str, token: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def _mint(url: str) -> tuple[str, str]:
    status, body, _ = _request("POST", f"{url}/v1/identity")
    assert status == 200
    minted = json.loads(body)
    return minted["identity"], minted["token"]


def _identity_of(url: str, database: str, token: str) -> str | None:
    """The identity the server sees for ``token`` (None if it refuses the token)."""
    status, _, headers = _request("GET", f"{url}/v1/database/{database}", token)
    if status == 401:
        return None
    assert status == 200
    return headers["spacetime-identity"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_restart_without_data_dir_keeps_tokens(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "dev.key"
    with start_dev_server(CHAT, key_file=key, extra_args=QUIET) as first:
        identity, token = _mint(first.url)
    assert _mode(key) == 0o600 and _mode(key.parent) == 0o700
    with start_dev_server(CHAT, key_file=key, extra_args=QUIET) as second:
        assert _identity_of(second.url, second.database, token) == identity
        status, _, _ = _request("GET", f"{second.url}/v1/identity/{identity}/verify", token)
        assert status == 204


def test_the_env_var_names_the_key_without_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "from-env.key"
    monkeypatch.setenv(KEY_FILE_ENV, str(key))
    with start_dev_server(CHAT, extra_args=QUIET) as first:
        identity, token = _mint(first.url)
    assert key.is_file()
    with start_dev_server(CHAT, extra_args=QUIET) as second:
        assert _identity_of(second.url, second.database, token) == identity


def test_the_launcher_alone_uses_a_fresh_key_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(home))
    with start_dev_server(CHAT, extra_args=QUIET) as first:
        identity, token = _mint(first.url)
        assert _identity_of(first.url, first.database, token) == identity
    with start_dev_server(CHAT, extra_args=QUIET) as second:
        assert _identity_of(second.url, second.database, token) is None
    assert list(home.iterdir()) == []


def _serve_once(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``stdb-game dev`` until its ready line, then stop it (SIGTERM)."""
    cmd = [sys.executable, "-m", "stdb_game.cli", "dev", "--module", str(CHAT), "--port", "0"]
    proc = subprocess.Popen(
        [*cmd, *QUIET, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    stdout = proc.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=30)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    return subprocess.CompletedProcess(proc.args, proc.returncode, line + out, err)


def _child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (KEY_FILE_ENV, "XDG_STATE_HOME")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def test_the_cli_keeps_its_key_in_the_users_state_dir(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    res = _serve_once(_child_env(HOME=str(home)))
    assert res.stdout.startswith(READY_PREFIX), res.stderr
    key = home / ".local" / "state" / "stdb-game" / "devserver-key"
    assert key.is_file() and _mode(key) == 0o600
    first = key.read_text()
    assert len(bytes.fromhex(first)) == 32
    again = _serve_once(_child_env(HOME=str(home)))
    assert again.stdout.startswith(READY_PREFIX) and key.read_text() == first
    # --ephemeral-key: the old behaviour, nothing read or written
    key.unlink()
    assert _serve_once(_child_env(HOME=str(home)), "--ephemeral-key").returncode == 0
    assert not key.exists()


def test_a_bad_key_file_is_refused_and_kept(tmp_path: Path) -> None:
    key = tmp_path / "dev.key"
    key.write_text("not a key\n")
    res = _serve_once(_child_env(HOME=str(tmp_path)), "--key-file", str(key))
    assert res.returncode == 1 and not res.stdout.startswith(READY_PREFIX)
    assert f"{key} is not a dev-server signing key" in res.stderr
    assert "Traceback" not in res.stderr
    assert key.read_text() == "not a key\n"


def test_default_key_file_precedence(tmp_path: Path) -> None:
    home = str(tmp_path / "h")
    assert default_key_file({"HOME": home}) == Path(home) / ".local/state/stdb-game/devserver-key"
    state = str(tmp_path / "s")
    assert (
        default_key_file({"HOME": home, "XDG_STATE_HOME": state})
        == Path(state) / "stdb-game/devserver-key"
    )
    # a relative XDG_STATE_HOME is ignored, as the XDG spec says
    assert default_key_file({"HOME": home, "XDG_STATE_HOME": "rel"}) == Path(home) / Path(
        ".local/state/stdb-game/devserver-key"
    )
    explicit = str(tmp_path / "k")
    assert default_key_file(
        {"HOME": home, "XDG_STATE_HOME": state, KEY_FILE_ENV: explicit}
    ) == Path(explicit)


def test_load_or_create_key_makes_one_key_and_keeps_it(tmp_path: Path) -> None:
    key = tmp_path / "a" / "b" / "dev.key"
    made = load_or_create_key(key)
    assert len(made) == 32 and load_or_create_key(key) == made
    assert [p.name for p in key.parent.iterdir()] == ["dev.key"]  # no temporary left
    key.write_text("abcd")
    with pytest.raises(SigningKeyError, match="is not a dev-server signing key"):
        load_or_create_key(key)
    assert key.read_text() == "abcd"
