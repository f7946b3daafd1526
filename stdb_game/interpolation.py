"""Smooth rendering between server updates, for any engine.

Servers simulate at a fixed rate (the arena module at 20 Hz) while games draw at 60+ FPS.
``SnapshotInterpolator`` keeps, per entity, the last few values it heard of with the local
time they arrived, and ``sample(now)`` returns each entity's value as it was ``delay``
seconds ago, linearly interpolated between the two snapshots around that moment. A small
delay (about two server ticks) hides jitter; past the newest snapshot it extrapolates for at
most ``max_extrapolation`` seconds, then holds.

Values of one entity must have one shape: with the default blend (``lerp_vec``) a snapshot
whose length differs from the entity's previous one raises ``SnapshotShapeError`` in
``push`` and is not stored, rather than being blended component by component into a
silently shortened tuple. ``remove`` the entity first to change what it carries.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["SnapshotInterpolator", "SnapshotShapeError", "lerp", "lerp_vec"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


class SnapshotShapeError(ValueError):
    """Two snapshots to blend have different lengths: one of them lost or gained a field."""


def lerp_vec(a: tuple[float, ...], b: tuple[float, ...], t: float) -> tuple[float, ...]:
    """Component-wise ``lerp``; ``SnapshotShapeError`` when the lengths differ."""
    if len(a) != len(b):
        raise SnapshotShapeError(f"cannot blend a {len(a)}-tuple with a {len(b)}-tuple")
    return tuple(x + (y - x) * t for x, y in zip(a, b))


@dataclass
class _Track(Generic[V]):
    snapshots: deque[tuple[float, V]]


class SnapshotInterpolator(Generic[K, V]):
    """Per-entity snapshot buffers with delayed, interpolated sampling.

    ``blend(a, b, t)`` mixes two values (``lerp_vec`` for position tuples, the default).
    """

    def __init__(
        self,
        delay: float = 0.1,
        *,
        max_snapshots: int = 8,
        max_extrapolation: float = 0.05,
        blend: Callable[[V, V, float], V] | None = None,
    ) -> None:
        self.delay = delay
        self.max_snapshots = max_snapshots
        self.max_extrapolation = max_extrapolation
        self._blend: Callable[[V, V, float], V] = blend or lerp_vec  # type: ignore[assignment]
        #: Only lerp_vec's shape is known here: a custom blend checks its own values.
        self._check_shape = blend is None
        self._tracks: dict[K, _Track[V]] = {}

    def push(self, key: K, value: V, now: float) -> None:
        """Record that entity ``key`` had ``value`` according to an update received at ``now``.

        Raises ``SnapshotShapeError`` (storing nothing) when ``value`` has another length
        than the entity's last snapshot, under the default blend.
        """
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = _Track(deque(maxlen=self.max_snapshots))
        snaps = track.snapshots
        if self._check_shape and snaps:
            have, got = len(snaps[-1][1]), len(value)  # type: ignore[arg-type]
            if have != got:
                raise SnapshotShapeError(
                    f"entity {key!r}: snapshot of length {got} after ones of length {have}; "
                    "remove() the entity to change its shape"
                )
        if snaps and now < snaps[-1][0]:
            now = snaps[-1][0]  # clocks only move forward
        snaps.append((now, value))

    def remove(self, key: K) -> None:
        self._tracks.pop(key, None)

    def clear(self) -> None:
        self._tracks.clear()

    def __contains__(self, key: object) -> bool:
        return key in self._tracks

    def __len__(self) -> int:
        return len(self._tracks)

    def keys(self) -> Iterator[K]:
        return iter(self._tracks)

    def sample(self, key: K, now: float) -> V | None:
        """The value of ``key`` at ``now - delay``, or None for an unknown entity."""
        track = self._tracks.get(key)
        if track is None:
            return None
        snaps = track.snapshots
        t = now - self.delay
        last_t, last_v = snaps[-1]
        if len(snaps) == 1:
            return last_v
        if t >= last_t:
            prev_t, prev_v = snaps[-2]
            span = last_t - prev_t
            if span <= 0:
                return last_v
            ahead = min(t - last_t, self.max_extrapolation)
            return self._blend(prev_v, last_v, 1.0 + ahead / span)
        if t <= snaps[0][0]:
            return snaps[0][1]
        # Find the pair around t (few snapshots: a linear walk from the end is cheapest).
        for i in range(len(snaps) - 1, 0, -1):
            t0, v0 = snaps[i - 1]
            t1, v1 = snaps[i]
            if t0 <= t <= t1:
                return v1 if t1 == t0 else self._blend(v0, v1, (t - t0) / (t1 - t0))
        return last_v  # pragma: no cover - unreachable: t lies within the buffer

    def sample_all(self, now: float) -> dict[K, V]:
        out: dict[K, V] = {}
        for key in self._tracks:
            v = self.sample(key, now)
            if v is not None:
                out[key] = v
        return out
