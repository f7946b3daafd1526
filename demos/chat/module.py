"""The official quickstart-chat module, ported to the dev server's Python module API.

Same tables, columns, reducer names, lifecycles and error messages as the Rust module at
SpacetimeDB v1.1.2 (``modules/quickstart-chat``), declared in the order of the real schema dump
so reducer ids match (``send_message`` is reducer 3).
"""

from __future__ import annotations

from stdb_game.devserver.module import (
    Identity,
    Module,
    ReducerContext,
    ReducerError,
    Timestamp,
    column,
)

module = Module("quickstart-chat")


@module.table(name="message", public=True)
class Message:
    sender: Identity
    sent: Timestamp
    text: str


@module.table(name="user", public=True)
class User:
    identity: Identity = column(primary_key=True)
    name: str | None
    online: bool


def validate_name(name: str) -> str:
    """Names must be non-empty (the official module's only rule)."""
    if not name:
        raise ReducerError("Names must not be empty")
    return name


def validate_message(text: str) -> str:
    """Messages must be non-empty."""
    if not text:
        raise ReducerError("Messages must not be empty")
    return text


@module.reducer(lifecycle="client_connected")
def identity_connected(ctx: ReducerContext) -> None:
    user = ctx.db.user.identity.find(ctx.sender)
    if user is not None:
        user.online = True
        ctx.db.user.identity.update(user)
    else:
        ctx.db.user.insert(User(identity=ctx.sender, name=None, online=True))


@module.reducer(lifecycle="client_disconnected")
def identity_disconnected(ctx: ReducerContext) -> None:
    user = ctx.db.user.identity.find(ctx.sender)
    if user is not None:
        user.online = False
        ctx.db.user.identity.update(user)
    # the official module only logs a warning for an unknown user


@module.reducer(lifecycle="init")
def init(ctx: ReducerContext) -> None:
    pass


@module.reducer
def send_message(ctx: ReducerContext, text: str) -> None:
    text = validate_message(text)
    ctx.db.message.insert(Message(sender=ctx.sender, sent=ctx.timestamp, text=text))


@module.reducer
def set_name(ctx: ReducerContext, name: str) -> None:
    name = validate_name(name)
    user = ctx.db.user.identity.find(ctx.sender)
    if user is None:
        raise ReducerError("Cannot set name for unknown user")
    user.name = name
    ctx.db.user.identity.update(user)
