"""Run the arena demo: a window, or a headless bot (``--bot``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ..common import build_parser

__all__ = ["main", "run"]


def run(args: argparse.Namespace) -> int:
    """Play the arena with parsed options; the exit status."""
    from ..app import run_demo
    from .game import ArenaGame

    return run_demo("arena", args, ArenaGame)


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser("arena").parse_args(argv))
