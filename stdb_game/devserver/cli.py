"""``stdb-game dev``: run the local dev server for one module file.

Logs go to stderr; stdout carries only the machine-readable ready line
(``stdb-game-dev-ready {json}``) that ``launcher.start_dev_server`` waits for.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from .keyfile import KEY_FILE_ENV, default_key_file

__all__ = ["add_arguments", "add_subcommand", "main", "run"]

DEFAULT_PORT = 3000


def _seconds(text: str) -> float:
    """A positive number of seconds (a zero ping interval would spin the loop)."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The dev server's options, shared by ``stdb-game dev`` and ``python -m stdb_game.devserver``."""
    parser.add_argument("--module", required=True, type=Path, help="module file (Python)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any)"
    )
    parser.add_argument("--database", default=None, help="database name (default: from module)")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="keep data here (default: in memory)"
    )
    key = parser.add_mutually_exclusive_group()
    key.add_argument(
        "--key-file",
        type=Path,
        default=None,
        help=(
            "token signing key file, made on first use (default: DATA_DIR/devserver-token-secret"
            f" with --data-dir, else ${KEY_FILE_ENV} or ~/.local/state/stdb-game/devserver-key)"
        ),
    )
    key.add_argument(
        "--ephemeral-key",
        action="store_true",
        help="sign tokens with a new key each run: tokens of earlier runs are refused",
    )
    parser.add_argument(
        "--ping-interval",
        type=_seconds,
        default=15.0,
        help="seconds between server Pings (default 15, like SpacetimeDB 1.3+)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=_seconds,
        default=None,
        help="drop a client silent for this long (default: twice the ping interval)",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )


def add_subcommand(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``stdb-game dev``."""
    parser = subparsers.add_parser(
        "dev",
        help="run a local SpacetimeDB-compatible dev server for a Python module",
        description="Run a local server speaking SpacetimeDB's v1 protocol for one module file.",
    )
    add_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Start the server and serve until SIGINT/SIGTERM."""
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from .server import ServerConfig, serve_forever

    if not args.module.is_file():
        logging.getLogger("stdb_game.devserver").error("module file not found: %s", args.module)
        return 2
    config = ServerConfig(
        module=args.module,
        host=args.host,
        port=args.port,
        database=args.database,
        data_dir=args.data_dir,
        key_file=_key_file(args),
        ping_interval=args.ping_interval,
        idle_timeout=args.idle_timeout,
    )
    return serve_forever(config)


def _key_file(args: argparse.Namespace) -> Path | None:
    """The key file to use; None means the data directory's, or an ephemeral key."""
    if args.key_file is not None:
        return Path(args.key_file)
    if args.ephemeral_key or args.data_dir is not None:
        return None
    path = default_key_file()
    if path is None:
        logging.getLogger("stdb_game.devserver").warning(
            "no home directory for the token signing key: tokens end with this process "
            "(pass --key-file or set %s)",
            KEY_FILE_ENV,
        )
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stdb_game.devserver``: the ``dev`` subcommand without the prefix."""
    parser = argparse.ArgumentParser(
        prog="python -m stdb_game.devserver",
        description="Run a local server speaking SpacetimeDB's v1 protocol for one module file.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
