"""The old ``spacetimedb_sdk.spacetimedb_async_client`` import path (the old README's).

``from spacetimedb_sdk.spacetimedb_async_client import SpacetimeDBAsyncClient`` becomes
``from stdb_game.compat.spacetimedb_async_client import SpacetimeDBAsyncClient``.
"""

from __future__ import annotations

from ..events import ReducerEvent
from ..protocol import CallReducerFlags
from .async_client import SpacetimeDBAsyncClient

__all__ = ["CallReducerFlags", "ReducerEvent", "SpacetimeDBAsyncClient"]
