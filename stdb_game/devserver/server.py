"""The dev server's network side: SpacetimeDB's HTTP API and v1 WebSocket protocol over aiohttp.

One process, one asyncio loop, one database. Every database call (reducers, queries,
subscriptions) runs synchronously on the loop, so transactions are serialized without locks
and a subscription's initial rows and the following updates never overlap or leave a gap.
Outgoing frames are queued per connection in the order they were produced and written by
one writer task per connection, so a slow or vanished client never blocks a transaction and
never sees its messages reordered.

Behaviour follows spec/protocol.md §6 and spec/semantics.md §8 for a 1.1.2 to 1.12 server;
deviations are listed in ``DEVIATIONS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from ..errors import StdbError
from ..protocol import (
    SUBPROTOCOL,
    BsatnRowList,
    CallProcedure,
    CallReducer,
    CallReducerFlags,
    ClientMessage,
    Committed,
    CompressableQueryUpdate,
    Compression,
    DatabaseUpdate,
    EnergyQuanta,
    Failed,
    IdentityToken,
    InitialSubscription,
    InternalError,
    OneOffQuery,
    OneOffQueryResponse,
    OneOffTable,
    OutOfEnergy,
    ProcedureResult,
    QueryUpdate,
    ReducerCallInfo,
    ServerMessage,
    Subscribe,
    SubscribeApplied,
    SubscribeMulti,
    SubscribeMultiApplied,
    SubscribeRows,
    SubscribeSingle,
    SubscriptionError,
    TableUpdate,
    TransactionUpdate,
    TransactionUpdateLight,
    Unsubscribe,
    UnsubscribeApplied,
    UnsubscribeMulti,
    UnsubscribeMultiApplied,
    UpdateStatus,
    brotli_available,
    decode_client_message,
    encode_server_frame,
)
from ..sats.values import ConnectionId, Identity, TimeDuration, Timestamp
from .errors import InitError, ReducerCallError, SqlError
from .identity import mint_identity
from .keyfile import SigningKeyError
from .results import TableChange, TxResult
from .tokens import Claims, TokenAuthority, TokenError, parse_authorization
from .usertb import raised_in_user_code, user_traceback

__all__ = ["DEVIATIONS", "DevServer", "ServerConfig", "serve_forever"]

log = logging.getLogger("stdb_game.devserver")

#: ``reducer_id`` reported for a reducer name that does not resolve.
U32_MAX = 0xFFFF_FFFF
#: Largest client message the real server accepts (protocol.md §1.5).
MAX_MESSAGE_SIZE = 0x200_0000
#: Frames queued for one client before it counts as stuck and is disconnected (as the real
#: server's bounded per-client channel does).
SEND_QUEUE_LIMIT = 16 * 1024
#: Reducer name of execution errors that are not reducer calls (protocol.md §6.3, ≤1.12).
NO_REDUCER = "<none>"
#: WebSocket close reasons may carry at most 123 bytes.
_MAX_CLOSE_REASON = 123

DEVIATIONS = """\
- Tokens are HS256 JWTs signed with a secret kept across restarts (in the data directory,
  else a per-user key file) where a real server uses an ES256 key pair; GET
  /v1/identity/public-key therefore answers 404.
- Only v1.bsatn.spacetimedb is offered (real servers also accept v1.json.spacetimedb).
- CallProcedure is answered as a 1.8+ server does, with ProcedureResult InternalError: modules
  of the dev server have no procedures.
- Without the optional 'brotli' package a client that asks for Brotli (or omits the
  parameter) gets uncompressed frames; a warning is logged once.
- Inner per-query compression is never used (as servers from 1.2.0 on).
- Text frames close the socket with 1011 ("text (JSON) messages are not supported"): a real
  server parses a text frame as a JSON client message, even on a v1.bsatn connection.
- Energy is not metered: energy_quanta_used (and the spacetime-energy-used header) is a
  nominal 1000 quanta per microsecond of reducer run time, at least 1000; calls never run
  out of energy. Messages that run no reducer report 0.
- SQL: a JOIN's ON must compare a column of the joined table with an earlier table's (real
  servers take any equality of two columns in scope), and cross joins (no ON) are refused.
- row_limit (SET row_limit = n) counts the rows a one-off query or /sql SELECT matches
  instead of estimating them, and is not checked for subscriptions; SET values are kept in
  memory only, not across restarts.
