"""``SET var = n`` / ``SHOW var`` and the ``row_limit`` they control (semantics.md §7.2).

A real server keeps these in its ``st_var`` system table: SET is an owner-only insert into it,
SHOW reads it back as one ``value`` column of the ``StVarValue`` sum, and a ``row_limit``
refuses non-owners' queries whose row estimate exceeds it. Here the values live on the
``Database`` (in memory, not in the commit log) and the "estimate" is the number of rows the
query matches.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlglot import exp

from ..sats import types as t
from ..sats.values import Identity, SumValue
from .errors import SqlError

if TYPE_CHECKING:
    from .database import Database

__all__ = ["VARS", "check_row_limit", "parse_show", "run_set", "show_result"]

#: The variables SpacetimeDB 1.1.2 accepts (``is_var_valid``); only row_limit does anything here.
VARS = ("row_limit", "slow_ad_hoc_query_ms", "slow_tx_update_ms", "slow_subscription_query_ms")

#: ``StVarValue`` in variant order; SET stores its number as the U64 variant.
ST_VAR_VALUE = t.SumType(
    [
        ("Bool", t.BOOL),
        ("I8", t.I8),
        ("U8", t.U8),
        ("I16", t.I16),
        ("U16", t.U16),
        ("I32", t.I32),
        ("U32", t.U32),
        ("I64", t.I64),
        ("U64", t.U64),
        ("I128", t.I128),
        ("U128", t.U128),
        ("F32", t.F32),
        ("F64", t.F64),
        ("String", t.STRING),
    ]
)
_U64_TAG = 8
_SHOW = re.compile(r'\s*show\s+("?)([A-Za-z_][A-Za-z0-9_]*)\1\s*;?\s*', re.IGNORECASE)


def _valid(name: str) -> str:
    if name not in VARS:
        raise SqlError(f"{name} is not a valid system variable")
    return name


def parse_show(sql: str) -> str | None:
    """The variable of a ``SHOW var`` statement, or None if ``sql`` is not one. (Checked before
    sqlglot, which has no SHOW for Postgres and would log a warning for every one.)"""
    m = _SHOW.fullmatch(sql)
    return _valid(m.group(2)) if m else None


def show_result(db: Database, name: str) -> tuple[t.ProductType, list[tuple[SumValue]]]:
    """(schema, rows) of ``SHOW name``: no row while the variable is unset."""
    schema = t.ProductType([("value", ST_VAR_VALUE)])
    value = db.sql_vars.get(name)
    rows = [] if value is None else [(SumValue(_U64_TAG, "U64", value),)]
    return schema, rows


def run_set(db: Database, stmt: exp.Set, caller: Identity) -> None:
    """Apply ``SET name = n`` (a u64; owner only, like every write to ``st_var``)."""
    items = stmt.expressions
    if stmt.args.get("unset") or len(items) != 1 or not isinstance(items[0], exp.SetItem):
        raise SqlError("SET takes one variable: SET name = number")
    eq = items[0].this
    if not isinstance(eq, exp.EQ) or not isinstance(eq.this, exp.Column | exp.Identifier):
        raise SqlError("SET takes one variable: SET name = number")
    name = _valid(eq.this.name)
    lit = eq.expression
    if not isinstance(lit, exp.Literal) or lit.is_string or not lit.this.isdigit():
        raise SqlError(f"SET {name} needs a non-negative integer (U64), got {lit.sql()[:40]}")
    value = int(lit.this)
    if value >= 1 << 64:
        raise SqlError(f"{value} is out of range for U64")
    if caller != db.owner:
        raise SqlError("only the database owner may SET system variables", unauthorized=True)
    db.sql_vars[name] = value


def check_row_limit(db: Database, caller: Identity, rows: int) -> None:
    """Refuse a non-owner's query that matches more rows than ``row_limit``."""
    limit = db.sql_vars.get("row_limit")
    if limit is not None and caller != db.owner and rows > limit:
        raise SqlError(f"Estimated cardinality ({rows} rows) exceeds limit ({limit} rows)")
