"""Run the chat demo: a window, a terminal chat (``--terminal``) or a headless bot (``--bot``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ..common import build_parser

__all__ = ["main", "run"]


def run(args: argparse.Namespace) -> int:
    """Play the chat with parsed options; the exit status."""
    if args.terminal and not args.bot:
        from .terminal import run_terminal

        return run_terminal(args)
    from ..app import run_demo
    from .game import ChatGame

    return run_demo("chat", args, ChatGame)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser("chat")
    parser.add_argument(
        "--terminal", action="store_true", help="chat line by line in this terminal, no window"
    )
    return run(parser.parse_args(argv))
