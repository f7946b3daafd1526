"""SQL text -> checked pieces (tables, join, predicate) for the subset semantics.md §7 allows.

Parsing is sqlglot's (Postgres dialect: ``"quoted"`` identifiers, ``''`` escapes, ``0x``/``X''``
hex). This module walks the tree, accepts only the allowed shapes and turns WHERE into a
Python predicate over stored rows; anything else is a ``SqlError`` saying what is unsupported.
"""

from __future__ import annotations

import datetime as _dt
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from ..sats import types as t
from ..sats.values import ConnectionId, Identity, Timestamp
from .errors import SqlError
from .storage import TableStore

if TYPE_CHECKING:
    from .database import Database

__all__ = [
    "MAX_SQL_BYTES",
    "TOO_DEEP",
    "ColRef",
    "Plan",
    "comparable",
    "join_matches",
    "literal_value",
    "parse_one",
    "plan_from",
]

MAX_SQL_BYTES = 50_000
Rows = tuple[tuple[Any, ...], ...]
Pred = Callable[[Rows], bool]

_OPS: dict[type[exp.Expression], tuple[str, Callable[[Any, Any], bool]]] = {
    exp.EQ: ("=", operator.eq),
    exp.NEQ: ("!=", operator.ne),
    exp.LT: ("<", operator.lt),
    exp.LTE: ("<=", operator.le),
    exp.GT: (">", operator.gt),
    exp.GTE: (">=", operator.ge),
}
_FLIP = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_BY_SYMBOL = {sym: fn for sym, fn in _OPS.values()}
_INTS = {
    "I8": (-(1 << 7), 1 << 7),
    "U8": (0, 1 << 8),
    "I16": (-(1 << 15), 1 << 15),
    "U16": (0, 1 << 16),
    "I32": (-(1 << 31), 1 << 31),
    "U32": (0, 1 << 32),
    "I64": (-(1 << 63), 1 << 63),
    "U64": (0, 1 << 64),
    "I128": (-(1 << 127), 1 << 127),
    "U128": (0, 1 << 128),
    "I256": (-(1 << 255), 1 << 255),
    "U256": (0, 1 << 256),
}


def _sql_snippet(node: exp.Expression) -> str:
    try:
        return node.sql(dialect="postgres")[:80]
    except Exception:
        return type(node).__name__


#: What a query that nests too deeply for the parser (or the compiler) is told.
TOO_DEEP = "query nests too deeply (too many parentheses or nested conditions)"


def _syntax_message(exc: ParseError | TokenError) -> str:
    """A parse error in the user's terms: where, near what, and (when sqlglot's wording is not
    about its own classes) what it expected."""
    if isinstance(exc, TokenError):
        return "SQL syntax error: unterminated string or quoted name, or an invalid character"
    errors = exc.errors or [{}]
    first = errors[0]
    near = str(first.get("highlight") or "").strip()
    desc = str(first.get("description") or "")
    if desc.startswith("Required keyword"):
        desc = "incomplete expression"
    desc = desc.split(" but got ")[0].replace("Invalid expression / Unexpected", "Unexpected")
    if "<" in desc or "sqlglot" in desc:
        desc = ""
    desc = desc[:1].lower() + desc[1:]
    where = f" near {near[:40]!r}" if near else ""
    line, col = first.get("line"), first.get("col")
    if isinstance(line, int) and isinstance(col, int):
        where += f" (line {line}, column {col})"
    return f"SQL syntax error{where}" + (f": {desc}" if desc else "")


def parse_one(sql: str) -> exp.Expression:
    """Exactly one statement, parsed; SqlError for parse errors, empty or several statements."""
    if len(sql.encode("utf-8", "surrogatepass")) > MAX_SQL_BYTES:
        raise SqlError(f"query is longer than {MAX_SQL_BYTES} bytes")
    try:
        stmts = [s for s in sqlglot.parse(sql, read="postgres") if s is not None]
    except (ParseError, TokenError) as exc:
        raise SqlError(_syntax_message(exc)) from None
    except RecursionError:  # sqlglot's parser recurses once per level of parentheses
        raise SqlError(TOO_DEEP) from None
    except Exception:  # sqlglot can raise odd errors on odd input
        raise SqlError("SQL syntax error: the query could not be parsed") from None
    if not stmts:
        raise SqlError("empty query")
    if len(stmts) > 1:
        raise SqlError("only one statement per query is supported")
    return cast(exp.Expression, stmts[0])