"""


@dataclass
class ServerConfig:
    """Everything ``stdb-game dev`` can set."""

    module: Path
    host: str = "127.0.0.1"
    port: int = 3000
    database: str | None = None
    data_dir: Path | None = None
    #: File holding the token signing key (made on first use). None: the data directory's,
    #: or without one a fresh key per process. ``stdb-game dev`` passes a per-user file.
    key_file: Path | None = None
    #: Seconds between server Pings (SpacetimeDB 1.3+: 15 s).
    ping_interval: float = 15.0
    #: Drop a client from which nothing (not even a Pong) arrived for this long;
    #: None = twice ``ping_interval`` (SpacetimeDB 1.3+: 30 s).
    idle_timeout: float | None = None
    max_message_size: int = MAX_MESSAGE_SIZE
    send_queue_limit: int = SEND_QUEUE_LIMIT


def normalize_query(sql: str) -> str:
    """The key two query strings share when they are the same query (semantics.md §3)."""
    return " ".join(sql.split())


def _now() -> Timestamp:
    return Timestamp.now()


def _micros_since(start: float) -> int:
    return int((time.perf_counter() - start) * 1_000_000)


def _clip_reason(text: str) -> bytes:
    """A close reason that fits the 123-byte limit of a WebSocket close frame."""
    data = text.encode("utf-8")
    if len(data) <= _MAX_CLOSE_REASON:
        return data
    return data[: _MAX_CLOSE_REASON - 3].decode("utf-8", "ignore").encode() + b"..."


#: A query's delta is shared by every connection with this key: (query key, caller if the
#: query depends on who asks, else None).
_DeltaKey = tuple[str, Identity | None]


class _Query:
    """One distinct query a connection holds, with how many of its query sets reference it."""

    __slots__ = ("compiled", "count", "key", "per_caller", "table_name")

    def __init__(self, key: str, compiled: Any, table_name: str) -> None:
        self.key = key
        self.compiled = compiled
        self.table_name = table_name
        self.per_caller = ":sender" in key.lower()
        self.count = 0


@dataclass
class _QuerySet:
    """The queries registered under one client ``query_id``."""

    keys: tuple[str, ...]


class Connection:
    """One WebSocket client: its identity, options, subscriptions and outgoing queue."""

    def __init__(
        self,
        server: DevServer,
        ws: web.WebSocketResponse,
        request: web.Request,
        claims: Claims,
        connection_id: ConnectionId,
        compression: Compression,
        light: bool,
    ) -> None:
        self.server = server
        self.ws = ws
        self.request = request
        self.identity = claims.identity
        self.token = claims.token
        self.connection_id = connection_id
        self.compression = compression
        self.light = light
        self.queries: dict[str, _Query] = {}
        self.query_sets: dict[int, _QuerySet] = {}
        self.legacy_keys: tuple[str, ...] = ()
        self.closed = False
        self.last_seen = asyncio.get_running_loop().time()
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self.peer = request.remote or "?"

    def __repr__(self) -> str:
        return f"<Connection {self.identity.to_hex()[:16]}… {self.connection_id.to_hex()}>"

    # ---- outgoing ---------------------------------------------------------------------------

    def start_writer(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    def send(self, msg: ServerMessage) -> None:
        """Queue ``msg``; never blocks, never raises for a connection that went away."""
        if not self.closed:
            self.send_frame(encode_server_frame(msg, self.compression))

    def send_frame(self, frame: bytes) -> None:
        """Queue an encoded frame (already compressed for this connection)."""
        if self.closed:
            return
        if self._queue.qsize() >= self.server.config.send_queue_limit:
            log.warning("%r: send queue full (client not reading); disconnecting", self)
            self.abort()
            return
        self._queue.put_nowait(frame)

    async def _write_loop(self) -> None:
        ws = self.ws
        try:
            while True:
                frame = await self._queue.get()
                if frame is None:
                    return
                await ws.send_bytes(frame)
        except (ConnectionError, RuntimeError, asyncio.CancelledError, OSError) as exc:
            if not isinstance(exc, asyncio.CancelledError):
                log.debug("%r: send failed: %s", self, exc)
            self.abort()

    async def flush_and_stop_writer(self, timeout: float = 5.0) -> None:
        """Let queued frames go out (bounded), then end the writer task."""
        self._queue.put_nowait(None)
        task = self._writer
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except (asyncio.TimeoutError, Exception):
            task.cancel()

    async def stop_writer(self) -> None:
        """End the writer task now if it still runs (nothing more will be sent), and wait for
        it, so no writer outlives its connection as a pending task."""
        task = self._writer
        if task is None or task.done():
            return
        task.cancel()
        await asyncio.wait([task])

    def abort(self) -> None:
        """Drop the TCP connection now (no close handshake): for clients that stopped reading."""
        if self.closed:
            return
        self.closed = True
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    async def close(self, code: int, reason: str) -> None:
        """Close with a code and reason after what is already queued."""
        if self.closed:
            return
        self.closed = True
        await self.flush_and_stop_writer()
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=_clip_reason(reason))


class DevServer:
    """The HTTP + WebSocket front of one ``Database``."""

    def __init__(self, db: Any, config: ServerConfig) -> None:
        self.db = db
        self.config = config
        self.tokens = TokenAuthority(
            mint_identity, data_dir=config.data_dir, key_file=config.key_file
        )
        self.connections: dict[ConnectionId, Connection] = {}
        self._idle_timeout = (
            config.idle_timeout if config.idle_timeout is not None else 2 * config.ping_interval
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._schedule_changed = asyncio.Event()
        self._warned_brotli = False
        self._runner: web.AppRunner | None = None
        self.host = config.host
        self.port = config.port
        self._stopping = False
        self._pings: set[asyncio.Task[None]] = set()
        self._fixed_sizes: dict[str, int | None] = {}

    # ---- lifecycle --------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(
            middlewares=[_cors_middleware], client_max_size=self.config.max_message_size
        )
        r = app.router
        r.add_get("/v1/ping", self.h_ping)
        r.add_post("/v1/identity", self.h_identity)
        r.add_post("/v1/identity/websocket-token", self.h_websocket_token)
        r.add_get("/v1/identity/public-key", self.h_public_key)
        r.add_get("/v1/identity/{identity}/verify", self.h_verify)
        r.add_get("/v1/identity/{identity}/databases", self.h_identity_databases)
        r.add_get("/v1/database/{db}", self.h_database_info)
        r.add_get("/v1/database/{db}/identity", self.h_database_identity)
        r.add_get("/v1/database/{db}/subscribe", self.h_subscribe)
        r.add_get("/v1/database/{db}/schema", self.h_schema)
        r.add_post("/v1/database/{db}/sql", self.h_sql)
        r.add_post("/v1/database/{db}/call/{reducer}", self.h_call)
        return app

    async def start(self) -> None:
        """Bind and start serving; sets ``host``/``port`` to the bound address."""
        runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port)
        await site.start()
        self._runner = runner
        for addr in runner.addresses:
            if isinstance(addr, tuple) and len(addr) >= 2:
                self.host, self.port = str(addr[0]), int(addr[1])
                break
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._ping_loop(), name="devserver-ping"))
        self._tasks.append(loop.create_task(self._scheduler_loop(), name="devserver-scheduler"))
        log.info(
            "listening on %s (database %r, identity %s)",
            self.url,
            self.db.name,
            self.db.identity.to_hex(),
        )

    @property
    def url(self) -> str:
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[4:]

    def ready_info(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "ws_url": self.ws_url,
            "host": self.host,
            "port": self.port,
            "database": self.db.name,
            "database_identity": self.db.identity.to_hex(),
        }

    async def stop(self) -> None:
        """Close every client (1001, as a server whose module exits), then stop serving."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(
            *(conn.close(1001, "module exited") for conn in list(self.connections.values())),
            return_exceptions=True,
        )
        # Give the handlers a moment to run client_disconnected.
        for _ in range(100):
            if not self.connections:
                break
            await asyncio.sleep(0.02)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- HTTP helpers -----------------------------------------------------------------------

    def _resolve_db(self, request: web.Request) -> None:
        """404 unless the path names this database (by name, or identity hex with optional 0x)."""
        key = request.match_info["db"]
        text = key[2:] if key[:2] in ("0x", "0X") else key
        if len(text) == 64:
            try:
                if Identity.from_hex(text) == self.db.identity:
                    return
            except ValueError:
                pass
        if key == self.db.name:
            return
        raise web.HTTPNotFound(text=f"database {key!r} not found")

    def _token_of(self, request: web.Request) -> str | None:
        try:
            token = parse_authorization(request.headers.get("Authorization"))
        except TokenError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        if token is None:
            token = request.query.get("token") or None
        return token

    def _authenticate(self, request: web.Request, *, required: bool) -> tuple[Claims, bool]:
        """The caller's claims, and whether they were minted just now for an anonymous caller."""
        token = self._token_of(request)
        if token is None:
            if required:
                raise web.HTTPUnauthorized(text="Authorization required")
            return self.tokens.mint(), True
        try:
            return self.tokens.validate(token), False
        except TokenError as exc:
            if exc.status == 400:
                raise web.HTTPBadRequest(text=str(exc)) from None
            raise web.HTTPUnauthorized(text=str(exc)) from None

    @staticmethod
    def _identity_headers(claims: Claims) -> dict[str, str]:
        return {
            "spacetime-identity": claims.identity.to_hex(),
            "spacetime-identity-token": claims.token,
        }

    # ---- HTTP: identity ---------------------------------------------------------------------

    async def h_ping(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def h_identity(self, request: web.Request) -> web.Response:
        claims = self.tokens.mint()
        return web.json_response({"identity": claims.identity.to_hex(), "token": claims.token})

    async def h_websocket_token(self, request: web.Request) -> web.Response:
        claims, _ = self._authenticate(request, required=True)
        return web.json_response({"token": self.tokens.websocket_token(claims)})

    async def h_public_key(self, request: web.Request) -> web.Response:
        return web.Response(
            status=404, text="the dev server signs tokens with HS256; it has no public key"
        )

    async def h_verify(self, request: web.Request) -> web.Response:
        try:
            wanted = Identity.from_hex(request.match_info["identity"])
        except ValueError:
            raise web.HTTPBadRequest(text="not an identity") from None
        claims, _ = self._authenticate(request, required=True)
        if claims.identity != wanted:
            raise web.HTTPBadRequest(text="token does not belong to this identity")
        return web.Response(status=204)

    async def h_identity_databases(self, request: web.Request) -> web.Response:
        try:
            who = Identity.from_hex(request.match_info["identity"])
        except ValueError:
            raise web.HTTPBadRequest(text="not an identity") from None
        owned = [self.db.identity.to_hex()] if who == self._owner() else []
        return web.json_response({"identities": owned})

    def _owner(self) -> Identity | None:
        owner = self.db.owner
        return owner if isinstance(owner, Identity) else None

    # ---- HTTP: database ---------------------------------------------------------------------

    async def h_database_info(self, request: web.Request) -> web.Response:
        self._resolve_db(request)
        claims, _ = self._authenticate(request, required=False)
        owner = self._owner() or Identity.zero()
        body = {
            "database_identity": {"__identity__": "0x" + self.db.identity.to_hex()},
            "owner_identity": {"__identity__": "0x" + owner.to_hex()},
            "host_type": {"Wasm": []},  # the variant clients know; modules here are Python
            "initial_program": self._program_hash(),
        }
        return web.json_response(body, headers=self._identity_headers(claims))

    def _program_hash(self) -> str:
        import blake3

        try:
            data = Path(self.config.module).read_bytes()
        except OSError:
            data = b""
        return blake3.blake3(data).hexdigest()

    async def h_database_identity(self, request: web.Request) -> web.Response:
        self._resolve_db(request)
        claims, _ = self._authenticate(request, required=False)
        return web.Response(text=self.db.identity.to_hex(), headers=self._identity_headers(claims))

    async def h_schema(self, request: web.Request) -> web.Response:
        self._resolve_db(request)
        claims, _ = self._authenticate(request, required=False)
        version = request.query.get("version")
        if version is None:
            raise web.HTTPBadRequest(text="missing query parameter: version")
        if version != "9":
            raise web.HTTPBadRequest(text=f"unsupported schema version {version!r} (only 9)")
        return web.json_response(self.db.schema_json(), headers=self._identity_headers(claims))

    async def h_sql(self, request: web.Request) -> web.Response:
        self._resolve_db(request)
        claims, _ = self._authenticate(request, required=False)
        headers = self._identity_headers(claims)
        body = await request.read()
        try:
            sql = body.decode("utf-8")
        except UnicodeDecodeError:
            raise web.HTTPBadRequest(text="SQL must be UTF-8 text", headers=headers) from None
        if len(body) > 50_000:
            raise web.HTTPBadRequest(text="SQL text longer than 50000 bytes", headers=headers)
        try:
            result = self.db.sql(sql, claims.identity)
        except SqlError as exc:
            status = 401 if exc.unauthorized else 400
            return web.Response(status=status, text=str(exc), headers=headers)
        if result.tx is not None:
            self._after_tx(result.tx)
        headers["spacetime-execution-duration-micros"] = str(result.total_duration_micros)
        return web.json_response([result.to_json()], headers=headers)

    async def h_call(self, request: web.Request) -> web.Response:
        """Real order (client-api ``call``): headers and a UTF-8 body are checked before the
        caller connects; the reducer lookup, lifecycle check and argument parsing happen
        after, so those refusals still run (and broadcast) connect and disconnect."""
        self._resolve_db(request)
        name = request.match_info["reducer"]
        claims, _ = self._authenticate(request, required=False)
        headers = self._identity_headers(claims)
        content_type = request.headers.get("Content-Type")
        if content_type is None:
            return web.Response(status=400, text="missing Content-Type header", headers=headers)
        if content_type.strip() != "application/json":
            return web.Response(status=415, text="expected JSON content type", headers=headers)
        try:
            text = (await request.read()).decode("utf-8")
        except UnicodeDecodeError:
            return web.Response(
                status=400, text="Request body didn't contain valid UTF-8", headers=headers
            )
        connection_id = ConnectionId.random()
        connected = self.db.client_connected(claims.identity, connection_id, _now())
        self._after_tx(connected)
        if connected is not None and not connected.committed:
            return web.Response(status=403, text=connected.error or "refused", headers=headers)
        try:
            return self._http_call_connected(name, text, claims.identity, connection_id, headers)
        finally:
            self._after_tx(self.db.client_disconnected(claims.identity, connection_id, _now()))

    def _http_call_connected(
        self,
        name: str,
        text: str,
        sender: Identity,
        connection_id: ConnectionId,
        headers: dict[str, str],
    ) -> web.Response:
        """The HTTP call between connect and disconnect: lookup, lifecycle, args, then run."""
        info = self.db.reducers.get(name)
        if info is None:
            return web.Response(status=404, text=f"no such reducer {name!r}", headers=headers)
        if info.lifecycle is not None:
            return web.Response(
                status=400, text=f"lifecycle reducer {name!r} cannot be called", headers=headers
            )
        try:
            args_json = json.loads(text) if text.strip() else []
        except ValueError as exc:
            return web.Response(status=400, text=f"invalid JSON: {exc}", headers=headers)
        except RecursionError:  # json recurses once per level of nesting
            return web.Response(status=400, text="invalid JSON: nested too deeply", headers=headers)
        try:
            tx = self.db.call_reducer_json(
                name, args_json, sender=sender, connection_id=connection_id, timestamp=_now()
            )
        except ReducerCallError as exc:
            return web.Response(status=exc.status, text=str(exc), headers=headers)
        except RecursionError:  # converting deeply nested arguments (the reducer's own
            # RecursionError is a failed call, caught inside the engine)
            return web.Response(
                status=400, text="invalid arguments: nested too deeply", headers=headers
            )
        self._after_tx(tx)
        headers["spacetime-energy-used"] = str(tx.energy_used)
        headers["spacetime-execution-duration-micros"] = str(tx.duration_micros)
        if tx.committed:
            return web.Response(status=200, headers=headers)
        if tx.out_of_energy:
            return web.Response(status=402, text="Module energy budget exhausted.", headers=headers)
        return web.Response(status=530, text=tx.error or "reducer failed", headers=headers)

    def _after_tx(self, tx: TxResult | None) -> None:
        """Broadcast a transaction no WebSocket client called (HTTP, lifecycle, scheduler)."""
        if tx is None:
            return
        if tx.changes:
            self.broadcast(tx, caller=None, request_id=0, flags=CallReducerFlags.NO_SUCCESS_NOTIFY)
        self._schedule_changed.set()

    # ---- WebSocket: opening -----------------------------------------------------------------

    async def h_subscribe(self, request: web.Request) -> web.StreamResponse:
        self._resolve_db(request)
        if self._stopping:
            raise web.HTTPServiceUnavailable(text="server is shutting down")
        offered = [
            p.strip()
            for h in request.headers.getall("Sec-WebSocket-Protocol", [])
            for p in h.split(",")
            if p.strip()
        ]
        if SUBPROTOCOL not in offered:
            raise web.HTTPBadRequest(text="no valid protocol selected")
        compression = self._compression_param(request)
        light = self._bool_param(request, "light")
        connection_id = self._connection_id_param(request)
        claims, _ = self._authenticate(request, required=False)
        ws = web.WebSocketResponse(
            protocols=(SUBPROTOCOL,),
            autoping=False,
            # aiohttp refuses a message of exactly its limit; the real server accepts it.
            max_msg_size=self.config.max_message_size + 1,
            compress=False,
            timeout=5.0,
        )
        for key, value in self._identity_headers(claims).items():
            ws.headers[key] = value
        if not ws.can_prepare(request).ok:
            raise web.HTTPBadRequest(text="not a WebSocket upgrade request")
        await ws.prepare(request)
        conn = Connection(self, ws, request, claims, connection_id, compression, light)
        try:
            await self._run_connection(conn)
        finally:
            conn.closed = True
        return ws

    def _compression_param(self, request: web.Request) -> Compression:
        raw = request.query.get("compression")
        if raw is None:
            choice = Compression.BROTLI
        else:
            by_value = {c.value: c for c in Compression}
            if raw not in by_value:
                raise web.HTTPBadRequest(
                    text=f"invalid compression {raw!r}: expected None, Brotli or Gzip"
                )
            choice = by_value[raw]
        if choice is Compression.BROTLI and not brotli_available():
            if not self._warned_brotli:
                log.warning(
                    "client asked for Brotli but the 'brotli' package is missing; "
                    "sending uncompressed frames (pip install stdb-game[brotli])"
                )
                self._warned_brotli = True
            return Compression.NONE
        return choice

    @staticmethod
    def _bool_param(request: web.Request, name: str) -> bool:
        raw = request.query.get(name)
        if raw is None:
            return False
        if raw in ("true", "false"):
            return raw == "true"
        raise web.HTTPBadRequest(text=f"invalid {name} value {raw!r}: expected true or false")

    def _connection_id_param(self, request: web.Request) -> ConnectionId:
        raw = request.query.get("connection_id")
        if raw is None:
            while True:
                cid = ConnectionId.random()
                if cid not in self.connections:
                    return cid
        if len(raw) != 32 or any(c not in "0123456789abcdefABCDEF" for c in raw):
            raise web.HTTPBadRequest(text="connection_id must be 32 hex digits")
        cid = ConnectionId(int(raw, 16))
        if cid.is_zero():
            raise web.HTTPBadRequest(text="connection_id must not be zero")
        if cid in self.connections:
            raise web.HTTPBadRequest(text="connection_id is already connected")
        return cid

    async def _run_connection(self, conn: Connection) -> None:
        connected = self.db.client_connected(conn.identity, conn.connection_id, _now())
        self._after_tx(connected)
        if connected is not None and not connected.committed:
            log.info(
                "client %s refused by client_connected: %s", conn.identity.to_hex(), connected.error
            )
            conn.abort()
            return
        conn.start_writer()
        conn.send(IdentityToken(conn.identity, conn.token, conn.connection_id))
        self.connections[conn.connection_id] = conn
        log.info(
            "connected: identity %s connection %s from %s (compression %s%s)",
            conn.identity.to_hex(),
            conn.connection_id.to_hex(),
            conn.peer,
            conn.compression.value,
            ", light" if conn.light else "",
        )
        close_code: int | None = None
        try:
            close_code = await self._receive_loop(conn)
        finally:
            self.connections.pop(conn.connection_id, None)
            if close_code is None:
                await conn.flush_and_stop_writer(timeout=1.0)
            conn.closed = True
            # Every path, including a socket aiohttp already closed (a message over the size
            # limit), must end the writer: otherwise it waits on its queue forever.
            await conn.stop_writer()
            with contextlib.suppress(Exception):
                self._after_tx(
                    self.db.client_disconnected(conn.identity, conn.connection_id, _now())
                )
            log.info(
                "disconnected: identity %s connection %s",
                conn.identity.to_hex(),
                conn.connection_id.to_hex(),
            )

    async def _receive_loop(self, conn: Connection) -> int | None:
        """Handle messages one at a time, in order; returns a close code we sent, if any."""
        ws = conn.ws
        loop = asyncio.get_running_loop()
        while not conn.closed:
            msg = await ws.receive()
            conn.last_seen = loop.time()
            kind = msg.type
            if kind is WSMsgType.BINARY:
                try:
                    decoded = decode_client_message(msg.data)
                except Exception as exc:
                    await conn.close(1011, f"invalid message: {exc}")
                    return 1011
                self.handle_message(conn, decoded)
            elif kind is WSMsgType.PING:
                with contextlib.suppress(Exception):
                    await ws.pong(msg.data)
            elif kind is WSMsgType.PONG:
                pass
            elif kind is WSMsgType.TEXT:
                await conn.close(1011, "text (JSON) messages are not supported by this server")
                return 1011
            elif kind is WSMsgType.ERROR:
                error = ws.exception()
                code = 1009 if "size" in str(error).lower() else 1011
                log.info("%r: websocket error: %s", conn, error)
                if not ws.closed:
                    await conn.close(code, str(error))
                return code
            else:  # CLOSE, CLOSING, CLOSED
                return None
        return None

    # ---- WebSocket: messages ----------------------------------------------------------------

    def handle_message(self, conn: Connection, msg: ClientMessage) -> None:
        """Answer one decoded client message (protocol.md §6); errors never close the socket."""
        try:
            if type(msg) is CallReducer:
                self._call_reducer(conn, msg)
            elif type(msg) is SubscribeMulti:
                self._subscribe_multi(conn, msg)
            elif type(msg) is UnsubscribeMulti:
                self._unsubscribe_multi(conn, msg)
            elif type(msg) is SubscribeSingle:
                self._subscribe_single(conn, msg)
            elif type(msg) is Unsubscribe:
                self._unsubscribe_single(conn, msg)
            elif type(msg) is Subscribe:
                self._subscribe_legacy(conn, msg)
            elif type(msg) is OneOffQuery:
                self._one_off(conn, msg)
            elif type(msg) is CallProcedure:
                self._call_procedure(conn, msg)
        except Exception as exc:  # a bug here must not take the connection down
            log.exception("%r: error handling %s", conn, type(msg).__name__)
            self._internal_error(conn, msg, f"internal error: {exc}")

    def _internal_error(self, conn: Connection, msg: ClientMessage, text: str) -> None:
        """Answer a message whose handler failed: a one-off query must still get exactly one
        OneOffQueryResponse with its message_id (protocol.md §6.4); anything else gets a
        failed TransactionUpdate (§6.3)."""
        if isinstance(msg, OneOffQuery):
            conn.send(OneOffQueryResponse(msg.message_id, text, (), TimeDuration(0)))
        else:
            self._execution_error(conn, text)

    def _execution_error(
        self,
        conn: Connection,
        text: str,
        *,
        reducer_name: str = NO_REDUCER,
        reducer_id: int = U32_MAX,
    ) -> None:
        """A message that could not be executed: a Failed TransactionUpdate (protocol.md §6.3)."""
        conn.send(
            TransactionUpdate(
                status=Failed(text),
                timestamp=_now(),
                caller_identity=conn.identity,
                caller_connection_id=conn.connection_id,
                reducer_call=ReducerCallInfo(reducer_name, reducer_id, b"", 0),
                energy_quanta_used=EnergyQuanta(0),
                total_host_execution_duration=TimeDuration(0),
            )
        )

    def _call_reducer(self, conn: Connection, msg: CallReducer) -> None:
        info = self.db.reducers.get(msg.reducer)
        if info is None:
            self._execution_error(
                conn, f"no such reducer: {msg.reducer!r}", reducer_name=msg.reducer
            )
            return
        if info.lifecycle is not None:
            self._execution_error(
                conn,
                f"lifecycle reducer {msg.reducer!r} cannot be called by clients",
                reducer_name=msg.reducer,
                reducer_id=info.reducer_id,
            )
            return
        try:
            tx = self.db.call_reducer(
                msg.reducer,
                msg.args,
                sender=conn.identity,
                connection_id=conn.connection_id,
                timestamp=_now(),
            )
        except ReducerCallError as exc:
            self._execution_error(
                conn, str(exc), reducer_name=msg.reducer, reducer_id=info.reducer_id
            )
            return
        self._schedule_changed.set()
        if tx.committed or tx.changes:
            self.broadcast(tx, caller=conn, request_id=msg.request_id, flags=msg.flags)
        if not tx.committed and msg.flags == CallReducerFlags.FULL_UPDATE:
            # Only the caller hears of a failure; request_id is 0 on servers up to 1.12.
            conn.send(self._transaction_update(tx, _failure_status(tx), request_id=0))

    def _transaction_update(
        self, tx: TxResult, status: UpdateStatus, request_id: int
    ) -> TransactionUpdate:
        return TransactionUpdate(
            status=status,
            timestamp=tx.timestamp,
            caller_identity=tx.caller,
            caller_connection_id=tx.caller_connection_id,
            reducer_call=ReducerCallInfo(tx.reducer_name, tx.reducer_id, tx.args, request_id),
            energy_quanta_used=EnergyQuanta(tx.energy_used),
            total_host_execution_duration=TimeDuration(tx.duration_micros),
        )

    # ---- subscriptions ----------------------------------------------------------------------

    def _compile(self, conn: Connection, sqls: Sequence[str]) -> list[tuple[str, Any]]:
        """Compile every query (SqlError on the first bad one), ``SELECT * FROM *`` expanded;
        repeated queries collapse into one (semantics.md §3)."""
        compiled: list[tuple[str, Any]] = []
        seen: set[str] = set()
        for sql in sqls:
            for query in self.db.compile_subscription(sql, conn.identity):
                key = _query_key(query)
                if key in seen:
                    continue
                seen.add(key)
                held = conn.queries.get(key)
                compiled.append((key, held.compiled if held is not None else query))
        return compiled

    def _table_update(self, table_name: str, updates: list[QueryUpdate]) -> TableUpdate:
        info = self.db.tables[table_name]
        num_rows = sum(len(u.deletes) + len(u.inserts) for u in updates)
        return TableUpdate(
            table_id=info.table_id,
            table_name=table_name,
            num_rows=num_rows,
            updates=tuple(CompressableQueryUpdate.uncompressed(u) for u in updates),
        )

    def _row_list(self, table_name: str, rows: Sequence[bytes]) -> BsatnRowList:
        if not rows:
            return BsatnRowList.EMPTY
        return BsatnRowList.from_rows(rows, self._fixed_size(table_name))

    def _fixed_size(self, table_name: str) -> int | None:
        size: int | None = self.db.tables[table_name].row_type.static_size
        return size

    def _rows_update(self, table_name: str, rows: Sequence[bytes], *, insert: bool) -> TableUpdate:
        """One TableUpdate of a single QueryUpdate holding ``rows`` as inserts or deletes."""
        listed = self._row_list(table_name, rows)
        update = (
            QueryUpdate(BsatnRowList.EMPTY, listed)
            if insert
            else QueryUpdate(listed, BsatnRowList.EMPTY)
        )
        return self._table_update(table_name, [update])

    def _add_refs(self, conn: Connection, compiled: list[tuple[str, Any]]) -> list[_Query]:
        """Count one more reference to each query; returns the queries that became active."""
        fresh: list[_Query] = []
        for key, query in compiled:
            held = conn.queries.get(key)
            if held is None:
                held = _Query(key, query, query.table_name)
                conn.queries[key] = held
            held.count += 1
            if held.count == 1:
                fresh.append(held)
        return fresh

    def _drop_refs(self, conn: Connection, keys: Iterable[str]) -> list[_Query]:
        """Count one reference less; returns the queries whose last reference went away."""
        gone: list[_Query] = []
        for key in keys:
            held = conn.queries.get(key)
            if held is None:
                continue
            held.count -= 1
            if held.count <= 0:
                del conn.queries[key]
                gone.append(held)
        return gone

    def _subscribe_multi(self, conn: Connection, msg: SubscribeMulti) -> None:
        start = time.perf_counter()
        qid = msg.query_id.id
        if qid in conn.query_sets:
            self._execution_error(conn, f"Subscription with id {qid} already exists for client")
            return
        try:
            compiled = self._compile(conn, msg.query_strings)
            # Evaluate before registering so a failure leaves nothing behind.
            initial = {key: query.evaluate() for key, query in compiled if key not in conn.queries}
        except SqlError as exc:
            conn.send(SubscriptionError(_micros_since(start), msg.request_id, qid, None, str(exc)))
            return
        fresh = self._add_refs(conn, compiled)
        conn.query_sets[qid] = _QuerySet(tuple(key for key, _ in compiled))
        tables = tuple(self._rows_update(q.table_name, initial[q.key], insert=True) for q in fresh)
        conn.send(
            SubscribeMultiApplied(
                msg.request_id, _micros_since(start), msg.query_id, DatabaseUpdate(tables)
            )
        )

    def _unsubscribe_multi(self, conn: Connection, msg: UnsubscribeMulti) -> None:
        start = time.perf_counter()
        qid = msg.query_id.id
        qset = conn.query_sets.pop(qid, None)
        if qset is None:
            conn.send(
                SubscriptionError(
                    _micros_since(start),
                    msg.request_id,
                    qid,
                    None,
                    f"No subscription with id {qid} for client",
                )
            )
            return
        gone = self._drop_refs(conn, qset.keys)
        tables = tuple(
            self._rows_update(q.table_name, q.compiled.evaluate(), insert=False) for q in gone
        )
        conn.send(
            UnsubscribeMultiApplied(
                msg.request_id, _micros_since(start), msg.query_id, DatabaseUpdate(tables)
            )
        )

    def _subscribe_single(self, conn: Connection, msg: SubscribeSingle) -> None:
        start = time.perf_counter()
        qid = msg.query_id.id
        if qid in conn.query_sets:
            self._execution_error(conn, f"Subscription with id {qid} already exists for client")
            return
        try:
            compiled = self._compile(conn, [msg.query])
            if len(compiled) != 1:
                raise SqlError("SubscribeSingle takes exactly one query (not SELECT * FROM *)")
            key, query = compiled[0]
            rows = query.evaluate()
        except SqlError as exc:
            conn.send(SubscriptionError(_micros_since(start), msg.request_id, qid, None, str(exc)))
            return
        self._add_refs(conn, compiled)
        conn.query_sets[qid] = _QuerySet((key,))
        # The single-query path sends rows even if another set already holds the query.
        update = self._rows_update(query.table_name, rows, insert=True)
        info = self.db.tables[query.table_name]
        conn.send(
            SubscribeApplied(
                msg.request_id,
                _micros_since(start),
                msg.query_id,
                SubscribeRows(info.table_id, info.name, update),
            )
        )

    def _unsubscribe_single(self, conn: Connection, msg: Unsubscribe) -> None:
        start = time.perf_counter()
        qid = msg.query_id.id
        qset = conn.query_sets.get(qid)
        if qset is None or len(qset.keys) != 1:
            conn.send(
                SubscriptionError(
                    _micros_since(start),
                    msg.request_id,
                    qid,
                    None,
                    f"No subscription with id {qid} for client",
                )
            )
            return
        del conn.query_sets[qid]
        key = qset.keys[0]
        held = conn.queries[key]
        rows = held.compiled.evaluate()
        self._drop_refs(conn, (key,))
        update = self._rows_update(held.table_name, rows, insert=False)
        info = self.db.tables[held.table_name]
        conn.send(
            UnsubscribeApplied(
                msg.request_id,
                _micros_since(start),
                msg.query_id,
                SubscribeRows(info.table_id, info.name, update),
            )
        )

    def _subscribe_legacy(self, conn: Connection, msg: Subscribe) -> None:
        start = time.perf_counter()
        try:
            compiled = self._compile(conn, msg.query_strings)
            rows = {key: query.evaluate() for key, query in compiled}
        except SqlError as exc:
            self._execution_error(conn, str(exc))
            return
        old = conn.legacy_keys
        self._add_refs(conn, compiled)
        self._drop_refs(conn, old)
        conn.legacy_keys = tuple(key for key, _ in compiled)
        tables = tuple(
            self._rows_update(query.table_name, rows[key], insert=True) for key, query in compiled
        )
        conn.send(
            InitialSubscription(
                DatabaseUpdate(tables), msg.request_id, TimeDuration(_micros_since(start))
            )
        )

    def _one_off(self, conn: Connection, msg: OneOffQuery) -> None:
        start = time.perf_counter()
        try:
            table_name, rows = self.db.one_off(msg.query_string, conn.identity)
        except SqlError as exc:
            conn.send(
                OneOffQueryResponse(
                    msg.message_id, str(exc), (), TimeDuration(_micros_since(start))
                )
            )
            return
        table = OneOffTable(table_name, self._row_list(table_name, rows))
        conn.send(
            OneOffQueryResponse(msg.message_id, None, (table,), TimeDuration(_micros_since(start)))
        )

    def _call_procedure(self, conn: Connection, msg: CallProcedure) -> None:
        conn.send(
            ProcedureResult(
                InternalError(f"no such procedure: {msg.procedure!r}"),
                _now(),
                TimeDuration(0),
                msg.request_id,
            )
        )

    # ---- transactions -----------------------------------------------------------------------

    def broadcast(
        self,
        tx: TxResult,
        *,
        caller: Connection | None,
        request_id: int,
        flags: CallReducerFlags | int,
    ) -> None:
        """Send each connection what this transaction changed in its queries (semantics.md §5).

        Each distinct query's delta is computed once per transaction, and connections whose
        changed queries, mode and compression agree share one encoded frame (every
        subscriber of ``SELECT * FROM message`` gets the same bytes).
        """
        changes = tx.changes
        full_caller = caller is not None and tx.committed and flags == CallReducerFlags.FULL_UPDATE
        deltas: dict[_DeltaKey, tuple[str, QueryUpdate] | None] = {}
        frames: dict[tuple[tuple[_DeltaKey, ...], bool, Compression], bytes] = {}
        for conn in list(self.connections.values()):
            if conn.closed:
                continue
            is_caller = conn is caller
            if not conn.queries and not (is_caller and full_caller):
                continue
            try:
                signature = self._changed_queries(conn, changes, deltas)
            except Exception as exc:
                # A query failed on this transaction: drop all of this connection's
                # subscriptions and tell it (protocol.md §6.1, last row).
                if not isinstance(exc, SqlError):
                    log.exception("%r: evaluating subscriptions failed", conn)
                conn.queries.clear()
                conn.query_sets.clear()
                conn.legacy_keys = ()
                conn.send(SubscriptionError(0, None, None, None, str(exc)))
                continue
            if not signature and not (is_caller and full_caller):
                continue
            # The caller's FullUpdate is the same message others get in normal mode.
            light = conn.light and not (is_caller and full_caller)
            frame_key = (signature, light, conn.compression)
            frame = frames.get(frame_key)
            if frame is None:
                update = DatabaseUpdate(self._tables_of(signature, deltas))
                msg: ServerMessage
                if light:
                    msg = TransactionUpdateLight(request_id, update)
                else:
                    msg = self._transaction_update(tx, Committed(update), request_id)
                frame = encode_server_frame(msg, conn.compression)
                frames[frame_key] = frame
            conn.send_frame(frame)

    def _changed_queries(
        self,
        conn: Connection,
        changes: dict[str, TableChange],
        deltas: dict[_DeltaKey, tuple[str, QueryUpdate] | None],
    ) -> tuple[_DeltaKey, ...]:
        """The (query, caller) keys of ``conn``'s queries whose result this transaction changed."""
        if not changes:
            return ()
        changed: list[_DeltaKey] = []
        for held in conn.queries.values():
            if not _may_change(held.compiled, changes):
                continue
            # Only ``:sender`` makes a query's result depend on who subscribed.
            key = (held.key, conn.identity if held.per_caller else None)
            if key not in deltas:
                delta = held.compiled.delta(changes)
                deltas[key] = (
                    (
                        held.table_name,
                        QueryUpdate(
                            self._row_list(held.table_name, delta.deletes),
                            self._row_list(held.table_name, delta.inserts),
                        ),
                    )
                    if delta
                    else None
                )
            if deltas[key] is not None:
                changed.append(key)
        return tuple(changed)

    def _tables_of(
        self,
        signature: tuple[_DeltaKey, ...],
        deltas: dict[_DeltaKey, tuple[str, QueryUpdate] | None],
    ) -> tuple[TableUpdate, ...]:
        """One TableUpdate per table, holding one QueryUpdate per changed query."""
        per_table: dict[str, list[QueryUpdate]] = {}
        for key in signature:
            entry = deltas[key]
            assert entry is not None
            per_table.setdefault(entry[0], []).append(entry[1])
        return tuple(self._table_update(name, ups) for name, ups in per_table.items())

    # ---- background tasks -------------------------------------------------------------------

    async def _ping_loop(self) -> None:
        """Ping every client each interval; drop the ones silent longer than the idle timeout."""
        loop = asyncio.get_running_loop()
        interval = self.config.ping_interval
        while True:
            await asyncio.sleep(interval)
            now = loop.time()
            for conn in list(self.connections.values()):
                if conn.closed:
                    continue
                if now - conn.last_seen > self._idle_timeout:
                    log.info(
                        "%r: nothing received for %.1f s; dropping", conn, now - conn.last_seen
                    )
                    conn.abort()
                    continue
                task = loop.create_task(self._ping(conn))
                self._pings.add(task)
                task.add_done_callback(self._pings.discard)

    async def _ping(self, conn: Connection) -> None:
        """One Ping, in its own task so a client with a full send buffer stalls nobody else."""
        try:
            await asyncio.wait_for(conn.ws.ping(), self._idle_timeout)
        except Exception:
            conn.abort()

    async def _scheduler_loop(self) -> None:
        """Run scheduled reducers when due and broadcast what they did."""
        while True:
            self._schedule_changed.clear()
            deadline = self.db.next_deadline()
            if deadline is not None:
                wait = (deadline.micros_since_epoch - _now().micros_since_epoch) / 1_000_000
                if wait <= 0:
                    try:
                        done = self.db.run_due(_now())
                    except Exception:
                        log.exception("scheduled reducers failed to run; retrying in 1 s")
                        await asyncio.sleep(1.0)
                        continue
                    for tx in done:
                        if tx.changes:
                            self.broadcast(
                                tx,
                                caller=None,
                                request_id=0,
                                flags=CallReducerFlags.NO_SUCCESS_NOTIFY,
                            )
                    await asyncio.sleep(0)  # let clients' messages in between bursts
                    continue
            else:
                wait = None
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._schedule_changed.wait(), wait)


