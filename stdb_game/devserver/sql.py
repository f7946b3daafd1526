"""Subscription and one-off queries (semantics.md §7.1): compile, evaluate, and per-transaction deltas.

Subscriptions join at most two tables; one-off queries join any number (``MultiJoinQuery``,
evaluated only).

A query returns whole rows of one table. Deltas:

* single table: filter the transaction's deletes/inserts of that table -- O(changed rows);
* semijoin ``SELECT a.* FROM a JOIN b ON a.x = b.y WHERE ...``: the result is a bag
  partitioned by join key, so only keys touched by the transaction (in ``a`` or ``b``) are
  recomputed, before and after, and diffed. Cost per transaction and query:
  O(sum over touched keys of |a rows with key| x |b rows with key|), using the join columns'
  indexes (which subscriptions require; one-off queries scan instead).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from ..sats.values import Identity
from .errors import SqlError
from .results import TableChange
from .sqlparse import TOO_DEEP, Plan, comparable, join_matches, parse_one, plan_from
from .storage import TableStore

if TYPE_CHECKING:
    from .database import Database

__all__ = [
    "JoinQuery",
    "MultiJoinQuery",
    "Query",
    "SingleTableQuery",
    "compile_query",
    "compile_subscription",
]

Row = tuple[Any, ...]
_ALLOWED_SELECT_ARGS = {"expressions", "from", "from_", "joins", "where", "kind"}


def normalize_key(sql: str) -> str:
    """The identity of a query for refcounting: whitespace runs collapsed, ends trimmed."""
    return " ".join(sql.split())


class Query:
    """A compiled query over one table's rows; see the module docstring for delta costs."""

    table_name: str
    key: str
    sql: str
    #: names of the tables whose changes can affect the result
    tables: frozenset[str]

    def evaluate(self) -> list[bytes]:
        raise NotImplementedError

    def delta(self, changes: dict[str, TableChange]) -> TableChange:
        raise NotImplementedError


class SingleTableQuery(Query):
    """``SELECT * FROM t [WHERE ...]``."""

    def __init__(self, sql: str, plan: Plan) -> None:
        self.sql = sql
        self.key = normalize_key(sql)
        src = plan.sources[0]
        self.table_name = src.name
        self.tables = frozenset([src.name])
        self._store = src.store
        self._pred = plan.pred
        self._eq = [(pos, v) for side, pos, v in plan.eq_terms if (pos,) in src.store.by_columns]

    def evaluate(self) -> list[bytes]:
        store = self._store
        pred = self._pred
        if self._eq:
            pos, value = self._eq[0]
            candidates: Iterable[bytes] = store.rows_where(pos, value)
        else:
            candidates = store.rows
        if pred is None:
            return list(candidates)
        rows = store.rows
        return [d for d in candidates if pred((rows[d],))]

    def delta(self, changes: dict[str, TableChange]) -> TableChange:
        ch = changes.get(self.table_name)
        if ch is None:
            return TableChange()
        pred = self._pred
        if pred is None:
            return ch
        out = TableChange()
        for d, r in zip(ch.deletes, ch.delete_rows):
            if pred((r,)):
                out.deletes.append(d)
                out.delete_rows.append(r)
        for d, r in zip(ch.inserts, ch.insert_rows):
            if pred((r,)):
                out.inserts.append(d)
                out.insert_rows.append(r)
        return out