# ---- types and literals ----------------------------------------------------------------------


def comparable(ty: t.AlgebraicType) -> Callable[[Any], Any] | None:
    """Maps a stored value of ``ty`` to a Python value that compares like SpacetimeDB's, or
    None if SQL cannot compare columns of this type (options, sums, products, arrays)."""
    ty = ty.resolve()
    if isinstance(ty, t.PrimitiveType):
        return lambda v: v
    if isinstance(ty, t.ArrayType):
        return (lambda v: v) if ty.is_bytes else None
    if isinstance(ty, t.ProductType):
        sp = ty.special
        if sp in ("identity", "connection_id"):
            return lambda v: v.value
        if sp == "timestamp":
            return lambda v: v.micros_since_epoch
    return None


def _hex_digits(text: str) -> str:
    s = text.strip()
    if s[:2] in ("0x", "0X"):
        s = s[2:]
    if not s:
        return s
    try:
        int(s, 16)
    except ValueError:
        raise SqlError(f"{text!r} is not a hex literal") from None
    return s


def _literal_text(node: exp.Expression) -> tuple[str, str]:
    """(kind, text) of a literal node: kind is number / string / bool / hex / null."""
    if isinstance(node, exp.Neg):
        inner = node.this
        if isinstance(inner, exp.Literal) and not inner.is_string:
            return "number", "-" + inner.this
        raise SqlError(f"unsupported expression: {_sql_snippet(node)}")
    if isinstance(node, exp.Literal):
        return ("string" if node.is_string else "number"), node.this
    if isinstance(node, exp.Boolean):
        return "bool", "true" if node.this else "false"
    if isinstance(node, exp.HexString):
        return "hex", node.this
    if isinstance(node, exp.Null):
        return "null", "NULL"
    raise SqlError(f"unsupported expression: {_sql_snippet(node)}")


def _is_literal(node: exp.Expression) -> bool:
    return isinstance(node, (exp.Literal, exp.Boolean, exp.HexString, exp.Neg, exp.Null))


def literal_value(ty: t.AlgebraicType, node: exp.Expression, column: str) -> Any:
    """The stored-form value of a literal compared with (or assigned to) a column of ``ty``."""
    kind, text = _literal_text(node)
    ty = ty.resolve()
    where = f"column {column} ({ty.describe()})"
    if isinstance(ty, t.SumType) and ty.special == "option":
        if kind == "null":
            return None
        return literal_value(ty.variants[0].algebraic_type, node, column)
    if kind == "null":
        raise SqlError(f"NULL is not a value of {where}")
    if isinstance(ty, t.PrimitiveType):
        k = ty.kind
        if k == "Bool":
            if kind != "bool":
                raise SqlError(f"expected TRUE or FALSE for {where}, got {text}")
            return text == "true"
        if k == "String":
            if kind != "string":
                raise SqlError(f"expected a string literal for {where}, got {text}")
            return text
        if k in ("F32", "F64"):
            if kind != "number":
                raise SqlError(f"expected a number for {where}, got {text!r}")
            return float(text)
        if kind == "hex":
            value = int(text, 16)
        elif kind == "number":
            try:
                value = int(text)
            except ValueError:
                raise SqlError(f"expected an integer for {where}, got {text}") from None
        else:
            raise SqlError(f"expected an integer for {where}, got {text!r}")
        lo, hi = _INTS[k]
        if not lo <= value < hi:
            raise SqlError(f"{value} is out of range for {where}")
        return value
    if isinstance(ty, t.ArrayType) and ty.is_bytes:
        if kind not in ("hex", "string"):
            raise SqlError(f"expected a hex literal for {where}, got {text}")
        digits = _hex_digits(text)
        if len(digits) % 2:
            raise SqlError(f"odd number of hex digits for {where}")
        return bytes.fromhex(digits)
    if isinstance(ty, t.ProductType) and ty.special in ("identity", "connection_id"):
        if kind not in ("hex", "string"):
            raise SqlError(f"expected a hex literal for {where}, got {text}")
        digits = _hex_digits(text)
        width = 64 if ty.special == "identity" else 32
        if len(digits) != width:
            raise SqlError(f"{where} needs {width} hex digits, got {len(digits)}")
        value = int(digits, 16)
        return Identity(value) if ty.special == "identity" else ConnectionId(value)
    if isinstance(ty, t.ProductType) and ty.special == "timestamp":
        if kind != "string":
            raise SqlError(f"expected an RFC 3339 string for {where}, got {text}")
        try:
            when = _dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise SqlError(f"{text!r} is not an RFC 3339 timestamp") from None
        if when.tzinfo is None:
            raise SqlError(f"{text!r} needs a time zone (e.g. Z)")
        return Timestamp.from_datetime(when)
    raise SqlError(f"literals of {where} are not supported")