def _failure_status(tx: TxResult) -> UpdateStatus:
    if tx.out_of_energy:
        return OutOfEnergy()
    return Failed(tx.error or "reducer failed")


def _query_key(query: Any) -> str:
    """The engine's key for a compiled query (whitespace-normalized text)."""
    key = getattr(query, "key", None)
    return key if isinstance(key, str) else normalize_query(str(query.sql))


def _may_change(query: Any, changes: dict[str, TableChange]) -> bool:
    """Skip queries none of whose tables changed (cheap pre-filter before ``delta``)."""
    tables = getattr(query, "tables", None)
    if tables is None:
        return True
    return any(name in changes for name in tables)


@web.middleware
async def _cors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """CORS as the real server: any origin, any method, the usual headers."""
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        resp: web.StreamResponse = web.Response(status=200)
    else:
        try:
            resp = await handler(request)
        except web.HTTPException as exc:
            exc.headers["Access-Control-Allow-Origin"] = "*"
            raise
    if not resp.prepared:
        resp.headers["Access-Control-Allow-Origin"] = "*"
        resp.headers["Access-Control-Allow-Methods"] = "*"
        resp.headers["Access-Control-Allow-Headers"] = "Authorization, Accept, Content-Type"
        resp.headers["Access-Control-Expose-Headers"] = "*"
    return resp


