"""Transports move whole binary WebSocket messages between the client and a server."""

from __future__ import annotations

from .base import CloseInfo, CloseKind, Transport
from .fake import FakeTransport
from .frames import DEFAULT_MAX_MESSAGE_BYTES
from .url import Compression, build_subscribe_url
from .websocket_transport import DEFAULT_SUBPROTOCOL, WebSocketTransport

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_SUBPROTOCOL",
    "CloseInfo",
    "CloseKind",
    "Compression",
    "FakeTransport",
    "Transport",
    "WebSocketTransport",
    "build_subscribe_url",
]
