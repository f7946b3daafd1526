"""The chat's state, kept up to date by row and reducer callbacks; shared by window and terminal.

It works against the official quickstart-chat module: tables ``user`` (identity, name,
online) and ``message`` (sender, sent, text), reducers ``set_name`` and ``send_message``,
through the typed bindings in ``demos/chat/bindings`` (``python -m demos.bindings``).
"""

from __future__ import annotations

import bisect
import colorsys
import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stdb_game import Client, EventCause, Identity, RowEventContext, Timestamp

from .bindings import SCHEMA, DbConnection

__all__ = [
    "DISPLAY_LIMIT",
    "SCHEMA",
    "ChatModel",
    "Entry",
    "display_text",
    "identity_color",
    "short_id",
]

HELP = "commands: /name NEW (rename), /help, /quit. PageUp/PageDown or the wheel scroll."

#: Characters of one message that are shown; the module takes messages of any length, and
#: wrapping and drawing megabytes would stall the frame (the rest is only counted).
DISPLAY_LIMIT = 4096


def display_text(text: str, limit: int = DISPLAY_LIMIT) -> str:
    """``text``, or its first ``limit`` characters and a note of how big the whole was."""
    if len(text) <= limit:
        return text
    kb = max(1, round(len(text.encode("utf-8", "replace")) / 1024))
    return f"{text[:limit]}... (message truncated, {kb} KB)"


def short_id(identity: Identity) -> str:
    """A short readable stand-in for an unnamed user."""
    return identity.to_hex()[:8]


def identity_color(identity: Identity | None) -> tuple[int, int, int]:
    """A stable, readable colour per user."""
    if identity is None:
        return (170, 176, 190)
    h = (identity.value * 2654435761 % 360) / 360.0
    r, g, b = colorsys.hls_to_rgb(h, 0.68, 0.65)
    return int(r * 255), int(g * 255), int(b * 255)


@dataclass(order=True)
class Entry:
    """One line of the history: a message, a notice (join/leave/rename) or an error."""

    sort_key: tuple[int, int]
    kind: str = field(compare=False)  # "message", "notice", "error", "info"
    text: str = field(compare=False)
    sender: Identity | None = field(compare=False, default=None)
    when: dt.datetime = field(compare=False, default_factory=dt.datetime.now)
    seq: int = field(compare=False, default=0)


