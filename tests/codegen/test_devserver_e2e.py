"""End to end: the dev server runs demos/chat/module.py; bindings come from its schema endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import CHAT_JSON, REPO, import_package

from stdb_game import cli
from stdb_game.codegen import load_schema_file, render_bindings, runtime
from stdb_game.events import ReducerStatus

CHAT_MODULE = REPO / "demos" / "chat" / "module.py"
WAIT = 15.0


def test_generated_bindings_against_the_dev_server(tmp_path: Path) -> None:
    launcher = pytest.importorskip("stdb_game.devserver.launcher")
    if not CHAT_MODULE.exists():
        pytest.skip("demos/chat/module.py is not there")
    out = tmp_path / "chat_live_bindings"
    with launcher.start_dev_server(CHAT_MODULE, data_dir=tmp_path / "data", timeout=30) as server:
        args = ["generate", "--server", server.url, "--database", server.database]
        assert cli.main([*args, "--out", str(out), "-q"]) == 0
        from stdb_game.http import get_schema

        live = get_schema(server.url, server.database)
        # The dev server's schema of the port is the real module's: same bindings.
        assert render_bindings(live, "x") == render_bindings(load_schema_file(CHAT_JSON), "x")
        pkg = import_package(out)
        conn = pkg.connect(server.url, server.database, reconnect=False)
        try:
            messages: list[Any] = []
            sent: list[Any] = []
            updates: list[Any] = []
            conn.db.message.on_insert(lambda ctx, row: messages.append(row))
            conn.db.user.on_update(lambda ctx, old, new: updates.append((old, new)))
            conn.reducers.on_send_message(sent.append)
            sub = conn.subscribe_to_all_tables()
            assert conn.run_until(lambda: sub.is_active, WAIT)
            me = conn.db.user.find(conn.identity)
            assert type(me) is pkg.User and me.online and me.name is None

            conn.reducers.set_name(name="ada")
            assert conn.run_until(lambda: bool(updates), WAIT)
            assert updates[0][1] == me._replace(name="ada")
            assert conn.db.user.identity.find(conn.identity).name == "ada"

            conn.reducers.send_message(text="hello")
            conn.reducers.send_message(text="")  # refused by the module
            assert conn.run_until(lambda: len(sent) == 2, WAIT)
            (msg,) = messages
            assert type(msg) is pkg.Message and (msg.sender, msg.text) == (conn.identity, "hello")
            assert sent[0].args == pkg.SendMessageArgs("hello") and sent[0].committed
            assert sent[1].status is ReducerStatus.FAILED and "empty" in (sent[1].error or "")

            runtime.set_current_client(conn)
            assert pkg.User.filter_by_identity(conn.identity).name == "ada"
            assert [m.text for m in pkg.Message.iter()] == ["hello"]
        finally:
            conn.disconnect()
