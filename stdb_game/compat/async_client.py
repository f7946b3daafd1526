"""``SpacetimeDBAsyncClient``: the old asyncio API, driving the same ``tick()`` from a task.

Everything runs on the event loop's thread: the WebSocket handshake is stepped from the
loop without blocking (``Client.begin_connect``), then every tick and callback runs there.
No thread is started, with two exceptions that only concern setup: a host *name* other
than ``localhost`` is resolved by ``loop.getaddrinfo`` (asyncio runs it in its default
executor, a worker thread; pass an IP address to avoid it), and without
``module_bindings`` the schema is fetched over blocking HTTP in that executor too.
``call_reducer`` awaits the server's answer to that very call.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from ..client import Client, DisconnectReason
from ..errors import ConnectError, StdbError
from ..events import ReducerEvent
from ..protocol import CallReducerFlags
from ..transport.handshake import AddrInfo
from .client import SpacetimeDBClient, _call_flexibly, _schema_of, base_url

__all__ = ["SpacetimeDBAsyncClient"]

log = logging.getLogger("stdb_game.compat")


async def resolve_async(url: str) -> list[AddrInfo]:
    """The addresses of ``url``'s host, without blocking the loop.

    An IP address needs no lookup and ``localhost`` is the loopback (RFC 6761): neither
    starts a thread. Other names go to ``loop.getaddrinfo`` (asyncio's default executor).
    """
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = parts.port or (443 if parts.scheme in ("wss", "https") else 80)
    if host.lower() in ("localhost", "localhost."):
        hosts = ["127.0.0.1", "::1"]
    else:
        try:
            ipaddress.ip_address(host)
            hosts = [host]
        except ValueError:
            hosts = []
    if hosts:
        found = []
        for h in hosts:
            flags = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
            try:
                found += socket.getaddrinfo(h, port, type=socket.SOCK_STREAM, flags=flags)
            except socket.gaierror:
                continue  # e.g. no IPv6 on this machine
    else:
        loop = asyncio.get_running_loop()
        try:
            found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise ConnectError(f"cannot resolve {host}: {exc}") from exc
    return [(int(f), int(k), p, name, addr) for f, k, p, name, addr in found]


class SpacetimeDBAsyncClient:
    """``await SpacetimeDBAsyncClient(module_bindings).run(token, host, db, ...)``."""

    def __init__(self, module_bindings: Any = None, *, tick_interval: float = 1 / 120) -> None:
        self._schema = _schema_of(module_bindings)
        self.tick_interval = tick_interval
        self.client: SpacetimeDBClient | None = None
        self._closing: asyncio.Event | None = None
        self._waiters: dict[int, asyncio.Future[ReducerEvent]] = {}
        self._scheduled: list[asyncio.TimerHandle] = []

    async def run(
        self,
        auth_token: str | None,
        host: str,
        address_or_name: str,
        ssl_enabled: bool | Callable[..., Any] = False,
        on_connect: Callable[..., Any] | Sequence[str] | None = None,
        queries: Sequence[str] | None = None,
        **client_options: Any,
    ) -> None:
        """Connect, subscribe to ``queries`` once connected, and tick until ``close()``.

        The old README also called it as ``run(token, host, name, on_connect, queries)``
        (no ``ssl_enabled``); both forms work.
        """
        if callable(ssl_enabled):  # run(token, host, name, on_connect, queries)
            ssl_enabled, on_connect, queries = False, ssl_enabled, on_connect  # type: ignore[assignment]
        self._closing = asyncio.Event()
        inner = Client(
            base_url(host, bool(ssl_enabled)),
            address_or_name,
            schema=self._schema,
            token=auth_token,
            **client_options,
        )
        compat = SpacetimeDBClient(inner)
        self.client = compat
        query_list = list(queries or [])
        connect_cb = on_connect if callable(on_connect) else None

        def connected(identity: Any, token: str, conn: Any) -> None:
            if query_list:
                compat.subscribe_multi(query_list)
            if connect_cb is not None:
                _call_flexibly(connect_cb, token, identity, conn)

        inner.on_connect(connected)
        inner.on_any_reducer(self._resolve)
        inner.on_disconnect(self._disconnected)
        await self._connect(inner, client_options.get("transport_factory") is not None)
        try:
            while not self._closing.is_set():
                inner.tick()
                try:
                    await asyncio.wait_for(self._closing.wait(), self.tick_interval)
                except asyncio.TimeoutError:
                    pass
        finally:
            for h in self._scheduled:
                h.cancel()
            for fut in self._waiters.values():
                if not fut.done():
                    fut.set_exception(StdbError("the client closed before the reducer answered"))
            if inner.state.value != "closed":
                inner.disconnect()

    async def _connect(self, inner: Client, uses_factory: bool) -> None:
        """Open the connection from the loop; raises what ``Client.connect()`` would."""
        if self._schema is None:
            # Fetching the schema is blocking HTTP: the one step left to a worker thread.
            await asyncio.get_running_loop().run_in_executor(None, inner.connect)
            return
        closing = self._closing
        assert closing is not None
        failed: list[BaseException] = []
        handle = inner.on_connect_error(failed.append)
        try:
            # A transport factory makes its own connection: nothing to resolve.
            inner.begin_connect(None if uses_factory else await resolve_async(inner.url))
            while inner.transport is None and not failed and not closing.is_set():
                inner.tick()  # steps the handshake: never blocks
                if inner.transport is None:
                    await asyncio.sleep(self.tick_interval)
        finally:
            handle.remove()
        if failed:
            raise failed[0]

    def _resolve(self, ev: ReducerEvent) -> None:
        if ev.request_id is not None:
            fut = self._waiters.pop(ev.request_id, None)
            if fut is not None and not fut.done():
                fut.set_result(ev)

    def _disconnected(self, reason: DisconnectReason) -> None:
        # Calls in flight have an unknown outcome now: fail their waiters, never hang.
        waiters, self._waiters = self._waiters, {}
        for fut in waiters.values():
            if not fut.done():
                fut.set_exception(
                    StdbError(f"connection lost before the answer: {reason.describe()}")
                )
        if not reason.will_reconnect and self._closing is not None:
            self._closing.set()

    def _require(self) -> SpacetimeDBClient:
        if self.client is None:
            raise StdbError("call run() first")
        return self.client

    async def call_reducer(
        self,
        reducer_name: str,
        *args: Any,
        flags: CallReducerFlags | int = CallReducerFlags.FULL_UPDATE,
    ) -> ReducerEvent | None:
        """Call a reducer and wait for its result (committed or failed).

        With ``NO_SUCCESS_NOTIFY`` the server sends no answer to wait for: returns None
        once the call is sent. If the connection drops first, raises ``StdbError``.
        """
        compat = self._require()
        rid = compat.call_reducer(reducer_name, *args, flags=flags)
        if CallReducerFlags(flags) is CallReducerFlags.NO_SUCCESS_NOTIFY:
            return None
        fut: asyncio.Future[ReducerEvent] = asyncio.get_running_loop().create_future()
        self._waiters[rid] = fut
        return await fut

    def subscribe(self, queries: Sequence[str]) -> int:
        return self._require().subscribe_multi(list(queries))

    def register_on_event(self, fn: Callable[[ReducerEvent], None]) -> None:
        self._require().register_on_transaction(fn)

    def register_on_subscription_applied(self, fn: Callable[[], None]) -> None:
        self._require().register_on_subscription_applied(fn)

    def schedule_event(self, delay_secs: float, function: Callable[..., Any], *args: Any) -> None:
        """Run ``function(*args)`` on the loop after ``delay_secs``."""
        self._scheduled.append(asyncio.get_running_loop().call_later(delay_secs, function, *args))

    def close(self) -> None:
        if self._closing is not None:
            self._closing.set()

    force_close = close
