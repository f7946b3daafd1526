"""What a reducer receives as ``ctx``: who called, when, the tables, and a deterministic rng."""

from __future__ import annotations

import random
from typing import Any

from ..sats.values import ConnectionId, Identity, Timestamp

__all__ = ["ReducerContext"]


class ReducerContext:
    """The caller, the transaction's timestamp, table handles (``ctx.db``) and ``ctx.rng``."""

    __slots__ = ("_rng", "_seed", "connection_id", "db", "identity", "sender", "timestamp")

    def __init__(
        self,
        *,
        sender: Identity,
        connection_id: ConnectionId | None,
        timestamp: Timestamp,
        db: Any,
        identity: Identity,
        seed: int | tuple[int, ...],
    ) -> None:
        self.sender = sender
        self.connection_id = connection_id
        self.timestamp = timestamp
        self.db = db
        self.identity = identity
        self._seed = seed
        self._rng: random.Random | None = None

    @property
    def rng(self) -> random.Random:
        """A ``random.Random`` seeded from the module seed and the timestamp (replayable)."""
        if self._rng is None:
            seed = self._seed
            if isinstance(seed, tuple):
                seed = hash(seed) & ((1 << 63) - 1)
            self._rng = random.Random(seed)
        return self._rng
