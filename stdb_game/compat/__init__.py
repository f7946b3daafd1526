"""The old Python SDK README's API on top of the game-loop client (see docs/migrating.md)."""

from __future__ import annotations

from ..protocol import CallReducerFlags
from .async_client import SpacetimeDBAsyncClient
from .client import SpacetimeDBClient, SpacetimeDBClientBuilder

__all__ = [
    "CallReducerFlags",
    "SpacetimeDBAsyncClient",
    "SpacetimeDBClient",
    "SpacetimeDBClientBuilder",
]