class JoinQuery(Query):
    """``SELECT x.* FROM a x JOIN b y ON x.c = y.d [WHERE ...]`` (bag semantics)."""

    def __init__(self, sql: str, plan: Plan, projected: int) -> None:
        assert plan.join is not None
        self.sql = sql
        self.key = normalize_key(sql)
        self._stores = [s.store for s in plan.sources]
        self._names = [s.name for s in plan.sources]
        self.table_name = self._names[projected]
        self.tables = frozenset(self._names)
        self._proj = projected
        self._cols = (plan.join[0].pos, plan.join[1].pos)
        conv = comparable(plan.join[0].type)
        assert conv is not None
        self._conv: Callable[[Any], Any] = conv
        self._pred = plan.pred

    def _lookup(self, side: int) -> Callable[[Any], list[bytes]]:
        """Rows of ``side`` whose join column equals a stored value (index, else one scan)."""
        store, col = self._stores[side], self._cols[side]
        ix = store.by_columns.get((col,)) or next(
            (i for i in store.indexes if i.columns[0] == col and len(i.columns) == 1), None
        )
        if ix is not None:
            return lambda v: ix.rows_for(ix.key_of((v,)))
        conv = self._conv
        table: dict[Any, list[bytes]] = {}
        for d, r in store.rows.items():
            table.setdefault(conv(r[col]), []).append(d)
        return lambda v: table.get(conv(v), [])

    def _emit(
        self, left: list[tuple[bytes, Row]], right: list[tuple[bytes, Row]]
    ) -> Counter[bytes]:
        out: Counter[bytes] = Counter()
        pred = self._pred
        p = self._proj
        for da, ra in left:
            for db_, rb in right:
                if pred is None or pred((ra, rb)):
                    out[da if p == 0 else db_] += 1
        return out

    def evaluate(self) -> list[bytes]:
        store0, store1 = self._stores
        c0 = self._cols[0]
        other = self._lookup(1)
        rows1 = store1.rows
        pred = self._pred
        p = self._proj
        out: list[bytes] = []
        for da, ra in store0.rows.items():
            for db_ in other(ra[c0]):
                rb = rows1[db_]
                if pred is None or pred((ra, rb)):
                    out.append(da if p == 0 else db_)
        return out

    def delta(self, changes: dict[str, TableChange]) -> TableChange:
        chs = [changes.get(n) for n in self._names]
        if chs[0] is None and chs[1] is None:
            return TableChange()
        conv = self._conv
        keys: dict[Any, Any] = {}
        removed: list[dict[Any, list[tuple[bytes, Row]]]] = [{}, {}]
        added: list[set[bytes]] = [set(), set()]
        for side in (0, 1):
            ch = chs[side]
            if ch is None:
                continue
            col = self._cols[side]
            for d, r in zip(ch.deletes, ch.delete_rows):
                k = conv(r[col])
                keys.setdefault(k, r[col])
                removed[side].setdefault(k, []).append((d, r))
            for d, r in zip(ch.inserts, ch.insert_rows):
                keys.setdefault(conv(r[col]), r[col])
                added[side].add(d)
        lookups = [self._lookup(0), self._lookup(1)]
        old_bag: Counter[bytes] = Counter()
        new_bag: Counter[bytes] = Counter()
        for k, stored in keys.items():
            new_sides: list[list[tuple[bytes, Row]]] = []
            old_sides: list[list[tuple[bytes, Row]]] = []
            for side in (0, 1):
                rows = self._stores[side].rows
                now = [(d, rows[d]) for d in lookups[side](stored)]
                new_sides.append(now)
                old_sides.append(
                    [x for x in now if x[0] not in added[side]] + removed[side].get(k, [])
                )
            old_bag += self._emit(*old_sides)
            new_bag += self._emit(*new_sides)
        out = TableChange()
        proj_store = self._stores[self._proj]
        proj_ch = chs[self._proj]
        deleted_rows = dict(zip(proj_ch.deletes, proj_ch.delete_rows)) if proj_ch else {}
        for d, n in (old_bag - new_bag).items():
            row = proj_store.rows.get(d) or deleted_rows[d]
            out.deletes.extend([d] * n)
            out.delete_rows.extend([row] * n)
        for d, n in (new_bag - old_bag).items():
            out.inserts.extend([d] * n)
            out.insert_rows.extend([proj_store.rows[d]] * n)
        return out


