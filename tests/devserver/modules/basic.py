"""A port of the docs' basic module (one private table, a reducer that inserts into it,
lifecycle reducers): its schema is ``docs-example-basic-module.raw_module_def_v9.json``.

Used by tests/devserver/test_schema_json.py (schema matches the dump) and
tests/codegen/test_devserver_e2e.py (bindings generated from the dump, used live).
"""

from __future__ import annotations

from stdb_game.devserver.module import Module, ReducerContext

module = Module("basic")


@module.table(name="person")
class Person:
    name: str


@module.reducer
def add(ctx: ReducerContext, name: str) -> None:
    ctx.db.person.insert(Person(name=name))


@module.reducer(lifecycle="client_connected")
def identity_connected(ctx: ReducerContext) -> None:
    pass


@module.reducer(lifecycle="client_disconnected")
def identity_disconnected(ctx: ReducerContext) -> None:
    pass


@module.reducer(lifecycle="init")
def init(ctx: ReducerContext) -> None:
    pass


@module.reducer
def say_hello(ctx: ReducerContext) -> None:
    pass
