"""End to end: the dev server runs demos/chat/module.py; bindings come from its schema endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import BASIC_JSON, CHAT_JSON, REPO, import_package

from stdb_game import cli
from stdb_game.codegen import generate, load_schema_file, render_bindings, runtime
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


BASIC_MODULE = REPO / "tests" / "devserver" / "modules" / "basic.py"


def _owner_token(data_dir: Path, database: str) -> str:
    """A token for the database owner, signed with the secret the server will load from
    ``data_dir``: the dev server hands no client the owner's token, and only the owner
    sees the basic module's one table (it is private)."""
    from stdb_game.devserver.identity import mint_identity, owner_identity
    from stdb_game.devserver.tokens import ISSUER, TokenAuthority

    authority = TokenAuthority(mint_identity, data_dir=data_dir)  # writes the secret
    subject = f"stdb-game-devserver-owner:{database}"
    assert mint_identity(ISSUER, subject) == owner_identity(database)
    return authority._sign(owner_identity(database), subject, ISSUER, None)


def test_basic_module_bindings_against_the_dev_server(tmp_path: Path) -> None:
    """Bindings generated from the docs' basic-module dump, used against its port live."""
    launcher = pytest.importorskip("stdb_game.devserver.launcher")
    from stdb_game.errors import StdbError

    raw = load_schema_file(BASIC_JSON)
    out = tmp_path / "basic_live_bindings"
    generate(raw, out, BASIC_JSON.name)
    pkg = import_package(out)
    data = tmp_path / "data"
    token = _owner_token(data, "basic")
    with launcher.start_dev_server(
        BASIC_MODULE, data_dir=data, database="basic", timeout=30
    ) as server:
        from stdb_game.http import get_schema

        live = get_schema(server.url, server.database)
        assert render_bindings(live, "x") == render_bindings(raw, "x")
        guest = pkg.connect(server.url, server.database, reconnect=False)
        owner = pkg.connect(server.url, server.database, token=token, reconnect=False)
        try:
            # No public table: subscribe_to_all_tables says so instead of sending nothing.
            with pytest.raises(StdbError, match="no public table"):
                guest.subscribe_to_all_tables()
            refused = guest.db.person.subscribe()
            assert guest.run_until(lambda: refused.error is not None, WAIT)

            inserted: list[Any] = []
            added: list[Any] = []
            hello: list[Any] = []
            owner.db.person.on_insert(lambda ctx, row: inserted.append((row, ctx.reducer_event)))
            owner.reducers.on_add(added.append)
            guest.reducers.on_say_hello(hello.append)
            sub = owner.db.person.subscribe()
            assert owner.run_until(lambda: sub.is_active, WAIT)
            assert owner.db.person.count() == 0

            guest.reducers.add(name="ada")
            owner.reducers.add(name="bob")
            guest.reducers.say_hello()
            assert owner.run_until(lambda: len(inserted) == 2, WAIT)
            assert guest.run_until(lambda: len(hello) == 1, WAIT)
            rows = sorted((row for row, _ in inserted), key=lambda p: p.name)
            assert rows == [pkg.Person("ada"), pkg.Person("bob")]
            assert all(type(r) is pkg.Person for r in rows)
            assert sorted(p.name for p in owner.db.person.iter()) == ["ada", "bob"]
            # Both calls reach the owner as typed reducer events (each touched its rows).
            callers = {ev.args: ev.caller_identity for ev in added if ev.committed}
            assert callers == {
                pkg.AddArgs("ada"): guest.identity,
                pkg.AddArgs("bob"): owner.identity,
            }
            assert {row.name: ev.args.name for row, ev in inserted} == {"ada": "ada", "bob": "bob"}
            assert hello[0].args == () and hello[0].committed
            assert guest.db.person.count() == 0  # a guest never receives private rows

            runtime.set_current_client(owner)
            assert pkg.Person.filter_by_name("ada") == [pkg.Person("ada")]
            assert pkg.Person.filter_by_name("eve") == []
            assert sorted(p.name for p in pkg.Person.iter()) == ["ada", "bob"]
        finally:
            guest.disconnect()
            owner.disconnect()
