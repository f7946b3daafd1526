"""A scripted fake server: build real server frames from Python rows, and hand them to a
``Client`` through in-memory transports. No socket, no clock, no thread.

    server = FakeServer(schema)
    client = Client("ws://fake", "db", schema=schema, transport_factory=server.transport_factory)
    client.connect()
    server.send(server.identity_token())
    sub = client.subscribe("SELECT * FROM user")
    server.send(server.subscribe_applied(sub.query_id, {"user": [row]}))
    client.tick()
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from .. import protocol as P
from ..sats.codec import get_codec
from ..sats.values import ConnectionId, Identity, TimeDuration, Timestamp
from ..schema import ModuleSchema
from ..transport import FakeTransport

__all__ = ["FakeServer"]

Rows = Mapping[str, Sequence[Any]]


class FakeServer:
    """Builds frames for one schema and feeds them to the client's current transport."""

    def __init__(
        self,
        schema: ModuleSchema,
        *,
        identity: Identity | None = None,
        connection_id: ConnectionId | None = None,
        compression: P.Compression = P.Compression.NONE,
    ) -> None:
        self.schema = schema
        self.identity = identity or Identity.from_be_bytes(b"\xc2\x00" + os.urandom(30))
        self.connection_id = connection_id or ConnectionId.random()
        self.compression = compression
        self.transports: list[FakeTransport] = []
        self.urls: list[str] = []
        self.tokens: list[str | None] = []
        self.table_ids = {name: 4097 + i for i, name in enumerate(schema.tables)}
        self.refuse_next: list[BaseException] = []
        self._clock = 1_735_689_600_000_000

    # ---- wiring ---------------------------------------------------------------------------

    def transport_factory(self, url: str, token: str | None) -> FakeTransport:
        """Pass as ``Client(transport_factory=...)``; each (re)connect gets a new transport."""
        if self.refuse_next:
            raise self.refuse_next.pop(0)
        t = FakeTransport()
        self.transports.append(t)
        self.urls.append(url)
        self.tokens.append(token)
        return t

    @property
    def transport(self) -> FakeTransport:
        if not self.transports:
            raise RuntimeError("no client has connected to this fake server yet")
        return self.transports[-1]

    def send(self, frame: bytes) -> None:
        """Deliver ``frame`` on the newest connection."""
        self.transport.feed(frame)

    def received(self, index: int = -1) -> list[P.ClientMessage]:
        """Client messages written on connection ``index`` so far, decoded."""
        return [P.decode_client_message(f) for f in self.transports[index].sent]

    # ---- rows -----------------------------------------------------------------------------

    def encode_rows(self, table: str, rows: Sequence[Any]) -> list[bytes]:
        codec = get_codec(self.schema.table(table).row_type)
        return [r if isinstance(r, bytes) else codec.encode(r) for r in rows]

    def _table_update(
        self, table: str, deletes: Sequence[Any], inserts: Sequence[Any]
    ) -> P.TableUpdate:
        tdef = self.schema.table(table)
        size = tdef.row_type.static_size
        dl = P.BsatnRowList.from_rows(self.encode_rows(table, deletes), size)
        il = P.BsatnRowList.from_rows(self.encode_rows(table, inserts), size)
        qu = P.CompressableQueryUpdate.uncompressed(P.QueryUpdate(dl, il))
        return P.TableUpdate(self.table_ids[table], table, len(deletes) + len(inserts), (qu,))

    def database_update(
        self, inserts: Rows | None = None, deletes: Rows | None = None
    ) -> P.DatabaseUpdate:
        inserts = inserts or {}
        deletes = deletes or {}
        names = list(dict.fromkeys([*deletes, *inserts]))
        return P.DatabaseUpdate(
            tuple(self._table_update(n, deletes.get(n, ()), inserts.get(n, ())) for n in names)
        )

    def frame(self, msg: P.ServerMessage) -> bytes:
        return P.encode_server_frame(msg, self.compression)

    def now(self) -> Timestamp:
        self._clock += 1000
        return Timestamp(self._clock)

    # ---- messages -------------------------------------------------------------------------

    def identity_token(self, token: str = "fake-token", identity: Identity | None = None) -> bytes:
        return self.frame(P.IdentityToken(identity or self.identity, token, self.connection_id))

    def subscribe_applied(self, query_id: int, rows: Rows, request_id: int = 0) -> bytes:
        return self.frame(
            P.SubscribeMultiApplied(
                request_id, 100, P.QueryId(query_id), self.database_update(rows)
            )
        )

    def unsubscribe_applied(self, query_id: int, rows: Rows, request_id: int = 0) -> bytes:
        return self.frame(
            P.UnsubscribeMultiApplied(
                request_id, 50, P.QueryId(query_id), self.database_update(deletes=rows)
            )
        )

    def subscription_error(
        self, query_id: int | None, error: str, request_id: int | None = None
    ) -> bytes:
        return self.frame(P.SubscriptionError(10, request_id, query_id, None, error))

    def transaction(
        self,
        reducer: str = "",
        args: Any = (),
        *,
        inserts: Rows | None = None,
        deletes: Rows | None = None,
        caller: Identity | None = None,
        caller_connection_id: ConnectionId | None = None,
        failed: str | None = None,
        out_of_energy: bool = False,
        request_id: int = 0,
    ) -> bytes:
        """A ``TransactionUpdate``; by default the caller is this fake server's client."""
        rdef = self.schema.reducers.get(reducer)
        if isinstance(args, bytes):
            raw = args
        elif rdef is not None:
            raw = get_codec(rdef.params).encode(
                args if isinstance(args, (tuple, dict)) else (args,)
            )
        else:
            raw = b""
        status: P.UpdateStatus
        if failed is not None:
            status = P.Failed(failed)
        elif out_of_energy:
            status = P.OutOfEnergy()
        else:
            status = P.Committed(self.database_update(inserts, deletes))
        return self.frame(
            P.TransactionUpdate(
                status=status,
                timestamp=self.now(),
                caller_identity=caller or self.identity,
                caller_connection_id=caller_connection_id or self.connection_id,
                reducer_call=P.ReducerCallInfo(
                    reducer, rdef.reducer_id if rdef else 0xFFFFFFFF, raw, request_id
                ),
                energy_quanta_used=P.EnergyQuanta(1000),
                total_host_execution_duration=TimeDuration(50),
            )
        )

    def light(self, inserts: Rows | None = None, deletes: Rows | None = None) -> bytes:
        return self.frame(P.TransactionUpdateLight(0, self.database_update(inserts, deletes)))

    def one_off_response(self, message_id: bytes, table: str | None, rows: Sequence[Any] = (),
                         error: str | None = None) -> bytes:  # fmt: skip
        tables: tuple[P.OneOffTable, ...] = ()
        if table is not None and error is None:
            tdef = self.schema.table(table)
            tables = (
                P.OneOffTable(
                    table,
                    P.BsatnRowList.from_rows(
                        self.encode_rows(table, rows), tdef.row_type.static_size
                    ),
                ),
            )
        return self.frame(P.OneOffQueryResponse(message_id, error, tables, TimeDuration(5)))