class ChatModel:
    """Messages in time order, the users, and what went wrong with our own calls."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.conn = DbConnection(client)  # needs Client(schema=SCHEMA): typed rows
        self.user_table = "user"
        self.message_table = "message"
        self.set_name_reducer = "set_name"
        self.send_reducer = "send_message"
        self.entries: list[Entry] = []
        self.listeners: list[Callable[[Entry], None]] = []
        self._seq = itertools.count(1)
        self.loaded = False
        self.messages_seen = 0
        self.sent = 0
        self.errors: list[str] = []
        #: The server refused the subscription (no such tables?): the chat cannot work.
        self.subscription_error: str | None = None
        self.names_seen: set[str] = set()
        self.quit_requested = False
        #: Request ids of our reducer calls whose result has not arrived yet.
        self.awaiting: set[int] = set()
        self.subscription = client.subscribe(
            [f"SELECT * FROM {self.user_table}", f"SELECT * FROM {self.message_table}"]
        )
        self.subscription.on_applied(self._applied)
        self.subscription.on_error(self._subscription_failed)
        db = self.conn.db
        db.user.on_insert(self._user_inserted)
        db.user.on_update(self._user_updated)
        db.message.on_insert(self._message_inserted)
        self.conn.reducers.on_set_name(self._our_call)
        self.conn.reducers.on_send_message(self._our_call)

    # ---- queries ----------------------------------------------------------------------------

    @property
    def me(self) -> Identity | None:
        return self.client.identity

    def user(self, identity: Identity) -> Any:
        return self.conn.db.user.find(identity)

    def name_of(self, identity: Identity | None) -> str:
        if identity is None:
            return "*"
        row = self.user(identity)
        name = _name(row)
        return name if name else short_id(identity)

    def users(self) -> tuple[list[Any], list[Any]]:
        """(online, offline) users, each sorted by name; you first among the online."""
        online: list[Any] = []
        offline: list[Any] = []
        for row in self.conn.db.user.iter():
            (online if row.online else offline).append(row)
        me = self.me
        online.sort(key=lambda r: (r.identity != me, self.name_of(r.identity).lower()))
        offline.sort(key=lambda r: self.name_of(r.identity).lower())
        return online, offline

    def my_name(self) -> str:
        return self.name_of(self.me) if self.me is not None else "(connecting)"

    # ---- commands ---------------------------------------------------------------------------

    def submit(self, line: str) -> None:
        """What the text box's Enter does: a /command or a message (empty ones included)."""
        stripped = line.strip()
        if stripped.startswith("/"):
            cmd, _, rest = stripped.partition(" ")
            cmd = cmd.lower()
            if cmd == "/name":
                self.set_name(rest.strip())
            elif cmd in ("/quit", "/exit"):
                self.quit_requested = True
            elif cmd == "/help":
                self.add_local("info", HELP)
            else:
                self.add_local("error", f"unknown command {cmd}; {HELP}")
            return
        # Empty messages are sent too: the module refuses them, and the refusal is shown.
        self.awaiting.add(self.conn.reducers.send_message(line))
        self.sent += 1

    def set_name(self, name: str) -> None:
        """Ask the module to rename us; the result arrives as a notice or an error."""
        self.awaiting.add(self.conn.reducers.set_name(name))

    def add_local(self, kind: str, text: str) -> Entry:
        """A line that only this client sees (help, errors), stamped now."""
        micros = Timestamp.now().micros_since_epoch
        return self._add(Entry((micros, next(self._seq)), kind, text))

    # ---- callbacks --------------------------------------------------------------------------

    def _add(self, entry: Entry) -> Entry:
        entry.seq = entry.sort_key[1]
        bisect.insort(self.entries, entry)
        for fn in list(self.listeners):
            fn(entry)
        return entry

    def _applied(self, _handle: Any) -> None:
        self.loaded = True

    def _subscription_failed(self, _handle: Any, error: str) -> None:
        text = f"the server refused the subscription: {error}"
        self.subscription_error = text
        self.errors.append(text)
        self.add_local("error", text)

    def _message_inserted(self, _ctx: RowEventContext, row: Any) -> None:
        self.messages_seen += 1
        sent: Timestamp = row.sent
        when = sent.to_datetime().astimezone()
        self._add(
            Entry((sent.micros_since_epoch, next(self._seq)), "message", row.text, row.sender, when)
        )

    def _user_inserted(self, ctx: RowEventContext, row: Any) -> None:
        name = _name(row)
        if name:
            self.names_seen.add(name)
        if ctx.cause is EventCause.REDUCER and row.identity != self.me:
            self._notice(row.identity, f"{self.name_of(row.identity)} joined")

    def _user_updated(self, ctx: RowEventContext, old: Any, new: Any) -> None:
        new_name = _name(new)
        if new_name:
            self.names_seen.add(new_name)
        if ctx.cause is not EventCause.REDUCER:
            return
        old_name = _name(old) or short_id(old.identity)
        if _name(old) != new_name:
            self._notice(new.identity, f"{old_name} is now known as {new_name}")
        elif old.online != new.online:
            what = "is online" if new.online else "went offline"
            self._notice(new.identity, f"{self.name_of(new.identity)} {what}")

    def _notice(self, who: Identity, text: str) -> None:
        micros = Timestamp.now().micros_since_epoch
        self._add(Entry((micros, next(self._seq)), "notice", text, who))

    def _our_call(self, ev: Any) -> None:  # a ReducerEventOf[SetNameArgs | SendMessageArgs]
        if ev.is_ours and ev.request_id is not None:
            self.awaiting.discard(ev.request_id)
        if not ev.is_ours or ev.committed:
            return
        what = "rename" if ev.reducer_name == self.set_name_reducer else "message"
        text = f"{what} refused by the server: {ev.error or ev.status.value}"
        self.errors.append(ev.error or ev.status.value)
        self.add_local("error", text)


def _name(row: Any) -> str | None:
    """A user row's name: the Option arrives as None or the string (or ``Some``)."""
    if row is None:
        return None
    name = row.name
    if name is None:
        return None
    value = getattr(name, "value", name)
    return str(value) if value else None
