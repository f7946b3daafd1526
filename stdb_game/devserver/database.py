"""The database engine: a module's tables in memory, reducers as transactions, schedules, log.

Single-threaded and clock-free: every call takes the timestamp it runs at, and the network
layer drives scheduled reducers with ``next_deadline()`` / ``run_due(now)``.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import DecodeError, EncodeError
from ..sats import types as t
from ..sats.codec import get_codec
from ..sats.values import ConnectionId, Identity, Timestamp
from ._satsjson import JsonValueError, value_from_json
from .commitlog import CommitLog
from .context import ReducerContext
from .errors import (
    CommitLogError,
    InitError,
    LifecycleCallError,
    ModuleError,
    ReducerArgsError,
    ReducerError,
    ReducerNotFoundError,
)
from .handles import DbView, TableHandle
from .identity import database_identity, owner_identity
from .module import Module
from .moduledef import ModuleDef, ReducerDef, TableDef
from .results import ReducerInfo, TableChange, TableInfo, TxResult
from .scheduler import Scheduler
from .storage import TableStore
from .transaction import Transaction
from .usertb import user_traceback

__all__ = ["Database", "load_module", "module_schema_json"]

log = logging.getLogger(__name__)
LOG_FILE = "commitlog.stdb"
_ZERO_CONN = ConnectionId(0)
#: A connected client as SpacetimeDB's ``st_client`` keys it.
ClientKey = tuple[Identity, ConnectionId]
#: Most scheduled reducer runs one ``run_due`` call performs (guards against a reducer that
#: keeps scheduling itself "now").
MAX_RUNS_PER_CALL = 10_000
#: Nominal energy charged per microsecond of reducer time (there is no real energy budget).
ENERGY_PER_MICRO = 1_000


def load_module(path: str | Path) -> Module:
    """Import a module file and return its ``Module`` (a global named ``module``, or the only one)."""
    path = Path(path).resolve()
    name = f"stdb_game_module_{hashlib.blake2s(str(path).encode(), digest_size=6).hexdigest()}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModuleError(f"cannot load module file {path}")
    pymod = importlib.util.module_from_spec(spec)
    sys.modules[name] = pymod
    try:
        spec.loader.exec_module(pymod)
    except Exception:
        sys.modules.pop(name, None)
        raise
    found = getattr(pymod, "module", None)
    if isinstance(found, Module):
        return found
    mods = [v for v in vars(pymod).values() if isinstance(v, Module)]
    if len(mods) != 1:
        raise ModuleError(f"{path} must define exactly one Module (found {len(mods)})")
    return mods[0]


def module_schema_json(module: Module | str | Path) -> dict[str, Any]:
    """RawModuleDef v9 JSON from the module's declarations alone: no ``init``, no data.

    Code generation needs only the shape; running ``init`` would make it as slow as the
    module's seeding and fail whenever ``init`` does.
    """
    from .schema import module_def_json

    mod = module if isinstance(module, Module) else load_module(module)
    return module_def_json(mod.build())


def _schema_fingerprint(schema: dict[str, Any]) -> str:
    return hashlib.blake2s(json.dumps(schema, sort_keys=True).encode()).hexdigest()


class Database:
    """One database: open it with ``Database.open``; see the package docstring for the API."""

    def __init__(
        self,
        module: Module,
        *,
        name: str | None = None,
        owner: Identity | None = None,
        identity: Identity | None = None,
        seed: int | None = None,
    ) -> None:
        self.module = module
        self.definition: ModuleDef = module.build()
        self.name = name or module.name
        self.identity = identity or database_identity(self.name)
        self.owner = owner or owner_identity(self.name)
        self.seed = module.seed if seed is None else seed
        self.stores: dict[str, TableStore] = {
            n: TableStore(td) for n, td in self.definition.tables.items()
        }
        self._tx: Transaction | None = None
        self.db = DbView({n: TableHandle(s, self._current) for n, s in self.stores.items()})
        self.scheduler = Scheduler()
        #: SQL system variables set with ``SET name = n`` (sqlvars.py); in memory only
        self.sql_vars: dict[str, int] = {}
        self.tx_offset = 0
        self._log: CommitLog | None = None
        self._creating = False
        #: what the reducer run by ``_create`` raised, kept for InitError
        self._raised: BaseException | None = None
        self.init_result: TxResult | None = None
        #: clients connected now (``st_client``), in connection order; logged, so a restart
        #: after a crash can run client_disconnected for each, as SpacetimeDB does
        self.clients: dict[ClientKey, None] = {}
        self._track_clients = "OnDisconnect" in self.definition.lifecycle
        #: results of the client_disconnected runs ``open`` did for clients left connected
        self.startup_disconnects: list[TxResult] = []
        self.tables: dict[str, TableInfo] = {
            n: TableInfo(
                name=n,
                table_id=td.table_id,
                row_type=td.row_type,
                primary_key=td.primary_key,
                public=td.public,
                indexes=tuple(td.indexes),
                scheduled_reducer=td.scheduled_reducer,
                columns=tuple(c.name for c in td.columns),
            )
            for n, td in self.definition.tables.items()
        }
        self.reducers: dict[str, ReducerInfo] = {
            n: ReducerInfo(n, rd.reducer_id, rd.params, rd.lifecycle)
            for n, rd in self.definition.reducers.items()
        }
        self._reducer_list = list(self.definition.reducers.values())
        self._schema: dict[str, Any] | None = None

    # ---- opening -----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        module: Module | str | Path,
        data_dir: str | Path | None = None,
        name: str | None = None,
        *,
        owner: Identity | None = None,
        timestamp: Timestamp | None = None,
        seed: int | None = None,
        fsync: bool = True,
    ) -> Database:
        """Load the module, replay ``data_dir``'s commit log (or run ``init`` on first creation).

        ``timestamp`` is "now" for ``init`` and for re-arming interval schedules after a replay.
        """
        mod = module if isinstance(module, Module) else load_module(module)
        db = cls(mod, name=name, owner=owner, seed=seed)
        now = timestamp or Timestamp.now()
        if data_dir is None:
            db._create(now)
            return db
        path = Path(data_dir) / LOG_FILE
        clog = CommitLog(path, fsync=fsync)
        if clog.records:
            db._log = clog
            try:
                db._replay(clog.records, now)
            except Exception:
                db._log = None
                clog.close()
                raise
            db._disconnect_leftover_clients(now)
            return db
        clog.append(db._header(now))
        db._log = clog
        try:
            db._create(now)
        except Exception:
            clog.close()
            path.unlink(missing_ok=True)
            raise
        return db

    def _header(self, now: Timestamp) -> dict[str, Any]:
        return {
            "t": "header",
            "format": 1,
            "module": self.definition.name,
            "name": self.name,
            "identity": self.identity.to_hex(),
            "owner": self.owner.to_hex(),
            "schema": _schema_fingerprint(self.schema_json()),
            "created": now.micros_since_epoch,
        }

    def _create(self, now: Timestamp) -> None:
        """Run ``init``; its log record is marked so a crash before it commits reruns it."""
        rd = self.definition.lifecycle.get("Init")
        if rd is None:
            return
        self._creating = True
        self._raised = None
        try:
            res = self._run(rd, (), b"", self.owner, None, now)
        finally:
            self._creating = False
        if not res.committed:
            cause, self._raised = self._raised, None
            raise InitError(f"init reducer failed: {res.error}", cause)
        self.init_result = res

    def _replay(self, records: list[Any], now: Timestamp) -> None:
        head = records[0]
        if not isinstance(head, dict) or head.get("t") != "header":
            raise CommitLogError("commit log does not start with a header record")
        if head.get("schema") != _schema_fingerprint(self.schema_json()):
            raise CommitLogError(
                f"the module's schema changed since this data directory was created "
                f"(database {head.get('name')!r}); start with an empty data directory"
            )
        self.identity = Identity.from_hex(head["identity"])
        self.owner = Identity.from_hex(head["owner"])
        has_init = "Init" in self.definition.lifecycle
        if has_init and not any(rec.get("init") for rec in records[1:]):
            # created, but init never committed (crash in between): run it now
            self._create(now)
            return
        for rec in records[1:]:
            kind = rec.get("t")
            if "cl" in rec:
                self._apply_client(rec["cl"])
            if kind != "tx":
                continue
            for tname, deletes, inserts in rec["c"]:
                store = self.stores[tname]
                for data in deletes:
                    store.remove(data)
                for data in inserts:
                    store.add(data, store.codec.decode(data))
            for tname, seqs in rec.get("s", {}).items():
                for col, value in seqs.items():
                    self.stores[tname].sequences[int(col)] = value
            self.tx_offset = rec["n"]
        for td in self.definition.tables.values():
            if td.scheduled_reducer is not None:
                for data, row in self.stores[td.name].rows.items():
                    self._schedule_row(td, data, row, now)

    def _disconnect_leftover_clients(self, now: Timestamp) -> None:
        """Run client_disconnected for every client the log says is still connected.

        Only a crash (or kill -9) leaves any: a clean shutdown disconnects everyone. The
        real server does this on startup too, before its scheduler starts.
        """
        leftover = list(self.clients)
        if not leftover:
            return
        log.info(
            "running client_disconnected for %d client(s) connected when the server stopped",
            len(leftover),
        )
        for identity, connection_id in leftover:
            res = self.client_disconnected(identity, connection_id, now)
            if res is not None:
                self.startup_disconnects.append(res)

    def close(self) -> None:
        """Close the commit log (the in-memory state stays readable)."""
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- schema ------------------------------------------------------------------------------

    def schema_json(self) -> dict[str, Any]:
        """RawModuleDef v9 as SATS-JSON, the body of ``GET /v1/database/:name/schema?version=9``."""
        if self._schema is None:
            from .schema import module_def_json

            self._schema = module_def_json(self.definition)
        return self._schema

    # ---- running reducers --------------------------------------------------------------------

    def _current(self) -> Transaction:
        tx = self._tx
        if tx is None:
            raise RuntimeError("tables can only be used inside a reducer (no transaction open)")
        return tx

    def _rng_seed(self, timestamp: Timestamp) -> tuple[int, int, int]:
        """What ``ctx.rng`` is seeded from (hashed only if the reducer uses it)."""
        return (self.seed, timestamp.micros_since_epoch, self.tx_offset)

    def _run(
        self,
        rd: ReducerDef,
        args: tuple[Any, ...],
        args_bsatn: bytes,
        sender: Identity,
        connection_id: ConnectionId | None,
        timestamp: Timestamp,
        before: Callable[[Transaction], Any] | None = None,
        client: str | None = None,
    ) -> TxResult:
        if self._tx is not None:
            raise RuntimeError("a reducer cannot call another reducer through the database")
        conn = connection_id if connection_id is not None else _ZERO_CONN
        ctx = ReducerContext(
            sender=sender,
            connection_id=None if conn.is_zero() else conn,
            timestamp=timestamp,
            db=self.db,
            identity=self.identity,
            seed=self._rng_seed(timestamp),
        )
        tx = self._tx = Transaction()
        error: str | None = None
        start = time.perf_counter_ns()
        try:
            if before is not None:
                before(tx)
            rd.fn(ctx, *args)
        except Exception as exc:
            tx.rollback()
            error = str(exc) or type(exc).__name__
            if self._creating:
                self._raised = exc  # InitError carries it; no log line of its own
            elif not isinstance(exc, (ReducerError, ValueError, EncodeError)):
                log.info("reducer %s raised:\n%s", rd.name, user_traceback(exc).rstrip())
        except asyncio.CancelledError:  # the host's own cancellation, not the module's doing
            tx.rollback()
            raise
        except BaseException as exc:
            # sys.exit(), SystemExit, KeyboardInterrupt raised by module code: one reducer
            # failed; the server (one process for every client) must not stop.
            tx.rollback()
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if self._creating:
                self._raised = exc
            log.warning("reducer %s raised %s; treated as a failure", rd.name, error)
        finally:
            self._tx = None
        changes: dict[str, TableChange] = {}
        if error is None:
            try:
                changes = self._commit(
                    tx, timestamp, rd.name, self._client_op(client, sender, conn)
                )
            except CommitLogError as exc:  # the log is poisoned: every commit fails
                tx.rollback()
                error = str(exc)
            except OSError as exc:  # the log cut the partial record away; later commits work
                tx.rollback()
                error = f"commit log write failed: {exc}"
        micros = (time.perf_counter_ns() - start) // 1000
        return TxResult(
            committed=error is None,
            error=error,
            reducer_name=rd.name,
            reducer_id=rd.reducer_id,
            args=args_bsatn,
            caller=sender,
            caller_connection_id=conn,
            timestamp=timestamp,
            changes=changes,
            energy_used=max(micros, 1) * ENERGY_PER_MICRO,
            duration_micros=micros,
            tx_offset=self.tx_offset,
        )

    def _commit(
        self,
        tx: Transaction,
        timestamp: Timestamp,
        label: str,
        client_op: list[str] | None = None,
    ) -> dict[str, TableChange]:
        """Make ``tx`` durable and visible; returns its per-table changes.

        ``client_op`` (from ``_client_op``) adds or removes a connected client in the same
        record, so the reducer and the client's ``st_client`` change commit together.
        """
        changes: dict[str, TableChange] = {}
        for store, (deleted, inserted) in tx.changes.items():
            if deleted or inserted:
                changes[store.name] = TableChange(
                    list(deleted), list(inserted), list(deleted.values()), list(inserted.values())
                )
        if self._log is not None and (changes or self._creating or client_op):
            record: dict[str, Any] = {
                "t": "tx",
                "n": self.tx_offset + 1,
                "ts": timestamp.micros_since_epoch,
                "r": label,
                "c": [[n, ch.deletes, ch.inserts] for n, ch in changes.items()],
                "s": tx.touched_sequences(),
            }
            if self._creating:
                record["init"] = True
            if client_op:
                record["cl"] = client_op
            self._log.append(record)
        if client_op:
            self._apply_client(client_op)
        self.tx_offset += 1
        for name, ch in changes.items():
            td = self.definition.tables[name]
            if td.scheduled_reducer is None:
                continue
            id_col = td.scheduled_id_column
            assert id_col is not None
            for row in ch.delete_rows:
                self.scheduler.remove((name, row[id_col]))
            for data, row in zip(ch.inserts, ch.insert_rows):
                self._schedule_row(td, data, row, timestamp)
        return changes

    def _schedule_row(
        self, td: TableDef, data: bytes, row: tuple[Any, ...], now: Timestamp
    ) -> None:
        assert td.scheduled_at_column is not None and td.scheduled_id_column is not None
        self.scheduler.put(
            (td.name, row[td.scheduled_id_column]), row[td.scheduled_at_column], data, now
        )

    def _reducer(self, name: str) -> ReducerDef:
        rd = self.definition.reducers.get(name)
        if rd is None:
            raise ReducerNotFoundError(f"no such reducer: {name!r} in database {self.name!r}")
        if rd.lifecycle is not None:
            raise LifecycleCallError(f"lifecycle reducer {name!r} cannot be called by clients")
        return rd

    def call_reducer(
        self,
        name: str,
        args_bsatn: bytes,
        *,
        sender: Identity,
        connection_id: ConnectionId | None,
        timestamp: Timestamp,
    ) -> TxResult:
        """Run reducer ``name`` with BSATN-encoded arguments as one transaction.

        Raises ReducerNotFoundError (404), LifecycleCallError (400) or ReducerArgsError (400)
        before running; a reducer that raises gives ``committed=False`` with its message.
        Trailing bytes after the arguments are ignored, as the real server does.
        """
        rd = self._reducer(name)
        codec = get_codec(rd.obj_params)
        try:
            args, _ = codec.decode_from(bytes(args_bsatn), 0)
        except DecodeError as exc:
            raise ReducerArgsError(f"invalid arguments for reducer {name}: {exc}") from None
        return self._run(rd, tuple(args), bytes(args_bsatn), sender, connection_id, timestamp)

    def call_reducer_json(
        self,
        name: str,
        args_json: Any,
        *,
        sender: Identity,
        connection_id: ConnectionId | None,
        timestamp: Timestamp,
    ) -> TxResult:
        """Like ``call_reducer`` with SATS-JSON arguments: an array in order or an object by name."""
        rd = self._reducer(name)
        try:
            values = value_from_json(rd.params, args_json, "args")
            data = get_codec(rd.params).encode(values)
        except (JsonValueError, EncodeError) as exc:
            raise ReducerArgsError(f"invalid arguments for reducer {name}: {exc}") from None
        return self.call_reducer(
            name, data, sender=sender, connection_id=connection_id, timestamp=timestamp
        )

    # ---- connected clients (st_client) -------------------------------------------------------

    def _client_op(
        self, op: str | None, identity: Identity, connection_id: ConnectionId
    ) -> list[str] | None:
        """The log entry that adds (``"+"``) or removes (``"-"``) a client, if it changes
        anything. Only modules with a client_disconnected reducer need the bookkeeping."""
        if op is None or not self._track_clients:
            return None
        known = (identity, connection_id) in self.clients
        if (op == "+") == known:
            return None
        return [op, identity.to_hex(), connection_id.to_hex()]

    def _apply_client(self, entry: list[str]) -> None:
        op, identity, connection_id = entry
        key = (Identity.from_hex(identity), ConnectionId(int(connection_id, 16)))
        if op == "+":
            self.clients[key] = None
        else:
            self.clients.pop(key, None)

    def _log_client(self, op: str, identity: Identity, connection_id: ConnectionId) -> None:
        """Record a client change no reducer commits (none declared, or it failed)."""
        entry = self._client_op(op, identity, connection_id)
        if entry is None:
            return
        if self._log is not None:
            try:
                self._log.append({"t": "cl", "cl": entry})
            except (OSError, CommitLogError) as exc:
                # Nothing else is lost: at worst a restart runs client_disconnected again.
                log.warning("cannot log a client change: %s", exc)
                return
        self._apply_client(entry)

    def _lifecycle(
        self, kind: str, sender: Identity, connection_id: ConnectionId | None, timestamp: Timestamp
    ) -> TxResult | None:
        rd = self.definition.lifecycle.get(kind)
        conn = connection_id if connection_id is not None else _ZERO_CONN
        op = "+" if kind == "OnConnect" else "-"
        if rd is None:
            self._log_client(op, sender, conn)
            return None
        res = self._run(rd, (), b"", sender, connection_id, timestamp, client=op)
        if op == "-" and not res.committed:
            # The client is gone whether the module likes it or not (as in SpacetimeDB).
            self._log_client(op, sender, conn)
        return res

    def client_connected(
        self, sender: Identity, connection_id: ConnectionId | None, timestamp: Timestamp
    ) -> TxResult | None:
        """Run the module's client_connected reducer (None if it has none). Failed = reject."""
        return self._lifecycle("OnConnect", sender, connection_id, timestamp)

    def client_disconnected(
        self, sender: Identity, connection_id: ConnectionId | None, timestamp: Timestamp
    ) -> TxResult | None:
        """Run the module's client_disconnected reducer (None if it has none)."""
        return self._lifecycle("OnDisconnect", sender, connection_id, timestamp)

    # ---- scheduled reducers ------------------------------------------------------------------

    def next_deadline(self) -> Timestamp | None:
        """When the earliest scheduled reducer is due, or None if nothing is scheduled."""
        return self.scheduler.next_deadline()

    def run_due(self, now: Timestamp) -> list[TxResult]:
        """Run every scheduled reducer due at ``now`` (earliest first), each as a transaction.

        Rows a run schedules at or before ``now`` run in the same call. Interval rows move to
        their next fixed-rate slot after ``now`` (scheduler.py); time rows are deleted by the
        run that consumes them.
        """
        results: list[TxResult] = []
        for _ in range(MAX_RUNS_PER_CALL):
            item = self.scheduler.pop_due(now)
            if item is None:
                break
            key, order, data, at = item
            store = self.stores[key[0]]
            if data not in store.rows:
                self.scheduler.remove(key)
                continue
            td = store.table
            assert td.scheduled_reducer is not None
            rd = self.definition.reducers[td.scheduled_reducer]
            row = store.obj_codec.decode(data)
            one_shot = not at.is_interval

            def consume(tx: Transaction, store: TableStore = store, data: bytes = data) -> None:
                tx.delete(store, data)

            res = self._run(
                rd, (row,), data, self.identity, None, now, consume if one_shot else None
            )
            if not res.committed and one_shot and data in store.rows:
                tx = Transaction()
                tx.delete(store, data)
                res.changes = self._commit(tx, now, rd.name)
            self.scheduler.settle(key, order, now)
            results.append(res)
        return results

    # ---- queries -----------------------------------------------------------------------------

    def can_read(self, table: str, caller: Identity) -> bool:
        """Whether ``caller`` may see ``table`` (public, or the caller owns the database)."""
        info = self.tables.get(table)
        return info is not None and (info.public or caller == self.owner)

    def compile_query(self, sql: str, caller: Identity) -> Any:
        """Compile one subscription query (SqlError if unsupported or not visible)."""
        from .sql import compile_query

        return compile_query(self, sql, caller, subscription=True)

    def compile_subscription(self, sql: str, caller: Identity) -> list[Any]:
        """Like ``compile_query`` but ``SELECT * FROM *`` gives one query per readable table."""
        from .sql import compile_subscription

        return compile_subscription(self, sql, caller)

    def one_off(self, sql: str, caller: Identity) -> tuple[str, list[bytes]]:
        """Run a one-off query: (table name, matching rows as BSATN); SqlError past row_limit."""
        from .sql import compile_query
        from .sqlvars import check_row_limit

        q = compile_query(self, sql, caller, subscription=False)
        rows = q.evaluate()
        check_row_limit(self, caller, len(rows))
        return q.table_name, rows

    def sql(self, sql: str, caller: Identity, *, timestamp: Timestamp | None = None) -> Any:
        """HTTP ``/sql``: SELECT (columns, COUNT, LIMIT), SHOW, or owner-only
        INSERT/UPDATE/DELETE/SET."""
        from .sqlhttp import run_sql

        return run_sql(self, sql, caller, timestamp or Timestamp.now())

    # ---- direct access (tests, tools) --------------------------------------------------------

    def rows(self, table: str) -> list[Any]:
        """Current rows of ``table`` as row objects (outside any transaction)."""
        store = self.stores[table]
        return [store.obj_codec.decode(d) for d in store.rows]

    def row_count(self, table: str) -> int:
        return len(self.stores[table].rows)

    def reducer_by_id(self, reducer_id: int) -> ReducerInfo:
        return self.reducers[self._reducer_list[reducer_id].name]

    def apply_external(
        self, label: str, timestamp: Timestamp, fn: Callable[[Any], Any]
    ) -> TxResult:
        """Run ``fn(db_view)`` as a transaction not tied to a reducer (SQL DML uses this)."""
        rd = ReducerDef(
            label, -1, lambda ctx: fn(ctx.db), t.ProductType([]), t.ProductType([]), None
        )
        return self._run(rd, (), b"", self.owner, None, timestamp)
