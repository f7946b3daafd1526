"""The dev server's database engine (API below); the network server sits on top of it.

Engine API -- no networking, no threads, no clock: every call takes its timestamp::

    db = Database.open(module_path_or_Module, data_dir=None, name=None, *, owner=None,
                       timestamp=None, seed=None, fsync=True)
    db.name, db.identity, db.owner            # database identity; the owner sees private tables
    db.schema_json() -> dict                  # RawModuleDef v9 (GET /schema?version=9)
    module_schema_json(module_path_or_Module) -> dict   # the same, without opening (no init)
    db.tables: dict[str, TableInfo]           # name, table_id (4097+), row_type, primary_key,
                                              # public, indexes, scheduled_reducer, columns
    db.reducers: dict[str, ReducerInfo]       # name, reducer_id (= position), params, lifecycle
    db.call_reducer(name, args_bsatn, *, sender, connection_id, timestamp) -> TxResult
    db.call_reducer_json(name, args_json, *, sender, connection_id, timestamp) -> TxResult
        # before running, raise ReducerNotFoundError (.status 404), LifecycleCallError or
        # ReducerArgsError (400); a reducer that raises gives committed=False + its message
    db.client_connected(sender, connection_id, timestamp) -> TxResult | None  # None: no reducer;
    db.client_disconnected(sender, connection_id, timestamp) -> TxResult | None  # Failed: reject
    db.clients -> {(identity, connection_id): None}   # connected now (st_client), logged
    db.startup_disconnects -> list[TxResult]  # client_disconnected runs open() did for clients
                                              # a crash left connected (as SpacetimeDB does)
    db.next_deadline() -> Timestamp | None ; db.run_due(now) -> list[TxResult]
    q = db.compile_query(sql, caller) -> Query     # SqlError(message) if unsupported/invisible
    qs = db.compile_subscription(sql, caller) -> list[Query]   # expands SELECT * FROM *
    q.table_name, q.key (whitespace-normalized text), q.tables (names it reads)
    q.evaluate() -> list[bytes]; q.delta(tx.changes) -> TableChange (empty if unaffected)
    db.one_off(sql, caller) -> (table_name, list[bytes])
    db.sql(sql, caller, timestamp=None) -> SqlResult   # HTTP /sql: .schema, .rows, .to_json(),
                                              # .tx (a DML statement's TxResult to broadcast)
    db.close()
    mint_identity(issuer, subject) -> Identity          # bsatn.md §3 (c200...)

``TxResult``: committed, error, reducer_name, reducer_id, args (BSATN), caller,
caller_connection_id (all zeros if none), timestamp, changes {table: TableChange(deletes,
inserts)} as BSATN row bytes (a pk update is a delete plus an insert; empty on failure except a
consumed one-shot schedule row), energy_used (nominal), duration_micros, out_of_energy (always
False), status ("Committed"/"Failed"). Scheduled runs have caller = db.identity, zero connection.

Modules are Python files (see ``stdb_game.devserver.module``)::

    from stdb_game.devserver.module import Module, ReducerContext, ReducerError, Identity, column
    module = Module("quickstart-chat")

    @module.table(name="user", public=True)
    class User:
        identity: Identity = column(primary_key=True)
        name: str | None
        online: bool

    @module.reducer
    def set_name(ctx: ReducerContext, name: str) -> None:
        user = ctx.db.user.identity.find(ctx.sender)
        if user is None:
            raise ReducerError("Cannot set name for unknown user")
        user.name = name
        ctx.db.user.identity.update(user)

SQL accepted by queries (semantics.md §7.1): ``SELECT * | t.* FROM t [[AS] x] [[INNER] JOIN u
[[AS] y] ON x.c = y.d] [WHERE ...]`` with ``=, !=, <>, <, <=, >, >=`` between a column and a
literal (integers, floats, 'strings', TRUE/FALSE, 0x.. / X'..' hex, hex strings for Identity,
RFC 3339 strings for Timestamp), another column, or ``:sender``; AND/OR/parentheses;
``SELECT * FROM *`` in subscriptions. Subscriptions need both join columns indexed. One-off
queries and ``db.sql`` join any number of tables (each ON names a column of the table it
joins); ``db.sql`` also takes ``SET row_limit = n`` (owner only) and ``SHOW row_limit``.
"""

from __future__ import annotations

from .database import Database, load_module, module_schema_json
from .errors import (
    CommitLogError,
    LifecycleCallError,
    ModuleError,
    ReducerArgsError,
    ReducerCallError,
    ReducerError,
    ReducerNotFoundError,
    SqlError,
    UniqueViolation,
)
from .identity import mint_identity
from .module import Module
from .results import ReducerInfo, TableChange, TableInfo, TxResult

__all__ = [
    "CommitLogError",
    "Database",
    "LifecycleCallError",
    "Module",
    "ModuleError",
    "ReducerArgsError",
    "ReducerCallError",
    "ReducerError",
    "ReducerInfo",
    "ReducerNotFoundError",
    "SqlError",
    "TableChange",
    "TableInfo",
    "TxResult",
    "UniqueViolation",
    "load_module",
    "mint_identity",
    "module_schema_json",
]
