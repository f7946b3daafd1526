"""Deadlines of scheduled-table rows, kept in step with the committed rows of those tables.

The network layer drives time: it asks ``next_deadline()`` and calls ``Database.run_due(now)``.
An interval row is next due ``interval`` after it was inserted, then at a fixed rate: the next
slot is counted from the slot that just ran, not from when it ran, so late runs do not add up
to drift. A caller more than an interval late gets one run and the missed slots are skipped
(the next is the first slot after ``now``), not a burst. This is the real scheduler's rule
since v2.8.3 (``next_interval_tick_after``); earlier servers re-armed from the run's own time.
A time row is due at its time and runs once.
"""

from __future__ import annotations

import heapq
from typing import Any

from ..sats.values import ScheduleAt, TimeDuration, Timestamp

__all__ = ["Scheduler"]

Key = tuple[str, int]


class Scheduler:
    """A heap of (deadline, order, key) with lazy invalidation; ``entries`` is the truth."""

    def __init__(self) -> None:
        self.entries: dict[Key, tuple[int, int, bytes, ScheduleAt]] = {}
        self._heap: list[tuple[int, int, Key]] = []
        self._order = 0

    def put(self, key: Key, at: ScheduleAt, data: bytes, now: Timestamp) -> None:
        """Schedule (or reschedule) a row from the timestamp ``now`` of its insertion."""
        value: Any = at.value
        if isinstance(value, TimeDuration):
            deadline = now.micros_since_epoch + max(value.micros, 1)
        else:
            deadline = value.micros_since_epoch
        self._push(key, deadline, data, at)

    def _push(self, key: Key, deadline: int, data: bytes, at: ScheduleAt) -> None:
        self._order += 1
        self.entries[key] = (deadline, self._order, data, at)
        heapq.heappush(self._heap, (deadline, self._order, key))

    def remove(self, key: Key) -> None:
        self.entries.pop(key, None)

    def _clean(self) -> None:
        heap = self._heap
        while heap:
            _, order, key = heap[0]
            entry = self.entries.get(key)
            if entry is not None and entry[1] == order:
                return
            heapq.heappop(heap)

    def next_deadline(self) -> Timestamp | None:
        self._clean()
        return Timestamp(self._heap[0][0]) if self._heap else None

    def pop_due(self, now: Timestamp) -> tuple[Key, int, bytes, ScheduleAt] | None:
        """The earliest row due at ``now`` as (key, order, row bytes, when), or None.

        The row stays in ``entries``; the caller reschedules or removes it after running it.
        """
        self._clean()
        if not self._heap or self._heap[0][0] > now.micros_since_epoch:
            return None
        _, order, key = heapq.heappop(self._heap)
        _, _, data, at = self.entries[key]
        return key, order, data, at

    def settle(self, key: Key, order: int, now: Timestamp) -> None:
        """After running the entry popped with ``order`` at ``now``: move an interval row to its
        next slot, else forget it.

        Does nothing if the run itself rescheduled or removed the row (its order changed).
        """
        entry = self.entries.get(key)
        if entry is None or entry[1] != order:
            return
        slot, _, data, at = entry
        value: Any = at.value
        if isinstance(value, TimeDuration):
            nxt = next_slot_after(slot, max(abs(value.micros), 1), now.micros_since_epoch)
            self._push(key, nxt, data, at)
        else:
            del self.entries[key]


def next_slot_after(slot: int, interval: int, now: int) -> int:
    """The first of ``slot + k * interval`` (k >= 1) later than ``now``, all in microseconds."""
    if now < slot:
        return slot + interval
    return slot + (now - slot) // interval * interval + interval
