"""The ``stdb-game`` command; each subcommand lives with the code it drives.

A subcommand module exposes ``add_subcommand(subparsers)``, which adds its parser and sets
``handler=callable(args) -> int`` on it. Modules are imported lazily so that a missing
optional extra (pygame, aiohttp) only breaks its own subcommand, with a clear message.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__

#: Modules that provide subcommands, in the order ``--help`` lists them.
SUBCOMMAND_MODULES = (
    "stdb_game.devserver.cli",  # dev
    "stdb_game.codegen.cli",  # generate
    "stdb_game.tools.sql_cli",  # sql
    "stdb_game.replay.cli",  # replay
    "demos.cli",  # demo
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stdb-game",
        description="SpacetimeDB for Python game loops: dev server, codegen, demos, tools.",
    )
    parser.add_argument("--version", action="version", version=f"stdb-game {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue  # that part of the project is not there
            raise
        module.add_subcommand(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0 if not getattr(args, "command", None) else 2
    return int(handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