class MultiJoinQuery(Query):
    """A one-off ``SELECT x.* FROM a x JOIN b y ON ... JOIN c z ON ... [WHERE ...]``: one-off
    queries may join any number of tables (semantics.md §7.1); subscriptions may not, so this
    has no delta."""

    def __init__(self, sql: str, plan: Plan, projected: int) -> None:
        self.sql = sql
        self.key = normalize_key(sql)
        self._plan = plan
        self._proj = projected
        self.table_name = plan.sources[projected].name
        self.tables = frozenset(s.name for s in plan.sources)

    def evaluate(self) -> list[bytes]:
        p = self._proj
        return [m[p][0] for m in join_matches(self._plan)]

    def delta(self, changes: dict[str, TableChange]) -> TableChange:
        raise SqlError("subscriptions support at most 1 JOIN (two tables)")


def _projection(select: exp.Select, plan: Plan) -> int:
    exprs = select.expressions
    if len(exprs) != 1:
        raise SqlError("a query must select whole rows of one table: SELECT * or SELECT t.*")
    (e,) = exprs
    if isinstance(e, exp.Star):
        if len(plan.sources) > 1:
            raise SqlError("SELECT * with a JOIN is ambiguous; select one table, e.g. SELECT a.*")
        return 0
    if isinstance(e, exp.Column) and isinstance(e.this, exp.Star):
        qualifier = e.args.get("table")
        if qualifier is None:
            return 0
        return plan.source_index(qualifier.name)
    raise SqlError(
        "only SELECT * or SELECT t.* is supported in subscriptions and one-off queries "
        "(column lists, COUNT etc. work only over HTTP /sql)"
    )


def compile_query(db: Database, sql: str, caller: Identity, *, subscription: bool) -> Query:
    """Compile one query; ``subscription`` adds the rule that join columns be indexed.

    Every failure is a SqlError, including a query too deep for Python's stack.
    """
    try:
        return _compile_query(db, sql, caller, subscription=subscription)
    except RecursionError:
        raise SqlError(TOO_DEEP) from None


def _compile_query(db: Database, sql: str, caller: Identity, *, subscription: bool) -> Query:
    stmt = parse_one(sql)
    if not isinstance(stmt, exp.Select):
        raise SqlError(f"only SELECT is supported here, got {stmt.key.upper()}")
    extra = [k for k, v in stmt.args.items() if v and k not in _ALLOWED_SELECT_ARGS]
    if extra:
        raise SqlError(f"unsupported in subscriptions and one-off queries: {', '.join(extra)}")
    if stmt.args.get("kind"):
        raise SqlError(f"unsupported: SELECT {stmt.args['kind']}")
    plan = plan_from(db, stmt, caller, max_joins=1 if subscription else None)
    projected = _projection(stmt, plan)
    if not plan.joins:
        return SingleTableQuery(sql, plan)
    if plan.join is None:
        return MultiJoinQuery(sql, plan, projected)
    if subscription:
        for ref in plan.join:
            store: TableStore = plan.sources[ref.side].store
            if not any(ix.columns[0] == ref.pos for ix in store.indexes):
                raise SqlError(
                    "Subscriptions require indexes on join columns: "
                    f"{plan.sources[ref.side].name}.{ref.name} is not indexed"
                )
    return JoinQuery(sql, plan, projected)


def _is_select_star_from_star(sql: str) -> bool:
    try:
        tokens = sqlglot.tokenize(sql, read="postgres")
    except SqlglotError:
        return False
    kinds = [tok.token_type.name for tok in tokens]
    if kinds and kinds[-1] == "SEMICOLON":
        kinds.pop()
    return kinds == ["SELECT", "STAR", "FROM", "STAR"]


def compile_subscription(db: Database, sql: str, caller: Identity) -> list[Query]:
    """Compile a subscription query; ``SELECT * FROM *`` becomes one query per readable table."""
    if _is_select_star_from_star(sql):
        out: list[Query] = []
        for name in db.tables:
            if db.can_read(name, caller):
                q = compile_query(db, f'SELECT * FROM "{name}"', caller, subscription=True)
                out.append(q)
        return out
    return [compile_query(db, sql, caller, subscription=True)]
