"""``stdb-game sql`` against the dev server: rows decoded with the result's schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stdb_game import Client
from stdb_game.devserver.launcher import start_dev_server
from stdb_game.http import sql

CHAT = Path(__file__).resolve().parents[2] / "demos" / "chat" / "module.py"


def test_sql_values_and_the_cli_table() -> None:
    with start_dev_server(CHAT) as server:
        client = Client(server.url, server.database, reconnect=False)
        client.connect()
        client.call_reducer("set_name", "zoë")
        client.call_reducer("send_message", "hello | world")
        assert client.run_until(lambda: len(client.stats.rtt_samples) >= 2, 10)
        (result,) = sql(server.url, server.database, "SELECT * FROM user")
        (user,) = result.values()
        assert user.identity == client.identity and user.name == "zoë" and user.online is True
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "stdb_game.cli",
                "sql",
                "--server",
                server.url,
                "--database",
                server.database,
                "SELECT * FROM message",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert lines[0].split(" | ")[0].strip() == "sender"
        assert client.identity is not None and client.identity.to_hex() in lines[2]
        assert "hello | world" in lines[2] and lines[-1].startswith("(1 row,")
        bad = subprocess.run(
            [
                sys.executable,
                "-m",
                "stdb_game.cli",
                "sql",
                "--server",
                server.url,
                "--database",
                server.database,
                "SELECT * FROM nope",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert bad.returncode == 1 and "nope" in bad.stderr
        client.disconnect()
