"""``SpacetimeDBAsyncClient``: the old asyncio API, driving the same ``tick()`` from a task.

Everything runs on the event loop's thread: the WebSocket handshake is stepped from the
loop without blocking (``Client.begin_connect``), then a task ticks the client every
``tick_interval`` until ``close()``, and every callback runs there. No thread is started,
with two exceptions that only concern setup: a host *name* other than ``localhost`` is
resolved by ``loop.getaddrinfo`` (asyncio runs it in its default executor, a worker
thread; pass an IP address to avoid it), and without ``module_bindings`` the schema is
fetched over blocking HTTP in that executor too. ``call_reducer`` awaits the server's
answer to that very call.

The surface is the old SDK's (``spacetimedb-sdk`` 0.7.0): ``run``, ``connect`` (returns
``(auth_token, identity)``), ``call_reducer``, ``subscribe``, ``schedule_event``,
``force_close`` and ``close`` (awaitable; calling it without ``await`` closes too).
``on_connect`` may be a plain function or an ``async def``; a coroutine is run as a task
next to the ticking, and an exception in it ends ``run()`` with that exception.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import Any
from urllib.parse import urlsplit

from ..client import Client, ClientState, DisconnectReason
from ..errors import ConnectError, StdbError
from ..events import ReducerEvent
from ..protocol import CallReducerFlags
from ..sats.values import Identity
from ..transport.handshake import AddrInfo
from .client import SpacetimeDBClient, _call_flexibly, _schema_of, base_url

__all__ = ["SpacetimeDBAsyncClient"]

log = logging.getLogger("stdb_game.compat")

#: Seconds ``run()`` lets ``on_connect`` tasks finish after the client closed, before it
#: cancels them (an ``await client.close()`` inside one resumes well within this).
_CALLBACK_GRACE = 2.0


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


class _Closing:
    """What ``close()`` returns: awaiting it waits until the client has stopped.

    Not awaiting it is fine too (the close has already started), and warns about nothing.
    """

    def __init__(self, stopped: asyncio.Event | None) -> None:
        self._stopped = stopped

    def __await__(self) -> Generator[Any, None, None]:
        if self._stopped is not None:
            yield from self._stopped.wait().__await__()


class SpacetimeDBAsyncClient:
    """``await SpacetimeDBAsyncClient(module_bindings).run(token, host, db, ...)``."""

    def __init__(self, module_bindings: Any = None, *, tick_interval: float = 1 / 120) -> None:
        self._schema = _schema_of(module_bindings)
        self.tick_interval = tick_interval
        self.client: SpacetimeDBClient | None = None
        #: True once ``close()``/``force_close()`` was called (the old SDK's attribute).
        self.is_closing = False
        self._wake: asyncio.Event | None = None
        self._stopped: asyncio.Event | None = None
        self._pump: asyncio.Task[None] | None = None
        self._identity: asyncio.Future[tuple[str | None, Identity]] | None = None
        self._waiters: dict[int, asyncio.Future[ReducerEvent]] = {}
        self._scheduled: list[asyncio.TimerHandle] = []
        self._prescheduled: list[tuple[float, Callable[..., Any], tuple[Any, ...]]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._fatal: BaseException | None = None
        self._early: list[Callable[[SpacetimeDBClient], None]] = []  # registrations before connect

    # ---- state ------------------------------------------------------------------------------

    @property
    def identity(self) -> Identity | None:
        return self.client.identity if self.client is not None else None

    @property
    def is_connected(self) -> bool:
        return self.client is not None and self.client.client.is_connected

    # ---- connecting -------------------------------------------------------------------------

    async def connect(
        self,
        auth_token: str | None,
        host: str,
        address_or_name: str,
        ssl_enabled: bool = False,
        subscription_queries: Sequence[str] | None = None,
        **client_options: Any,
    ) -> tuple[str | None, Identity]:
        """Connect, subscribe to ``subscription_queries``, return ``(auth_token, identity)``.

        Returns once the server said who we are; from then on a task ticks the client on
        this loop until ``close()``. Use it instead of ``run()`` to drive the client from
        your own coroutine. Raises what ``Client.connect()`` would, or ``StdbError`` when
        the connection ends before the server's first message.
        """
        if self.client is not None and not self._ended():
            raise StdbError("connect() or run() was already called on this client")
        loop = asyncio.get_running_loop()
        self.is_closing = False
        self._fatal = None
        self._wake, self._stopped = asyncio.Event(), asyncio.Event()
        self._identity = loop.create_future()
        inner = Client(
            base_url(host, bool(ssl_enabled)),
            address_or_name,
            schema=self._schema,
            token=auth_token,
            **client_options,
        )
        compat = SpacetimeDBClient(inner)
        self.client = compat
        for register in self._early:
            register(compat)
        queries = list(subscription_queries or [])
        identity_future = self._identity

        def connected(identity: Identity, token: str, conn: Any) -> None:
            if identity_future.done():
                return  # a reconnect: the session restores the subscriptions itself
            if queries:
                compat.subscribe_multi(queries)
            identity_future.set_result((token, identity))

        inner.on_connect(connected)
        inner.on_any_reducer(self._resolve)
        inner.on_disconnect(self._disconnected)
        for delay, fn, args in self._prescheduled:
            self.schedule_event(delay, fn, *args)
        self._prescheduled.clear()
        try:
            await self._open(inner, client_options.get("transport_factory") is not None)
        except BaseException:
            self._stopped.set()
            raise
        self._pump = asyncio.create_task(self._run_ticks(inner))
        try:
            return await identity_future
        except BaseException:
            self.force_close()
            raise

    async def run(
        self,
        auth_token: str | None,
        host: str,
        address_or_name: str,
        ssl_enabled: bool | Callable[..., Any] = False,
        on_connect: Callable[..., Any] | Sequence[str] | None = None,
        subscription_queries: Sequence[str] | None = None,
        **client_options: Any,
    ) -> None:
        """Connect, call ``on_connect(auth_token, identity)``, tick until ``close()``.

        ``on_connect`` runs once, after the server said who we are and the queries were
        sent; an ``async def`` one runs as a task while the client keeps ticking (so it can
        ``await client.call_reducer(...)``). The old README also called it as
        ``run(token, host, name, on_connect, queries)`` (no ``ssl_enabled``); both forms
        work. Returns once closed (or the connection ended for good); an exception raised
        by ``on_connect`` is raised from here.
        """
        if callable(ssl_enabled):  # run(token, host, name, on_connect, queries)
            ssl_enabled, on_connect, subscription_queries = False, ssl_enabled, on_connect  # type: ignore[assignment]
        if on_connect is not None and not callable(on_connect):  # run(..., None, queries)
            on_connect, subscription_queries = None, on_connect
        token, identity = await self.connect(
            auth_token, host, address_or_name, bool(ssl_enabled), subscription_queries,
            **client_options,
        )  # fmt: skip
        if on_connect is not None:
            conn = self.client.connection_id if self.client is not None else None
            try:
                result = _call_flexibly(on_connect, token, identity, conn)
            except BaseException:
                self.force_close()
                raise
            if inspect.isawaitable(result):
                self._track(result)
        stopped = self._stopped
        assert stopped is not None
        await stopped.wait()
        await self._settle_tasks()
        if self._fatal is not None:
            raise self._fatal

    async def _open(self, inner: Client, uses_factory: bool) -> None:
        """Open the connection from the loop; raises what ``Client.connect()`` would."""
        if self._schema is None:
            # Fetching the schema is blocking HTTP: the one step left to a worker thread.
            await asyncio.get_running_loop().run_in_executor(None, inner.connect)
            return
        failed: list[BaseException] = []
        handle = inner.on_connect_error(failed.append)
        try:
            # A transport factory makes its own connection: nothing to resolve.
            inner.begin_connect(None if uses_factory else await resolve_async(inner.url))
            while inner.transport is None and not failed and not self.is_closing:
                inner.tick()  # steps the handshake: never blocks
                if inner.transport is None:
                    await asyncio.sleep(self.tick_interval)
        finally:
            handle.remove()
        if failed:
            raise failed[0]
        if self.is_closing:
            raise StdbError("close() was called while connecting")

    async def _run_ticks(self, inner: Client) -> None:
        wake, stopped = self._wake, self._stopped
        assert wake is not None and stopped is not None
        try:
            while not self._ended():
                inner.tick()
                try:
                    await asyncio.wait_for(wake.wait(), self.tick_interval)
                except asyncio.TimeoutError:
                    pass
        finally:
            for h in self._scheduled:
                h.cancel()
            self._scheduled.clear()
            self._fail_waiters("the client closed before the reducer answered")
            if inner.state is not ClientState.CLOSED:
                inner.disconnect()
            identity = self._identity
            if identity is not None and not identity.done():
                identity.set_exception(StdbError("the client closed before it was connected"))
            stopped.set()

    def _ended(self) -> bool:
        """Closed by the game, or the connection ended for good (no reconnect)."""
        if self.is_closing:
            return True
        c = self.client
        return c is not None and c.client.state in (ClientState.CLOSED, ClientState.DISCONNECTED)

    # ---- callbacks from the client ------------------------------------------------------------

    def _resolve(self, ev: ReducerEvent) -> None:
        if ev.request_id is not None:
            fut = self._waiters.pop(ev.request_id, None)
            if fut is not None and not fut.done():
                fut.set_result(ev)

    def _disconnected(self, reason: DisconnectReason) -> None:
        # Calls in flight have an unknown outcome now: fail their waiters, never hang.
        self._fail_waiters(f"connection lost before the answer: {reason.describe()}")
        if not reason.will_reconnect:
            identity = self._identity
            if identity is not None and not identity.done():
                identity.set_exception(
                    StdbError(
                        f"the connection ended before the server answered: {reason.describe()}"
                    )
                )
            if self._wake is not None:
                self._wake.set()  # the tick task stops: nothing more will come

    def _fail_waiters(self, why: str) -> None:
        waiters, self._waiters = self._waiters, {}
        for fut in waiters.values():
            if not fut.done():
                fut.set_exception(StdbError(why))

    def _track(self, awaitable: Awaitable[Any]) -> None:
        """Run an ``async`` callback as a task; its exception ends ``run()``."""
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if t.cancelled():
                return
            exc = t.exception()
            if exc is not None:
                log.error("an async callback raised: %r", exc)
                if self._fatal is None:
                    self._fatal = exc
                self.force_close()

        task.add_done_callback(done)

    async def _settle_tasks(self) -> None:
        tasks = set(self._tasks)
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=_CALLBACK_GRACE)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.wait(pending)

    def _require(self) -> SpacetimeDBClient:
        if self.client is None:
            raise StdbError("call run() or connect() first")
        return self.client

    # ---- requests -----------------------------------------------------------------------------

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
        """``fn(reducer_event)`` for every reducer run; may be called before ``run()``."""
        self._register(lambda c: c.register_on_transaction(fn))

    def register_on_subscription_applied(self, fn: Callable[[], None]) -> None:
        """``fn()`` each time a subscription is applied; may be called before ``run()``."""
        self._register(lambda c: c.register_on_subscription_applied(fn))

    def _register(self, register: Callable[[SpacetimeDBClient], None]) -> None:
        self._early.append(register)
        if self.client is not None:
            register(self.client)

    def schedule_event(self, delay_secs: float, function: Callable[..., Any], *args: Any) -> None:
        """Run ``function(*args)`` on the loop after ``delay_secs`` (an ``async def`` too).

        Called before the loop runs (or before ``run()``), it is scheduled when the client
        connects, as in the old SDK. ``close()`` cancels what has not fired yet.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or self.client is None:
            self._prescheduled.append((delay_secs, function, args))
            return

        def fire() -> None:
            result = function(*args)
            if inspect.isawaitable(result):
                self._track(result)

        self._scheduled.append(loop.call_later(delay_secs, fire))

    # ---- closing ------------------------------------------------------------------------------

    def force_close(self) -> None:
        """Stop ticking and close the connection now, scheduled events or not."""
        self.is_closing = True
        for h in self._scheduled:
            h.cancel()
        self._scheduled.clear()
        c = self.client
        if c is not None and c.client.state is not ClientState.CLOSED:
            c.client.disconnect()
        if self._wake is not None:
            self._wake.set()
        elif self._stopped is not None:
            self._stopped.set()

    def close(self) -> _Closing:
        """Close the connection; ``await client.close()`` also waits until it has stopped.

        As in the old SDK, ``close`` is awaitable; a plain ``client.close()`` call closes
        just the same.
        """
        self.force_close()
        stopped = self._stopped if self._pump is not None and not self._pump.done() else None
        return _Closing(stopped)
