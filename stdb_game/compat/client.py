"""The old Python SDK README's API (``SpacetimeDBClient``), on top of the game-loop ``Client``.

Users of ``spacetimedb-sdk`` 0.7.0 and of its community fork can move with few edits; see
``docs/migrating.md`` for what changed underneath (real URL, Bearer tokens, BSATN, no threads).
Everything still runs on the thread that calls ``update()``/``tick()``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from ..client import Client, ClientBuilder, DisconnectReason, ReconnectPolicy, TickStats
from ..errors import SchemaError
from ..events import ReducerEvent, RowEventContext, SubscriptionAppliedEvent
from ..protocol import CallReducerFlags
from ..sats.values import ConnectionId, Identity
from ..schema import ModuleSchema

__all__ = ["CallReducerFlags", "SpacetimeDBClient", "SpacetimeDBClientBuilder", "base_url"]

log = logging.getLogger("stdb_game.compat")


def base_url(host: str, ssl_enabled: bool) -> str:
    """``localhost:3000`` or ``http(s)://`` / ``ws(s)://`` URLs, as the old API took them."""
    if "://" in host:
        return host
    return f"{'https' if ssl_enabled else 'http'}://{host}"


def _call_flexibly(fn: Callable[..., Any], *args: Any) -> Any:
    """Call an old-style callback with as many of ``args`` as it accepts."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return fn(*args)
    params = list(sig.parameters.values())
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return fn(*args)
    n = sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    return fn(*args[:n])


def _schema_of(module_bindings: Any) -> ModuleSchema | None:
    """Generated bindings expose ``SCHEMA``; a ``ModuleSchema`` passes through."""
    if module_bindings is None or isinstance(module_bindings, ModuleSchema):
        return module_bindings
    schema = getattr(module_bindings, "SCHEMA", None)
    if not isinstance(schema, ModuleSchema):
        raise TypeError(
            "module_bindings must be a package made by `stdb-game generate` (it has SCHEMA) "
            "or a ModuleSchema"
        )
    return schema


def _bind_generated(client: Client) -> None:
    """Point generated bindings' old-style helpers (``User.iter()``...) at this client."""
    from ..codegen.runtime import set_current_client

    set_current_client(client)


