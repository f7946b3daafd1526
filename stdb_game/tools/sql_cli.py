"""``stdb-game sql``: run one SQL statement over HTTP and print the rows as a table."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import StdbError
from ..sats.values import ConnectionId, Identity, Some, SumValue, TimeDuration, Timestamp


def add_subcommand(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sql",
        help="run a SQL statement against a database over HTTP and print the result",
        description="Run one SQL statement (POST /v1/database/NAME/sql) and print a table.",
    )
    p.add_argument("query", help='the statement, e.g. "SELECT * FROM user"')
    p.add_argument(
        "--server", default="http://127.0.0.1:3000", help="server URL (default %(default)s)"
    )
    p.add_argument("--database", required=True, help="database name or identity")
    p.add_argument("--token", default=None, help="a token to run as (default: anonymous)")
    p.add_argument("--max-width", type=int, default=66, help="cut cells longer than this (identities are 64)")
    p.set_defaults(handler=run)


def _cell(v: Any) -> str:
    if v is None:
        return "None"
    if isinstance(v, (Identity, ConnectionId)):
        return v.to_hex()
    if isinstance(v, Timestamp):
        return v.to_datetime().isoformat()
    if isinstance(v, TimeDuration):
        return f"{v.to_seconds()}s"
    if isinstance(v, Some):
        return f"Some({_cell(v.value)})"
    if isinstance(v, SumValue):
        return str(v.name) if v.value == () else f"{v.name}({_cell(v.value)})"
    if isinstance(v, bytes):
        return v.hex()
    return str(v)


def format_table(columns: list[str], rows: list[list[str]], max_width: int) -> str:
    """Rows under a header, columns padded to their widest cell (cut at ``max_width``)."""
    cut = [[c if len(c) <= max_width else c[: max_width - 1] + "…" for c in r] for r in rows]
    widths = [len(c) for c in columns]
    for r in cut:
        widths = [max(w, len(c)) for w, c in zip(widths, r)]
    line = " | ".join(c.ljust(w) for c, w in zip(columns, widths))
    sep = "-+-".join("-" * w for w in widths)
    body = [" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cut]
    return "\n".join([line, sep, *body])


def run(args: argparse.Namespace) -> int:
    from ..http import sql

    try:
        results = sql(args.server, args.database, args.query, args.token)
        for res in results:
            cols = [n or f"col{i}" for i, n in enumerate(res.column_names)]
            rows = [[_cell(v) for v in row] for row in res.values()]
            if cols:
                print(format_table(cols, rows, args.max_width))
            print(
                f"({len(rows)} row{'s' if len(rows) != 1 else ''}, {res.total_duration_micros} µs)"
            )
    except StdbError as exc:
        print(f"stdb-game sql: {exc}", file=sys.stderr)
        return 1
    return 0
