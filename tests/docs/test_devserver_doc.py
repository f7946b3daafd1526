"""docs/devserver.md must stay true: its example module runs on the dev server, its engine
snippet runs, its SQL examples are accepted or refused as it says, its CLI flags exist.

Code blocks under test are marked in the doc with ``<!-- doc-test: KIND -->`` on the line
before the fence.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stdb_game import Client, ClientState
from stdb_game.devserver import Database, SqlError, mint_identity
from stdb_game.devserver.launcher import READY_PREFIX, DevServerHandle, start_dev_server
from stdb_game.sats.values import Timestamp

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "devserver.md"
TEXT = DOC.read_text(encoding="utf-8")
T0 = Timestamp(1_700_000_000_000_000)
WAIT = 15.0  # seconds; every wait below is bounded by this


def blocks(kind: str) -> list[str]:
    """The bodies of the fenced code blocks marked ``<!-- doc-test: kind -->``."""
    pattern = re.compile(
        r"<!-- doc-test: " + re.escape(kind) + r" -->\n```[a-z]*\n(.*?)\n```", re.DOTALL
    )
    found = pattern.findall(TEXT)
    assert found, f"docs/devserver.md has no block marked doc-test: {kind}"
    return found


def sql_lines(kind: str) -> list[str]:
    """One query per line, without the trailing ``-- comment``."""
    (body,) = blocks(kind)
    return [line.split("--")[0].strip() for line in body.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def module_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The doc's example module, written where the engine snippet expects it."""
    (source,) = blocks("module")
    path = tmp_path_factory.mktemp("docmodule") / "dungeon.py"
    path.write_text(source + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def server(module_path: Path) -> Iterator[DevServerHandle]:
    with start_dev_server(module_path) as handle:
        yield handle


def tick_until(client: Client, predicate: Any, what: str) -> None:
    assert client.run_until(predicate, WAIT), f"timed out waiting for {what}"


def test_the_example_module_runs_on_the_dev_server(server: DevServerHandle) -> None:
    client = Client(server.url, server.database)
    client.connect()
    try:
        events: list[Any] = []
        client.on_reducer("join", events.append)
        sub = client.subscribe(["SELECT * FROM player", "SELECT * FROM loot", "SELECT * FROM item"])
        tick_until(client, lambda: sub.is_active and client.is_connected, "the subscription")

        client.call_reducer("join", "ada", "MAGE")
        tick_until(client, lambda: client.db.player.count() == 1, "the player row")
        (player,) = client.db.player.iter()
        assert player.name == "ada" and player.identity == client.identity
        assert player.role.name == "MAGE" and player.online

        client.call_reducer("join", "", "WARRIOR")  # raises ReducerError: rolled back
        tick_until(client, lambda: len(events) == 2, "both join results")
        assert [e.error for e in events] == [None, "name must not be empty"]
        assert client.db.player.count() == 1

        client.call_reducer("move", to=(3.0, 4.0))
        tick_until(client, lambda: next(iter(client.db.player.iter())).pos.x == 3.0, "the move")

        # The scheduled reducer (every 0.5 s) spawns loot; picking it up makes an item.
        tick_until(client, lambda: client.db.loot.count() > 0, "loot from the scheduled reducer")
        loot = next(iter(client.db.loot.iter()))
        client.call_reducer("pick_up", loot.id)
        tick_until(client, lambda: client.db.item.count() == 1, "the picked-up item")
        (item,) = client.db.item.iter()
        assert (item.id, item.slot, item.name, item.owner) == (1, 0, loot.name, client.identity)

        client.call_reducer("drop_all")
        tick_until(client, lambda: client.db.item.count() == 0, "drop_all")
    finally:
        if client.state is not ClientState.CLOSED:
            client.disconnect()


def test_the_ready_line_shows_what_the_server_prints(server: DevServerHandle) -> None:
    (line,) = blocks("ready-line")
    prefix, _, payload = line.partition(" ")
    assert prefix == READY_PREFIX
    assert set(json.loads(payload)) == set(server.info)


def test_the_engine_snippet_runs(module_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (snippet,) = blocks("engine")
    monkeypatch.chdir(module_path.parent)
    exec(compile(snippet, str(DOC) + ":engine", "exec"), {"__name__": "doc_engine"})


@pytest.fixture(scope="module")
def engine(module_path: Path) -> Iterator[Database]:
    """The example module with one player and one item, for the SQL examples."""
    db = Database.open(module_path, timestamp=T0)
    ada = mint_identity("localhost", "ada")
    later = Timestamp(T0.micros_since_epoch + 1_000_000)
    for name, args in (("join", ["ada", {"MAGE": []}]), ("pick_up", [1])):
        if name == "pick_up":
            db.run_due(later)
        res = db.call_reducer_json(name, args, sender=ada, connection_id=None, timestamp=later)
        assert res.committed, res.error
    db.run_due(Timestamp(later.micros_since_epoch + 1_000_000))  # more loot on the floor
    yield db
    db.close()


CLIENT = mint_identity("localhost", "some-client")


def test_sql_the_doc_says_subscriptions_accept(engine: Database) -> None:
    queries = sql_lines("sql-subscribe")
    assert len(queries) >= 5
    for sql in queries:
        engine.compile_subscription(sql, CLIENT)
        if sql != "SELECT * FROM *":  # subscriptions only
            engine.one_off(sql, CLIENT)
    # the join examples find ada's item
    joined = [q for q in queries if " JOIN " in q]
    assert joined and all(len(engine.one_off(q, CLIENT)[1]) == 1 for q in joined)


def test_sql_the_doc_says_subscriptions_refuse(engine: Database) -> None:
    queries = sql_lines("sql-rejected")
    assert len(queries) >= 5
    for sql in queries:
        with pytest.raises(SqlError):
            engine.compile_subscription(sql, CLIENT)


def test_sql_the_doc_says_http_sql_accepts(engine: Database) -> None:
    for sql in sql_lines("sql-http"):
        result = engine.sql(sql, CLIENT)
        assert result.tx is None and result.rows, sql
    with pytest.raises(SqlError) as refused:
        engine.sql("DELETE FROM loot", CLIENT)
    assert refused.value.unauthorized  # 401, as the doc says


def _dev_help() -> str:
    exe = shutil.which("stdb-game", path=os.path.dirname(sys.executable))
    cmd = [exe] if exe else [sys.executable, "-m", "stdb_game.cli"]
    out = subprocess.run(
        [*cmd, "dev", "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    return out.stdout


def test_every_cli_flag_in_the_doc_exists() -> None:
    help_text = _dev_help()
    offered = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", help_text))
    mentioned = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", TEXT))
    assert mentioned, "the doc mentions no flags?"
    assert mentioned <= offered, f"flags not in `stdb-game dev --help`: {mentioned - offered}"


def test_the_server_starts_from_the_command_line(module_path: Path, tmp_path: Path) -> None:
    """``stdb-game dev --module ... --port 0 --data-dir ...`` prints the ready line."""
    exe = shutil.which("stdb-game", path=os.path.dirname(sys.executable))
    cmd = [exe] if exe else [sys.executable, "-m", "stdb_game.cli"]
    args = [*cmd, "dev", "--module", str(module_path), "--port", "0"]
    args += ["--data-dir", str(tmp_path / "data"), "--log-level", "WARNING"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    try:
        stdout = proc.stdout
        assert stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True)
        reader.start()
        line = lines.get(timeout=WAIT)  # the server prints nothing else on stdout
        assert line.startswith(READY_PREFIX), line
        assert json.loads(line[len(READY_PREFIX) :])["database"] == "dungeon"
    finally:
        proc.terminate()
        code = proc.wait(WAIT)
        if proc.stdout is not None:
            proc.stdout.close()
    assert code == 0  # a clean shutdown on SIGTERM
    assert (tmp_path / "data" / "commitlog.stdb").is_file()
    assert (tmp_path / "data" / "devserver-token-secret").is_file()


def _deviations_section() -> str:
    start = TEXT.index("### Deviations")
    return " ".join(TEXT[start : TEXT.index("\n## ", start)].split())


def test_the_deviations_agree_with_the_server_and_the_engine(engine: Database) -> None:
    from stdb_game.devserver.database import ENERGY_PER_MICRO
    from stdb_game.devserver.server import DEVIATIONS

    energy = f"{ENERGY_PER_MICRO} quanta per microsecond"
    for where, text in (
        ("DEVIATIONS", " ".join(DEVIATIONS.split())),
        ("doc", _deviations_section()),
    ):
        assert energy in text and f"at least {ENERGY_PER_MICRO}" in text, where
        assert "text frame" in text.lower() and "1011" in text and "JSON" in text, where
    res = engine.call_reducer_json(
        "move", {"to": {"x": 1.0, "y": 1.0}}, sender=CLIENT, connection_id=None, timestamp=T0
    )
    assert res.energy_used == max(res.duration_micros, 1) * ENERGY_PER_MICRO
