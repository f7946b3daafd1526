"""The dev server's database engine (API doc below); the network server sits on top of it.

Engine API (no networking, no threads, no clock: every call takes its timestamp)::

    db = Database.open(module_path_or_Module, data_dir=None, name=None, *, owner=None,
                       timestamp=None, seed=None, fsync=True)
    db.name, db.identity, db.owner            # database identity; owner sees private tables
    db.schema_json() -> dict                  # RawModuleDef v9 (GET /schema?version=9)
    db.tables: dict[str, TableInfo]           # name, table_id (4097+), row_type, primary_key,
                                              # public, indexes, scheduled_reducer, columns
    db.reducers: dict[str, ReducerInfo]       # name, reducer_id, params, lifecycle
    db.call_reducer(name, args_bsatn, *, sender, connection_id, timestamp) -> TxResult
    db.call_reducer_json(name, args_json, *, sender, connection_id, timestamp) -> TxResult
        # raise ReducerNotFoundError (.status 404), LifecycleCallError / ReducerArgsError (400)
    db.client_connected(sender, connection_id, timestamp) -> TxResult | None  # None: no reducer
    db.client_disconnected(sender, connection_id, timestamp) -> TxResult | None
    db.next_deadline() -> Timestamp | None ; db.run_due(now) -> list[TxResult]
    q = db.compile_query(sql, caller) -> Query          # SqlError(message) if unsupported
    qs = db.compile_subscription(sql, caller) -> list[Query]   # expands SELECT * FROM *
    q.table_name, q.key, q.tables, q.evaluate() -> list[bytes], q.delta(tx.changes) -> TableChange
    db.one_off(sql, caller) -> (table_name, list[bytes])
    db.sql(sql, caller, timestamp=None) -> SqlResult    # HTTP /sql: schema, rows, stats, tx
    db.close()
    mint_identity(issuer, subject) -> Identity          # bsatn.md §3

``TxResult``: committed, error, reducer_name, reducer_id, args (BSATN), caller,
caller_connection_id (zero if none), timestamp, changes {table: TableChange(deletes, inserts)}
(BSATN row bytes; an update of a pk row is a delete plus an insert), energy_used,
duration_micros, out_of_energy (always False), status ("Committed"/"Failed").

Modules are Python files using ``stdb_game.devserver.module`` (see its docstring).
"""

from __future__ import annotations

from .database import Database, load_module
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
]
