"""``stdb-game demo chat|arena``: the demos on the command line (same options as ``python -m``).

Importing this module needs no pygame, so ``stdb-game --help`` works without the extra.
"""

from __future__ import annotations

import argparse
from typing import Any

from .common import add_arguments

__all__ = ["add_subcommand"]


def add_subcommand(subparsers: Any) -> None:
    """Register ``demo`` with one sub-command per demo."""
    parser = subparsers.add_parser(
        "demo",
        help="play a demo: chat or arena (starts a dev server unless --server is given)",
        description=(
            "Play a stdb_game demo. Without --server, a dev server with the demo's module runs "
            "on a free loopback port for as long as the demo does. Without a display, or with "
            "--bot, the demo plays itself headless and prints a JSON summary."
        ),
    )
    demos = parser.add_subparsers(dest="demo", metavar="DEMO")
    chat = demos.add_parser(
        "chat", help="a chat room (quickstart-chat)", description="The quickstart-chat demo."
    )
    add_arguments(chat, "chat")
    chat.add_argument(
        "--terminal", action="store_true", help="chat line by line in this terminal, no window"
    )
    chat.set_defaults(handler=_run_chat)
    arena = demos.add_parser(
        "arena",
        help="an agar.io-like arena (Blackholio)",
        description="The Blackholio-style arena demo: eat food and smaller circles, grow, split.",
    )
    add_arguments(arena, "arena")
    arena.set_defaults(handler=_run_arena)
    parser.set_defaults(handler=lambda _args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _run_chat(args: argparse.Namespace) -> int:
    from .chat.main import run

    return run(args)


def _run_arena(args: argparse.Namespace) -> int:
    from .arena.main import run

    return run(args)