# ---- FROM / JOIN / WHERE -----------------------------------------------------------------------


class Source:
    """One table in FROM, with its alias."""

    __slots__ = ("alias", "name", "store")

    def __init__(self, name: str, alias: str, store: TableStore) -> None:
        self.name = name
        self.alias = alias
        self.store = store


class ColRef:
    """A resolved column: which FROM source (``side``), position, type, name."""

    __slots__ = ("name", "pos", "side", "type")

    def __init__(self, side: int, pos: int, ty: t.AlgebraicType, name: str) -> None:
        self.side = side
        self.pos = pos
        self.type = ty
        self.name = name


class Plan:
    """FROM (one table, or tables joined on equal columns) plus the WHERE predicate."""

    def __init__(self, sources: list[Source]) -> None:
        self.sources = sources
        #: the join of a two-table FROM as (column of source 0, column of source 1)
        self.join: tuple[ColRef, ColRef] | None = None
        #: every JOIN in order as (column of an earlier source, column of the joined one)
        self.joins: list[tuple[ColRef, ColRef]] = []
        self.pred: Pred | None = None
        #: AND-ed ``column = literal`` terms usable for index lookups: (side, pos, stored value)
        self.eq_terms: list[tuple[int, int, Any]] = []

    def source_index(self, alias: str) -> int:
        for i, s in enumerate(self.sources):
            if s.alias == alias:
                return i
        raise SqlError(f"unknown table or alias {alias!r}")

    def column(self, node: exp.Column) -> ColRef:
        if not isinstance(node.this, exp.Identifier):
            raise SqlError(f"unsupported column reference {_sql_snippet(node)}")
        name = node.this.name
        qualifier = node.args.get("table")
        if node.args.get("db") is not None or node.args.get("catalog") is not None:
            raise SqlError(f"unsupported qualified column {_sql_snippet(node)}")
        if qualifier is not None:
            sides = [self.source_index(qualifier.name)]
        else:
            sides = list(range(len(self.sources)))
        hits = []
        for side in sides:
            td = self.sources[side].store.table
            for c in td.columns:
                if c.name == name:
                    hits.append(ColRef(side, c.pos, c.type, name))
        if not hits:
            where = qualifier.name if qualifier is not None else self.sources[0].name
            raise SqlError(f"no column {name!r} in {where}")
        if len(hits) > 1:
            raise SqlError(f"column {name!r} is ambiguous; qualify it with a table name")
        return hits[0]