class SpacetimeDBClient:
    """A connection with the old SDK's method names; ``update()`` once per frame.

    ``SpacetimeDBClient.instance`` is the last one created, as in 0.7.0, for code that
    reached the client through the class.
    """

    instance: ClassVar[SpacetimeDBClient | None] = None

    def __init__(self, client: Client) -> None:
        self.client = client
        self._on_subscription_applied: list[Callable[[], None]] = []
        self._on_transaction: list[Callable[[ReducerEvent], None]] = []
        client.on_any_reducer(self._fire_transaction)
        SpacetimeDBClient.instance = self
        # Generated bindings' callbacks (``Message.register_row_update``...) attach to
        # tables, which are known once connect() has fetched the schema when no
        # module_bindings gave it.
        client._when_schema(lambda: _bind_generated(client))

    # ---- construction -----------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        host: str,
        database_address: str | None = None,
        db_identity: str | None = None,
        auth_token: str | None = None,
        ssl_enabled: bool = False,
        *,
        on_connect: Callable[..., Any] | None = None,
        on_disconnect: Callable[..., Any] | None = None,
        on_identity: Callable[..., Any] | None = None,
        on_error: Callable[..., Any] | None = None,
        module_bindings: Any = None,
        **client_options: Any,
    ) -> SpacetimeDBClient:
        """Connect now (blocking handshake) and return the client.

        ``db_identity``, when given, names the database by its identity in the URL (real
        servers accept a name or a 64-hex identity there; there is no ``/v1/ws/`` route).
        """
        database = db_identity or database_address
        if not database:
            raise ValueError("give database_address (a name) or db_identity (64 hex digits)")
        client = Client(
            base_url(host, ssl_enabled),
            database,
            schema=_schema_of(module_bindings),
            token=auth_token,
            **client_options,
        )
        compat = cls(client)
        compat._wire(on_connect, on_disconnect, on_identity, on_error)
        client.connect()
        return compat

    @classmethod
    def builder(cls) -> SpacetimeDBClientBuilder:
        return SpacetimeDBClientBuilder()

    def _wire(
        self,
        on_connect: Callable[..., Any] | None,
        on_disconnect: Callable[..., Any] | None,
        on_identity: Callable[..., Any] | None,
        on_error: Callable[..., Any] | None,
    ) -> None:
        c = self.client
        if on_identity is not None:
            c.on_connect(lambda ident, token, conn: _call_flexibly(on_identity, token, ident, conn))
        if on_connect is not None:
            c.on_connect(lambda ident, token, conn: _call_flexibly(on_connect, ident, token, conn))
        if on_disconnect is not None:
            c.on_disconnect(lambda reason: _call_flexibly(on_disconnect, reason.describe(), reason))
        if on_error is not None:
            c.on_connect_error(lambda exc: _call_flexibly(on_error, str(exc), exc))
            c.on_server_error(lambda msg: _call_flexibly(on_error, msg))

    # ---- the old method names ---------------------------------------------------------------

    @property
    def identity(self) -> Identity | None:
        return self.client.identity

    @property
    def connection_id(self) -> ConnectionId | None:
        return self.client.connection_id

    @property
    def token(self) -> str | None:
        return self.client.token

    def update(self) -> TickStats:
        """Process what arrived (the old SDK's per-frame call); same as ``tick()``."""
        return self.client.tick()

    def tick(self, budget_ms: float | None = 4.0) -> TickStats:
        return self.client.tick(budget_ms=budget_ms)

    def subscribe(self, queries: Sequence[str]) -> int:
        """The 0.7.0 call: replaces the whole (legacy) query set; returns its query id."""
        handle = self.client.subscribe_legacy(list(queries))
        handle.on_applied(lambda _h: self._fire_applied())
        return handle.query_id

    def subscribe_single(self, query: str) -> int:
        """Subscribe to one query; returns the query id to pass to ``unsubscribe``.

        Sent as a one-query ``SubscribeMulti``: the server's single-query path miscounts
        overlapping subscriptions (docs/migrating.md).
        """
        handle = self.client.subscribe([query])
        handle.on_applied(lambda _h: self._fire_applied())
        return handle.query_id

    def subscribe_multi(self, queries: Sequence[str]) -> int:
        handle = self.client.subscribe(list(queries))
        handle.on_applied(lambda _h: self._fire_applied())
        return handle.query_id

    def unsubscribe(self, query_id: int) -> None:
        self.client.unsubscribe(query_id)

    def call_reducer(
        self,
        reducer_name: str,
        *args: Any,
        flags: CallReducerFlags | int = CallReducerFlags.FULL_UPDATE,
    ) -> int:
        """Call a reducer with positional arguments; returns the request id.

        ``flags`` are the call flags; a reducer parameter named ``flags`` is passed
        positionally, as in the old API.
        """
        return self.client.call_reducer(reducer_name, *args, call_flags=flags)

    def one_off_query(self, sql: str, callback: Callable[..., Any] | None = None) -> bytes:
        def done(result: Any) -> None:
            if callback is not None:
                _call_flexibly(callback, result.rows, result.error)

        return self.client.one_off_query(sql, done)

    def register_on_subscription_applied(self, fn: Callable[[], None]) -> None:
        self._on_subscription_applied.append(fn)

    def unregister_on_subscription_applied(self, fn: Callable[[], None]) -> None:
        if fn in self._on_subscription_applied:
            self._on_subscription_applied.remove(fn)

    def register_on_transaction(self, fn: Callable[[ReducerEvent], None]) -> None:
        """``fn(reducer_event)`` for every reducer run this client hears of."""
        self._on_transaction.append(fn)

    register_on_event = register_on_transaction

    def register_row_update(
        self, table: str, fn: Callable[[str, Any, Any, ReducerEvent | None], None]
    ) -> None:
        """``fn(row_op, old, new, reducer_event)`` with row_op "insert"/"delete"/"update".

        A table the module does not have raises ``SchemaError``; before ``connect()`` has
        fetched the schema the callback waits and attaches then (an unknown table is then
        logged, since connect() is no place to fail for it).
        """

        def attach() -> None:
            h = self.client.table(table)
            h.on_insert(lambda ctx, row: fn("insert", None, row, _reducer_of(ctx)))
            h.on_delete(lambda ctx, row: fn("delete", row, None, _reducer_of(ctx)))
            h.on_update(lambda ctx, old, new: fn("update", old, new, _reducer_of(ctx)))

        if self.client.session is not None:
            attach()
            return

        def later() -> None:
            try:
                attach()
            except SchemaError as exc:
                log.warning("register_row_update(%r): %s; its callbacks stay idle", table, exc)

        self.client._when_schema(later)

    def close(self) -> None:
        self.client.disconnect()

    disconnect = close

    def _fire_applied(self) -> None:
        for fn in list(self._on_subscription_applied):
            fn()

    def _fire_transaction(self, ev: ReducerEvent) -> None:
        for fn in list(self._on_transaction):
            fn(ev)


