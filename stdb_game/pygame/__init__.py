"""Optional pygame helpers for games built on ``stdb_game``: the network HUD and frame timing.

Importing ``stdb_game.pygame.timing`` needs nothing but the standard library; ``hud`` needs
pygame (``pip install 'stdb-game[demos]'``).
"""

from __future__ import annotations

__all__ = ["ConnectionStatus", "FrameTimer", "NetworkHUD"]


def __getattr__(name: str) -> object:
    """Import lazily so ``timing`` works without pygame installed."""
    if name == "FrameTimer":
        from .timing import FrameTimer

        return FrameTimer
    if name in ("NetworkHUD", "ConnectionStatus"):
        from . import hud

        return getattr(hud, name)
    raise AttributeError(name)