def _table(db: Database, node: exp.Expression, caller: Identity) -> tuple[str, str]:
    if not isinstance(node, exp.Table) or not isinstance(node.this, exp.Identifier):
        raise SqlError(f"expected a table name, got {_sql_snippet(node)}")
    if node.args.get("db") is not None or node.args.get("catalog") is not None:
        raise SqlError(f"qualified table names are not supported: {_sql_snippet(node)}")
    name = node.this.name
    if not db.can_read(name, caller):
        raise SqlError(f"no such table: {name!r}")
    alias_node = node.args.get("alias")
    alias = name
    if alias_node is not None:
        if alias_node.args.get("columns"):
            raise SqlError("column aliases on tables are not supported")
        alias = alias_node.name
    return name, alias


def plan_from(
    db: Database, select: exp.Select, caller: Identity, *, max_joins: int | None = 1
) -> Plan:
    """Resolve FROM/JOIN (at most ``max_joins`` JOINs; None: any number) and compile WHERE."""
    from_ = select.args.get("from_") or select.args.get("from")
    if from_ is None:
        raise SqlError("missing FROM")
    name, alias = _table(db, from_.this, caller)
    plan = Plan([Source(name, alias, db.stores[name])])
    joins = select.args.get("joins") or []
    if max_joins is not None and len(joins) > max_joins:
        if max_joins == 0:
            raise SqlError("JOIN is not supported here")
        raise SqlError(f"subscriptions support at most {max_joins} JOIN (two tables)")
    for j in joins:
        if j.args.get("side") or j.args.get("kind") not in (None, "INNER"):
            raise SqlError("only [INNER] JOIN ... ON is supported")
        if j.args.get("using"):
            raise SqlError("JOIN ... USING is not supported; use ON a.x = b.y")
        on = j.args.get("on")
        if on is None:
            raise SqlError(
                "a JOIN without ON (a cross join) is not supported by the dev server; "
                "use JOIN ... ON a.x = b.y"
            )
        jname, jalias = _table(db, j.this, caller)
        if any(s.alias == jalias for s in plan.sources):
            raise SqlError(f"table alias {jalias!r} is used twice")
        plan.sources.append(Source(jname, jalias, db.stores[jname]))
        if not isinstance(on, exp.EQ):
            raise SqlError("JOIN ... ON must be one equality of two columns")
        if not isinstance(on.this, exp.Column) or not isinstance(on.expression, exp.Column):
            raise SqlError("JOIN ... ON must compare two columns")
        a, b = plan.column(on.this), plan.column(on.expression)
        if a.side == b.side:
            raise SqlError("JOIN ... ON must compare a column of each table")
        new = len(plan.sources) - 1
        if new not in (a.side, b.side):
            raise SqlError(
                f"JOIN {jalias} ... ON must compare a column of {jalias} with an earlier "
                "table's (a dev-server limit)"
            )
        if a.type != b.type or comparable(a.type) is None:
            raise SqlError(
                f"cannot join {a.name} ({a.type.describe()}) with {b.name} ({b.type.describe()})"
            )
        plan.joins.append((a, b) if b.side == new else (b, a))
    if len(plan.joins) == 1:
        plan.join = plan.joins[0]
    where = select.args.get("where")
    if where is not None:
        plan.pred = _predicate(plan, where.this, caller, top=True)
    return plan


def join_matches(plan: Plan) -> list[tuple[tuple[bytes, Any], ...]]:
    """Every combination of (row bytes, row) of the FROM sources that satisfies the JOINs and
    WHERE, in FROM order; each JOIN probes the joined table through an index on its column
    when there is one, else through one hash of its rows."""
    pred = plan.pred
    combos: list[tuple[tuple[bytes, Any], ...]] = [
        ((d, r),) for d, r in plan.sources[0].store.rows.items()
    ]
    for earlier, joined in plan.joins:
        probe = _probe(plan.sources[joined.side].store, joined)
        side, pos = earlier.side, earlier.pos
        combos = [(*c, m) for c in combos for m in probe(c[side][1][pos])]
    if pred is None:
        return combos
    return [c for c in combos if pred(tuple(r for _, r in c))]


