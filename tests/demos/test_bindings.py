"""The committed bindings and schema.json of each demo match what its module generates today."""

from __future__ import annotations

import pytest

from demos.bindings import render
from demos.common import DEMOS, HERE
from stdb_game.codegen.generator import write_package


@pytest.mark.parametrize("demo", sorted(DEMOS))
def test_committed_bindings_are_fresh(demo: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    schema, files = render(demo)
    fix = "regenerate with `python -m demos.bindings`"
    committed_schema = (HERE / demo / "schema.json").read_text(encoding="utf-8")
    assert committed_schema == schema, f"demos/{demo}/schema.json is stale; {fix}"
    out = tmp_path / "bindings"
    write_package(files, out)
    committed = HERE / demo / "bindings"
    fresh_names = sorted(p.name for p in out.glob("*.py"))
    assert sorted(p.name for p in committed.glob("*.py")) == fresh_names, f"file set differs; {fix}"
    for name in fresh_names:
        assert (committed / name).read_bytes() == (out / name).read_bytes(), (
            f"demos/{demo}/bindings/{name} is stale; {fix}"
        )


def test_schema_comes_from_the_module_without_opening_a_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Describing a module must not run its ``init`` (slow seeding, or one that fails)."""
    from stdb_game.devserver import Database

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("Database.open called")

    monkeypatch.setattr(Database, "open", refuse)
    for demo in sorted(DEMOS):
        schema, _ = render(demo)
        assert schema == (HERE / demo / "schema.json").read_text(encoding="utf-8")
