"""Frame and tick timings of a game loop, for the HUD's graphs and the bots' summaries.

A frame is one pass of the game loop. Per frame: the interval since the previous frame (what
the player feels), the busy time (the loop's own work in wall time, without the frame
limiter's sleep), the CPU time of that work (immune to other processes taking the CPU) and the
time ``client.tick()`` took.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Sequence

__all__ = ["FrameTimer", "percentile"]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


class FrameTimer:
    """Whole-run samples for summaries plus a short rolling window for live graphs."""

    def __init__(self, window: int = 180) -> None:
        self.frame = array("d")
        self.busy = array("d")
        self.cpu = array("d")
        self.tick = array("d")
        self.recent_frame: deque[float] = deque(maxlen=window)
        self.recent_tick: deque[float] = deque(maxlen=window)
        self.budget_exhausted = 0

    def record(
        self,
        frame_s: float,
        busy_s: float,
        tick_s: float,
        budget_exhausted: bool = False,
        cpu_s: float | None = None,
    ) -> None:
        """Add one frame's timings, all in seconds (``cpu_s`` defaults to ``busy_s``)."""
        self.frame.append(frame_s)
        self.busy.append(busy_s)
        self.cpu.append(busy_s if cpu_s is None else cpu_s)
        self.tick.append(tick_s)
        self.recent_frame.append(frame_s)
        self.recent_tick.append(tick_s)
        if budget_exhausted:
            self.budget_exhausted += 1

    @property
    def frames(self) -> int:
        return len(self.frame)

    def fps(self) -> float:
        """Frames per second over the rolling window."""
        total = sum(self.recent_frame)
        return len(self.recent_frame) / total if total > 0 else 0.0

    def summary(self, skip: int = 0) -> dict[str, float | int]:
        """p50/p99/max in milliseconds, skipping the first ``skip`` frames (start-up)."""
        frame = self.frame[skip:] if len(self.frame) > skip else self.frame
        busy = self.busy[skip:] if len(self.busy) > skip else self.busy
        cpu = self.cpu[skip:] if len(self.cpu) > skip else self.cpu
        tick = self.tick[skip:] if len(self.tick) > skip else self.tick
        total = sum(frame)
        return {
            "frames": len(self.frame),
            "fps": round(len(frame) / total, 1) if total > 0 else 0.0,
            "frame_p50_ms": _ms(percentile(frame, 50)),
            "frame_p99_ms": _ms(percentile(frame, 99)),
            "busy_p50_ms": _ms(percentile(busy, 50)),
            "busy_p99_ms": _ms(percentile(busy, 99)),
            "cpu_p50_ms": _ms(percentile(cpu, 50)),
            "cpu_p99_ms": _ms(percentile(cpu, 99)),
            "tick_p50_ms": _ms(percentile(tick, 50)),
            "tick_p99_ms": _ms(percentile(tick, 99)),
            "tick_max_ms": _ms(max(tick) if tick else 0.0),
            "budget_exhausted_frames": self.budget_exhausted,
        }


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)