def _probe(store: TableStore, col: ColRef) -> Callable[[Any], list[tuple[bytes, Any]]]:
    rows = store.rows
    if (col.pos,) in store.by_columns:
        return lambda v: [(d, rows[d]) for d in store.rows_where(col.pos, v)]
    conv = comparable(col.type)
    assert conv is not None  # plan_from refuses joins on incomparable columns
    table: dict[Any, list[tuple[bytes, Any]]] = {}
    for d, r in rows.items():
        table.setdefault(conv(r[col.pos]), []).append((d, r))
    return lambda v: table.get(conv(v), [])


def _terms(node: exp.Expression, kind: type[exp.Connector]) -> list[exp.Expression]:
    """The operands of a chain of ``kind`` (AND or OR), parentheses dropped, in source order.

    Iterative: sqlglot builds ``a OR b OR c ...`` as a left-deep tree, and a long chain would
    otherwise recurse once per term.
    """
    out: list[exp.Expression] = []
    stack = [node]
    while stack:
        n = stack.pop()
        while isinstance(n, exp.Paren):
            n = n.this
        if isinstance(n, kind):
            stack.append(n.expression)
            stack.append(n.this)
        else:
            out.append(n)
    return out


def _all(preds: list[Pred]) -> Pred:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda rs: a(rs) and b(rs)
    fns = tuple(preds)
    return lambda rs: all(f(rs) for f in fns)


def _any(preds: list[Pred]) -> Pred:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda rs: a(rs) or b(rs)
    fns = tuple(preds)
    return lambda rs: any(f(rs) for f in fns)


def _predicate(plan: Plan, node: exp.Expression, caller: Identity, top: bool = False) -> Pred:
    """WHERE as a predicate; AND/OR chains become one flat all()/any(), so neither compiling
    nor evaluating recurses per term (only per level of nesting, which the parser bounds)."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return _all([_predicate(plan, n, caller, top) for n in _terms(node, exp.And)])
    if isinstance(node, exp.Or):
        return _any([_predicate(plan, n, caller) for n in _terms(node, exp.Or)])
    return _comparison(plan, node, caller, top)


def _comparison(plan: Plan, node: exp.Expression, caller: Identity, top: bool) -> Pred:
    op = _OPS.get(type(node))
    if op is None:
        raise SqlError(
            f"unsupported condition {_sql_snippet(node)}: use =, !=, <>, <, <=, >, >= "
            "combined with AND/OR"
        )
    symbol, _ = op
    lhs, rhs = node.this, node.expression
    if not isinstance(lhs, exp.Column) and isinstance(rhs, exp.Column):
        lhs, rhs = rhs, lhs
        symbol = _FLIP[symbol]
    fn = _BY_SYMBOL[symbol]
    if not isinstance(lhs, exp.Column):
        raise SqlError(f"a condition must involve a column: {_sql_snippet(node)}")
    col = plan.column(lhs)
    conv = comparable(col.type)
    if conv is None:
        raise SqlError(f"cannot compare column {col.name} of type {col.type.describe()}")
    side, pos = col.side, col.pos
    if isinstance(rhs, exp.Column):
        other = plan.column(rhs)
        if other.type != col.type:
            raise SqlError(
                f"cannot compare {col.name} ({col.type.describe()}) with "
                f"{other.name} ({other.type.describe()})"
            )
        oside, opos = other.side, other.pos
        return lambda rs: fn(conv(rs[side][pos]), conv(rs[oside][opos]))
    if isinstance(rhs, exp.Placeholder):
        if rhs.name != "sender":
            raise SqlError(f"unknown parameter :{rhs.name}; only :sender is supported")
        if col.type.resolve() != t.IDENTITY:
            raise SqlError(f":sender is an Identity; column {col.name} is {col.type.describe()}")
        stored: Any = caller
    elif _is_literal(rhs):
        stored = literal_value(col.type, rhs, col.name)
    else:
        raise SqlError(f"unsupported operand {_sql_snippet(rhs)}")
    key = conv(stored)
    if top and symbol == "=":
        plan.eq_terms.append((side, pos, stored))
    return lambda rs: fn(conv(rs[side][pos]), key)