def serve_forever(config: ServerConfig, *, out: Any = None) -> int:
    """Open the database, serve until SIGINT/SIGTERM, print the ready line on stdout."""
    from .launcher import READY_PREFIX

    stream = out if out is not None else sys.stdout

    async def main() -> int:
        from . import Database

        try:
            db = Database.open(config.module, data_dir=config.data_dir, name=config.database)
        except Exception as exc:
            log.error("%s", open_failure_message(config.module, exc))
            return 1
        try:
            server = DevServer(db, config)
        except (SigningKeyError, OSError) as exc:
            log.error("cannot load the token signing key: %s", exc)
            _close_db(db)
            return 1
        log.info("tokens are signed with %s", server.tokens.key_source)
        try:
            await server.start()
        except OSError as exc:
            log.error("cannot listen on %s:%s: %s", config.host, config.port, exc)
            _close_db(db)
            return 1
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        stream.write(f"{READY_PREFIX} {json.dumps(server.ready_info())}\n")
        stream.flush()
        try:
            await stop.wait()
        finally:
            log.info("shutting down")
            await server.stop()
            _close_db(db)
        return 0

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 0


def open_failure_message(module: Path, exc: Exception) -> str:
    """Why the database for ``module`` did not open, for a person: our own errors by their
    message alone, with the module's traceback when its code raised (import, ``init``)."""
    head = f"cannot open the database for module {module}"
    if isinstance(exc, InitError):
        if exc.cause is None:
            return f"{head}: {exc}"
        return f"{head}: {exc}\n{user_traceback(exc.cause).rstrip()}"
    if not raised_in_user_code(exc):
        return f"{head}: {exc}"
    if isinstance(exc, StdbError):
        return f"{head}: {exc}\n{user_traceback(exc).rstrip()}"
    return f"{head}: the module raised while loading\n{user_traceback(exc).rstrip()}"


def _close_db(db: Any) -> None:
    close = getattr(db, "close", None)
    if callable(close):
        close()
