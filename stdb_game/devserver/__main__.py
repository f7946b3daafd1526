"""``python -m stdb_game.devserver``: what the launcher runs in its child process."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
