"""The old ``spacetimedb_sdk.spacetimedb_client`` import path, mapped onto ``stdb_game.compat``.

``from spacetimedb_sdk.spacetimedb_client import SpacetimeDBClient`` becomes
``from stdb_game.compat.spacetimedb_client import SpacetimeDBClient`` (docs/migrating.md).
"""

from __future__ import annotations

from ..events import ReducerEvent
from ..protocol import CallReducerFlags
from ..sats.values import Identity
from .client import SpacetimeDBClient, SpacetimeDBClientBuilder

__all__ = [
    "CallReducerFlags",
    "Identity",
    "ReducerEvent",
    "SpacetimeDBClient",
    "SpacetimeDBClientBuilder",
]
