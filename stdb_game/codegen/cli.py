"""``stdb-game generate``: write typed Python bindings for a module's schema."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import SchemaError, StdbError

__all__ = ["add_subcommand", "public_url", "run"]

EPILOG = """\
examples:
  spacetime describe quickstart-chat --json > chat.json
  stdb-game generate --schema chat.json --out module_bindings
  stdb-game generate --server http://localhost:3000 --database quickstart-chat --out module_bindings
  stdb-game generate --module demos/chat/module.py --out module_bindings
"""


def add_subcommand(subparsers: Any) -> None:
    """Register ``generate`` on the ``stdb-game`` parser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "generate",
        help="write typed Python bindings for a module (RawModuleDef v9 JSON)",
        description=(
            "Read a module schema (RawModuleDef v9 JSON: `spacetime describe --json` output "
            "or GET /v1/database/NAME/schema?version=9) and write a Python package of typed "
            "bindings. Same schema, same bytes: re-running is safe."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--schema", metavar="FILE.json", help="schema JSON file ('-' for stdin)")
    src.add_argument("--server", metavar="URL", help="server to fetch the schema from")
    src.add_argument(
        "--module", metavar="PATH.py", help="a dev-server module file (no server needed)"
    )
    p.add_argument("--database", metavar="NAME", help="database name or identity (with --server)")
    p.add_argument("--token", help="auth token for --server (private tables need the owner's)")
    p.add_argument("--out", required=True, metavar="DIR", help="package directory to write")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(handler=run)


def public_url(url: str) -> str:
    """``url`` fit for a file header: no user, password, query or fragment (tokens live
    there), just scheme, host, port and path."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _module_schema(path: str) -> dict[str, Any] | None:
    """The schema of a module file from its declarations (its ``init`` never runs); None,
    with the module's own traceback printed, if importing the file raised."""
    from ..devserver import module_schema_json
    from ..devserver.usertb import user_traceback

    if not Path(path).is_file():
        raise FileNotFoundError(f"module file not found: {path}")
    try:
        return module_schema_json(path)
    except StdbError:
        raise
    except Exception as exc:
        print(f"stdb-game generate: module {path} raised while loading:", file=sys.stderr)
        print(user_traceback(exc), file=sys.stderr, end="")
        return None


def run(args: argparse.Namespace) -> int:
    """Handle ``stdb-game generate``; returns the exit code."""
    from .generator import generate, load_schema_file, parse_schema_text

    try:
        if args.schema is not None:
            if args.database is not None:
                print("stdb-game generate: --database goes with --server", file=sys.stderr)
                return 2
            if args.schema == "-":
                raw = parse_schema_text(sys.stdin.read(), "stdin")
                source = "stdin"
            else:
                raw = load_schema_file(args.schema)
                source = Path(args.schema).name
        elif args.module is not None:
            declared = _module_schema(args.module)
            if declared is None:
                return 1
            raw = declared
            source = Path(args.module).name
        else:
            if not args.database:
                print("stdb-game generate: --server needs --database", file=sys.stderr)
                return 2
            from ..http import get_schema

            raw = get_schema(args.server, args.database, args.token)
            source = f"database {args.database} at {public_url(args.server)}"
        result = generate(raw, args.out, source)
    except SchemaError as exc:
        print(f"stdb-game generate: bad schema: {exc}", file=sys.stderr)
        return 2
    except (FileExistsError, NotADirectoryError) as exc:  # the message names the path
        print(f"stdb-game generate: cannot write --out: {exc}", file=sys.stderr)
        return 2
    except (StdbError, OSError) as exc:
        print(f"stdb-game generate: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        n = len(result.written) + len(result.unchanged)
        print(
            f"{result.out_dir}: {n} files ({len(result.written)} written, "
            f"{len(result.unchanged)} unchanged, {len(result.removed)} stale removed)"
        )
    return 0
