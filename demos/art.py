"""The demos' art, drawn in code: window icons, the arena palette and soft circle sprites.

Everything here is made by the project (``assets/LICENSE.md``); ``assets/generate.py``
writes the same drawings to PNG files.
"""

from __future__ import annotations

import pygame

__all__ = ["FOOD_COLORS", "PLAYER_COLORS", "arena_icon", "chat_icon", "disc", "shade"]

Color = tuple[int, int, int]

#: Distinct, bright colours for players (indexed by player id).
PLAYER_COLORS: tuple[Color, ...] = (
    (255, 99, 132),
    (54, 162, 235),
    (255, 206, 86),
    (75, 192, 120),
    (153, 102, 255),
    (255, 159, 64),
    (0, 200, 200),
    (240, 98, 200),
    (160, 220, 60),
    (250, 128, 114),
    (100, 149, 237),
    (230, 190, 255),
)

#: Softer colours for food pellets.
FOOD_COLORS: tuple[Color, ...] = (
    (120, 230, 160),
    (250, 210, 110),
    (130, 190, 255),
    (255, 140, 170),
    (200, 160, 255),
    (120, 220, 230),
)


def shade(color: Color, k: float) -> Color:
    """``color`` scaled by ``k`` (below 1 darker, above 1 lighter), clamped."""
    return (
        max(0, min(255, int(color[0] * k))),
        max(0, min(255, int(color[1] * k))),
        max(0, min(255, int(color[2] * k))),
    )


def disc(radius: int, color: Color, rim: float = 0.12, glow: bool = False) -> pygame.Surface:
    """An anti-aliased filled circle with a darker rim and a highlight, drawn 4x then reduced."""
    radius = max(1, radius)
    s = 4
    size = radius * 2 + 2
    big = pygame.Surface((size * s, size * s), pygame.SRCALPHA)
    c = (size * s // 2, size * s // 2)
    r = radius * s
    if glow:
        for i in range(6, 0, -1):
            pygame.draw.circle(big, (*color, 10 * (7 - i)), c, r + i * s // 2)
    pygame.draw.circle(big, (*shade(color, 0.62), 255), c, r)
    inner = max(1, int(r * (1.0 - rim))) if radius > 3 else r
    pygame.draw.circle(big, (*color, 255), c, inner)
    if radius > 6:
        hl = (c[0] - r // 3, c[1] - r // 3)
        pygame.draw.circle(big, (*shade(color, 1.25), 120), hl, max(1, r // 3))
    return pygame.transform.smoothscale(big, (size, size))


def arena_icon(size: int = 64) -> pygame.Surface:
    """Three circles of different sizes about to eat a pellet."""
    icon = pygame.Surface((size, size), pygame.SRCALPHA)
    pygame.draw.rect(icon, (18, 22, 34, 255), icon.get_rect(), border_radius=size // 6)
    for frac_x, frac_y, frac_r, color in (
        (0.40, 0.45, 0.28, PLAYER_COLORS[1]),
        (0.75, 0.70, 0.16, PLAYER_COLORS[0]),
        (0.72, 0.27, 0.09, PLAYER_COLORS[3]),
    ):
        d = disc(int(size * frac_r), color)
        icon.blit(d, d.get_rect(center=(int(size * frac_x), int(size * frac_y))))
    for fx, fy in ((0.2, 0.82), (0.3, 0.16), (0.9, 0.45)):
        pygame.draw.circle(
            icon, FOOD_COLORS[1], (int(size * fx), int(size * fy)), max(1, size // 24)
        )
    return icon


def chat_icon(size: int = 64) -> pygame.Surface:
    """Two speech bubbles."""
    icon = pygame.Surface((size, size), pygame.SRCALPHA)
    pygame.draw.rect(icon, (18, 22, 34, 255), icon.get_rect(), border_radius=size // 6)
    u = size / 16
    back = pygame.Rect(int(5 * u), int(2.5 * u), int(9 * u), int(6 * u))
    pygame.draw.rect(icon, (104, 170, 255), back, border_radius=int(2 * u))
    front = pygame.Rect(int(2 * u), int(6.5 * u), int(9 * u), int(6 * u))
    pygame.draw.polygon(
        icon,
        (96, 212, 132),
        [(int(4 * u), int(12 * u)), (int(4 * u), int(14.5 * u)), (int(7 * u), int(12 * u))],
    )
    pygame.draw.rect(icon, (96, 212, 132), front, border_radius=int(2 * u))
    for i in range(3):
        pygame.draw.circle(
            icon, (22, 24, 31), (int((4.3 + 2.2 * i) * u), int(9.5 * u)), max(1, int(0.8 * u))
        )
    return icon
