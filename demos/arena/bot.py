"""The arena bot: heads for the nearest food or smaller circle and away from bigger ones.

It splits when its biggest circle can (mass 60, the module's rule) and a smaller target is
within reach: prey that a half could still eat, or, when nothing is chasing it, the food it
is heading for (halves are lighter, so faster: a split grazer eats more). It only reads
``ArenaWorld`` and returns what a player would do (a direction, maybe a split), so the same
game loop runs for people and bots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .world import ArenaWorld, Blob

__all__ = ["EAT_RATIO", "ArenaBot", "BotDecision"]

#: A circle eats another whose mass is below this fraction of its own (the module's rule).
EAT_RATIO = 0.85
#: The module splits a circle only from this mass (``MIN_MASS_TO_SPLIT * 2``).
MIN_SPLIT_MASS = 60
#: Seconds between the bot's splits: longer than the 5 s the halves take to merge back.
SPLIT_COOLDOWN = 6.0
#: How far a starting circle moves per server tick (10 units at 20 Hz).
STEP = 10.0


@dataclass(frozen=True)
class BotDecision:
    """Where to steer (a vector of length at most 1) and whether to split now."""

    direction: tuple[float, float]
    split: bool = False


class ArenaBot:
    """Greedy forager with a sense of danger; thinks ten times a second."""

    def __init__(self, think_interval: float = 0.1) -> None:
        self.think_interval = think_interval
        self.next_think = 0.0
        self.target: int | None = None  # food entity id being chased
        self.last_split = -10.0
        self.decision = BotDecision((0.0, 0.0))

    def think(self, world: ArenaWorld, now: float, blobs: list[Blob]) -> BotDecision | None:
        """A new decision, or None between thinks and while the bot has no circle."""
        if now < self.next_think:
            return None
        self.next_think = now + self.think_interval
        me_id = world.my_player_id
        mine = [b for b in blobs if b.player_id == me_id]
        if not mine:
            return None
        me = max(mine, key=lambda b: b.mass)
        others = [b for b in blobs if b.player_id != me_id]
        fx, fy = 0.0, 0.0
        threatened = False
        # Run from anything that could eat our biggest circle, harder the closer it is.
        for o in others:
            if me.mass >= EAT_RATIO * o.mass:
                continue
            dx, dy = me.x - o.x, me.y - o.y
            dist = math.hypot(dx, dy) or 0.001
            danger = o.radius + me.radius + 45.0
            if dist < danger:
                threatened = True
                w = 3.0 * (1.0 - dist / danger)
                fx += dx / dist * w
                fy += dy / dist * w
        # Chase a smaller player circle nearby, else food.
        prey = [o for o in others if o.mass < EAT_RATIO * me.mass]
        goal: tuple[float, float] | None = None
        can_split = me.mass >= MIN_SPLIT_MASS and now - self.last_split > SPLIT_COOLDOWN
        reach = me.radius * 3.0 + 20.0
        split = False
        if prey:
            p = min(prey, key=lambda o: math.hypot(o.x - me.x, o.y - me.y))
            d = math.hypot(p.x - me.x, p.y - me.y)
            if d < 90.0:
                goal = (p.x, p.y)
                # A half must still be big enough to eat it.
                split = can_split and d < reach and p.mass < EAT_RATIO * me.mass / 2
        if goal is None:
            goal = self._food_goal(world, me)
            if goal is not None and can_split and not threatened and len(mine) == 1:
                split = math.hypot(goal[0] - me.x, goal[1] - me.y) < reach
        slow = 1.0
        if goal is not None:
            dx, dy = goal[0] - me.x, goal[1] - me.y
            d = math.hypot(dx, dy) or 0.001
            fx += dx / d
            fy += dy / d
            # The server moves a circle up to STEP units a tick: ease in so we stop on it.
            slow = min(1.0, max(0.3, d / (STEP * 1.5)))
        # Keep off the walls, where a chaser would corner us.
        size = world.world_size
        margin = me.radius + 15.0
        if me.x < margin:
            fx += 1.0
        elif me.x > size - margin:
            fx -= 1.0
        if me.y < margin:
            fy += 1.0
        elif me.y > size - margin:
            fy -= 1.0
        norm = math.hypot(fx, fy)
        if norm > 1e-6:
            k = (slow if norm <= 1.0 + 1e-6 else 1.0) / norm
            direction = (fx * k, fy * k)
        else:
            direction = (0.0, 0.0)
        if split:
            self.last_split = now
        self.decision = BotDecision(direction, split)
        return self.decision

    def _food_goal(self, world: ArenaWorld, me: Blob) -> tuple[float, float] | None:
        """The nearest food; the current target is kept unless another is much nearer."""
        best_id, best_d = None, math.inf
        for fid, (x, y, _m) in world.food.items():
            d = (x - me.x) ** 2 + (y - me.y) ** 2
            if d < best_d:
                best_id, best_d = fid, d
        if best_id is None:
            self.target = None
            size = world.world_size
            return (size / 2, size / 2)
        current = world.food.get(self.target) if self.target is not None else None
        if current is not None:
            cd = (current[0] - me.x) ** 2 + (current[1] - me.y) ** 2
            if cd <= best_d * 2.0:
                return (current[0], current[1])
        self.target = best_id
        x, y, _m = world.food[best_id]
        return (x, y)
