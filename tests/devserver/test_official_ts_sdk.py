"""The official TypeScript SDK (npm ``spacetimedb@1.12.0``) against the dev server.

``tests/devserver/ts/quickstart_chat_check.mjs`` uses only the SDK's public API with
hand-written quickstart-chat bindings: anonymous connect, subscribe, set_name, send_message,
a light-mode second client, a failing reducer, reconnect with the saved token. This test
installs the pinned package (``npm ci`` into ``tests/devserver/ts/node_modules``, gitignored),
starts the dev server and runs the script. It skips only when node or npm is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from stdb_game.devserver.launcher import start_dev_server

TS_DIR = Path(__file__).resolve().parent / "ts"
SCRIPT = TS_DIR / "quickstart_chat_check.mjs"
CHAT = Path(__file__).resolve().parents[2] / "demos" / "chat" / "module.py"
SDK_VERSION = "1.12.0"

pytestmark = [pytest.mark.node, pytest.mark.slow]


def _installed_version() -> str | None:
    manifest = TS_DIR / "node_modules" / "spacetimedb" / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def _node_major(node: str) -> int:
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    return int(out.stdout.strip().lstrip("v").split(".")[0])


@pytest.fixture(scope="module")
def node() -> str:
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the official TypeScript SDK check")
    if _installed_version() != SDK_VERSION:
        proc = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=TS_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, f"npm ci failed:\n{proc.stdout}\n{proc.stderr}"
    assert _installed_version() == SDK_VERSION
    return node


def test_official_ts_sdk_quickstart_chat(node: str, tmp_path: Path) -> None:
    args = [node]
    if _node_major(node) < 22:  # Node 20/21 ship WebSocket behind a flag
        args.append("--experimental-websocket")
    with start_dev_server(CHAT, log_file=tmp_path / "server.log") as server:
        proc = subprocess.run(
            [*args, str(SCRIPT), server.ws_url, server.database],
            cwd=TS_DIR,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "NO_COLOR": "1"},
        )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    log = (tmp_path / "server.log").read_text(errors="replace")[-4000:]
    assert lines, f"no RESULT line (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n{log}"
    result = json.loads(lines[-1][len("RESULT ") :])
    failed = {k: v for k, v in result["checks"].items() if not v["ok"]}
    assert result["ok"] and not failed and proc.returncode == 0, (
        f"failed checks: {failed}\nerror: {result.get('error')}\nstderr: {proc.stderr}\n{log}"
    )
    expected = {
        "connect_anonymous",
        "subscription_applied",
        "user_row_updated",
        "message_inserted",
        "light_client_gets_insert",
        "failing_reducer_reported",
        "reconnect_with_token",
        "identity_kept_name",
    }
    assert expected <= set(result["checks"])