def _reducer_of(ctx: RowEventContext) -> ReducerEvent | None:
    return ctx.reducer_event


class SpacetimeDBClientBuilder:
    """``SpacetimeDBClient.builder().with_uri(...).with_module_name(...).connect()``."""

    def __init__(self) -> None:
        self._inner = ClientBuilder()
        self._uri: str | None = None
        self._name: str | None = None
        self._identity: str | None = None
        self._callbacks: dict[str, Callable[..., Any] | None] = {
            "on_connect": None, "on_disconnect": None, "on_identity": None, "on_error": None,
        }  # fmt: skip
        self._bindings: Any = None

    def with_uri(self, uri: str) -> SpacetimeDBClientBuilder:
        self._uri = uri
        return self

    def with_module_name(self, name: str) -> SpacetimeDBClientBuilder:
        self._name = name
        return self

    def with_db_identity(self, identity: str) -> SpacetimeDBClientBuilder:
        """Name the database by identity (64 hex digits) instead of by name."""
        self._identity = identity
        return self

    def with_token(self, token: str | None) -> SpacetimeDBClientBuilder:
        self._inner.with_token(token)
        return self

    def with_module_bindings(self, bindings: Any) -> SpacetimeDBClientBuilder:
        self._bindings = bindings
        return self

    def with_reconnect(self, policy: ReconnectPolicy | bool) -> SpacetimeDBClientBuilder:
        self._inner.with_reconnect(policy)
        return self

    def with_option(self, name: str, value: Any) -> SpacetimeDBClientBuilder:
        self._inner.with_option(name, value)
        return self

    def on_connect(self, fn: Callable[..., Any]) -> SpacetimeDBClientBuilder:
        self._callbacks["on_connect"] = fn
        return self

    def on_disconnect(self, fn: Callable[..., Any]) -> SpacetimeDBClientBuilder:
        self._callbacks["on_disconnect"] = fn
        return self

    def on_identity(self, fn: Callable[..., Any]) -> SpacetimeDBClientBuilder:
        """``fn(token, identity, connection_id)`` as the old README showed."""
        self._callbacks["on_identity"] = fn
        return self

    def on_error(self, fn: Callable[..., Any]) -> SpacetimeDBClientBuilder:
        self._callbacks["on_error"] = fn
        return self

    def build(self) -> SpacetimeDBClient:
        if not self._uri:
            raise ValueError("with_uri(...) is required")
        database = self._identity or self._name
        if not database:
            raise ValueError("with_module_name(...) or with_db_identity(...) is required")
        self._inner.with_uri(self._uri).with_module_name(database)
        schema = _schema_of(self._bindings)
        if schema is not None:
            self._inner.with_schema(schema)
        compat = SpacetimeDBClient(self._inner.build())
        cb = self._callbacks
        compat._wire(cb["on_connect"], cb["on_disconnect"], cb["on_identity"], cb["on_error"])
        return compat

    def connect(self) -> SpacetimeDBClient:
        compat = self.build()
        compat.client.connect()
        return compat


# Old code passed the disconnect reason as a string; keep the structured one reachable.
DisconnectInfo = DisconnectReason
AppliedEvent = SubscriptionAppliedEvent
