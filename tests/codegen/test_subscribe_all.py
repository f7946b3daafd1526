"""``subscribe_to_all_tables``: public tables only, and a clear error when there are none."""

from __future__ import annotations

from types import ModuleType

import pytest
from conftest import connect

from stdb_game.errors import StdbError


def _queries(server: object) -> list[str]:
    msgs = server.received()  # type: ignore[attr-defined]
    return [q for m in msgs for q in getattr(m, "query_strings", ())]


def test_private_tables_are_left_out(synth: ModuleType) -> None:
    conn, server = connect(synth)
    assert not synth.SCHEMA.tables["secret"].public
    conn.subscribe_to_all_tables()
    queries = _queries(server)
    assert "SELECT * FROM secret" not in queries
    public = sorted(t.name for t in synth.SCHEMA.tables.values() if t.public)
    assert sorted(q.removeprefix("SELECT * FROM ") for q in queries) == public


def test_a_module_without_public_tables_raises_a_clear_error(basic: ModuleType) -> None:
    conn, server = connect(basic)
    with pytest.raises(StdbError, match=r"no public table \(private tables: person\)"):
        conn.subscribe_to_all_tables()
    assert _queries(server) == []  # nothing was sent
