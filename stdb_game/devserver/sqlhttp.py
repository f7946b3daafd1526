"""HTTP ``/sql`` (semantics.md §7.2 subset): SELECT with column lists, COUNT(*), LIMIT and joins
of any number of tables, ``SET``/``SHOW`` of system variables (sqlvars.py), and owner-only
INSERT / UPDATE / DELETE run as transactions (their changes must be broadcast)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from ..sats import types as t
from ..sats.values import Identity, Timestamp
from ._satsjson import untyped_json
from .errors import SqlError
from .results import TxResult
from .sqlparse import (
    MAX_SQL_BYTES,
    TOO_DEEP,
    Plan,
    join_matches,
    literal_value,
    parse_one,
    plan_from,
)
from .sqlvars import check_row_limit, parse_show, run_set, show_result

if TYPE_CHECKING:
    from .database import Database

__all__ = ["SqlResult", "run_sql"]

_SELECT_ARGS = {"expressions", "from", "from_", "joins", "where", "limit", "kind"}


@dataclass
class SqlResult:
    """One statement's result: column types, rows (tuples of values), DML counters, and the
    committed transaction of a DML statement (None for SELECT) for the network layer to broadcast."""

    schema: t.ProductType
    rows: list[tuple[Any, ...]]
    rows_inserted: int = 0
    rows_deleted: int = 0
    rows_updated: int = 0
    total_duration_micros: int = 0
    tx: TxResult | None = None
    stats: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """One element of the HTTP response array (http.md §5)."""
        return {
            "schema": self.schema.to_json()["Product"],
            "rows": [
                [untyped_json(e.algebraic_type, v) for e, v in zip(self.schema.elements, row)]
                for row in self.rows
            ],
            "total_duration_micros": self.total_duration_micros,
            "stats": {
                "rows_inserted": self.rows_inserted,
                "rows_deleted": self.rows_deleted,
                "rows_updated": self.rows_updated,
            },
        }


def _matches(plan: Plan) -> list[tuple[tuple[bytes, Any], ...]]:
    """All (bytes, row) combinations of the FROM sources that satisfy the JOINs and WHERE."""
    return join_matches(plan)


def _select(db: Database, stmt: exp.Select, caller: Identity) -> SqlResult:
    extra = [k for k, v in stmt.args.items() if v and k not in _SELECT_ARGS]
    if extra or stmt.args.get("kind"):
        raise SqlError(f"unsupported in SELECT: {', '.join(extra) or stmt.args['kind']}")
    plan = plan_from(db, stmt, caller, max_joins=None)
    limit = None
    lim = stmt.args.get("limit")
    if lim is not None:
        node = lim.expression
        if not isinstance(node, exp.Literal) or node.is_string or not node.this.isdigit():
            raise SqlError("LIMIT takes a non-negative integer")
        limit = int(node.this)
    matches = _matches(plan)
    check_row_limit(db, caller, len(matches))
    exprs = stmt.expressions
    if len(exprs) == 1 and isinstance(exprs[0], exp.Alias | exp.Count):
        node = exprs[0]
        alias = node.alias if isinstance(node, exp.Alias) else "count"
        inner = node.this if isinstance(node, exp.Alias) else node
        if isinstance(inner, exp.Count):
            if not isinstance(inner.this, exp.Star):
                raise SqlError("only COUNT(*) is supported")
            n = len(matches) if limit is None else min(len(matches), limit)
            return SqlResult(t.ProductType([(alias, t.U64)]), [(n,)])
    cols: list[tuple[str, int, int, t.AlgebraicType]] = []  # (name, side, pos, type)
    for e in exprs:
        label: str | None = None
        if isinstance(e, exp.Alias):
            label, e = e.alias, e.this
        if isinstance(e, exp.Star):
            if len(plan.sources) > 1:
                raise SqlError("SELECT * with a JOIN is ambiguous; select t.* or columns")
            cols += [(c.name, 0, c.pos, c.type) for c in plan.sources[0].store.table.columns]
        elif isinstance(e, exp.Column) and isinstance(e.this, exp.Star):
            side = plan.source_index(e.args["table"].name) if e.args.get("table") else 0
            cols += [(c.name, side, c.pos, c.type) for c in plan.sources[side].store.table.columns]
        elif isinstance(e, exp.Column):
            ref = plan.column(e)
            cols.append((label or ref.name, ref.side, ref.pos, ref.type))
        else:
            raise SqlError(f"unsupported in the select list: {e.sql(dialect='postgres')[:60]}")
    schema = t.ProductType([(name, ty) for name, _, _, ty in cols])
    if limit is not None:
        matches = matches[:limit]
    rows = [tuple(m[side][1][pos] for _, side, pos, _ in cols) for m in matches]
    return SqlResult(schema, rows)


def _owner_only(db: Database, caller: Identity) -> None:
    if caller != db.owner:
        raise SqlError("only the database owner may modify tables over SQL", unauthorized=True)


def _dml_table(db: Database, node: exp.Expression, caller: Identity) -> str:
    if isinstance(node, exp.Schema):
        node = node.this
    if not isinstance(node, exp.Table):
        raise SqlError("expected a table name")
    name = node.name
    if not db.can_read(name, caller):
        raise SqlError(f"no such table: {name!r}")
    return name


def _run_tx(db: Database, label: str, now: Timestamp, fn: Any) -> TxResult:
    res = db.apply_external(label, now, fn)
    if not res.committed:
        raise SqlError(res.error or "statement failed")
    return res


def _insert(db: Database, stmt: exp.Insert, caller: Identity, now: Timestamp) -> SqlResult:
    _owner_only(db, caller)
    name = _dml_table(db, stmt.this, caller)
    td = db.stores[name].table
    target = stmt.this
    if isinstance(target, exp.Schema) and target.expressions:
        names = [i.name for i in target.expressions]
        try:
            positions = [td.column(n).pos for n in names]
        except KeyError as exc:
            raise SqlError(f"no column {exc} in {name}") from None
    else:
        positions = [c.pos for c in td.columns]
    values = stmt.expression
    if not isinstance(values, exp.Values):
        raise SqlError("INSERT needs VALUES (...)")
    rows: list[tuple[Any, ...]] = []
    for tup in values.expressions:
        items = tup.expressions if isinstance(tup, exp.Tuple) else [tup]
        if len(items) != len(positions):
            raise SqlError(f"expected {len(positions)} values, got {len(items)}")
        row: list[Any] = [None] * len(td.columns)
        given = set()
        for pos, node in zip(positions, items):
            row[pos] = literal_value(td.columns[pos].type, node, td.columns[pos].name)
            given.add(pos)
        for c in td.columns:
            if c.pos not in given:
                if c.auto_inc:
                    row[c.pos] = 0
                else:
                    raise SqlError(f"no value for column {c.name}")
        rows.append(tuple(row))

    def apply(view: Any) -> None:
        for r in rows:
            view[name].insert(r)

    res = _run_tx(db, "__sql_insert__", now, apply)
    n = sum(len(ch.inserts) for ch in res.changes.values())
    return SqlResult(t.ProductType([]), [], rows_inserted=n, tx=res)


def _where_plan(db: Database, node: exp.Expression, caller: Identity) -> Plan:
    sel = exp.Select(expressions=[exp.Star()])
    sel.set("from_", exp.From(this=node.copy()))
    where = node.parent.args.get("where") if node.parent is not None else None
    if where is not None:
        sel.set("where", where.copy())
    return plan_from(db, sel, caller, max_joins=0)


def _delete(db: Database, stmt: exp.Delete, caller: Identity, now: Timestamp) -> SqlResult:
    _owner_only(db, caller)
    name = _dml_table(db, stmt.this, caller)
    plan = _where_plan(db, stmt.this, caller)
    victims = [m[0][0] for m in _matches(plan)]
    store = db.stores[name]

    def apply(view: Any) -> None:
        tx = db._current()
        for d in victims:
            tx.delete(store, d)

    res = _run_tx(db, "__sql_delete__", now, apply)
    return SqlResult(t.ProductType([]), [], rows_deleted=len(victims), tx=res)


def _update(db: Database, stmt: exp.Update, caller: Identity, now: Timestamp) -> SqlResult:
    _owner_only(db, caller)
    name = _dml_table(db, stmt.this, caller)
    store = db.stores[name]
    td = store.table
    sets: dict[int, Any] = {}
    for e in stmt.expressions:
        if not isinstance(e, exp.EQ) or not isinstance(e.this, exp.Column):
            raise SqlError("UPDATE ... SET needs col = literal")
        try:
            col = td.column(e.this.name)
        except KeyError:
            raise SqlError(f"no column {e.this.name!r} in {name}") from None
        sets[col.pos] = literal_value(col.type, e.expression, col.name)
    plan = _where_plan(db, stmt.this, caller)
    victims = [m[0] for m in _matches(plan)]

    def apply(view: Any) -> None:
        tx = db._current()
        for d, _ in victims:
            tx.delete(store, d)
        for _, r in victims:
            new = tuple(sets.get(i, v) for i, v in enumerate(r))
            data = store.codec.encode(new)
            tx.insert(store, data, store.codec.decode(data))

    res = _run_tx(db, "__sql_update__", now, apply)
    return SqlResult(t.ProductType([]), [], rows_updated=len(victims), tx=res)


def run_sql(db: Database, sql: str, caller: Identity, now: Timestamp) -> SqlResult:
    """Run one /sql statement as ``caller``; SqlError (``unauthorized`` -> 401) otherwise,
    including for a query too deep for Python's stack."""
    try:
        return _run_sql(db, sql, caller, now)
    except RecursionError:
        raise SqlError(TOO_DEEP) from None


def _run_sql(db: Database, sql: str, caller: Identity, now: Timestamp) -> SqlResult:
    start = time.perf_counter_ns()
    if len(sql) <= MAX_SQL_BYTES and (var := parse_show(sql)) is not None:
        schema, rows = show_result(db, var)
        res = SqlResult(schema, list(rows))
        res.total_duration_micros = (time.perf_counter_ns() - start) // 1000
        return res
    stmt = parse_one(sql)
    if isinstance(stmt, exp.Set):
        run_set(db, stmt, caller)
        res = SqlResult(t.ProductType([]), [])
    elif isinstance(stmt, exp.Select):
        res = _select(db, stmt, caller)
    elif isinstance(stmt, exp.Insert):
        res = _insert(db, stmt, caller, now)
    elif isinstance(stmt, exp.Delete):
        res = _delete(db, stmt, caller, now)
    elif isinstance(stmt, exp.Update):
        res = _update(db, stmt, caller, now)
    else:
        raise SqlError(f"unsupported statement: {stmt.key.upper()}")
    res.total_duration_micros = (time.perf_counter_ns() - start) // 1000
    return res
