"""A user's game code, as the example in docs/testing.md tests it: a chat bot.

It runs on the quickstart-chat module (``demos/chat/module.py``): whenever someone else
posts "ping", it answers "pong".
"""

from __future__ import annotations

from typing import Any

from stdb_game.client import Client
from stdb_game.events import EventCause, RowEventContext


class PingBot:
    """Answers every "ping" another user sends with "pong"."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.replies = 0
        client.db.message.on_insert(self._on_message)

    def _on_message(self, ctx: RowEventContext, message: Any) -> None:
        # Rows from the initial subscription are history, not new messages.
        if ctx.cause is not EventCause.REDUCER:
            return
        if message.text == "ping" and message.sender != self.client.identity:
            self.client.call_reducer("send_message", "pong")
            self.replies += 1
