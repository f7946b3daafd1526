"""Write the project's demo art to PNG files: ``python assets/generate.py``.

The drawings are the ones the demos make at run time (``demos/art.py``); nothing here is
taken from elsewhere. Screenshots are made by running the demos headless::

    python -m demos.arena --bot --seconds 8 --screenshot assets/screenshots/arena.png
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pygame

from demos.art import arena_icon, chat_icon

HERE = Path(__file__).resolve().parent


def main() -> int:
    pygame.display.init()
    pygame.display.set_mode((1, 1))
    for name, draw in (("icon-arena.png", arena_icon), ("icon-chat.png", chat_icon)):
        pygame.image.save(draw(128), str(HERE / name))
        print(f"wrote assets/{name}")
    pygame.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
