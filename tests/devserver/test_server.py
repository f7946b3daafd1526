"""The dev server's network side, spoken to with a raw v1 client (websocket-client + protocol).

Each test starts from a server process launched once per module (``start_dev_server``) on a
free loopback port; tests use fresh anonymous identities so they do not see each other's
rows except where that is the point.
"""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket

from stdb_game.devserver.launcher import DevServerHandle, start_dev_server
from stdb_game.protocol import (
    SUBPROTOCOL,
    CallProcedure,
    CallReducer,
    CallReducerFlags,
    ClientMessage,
    Committed,
    Failed,
    IdentityToken,
    InitialSubscription,
    InternalError,
    OneOffQuery,
    OneOffQueryResponse,
    ProcedureResult,
    QueryId,
    ServerMessage,
    Subscribe,
    SubscribeApplied,
    SubscribeMulti,
    SubscribeMultiApplied,
    SubscribeSingle,
    SubscriptionError,
    TableUpdate,
    TransactionUpdate,
    TransactionUpdateLight,
    Unsubscribe,
    UnsubscribeApplied,
    UnsubscribeMulti,
    UnsubscribeMultiApplied,
    decode_server_frame,
    encode_client_message,
)
from stdb_game.sats.values import Identity

ROOT = Path(__file__).resolve().parents[2]
CHAT = ROOT / "demos" / "chat" / "module.py"
TICKER = Path(__file__).resolve().parent / "modules" / "ticker.py"
DB = "quickstart-chat"
U32_MAX = 0xFFFF_FFFF


def _string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(4, "little") + data


# ---- a minimal raw client ------------------------------------------------------------------------


class Closed(Exception):
    """The server closed the socket; ``code``/``reason`` from its close frame (None if none)."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed {code} {reason!r}")
        self.code = code
        self.reason = reason


class RawClient:
    """One v1 connection: sends ClientMessages, returns decoded ServerMessages in order."""

    def __init__(
        self,
        ws_url: str,
        db: str = DB,
        *,
        token: str | None = None,
        query: str = "compression=None",
        header_token: bool = True,
        protocols: list[str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        url = f"{ws_url}/v1/database/{db}/subscribe"
        if query:
            url += "?" + query
        headers = []
        if token is not None:
            if header_token:
                headers.append(f"Authorization: Bearer {token}")
            else:
                url += ("&" if "?" in url else "?") + f"token={token}"
        self.ws = websocket.create_connection(
            url,
            subprotocols=protocols or [SUBPROTOCOL],
            header=headers,
            timeout=timeout,
        )
        self.raw_frames: list[bytes] = []
        hello = self.recv()
        assert isinstance(hello, IdentityToken), f"first message was {hello!r}"
        self.identity = hello.identity
        self.token = hello.token
        self.connection_id = hello.connection_id

    def send(self, msg: ClientMessage) -> None:
        self.ws.send_binary(encode_client_message(msg))

    def send_raw(self, data: bytes) -> None:
        self.ws.send_binary(data)

    def recv_frame(self) -> bytes:
        while True:
            opcode, data = self.ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_BINARY:
                self.raw_frames.append(data)
                return bytes(data)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                raise Closed(code, data[2:].decode("utf-8", "replace"))
            if opcode == websocket.ABNF.OPCODE_PING:
                self.ws.pong(data)

    def recv(self) -> ServerMessage:
        return decode_server_frame(self.recv_frame())

    def expect(self, cls: type[Any]) -> Any:
        msg = self.recv()
        assert isinstance(msg, cls), f"expected {cls.__name__}, got {msg!r}"
        return msg

    def call(self, reducer: str, args: bytes, request_id: int = 0, flags: int = 0) -> None:
        self.send(CallReducer(reducer, args, request_id, CallReducerFlags(flags)))

    def subscribe(self, queries: list[str], query_id: int, request_id: int = 0) -> ServerMessage:
        self.send(SubscribeMulti(tuple(queries), request_id, QueryId(query_id)))
        return self.recv()

    def sync(self) -> None:
        """Round-trip a one-off query: anything queued for us before it arrives first."""
        self.send(OneOffQuery(b"sync", "SELECT * FROM user WHERE online = false"))

    def expect_only_sync(self) -> None:
        """After ``sync()``: the next message must be the sync answer (nothing else was sent)."""
        msg = self.recv()
        assert isinstance(msg, OneOffQueryResponse) and msg.message_id == b"sync", msg

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass


def rows_of(update_tables: tuple[TableUpdate, ...], table: str) -> tuple[list[bytes], list[bytes]]:
    """All (deletes, inserts) row bytes of ``table`` in a DatabaseUpdate's tables."""
    deletes: list[bytes] = []
    inserts: list[bytes] = []
    for tu in update_tables:
        if tu.table_name != table:
            continue
        for qu in tu.query_updates():
            deletes += qu.deletes.row_slices()
            inserts += qu.inserts.row_slices()
    return deletes, inserts


def fetch(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def _post_without_content_type(url: str, body: bytes) -> tuple[int, bytes]:
    """urllib always adds a Content-Type to POST bodies; http.client does not."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request("POST", parts.path, body=body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def ws_handshake_status(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """Status and body of a WebSocket upgrade attempt that is expected to be refused."""
    base = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Protocol": SUBPROTOCOL,
    }
    base.update(headers or {})
    status, body, _ = fetch("GET", url, headers=base)
    return status, body.decode("utf-8", "replace")


def user_row(identity: Identity, name: str | None, online: bool) -> bytes:
    name_part = b"\x01" if name is None else b"\x00" + _string(name)
    return identity.to_bytes() + name_part + (b"\x01" if online else b"\x00")


# ---- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[DevServerHandle]:
    with start_dev_server(CHAT, ping_interval=30.0) as handle:
        yield handle


@pytest.fixture
def clients(server: DevServerHandle) -> Iterator[list[RawClient]]:
    opened: list[RawClient] = []
    yield opened
    for c in opened:
        c.close()


def connect(server: DevServerHandle, clients: list[RawClient], **kw: Any) -> RawClient:
    c = RawClient(server.ws_url, server.database, **kw)
    clients.append(c)
    return c


# ---- connection opening --------------------------------------------------------------------------


def test_identity_token_comes_first_and_its_token_is_valid(
    server: DevServerHandle, clients: list[RawClient]
) -> None:
    c = connect(server, clients)
    assert c.identity.to_hex().startswith("c200")
    assert not c.connection_id.is_zero()
    status, _, _ = fetch(
        "GET",
        f"{server.url}/v1/identity/{c.identity.to_hex()}/verify",
        headers={"Authorization": f"Bearer {c.token}"},
    )
    assert status == 204
    # Reconnecting with that token keeps the identity, by header and by ?token=.
    again = connect(server, clients, token=c.token)
    assert again.identity == c.identity and again.connection_id != c.connection_id
    by_query = connect(server, clients, token=c.token, header_token=False)
    assert by_query.identity == c.identity


def test_connection_id_parameter_is_used(server: DevServerHandle, clients: list[RawClient]) -> None:
    c = connect(server, clients, query="compression=None&connection_id=" + "0f" * 16)
    assert c.connection_id.to_hex() == "0f" * 16


def test_handshake_refusals(server: DevServerHandle) -> None:
    sub = f"{server.url}/v1/database/{server.database}/subscribe"
    status, body = ws_handshake_status(sub, {"Sec-WebSocket-Protocol": "v1.json.spacetimedb"})
    assert (status, body) == (400, "no valid protocol selected")
    status, body = ws_handshake_status(sub + "?compression=gzip")
    assert status == 400 and "compression" in body
    status, _ = ws_handshake_status(sub + "?connection_id=" + "0" * 32)
    assert status == 400
    status, _ = ws_handshake_status(sub + "?connection_id=xyz")
    assert status == 400
    status, _ = ws_handshake_status(sub, {"Authorization": "Bearer not-a-jwt"})
    assert status == 401
    status, _ = ws_handshake_status(sub, {"Authorization": "Basic abc"})
    assert status == 400
    status, _ = ws_handshake_status(sub + "?token=not-a-jwt")
    assert status == 401
    status, _ = ws_handshake_status(f"{server.url}/v1/database/nope/subscribe")
    assert status == 404


def test_database_by_identity(server: DevServerHandle, clients: list[RawClient]) -> None:
    c = connect(server, clients, query="compression=None")
    by_id = RawClient(server.ws_url, server.database_identity)
    clients.append(by_id)
    by_0x = RawClient(server.ws_url, "0x" + server.database_identity)
    clients.append(by_0x)
    assert by_id.identity != c.identity


# ---- subscriptions -------------------------------------------------------------------------------


def test_subscribe_multi_refcounts_per_connection(
    server: DevServerHandle, clients: list[RawClient]
) -> None:
    c = connect(server, clients)
    me = user_row(c.identity, None, True)
    applied = c.subscribe(["SELECT * FROM user"], query_id=1, request_id=11)
    assert isinstance(applied, SubscribeMultiApplied)
    assert (applied.request_id, applied.query_id) == (11, QueryId(1))
    deletes, inserts = rows_of(applied.update.tables, "user")
    assert deletes == [] and me in inserts
    assert all(tu.num_rows == len(inserts) for tu in applied.update.tables)

    # The same query again (other spacing) plus a new one: only the new one sends rows.
    applied = c.subscribe(["SELECT  *  FROM user", "SELECT * FROM message"], query_id=2)
    assert isinstance(applied, SubscribeMultiApplied)
    assert {tu.table_name for tu in applied.update.tables} <= {"message"}
    assert len(applied.update.tables) == 1

    # Dropping set 1 leaves the user query alive through set 2: no rows.
    c.send(UnsubscribeMulti(5, QueryId(1)))
    gone = c.expect(UnsubscribeMultiApplied)
    assert (gone.request_id, gone.query_id, gone.update.tables) == (5, QueryId(1), ())

    # Set 2 was the last reference: both queries' rows come back as deletes.
    c.send(UnsubscribeMulti(6, QueryId(2)))
    gone = c.expect(UnsubscribeMultiApplied)
    deletes, inserts = rows_of(gone.update.tables, "user")
    assert me in deletes and inserts == []
    assert {tu.table_name for tu in gone.update.tables} == {"user", "message"}

    # The id is free again.
    assert isinstance(c.subscribe(["SELECT * FROM user"], query_id=1), SubscribeMultiApplied)


def test_reused_query_id_is_a_failed_transaction_update(
    server: DevServerHandle, clients: list[RawClient]
) -> None:
    c = connect(server, clients)
    assert isinstance(c.subscribe(["SELECT * FROM user"], query_id=7), SubscribeMultiApplied)
    reply = c.subscribe(["SELECT * FROM message"], query_id=7)
    assert isinstance(reply, TransactionUpdate)
    assert isinstance(reply.status, Failed) and "already exists" in reply.status.message
    assert reply.reducer_call.reducer_name == "<none>"
    assert reply.reducer_call.reducer_id == U32_MAX
    assert reply.reducer_call.request_id == 0
    assert reply.caller_identity == c.identity and reply.caller_connection_id == c.connection_id


def test_bad_sql_and_unknown_ids_are_subscription_errors(
    server: DevServerHandle, clients: list[RawClient]
) -> None:
    c = connect(server, clients)
    err = c.subscribe(["SELECT * FROM user", "SELECT * FROM nowhere"], query_id=3, request_id=9)
    assert isinstance(err, SubscriptionError)
    assert (err.request_id, err.query_id, err.table_id) == (9, 3, None)
    assert err.error
    # Nothing was registered: the id is usable and the user query is new.
    ok = c.subscribe(["SELECT * FROM user"], query_id=3)
    assert isinstance(ok, SubscribeMultiApplied) and ok.update.tables
    c.send(UnsubscribeMulti(4, QueryId(99)))
    err = c.expect(SubscriptionError)
    assert (err.request_id, err.query_id) == (4, 99)


def test_select_star_from_star_and_legacy_subscribe(
    server: DevServerHandle, clients: list[RawClient]
) -> None:
    c = connect(server, clients)
    applied = c.subscribe(["SELECT * FROM *"], query_id=1)
    assert isinstance(applied, SubscribeMultiApplied)
    assert {tu.table_name for tu in applied.update.tables} <= {"user", "message"}
    assert "user" in {tu.table_name for tu in applied.update.tables}

    legacy = connect(server, clients)
    legacy.send(Subscribe(("SELECT * FROM user",), 21))
    init = legacy.expect(InitialSubscription)
    assert init.request_id == 21
    _, inserts = rows_of(init.database_update.tables, "user")
    assert user_row(legacy.identity, None, True) in inserts
    # Replacing the legacy set sends everything of the new set, old rows included.
    legacy.send(Subscribe(("SELECT * FROM user", "SELECT * FROM message"), 22))
    init = legacy.expect(InitialSubscription)
    assert {tu.table_name for tu in init.database_update.tables} == {"user", "message"}
    # A bad legacy query is an execution error, not a SubscriptionError.
    legacy.send(Subscribe(("SELECT * FROM nowhere",), 23))
    failed = legacy.expect(TransactionUpdate)
    assert isinstance(failed.status, Failed) and failed.reducer_call.reducer_name == "<none>"


def test_subscribe_single_and_unsubscribe(
    server: DevServerHandle, clients: list[RawClient]
) -> None:
    c = connect(server, clients)
    c.send(SubscribeSingle("SELECT * FROM user", 31, QueryId(4)))
    applied = c.expect(SubscribeApplied)
    assert (applied.request_id, applied.query_id) == (31, QueryId(4))
    assert applied.rows.table_name == "user"
    assert (
        user_row(c.identity, None, True)
        in applied.rows.table_rows.query_updates()[0].inserts.row_slices()
    )
    c.send(Unsubscribe(32, QueryId(4)))
    gone = c.expect(UnsubscribeApplied)
    assert (
        user_row(c.identity, None, True)
        in gone.rows.table_rows.query_updates()[0].deletes.row_slices()
    )
    c.send(SubscribeSingle("SELECT * FROM nowhere", 33, QueryId(5)))
    err = c.expect(SubscriptionError)
    assert (err.request_id, err.query_id) == (33, 5)


def test_one_off_query_and_procedure(server: DevServerHandle, clients: list[RawClient]) -> None:
    c = connect(server, clients)
    c.send(OneOffQuery(b"\x01\x02", "SELECT * FROM user"))
    resp = c.expect(OneOffQueryResponse)
    assert resp.message_id == b"\x01\x02" and resp.error is None
    assert [t.table_name for t in resp.tables] == ["user"]
    assert user_row(c.identity, None, True) in resp.tables[0].rows.row_slices()
    c.send(OneOffQuery(b"x", "SELECT * FROM nowhere"))
    resp = c.expect(OneOffQueryResponse)
    assert resp.error and resp.tables == ()
    c.send(CallProcedure("anything", b"", 44))
    res = c.expect(ProcedureResult)
    assert isinstance(res.status, InternalError) and res.request_id == 44


def test_long_or_chains_on_every_query_path(
    server: DevServerHandle, clients: list[RawClient]
) -> None:
    # 2000 ORs (about 40 KB, under the 50,000-byte limit): a left-deep tree that must neither
    # compile nor evaluate by recursion, on each of the three query paths.
    tag = f"o{time.monotonic_ns() % 1000:03d}"
    terms = [f"text = '{tag}{i}'" for i in range(2000)]
    query = "SELECT * FROM message WHERE " + " OR ".join(terms)
    assert len(query.encode()) < 50_000
    writer = connect(server, clients)
    writer.call("send_message", _string(f"{tag}1500"), flags=1)
    writer.call("send_message", _string(f"{tag}x"), flags=1)
    writer.sync()
    writer.expect_only_sync()

    c = connect(server, clients)
    applied = c.subscribe([query], query_id=7, request_id=70)
    assert isinstance(applied, SubscribeMultiApplied), applied
    _, inserts = rows_of(applied.update.tables, "message")
    assert [r[-len(tag) - 4 :] for r in inserts] == [f"{tag}1500".encode()]
    # the subscription's delta evaluates the chain per transaction, too
    writer.call("send_message", _string(f"{tag}1999"), flags=1)
    writer.call("send_message", _string(f"{tag}y"), flags=1)
    tu = c.expect(TransactionUpdate)
    _, inserts = rows_of(tu.status.database_update.tables, "message")
    assert [r[-len(tag) - 4 :] for r in inserts] == [f"{tag}1999".encode()]
    c.sync()
    c.expect_only_sync()

    c.send(OneOffQuery(b"ors", query))
    resp = c.expect(OneOffQueryResponse)
    assert resp.message_id == b"ors" and resp.error is None
    assert len(resp.tables[0].rows.row_slices()) == 2

    base = f"{server.url}/v1/database/{server.database}/sql"
    status, body, _ = fetch("POST", base, query.replace("*", "text", 1).encode())
    assert status == 200, body
    assert sorted(r[0] for r in json.loads(body)[0]["rows"]) == [f"{tag}1500", f"{tag}1999"]

    # Nesting too deep for the parser: a clear error on each path, the socket stays open.
    deep = "SELECT * FROM message WHERE " + "(" * 3000 + "text = 'a'" + ")" * 3000
    err = c.subscribe([deep], query_id=8, request_id=80)
    assert isinstance(err, SubscriptionError) and (err.request_id, err.query_id) == (80, 8)
    assert "nests too deeply" in err.error
    c.send(OneOffQuery(b"deep", deep))
    resp = c.expect(OneOffQueryResponse)
    assert resp.message_id == b"deep" and resp.error and "nests too deeply" in resp.error
    status, body, _ = fetch("POST", base, deep.encode())
    assert status == 400 and b"nests too deeply" in body


# ---- reducer calls -------------------------------------------------------------------------------


def test_reducer_call_reaches_caller_and_subscribers(
    server: DevServerHandle, clients: list[RawClient]
) -> None:
    caller = connect(server, clients)  # subscribed to nothing
    watcher = connect(server, clients)
    light = connect(server, clients, query="compression=None&light=true")
    unrelated = connect(server, clients)
    assert isinstance(watcher.subscribe(["SELECT * FROM message"], 1), SubscribeMultiApplied)
    assert isinstance(light.subscribe(["SELECT * FROM message"], 1), SubscribeMultiApplied)
    assert isinstance(
        unrelated.subscribe(
            [f"SELECT * FROM user WHERE identity = 0x{unrelated.identity.to_hex()}"], 1
        ),
        SubscribeMultiApplied,
    )

    args = _string("hello from the caller")
    caller.call("send_message", args, request_id=77)
    mine = caller.expect(TransactionUpdate)
    assert isinstance(mine.status, Committed)
    assert mine.status.database_update.tables == ()  # filtered to its (no) subscriptions
    call = mine.reducer_call
    assert (call.reducer_name, call.reducer_id, call.args, call.request_id) == (
        "send_message",
        3,
        args,
        77,
    )
    assert mine.caller_identity == caller.identity
    assert mine.caller_connection_id == caller.connection_id
    assert mine.timestamp.micros_since_epoch > 0

    seen = watcher.expect(TransactionUpdate)
    assert isinstance(seen.status, Committed)
    assert seen.reducer_call.request_id == 77 and seen.caller_identity == caller.identity
    deletes, inserts = rows_of(seen.status.database_update.tables, "message")
    assert deletes == [] and len(inserts) == 1
    assert inserts[0].startswith(caller.identity.to_bytes()) and inserts[0].endswith(args)

    lite = light.expect(TransactionUpdateLight)
    assert lite.request_id == 77
    assert rows_of(lite.update.tables, "message")[1] == inserts

    unrelated.sync()
    unrelated.expect_only_sync()


def test_caller_sees_its_subscribed_changes_and_update_pairs(
    server: DevServerHandle, clients: list[RawClient]
) -> None:
    c = connect(server, clients)
    mine = f"SELECT * FROM user WHERE identity = 0x{c.identity.to_hex()}"
    assert isinstance(c.subscribe([mine], 1), SubscribeMultiApplied)
    c.call("set_name", _string("Alice"), request_id=3)
    tu = c.expect(TransactionUpdate)
    assert isinstance(tu.status, Committed)
    (table,) = tu.status.database_update.tables
    assert table.table_name == "user" and table.num_rows == 2
    deletes, inserts = rows_of(tu.status.database_update.tables, "user")
    assert deletes == [user_row(c.identity, None, True)]
    assert inserts == [user_row(c.identity, "Alice", True)]


def test_no_success_notify(server: DevServerHandle, clients: list[RawClient]) -> None:
    quiet = connect(server, clients)
    quiet.call("send_message", _string("shh"), flags=1)
    quiet.sync()
    quiet.expect_only_sync()
    # Subscribed to the table, it hears about its own change as any subscriber does.
    assert isinstance(quiet.subscribe(["SELECT * FROM message"], 1), SubscribeMultiApplied)
    quiet.call("send_message", _string("loud"), request_id=5, flags=1)
    tu = quiet.expect(TransactionUpdate)
    assert isinstance(tu.status, Committed) and tu.reducer_call.request_id == 5
    # A failure with NoSuccessNotify is not reported at all.
    quiet.call("send_message", _string(""), flags=1)
    quiet.sync()
    quiet.expect_only_sync()


def test_failed_reducer_only_tells_the_caller(
    server: DevServerHandle, clients: list[RawClient]
) -> None:
    caller = connect(server, clients)
    watcher = connect(server, clients)
    assert isinstance(watcher.subscribe(["SELECT * FROM message"], 1), SubscribeMultiApplied)
    args = _string("")
    caller.call("send_message", args, request_id=12)
    tu = caller.expect(TransactionUpdate)
    assert tu.status == Failed("Messages must not be empty")
    assert tu.reducer_call.request_id == 0  # as servers up to 1.12
    assert (tu.reducer_call.reducer_name, tu.reducer_call.reducer_id) == ("send_message", 3)
    assert tu.reducer_call.args == args
    watcher.sync()
    watcher.expect_only_sync()


@pytest.mark.parametrize(
    ("reducer", "args", "expected_id"),
    [
        ("no_such_reducer", b"", U32_MAX),
        ("identity_connected", b"", 0),  # lifecycle: refused, id resolved
        ("send_message", b"\x05\x00", 3),  # bad args
    ],
)
def test_refused_reducer_calls(
    server: DevServerHandle,
    clients: list[RawClient],
    reducer: str,
    args: bytes,
    expected_id: int,
) -> None:
    c = connect(server, clients)
    c.call(reducer, args, request_id=8)
    tu = c.expect(TransactionUpdate)
    assert isinstance(tu.status, Failed) and tu.status.message
    call = tu.reducer_call
    assert (call.reducer_name, call.reducer_id, call.args, call.request_id) == (
        reducer,
        expected_id,
        b"",
        0,
    )
    assert tu.energy_quanta_used.quanta == 0 and tu.total_host_execution_duration.micros == 0


def test_disconnect_runs_client_disconnected(
    server: DevServerHandle, clients: list[RawClient]
) -> None:
    leaving = connect(server, clients)
    watcher = connect(server, clients)
    q = f"SELECT * FROM user WHERE identity = 0x{leaving.identity.to_hex()}"
    assert isinstance(watcher.subscribe([q], 1), SubscribeMultiApplied)
    leaving.close()
    tu = watcher.expect(TransactionUpdate)
    assert tu.reducer_call.reducer_name == "identity_disconnected"
    assert tu.caller_identity == leaving.identity
    assert tu.caller_connection_id == leaving.connection_id
    assert isinstance(tu.status, Committed)
    deletes, inserts = rows_of(tu.status.database_update.tables, "user")
    assert deletes == [user_row(leaving.identity, None, True)]
    assert inserts == [user_row(leaving.identity, None, False)]


# ---- malformed input, limits, compression --------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        b"\xff",  # unknown tag
        b"",  # empty
        b"\x00\x05\x00\x00\x00ab",  # truncated CallReducer
        b"\x00" + _string("send_message") + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00" + b"\x07",
    ],
)
def test_undecodable_message_closes_1011(
    server: DevServerHandle, clients: list[RawClient], frame: bytes
) -> None:
    c = connect(server, clients)
    c.send_raw(frame)
    with pytest.raises(Closed) as info:
        c.recv()
    assert info.value.code == 1011 and info.value.reason


def test_text_frame_closes_1011(server: DevServerHandle, clients: list[RawClient]) -> None:
    c = connect(server, clients)
    c.ws.send('{"OneOffQuery": {}}')
    with pytest.raises(Closed) as info:
        c.recv()
    assert info.value.code == 1011


def test_oversized_message_closes_1009(server: DevServerHandle, clients: list[RawClient]) -> None:
    c = connect(server, clients)
    # Announce a binary frame one byte over 32 MiB; the server refuses it from the header.
    size = 32 * 1024 * 1024 + 1
    assert c.ws.sock is not None
    c.ws.sock.sendall(b"\x82\xff" + size.to_bytes(8, "big") + b"\x00\x00\x00\x00" + b"\x02" * 1024)
    with pytest.raises(Closed) as info:
        c.recv()
    assert info.value.code == 1009
    # Exactly 32 MiB is accepted (and is then just a bad message).
    big = connect(server, clients)
    big.send_raw(b"\xfe" + b"\x00" * (32 * 1024 * 1024 - 1))
    with pytest.raises(Closed) as info:
        big.recv()
    assert info.value.code == 1011


def test_gzip_frames_above_1kib(server: DevServerHandle, clients: list[RawClient]) -> None:
    writer = connect(server, clients)
    for i in range(12):
        writer.call("send_message", _string(f"padding message {i:04d} " + "x" * 100), flags=1)
    writer.sync()
    writer.expect_only_sync()
    c = connect(server, clients, query="compression=Gzip")
    assert c.raw_frames[0][0] == 0  # IdentityToken is small
    applied = c.subscribe(["SELECT * FROM message"], 1)
    assert isinstance(applied, SubscribeMultiApplied)
    frame = c.raw_frames[-1]
    assert frame[0] == 2
    assert gzip.decompress(frame[1:])[0] == 8  # a SubscribeMultiApplied inside
    small = c.subscribe(["SELECT * FROM user WHERE online = false AND online = true"], 2)
    assert isinstance(small, SubscribeMultiApplied) and c.raw_frames[-1][0] == 0


def test_absent_compression_means_brotli(server: DevServerHandle, clients: list[RawClient]) -> None:
    pytest.importorskip("brotli")
    writer = connect(server, clients)
    for i in range(12):
        writer.call("send_message", _string(f"brotli padding {i:04d} " + "y" * 100), flags=1)
    writer.sync()
    writer.expect_only_sync()
    c = connect(server, clients, query="")
    assert isinstance(c.subscribe(["SELECT * FROM message"], 1), SubscribeMultiApplied)
    assert c.raw_frames[-1][0] == 1


# ---- HTTP ----------------------------------------------------------------------------------------


def test_http_identity_endpoints(server: DevServerHandle) -> None:
    status, body, _ = fetch("POST", f"{server.url}/v1/identity")
    assert status == 200
    minted = json.loads(body)
    assert minted["identity"].startswith("c200") and len(minted["identity"]) == 64
    token = minted["token"]
    auth = {"Authorization": f"Bearer {token}"}
    status, body, _ = fetch("POST", f"{server.url}/v1/identity/websocket-token", headers=auth)
    assert status == 200
    short = json.loads(body)["token"]
    assert fetch("POST", f"{server.url}/v1/identity/websocket-token")[0] == 401
    bad = {"Authorization": "Bearer " + token[:-4] + "AAAA"}
    assert fetch("POST", f"{server.url}/v1/identity/websocket-token", headers=bad)[0] == 401
    malformed = {"Authorization": "Token " + token}
    assert fetch("POST", f"{server.url}/v1/identity/websocket-token", headers=malformed)[0] == 400
    verify = f"{server.url}/v1/identity/{minted['identity']}/verify"
    assert fetch("GET", verify, headers=auth)[0] == 204
    assert fetch("GET", verify)[0] == 401
    other = json.loads(fetch("POST", f"{server.url}/v1/identity")[1])
    assert (
        fetch("GET", f"{server.url}/v1/identity/{other['identity']}/verify", headers=auth)[0] == 400
    )
    assert fetch("GET", f"{server.url}/v1/ping")[0] == 200
    # The short-lived token works on the WebSocket and is echoed back.
    c = RawClient(server.ws_url, server.database, token=short, header_token=False)
    try:
        assert c.identity.to_hex() == minted["identity"] and c.token == short
    finally:
        c.close()


def test_http_schema(server: DevServerHandle) -> None:
    base = f"{server.url}/v1/database/{server.database}"
    status, body, headers = fetch("GET", base + "/schema?version=9")
    assert status == 200
    schema = json.loads(body)
    assert [t["name"] for t in schema["tables"]] == ["message", "user"]
    assert [r["name"] for r in schema["reducers"]][3] == "send_message"
    assert headers["spacetime-identity"].startswith("c200") and headers["spacetime-identity-token"]
    assert fetch("GET", base + "/schema")[0] == 400
    assert fetch("GET", base + "/schema?version=10")[0] == 400
    assert fetch("GET", f"{server.url}/v1/database/nope/schema?version=9")[0] == 404
    assert (
        fetch("GET", f"{server.url}/v1/database/{server.database_identity}/schema?version=9")[0]
        == 200
    )
    status, body, _ = fetch("GET", base + "/identity")
    assert (status, body.decode()) == (200, server.database_identity)
    status, body, _ = fetch("GET", base)
    info = json.loads(body)
    assert info["database_identity"]["__identity__"] == "0x" + server.database_identity


def test_http_sql(server: DevServerHandle) -> None:
    base = f"{server.url}/v1/database/{server.database}"
    status, body, _ = fetch("POST", base + "/sql", b"SELECT * FROM user")
    assert status == 200
    (result,) = json.loads(body)
    names = [e["name"]["some"] for e in result["schema"]["elements"]]
    assert names == ["identity", "name", "online"]
    assert isinstance(result["rows"], list)
    assert set(result["stats"]) == {"rows_inserted", "rows_deleted", "rows_updated"}
    status, body, _ = fetch("POST", base + "/sql", b"SELECT * FROM nowhere")
    assert status == 400 and body


def test_http_call(server: DevServerHandle, clients: list[RawClient]) -> None:
    base = f"{server.url}/v1/database/{server.database}/call"
    token = json.loads(fetch("POST", f"{server.url}/v1/identity")[1])["token"]
    json_auth = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    watcher = connect(server, clients)
    assert isinstance(watcher.subscribe(["SELECT * FROM message"], 1), SubscribeMultiApplied)

    status, _, headers = fetch("POST", base + "/send_message", b'["over http"]', json_auth)
    assert status == 200
    assert "spacetime-energy-used" in headers and "spacetime-execution-duration-micros" in headers
    names = []
    while "send_message" not in names:
        names.append(watcher.expect(TransactionUpdate).reducer_call.reducer_name)
    assert fetch("POST", base + "/send_message", b'{"text": "by name"}', json_auth)[0] == 200
    status, body, _ = fetch("POST", base + "/send_message", b'[""]', json_auth)
    assert (status, body.decode()) == (530, "Messages must not be empty")
    assert fetch("POST", base + "/nope", b"[]", json_auth)[0] == 404
    assert fetch("POST", base + "/identity_connected", b"[]", json_auth)[0] == 400
    assert fetch("POST", base + "/send_message", b"[1]", json_auth)[0] == 400
    status, body, _ = fetch("POST", base + "/send_message", b"[" * 100_000, json_auth)
    assert (status, body) == (400, b"invalid JSON: nested too deeply")
    assert _post_without_content_type(base + "/send_message", b'["x"]')[0] == 400
    text = {"Content-Type": "text/plain"}
    assert fetch("POST", base + "/send_message", b'["x"]', text)[0] == 415
    assert (
        fetch("POST", f"{server.url}/v1/database/nope/call/send_message", b"[]", json_auth)[0]
        == 404
    )


# ---- scheduled reducers, pings, durability (their own servers) -----------------------------------


def test_scheduled_reducer_updates_subscribers() -> None:
    with start_dev_server(TICKER) as srv:
        c = RawClient(srv.ws_url, srv.database)
        try:
            assert isinstance(c.subscribe(["SELECT * FROM tick"], 1), SubscribeMultiApplied)
            c.call("start_ticking", (50).to_bytes(4, "little") + _string("beat"), request_id=1)
            assert isinstance(c.expect(TransactionUpdate).status, Committed)
            ticks: list[bytes] = []
            while len(ticks) < 3:
                tu = c.expect(TransactionUpdate)
                assert tu.reducer_call.reducer_name == "on_tick"
                assert tu.caller_identity.to_hex() == srv.database_identity
                assert tu.caller_connection_id.is_zero()
                assert isinstance(tu.status, Committed)
                ticks += rows_of(tu.status.database_update.tables, "tick")[1]
            c.call("stop_ticking", b"", request_id=2)
            while True:
                tu = c.expect(TransactionUpdate)
                if tu.reducer_call.reducer_name == "stop_ticking":
                    break
            # Private tables: visible to the owner only.
            c.send(OneOffQuery(b"p", "SELECT * FROM secret"))
            assert c.expect(OneOffQueryResponse).error
        finally:
            c.close()


def test_silent_clients_are_dropped_and_pings_arrive() -> None:
    with start_dev_server(CHAT, ping_interval=0.3) as srv:
        alive = RawClient(srv.ws_url, srv.database)
        silent = RawClient(srv.ws_url, srv.database)
        try:
            pings = 0
            deadline = time.monotonic() + 10
            alive.ws.settimeout(0.5)
            while pings < 3 and time.monotonic() < deadline:
                try:
                    opcode, data = alive.ws.recv_data(control_frame=True)
                except websocket.WebSocketTimeoutException:
                    continue
                if opcode == websocket.ABNF.OPCODE_PING:
                    pings += 1
                    alive.ws.pong(data)
            assert pings >= 3
            # The silent one never read (so never answered a ping) and must be gone by now.
            with pytest.raises((Closed, websocket.WebSocketConnectionClosedException, OSError)):
                silent.ws.settimeout(5)
                for _ in range(100):
                    silent.recv()
            # The live one still works.
            alive.ws.settimeout(5)
            alive.sync()
            alive.expect_only_sync()
        finally:
            alive.close()
            silent.close()


def test_durable_across_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with start_dev_server(CHAT, data_dir=data) as srv:
        c = RawClient(srv.ws_url, srv.database)
        c.call("send_message", _string("remember me"), request_id=1)
        assert isinstance(c.expect(TransactionUpdate).status, Committed)
        token, identity = c.token, c.identity
        c.close()
    with start_dev_server(CHAT, data_dir=data) as srv:
        again = RawClient(srv.ws_url, srv.database, token=token)
        try:
            assert again.identity == identity
            again.send(OneOffQuery(b"m", "SELECT * FROM message"))
            rows = again.expect(OneOffQueryResponse).tables[0].rows.row_slices()
            assert any(r.endswith(_string("remember me")) for r in rows)
        finally:
            again.close()


def test_launcher_reports_a_module_that_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('boom')\n")
    from stdb_game.devserver.launcher import DevServerError

    with pytest.raises(DevServerError):
        start_dev_server(bad, timeout=20, log_file=tmp_path / "log.txt")


def test_port_in_use_fails_fast(server: DevServerHandle, tmp_path: Path) -> None:
    from stdb_game.devserver.launcher import DevServerError

    with pytest.raises(DevServerError):
        start_dev_server(CHAT, port=server.port, timeout=20, log_file=tmp_path / "log.txt")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5):
        pass


def test_shutdown_closes_1001_and_disconnects_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with start_dev_server(CHAT, data_dir=data) as srv:
        c = RawClient(srv.ws_url, srv.database)
        srv.stop()
        with pytest.raises(Closed) as info:
            c.recv()
        assert (info.value.code, info.value.reason) == (1001, "module exited")
        assert srv.process.returncode == 0
        token, identity = c.token, c.identity
        c.close()
    with start_dev_server(CHAT, data_dir=data) as srv:
        # client_disconnected ran before the server went down: the user is offline.
        status, body, _ = fetch(
            "POST",
            f"{srv.url}/v1/database/{srv.database}/sql",
            f"SELECT * FROM user WHERE identity = 0x{identity.to_hex()}".encode(),
        )
        (result,) = json.loads(body)
        assert status == 200 and [row[2] for row in result["rows"]] == [False]
        again = RawClient(srv.ws_url, srv.database, token=token)
        again.close()


def test_restart_after_kill_runs_client_disconnected(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with start_dev_server(CHAT, data_dir=data) as srv:
        c = RawClient(srv.ws_url, srv.database)
        identity = c.identity
        srv.kill()  # SIGKILL: no shutdown, client_disconnected never ran
        c.close()
    with start_dev_server(CHAT, data_dir=data) as srv:
        status, body, _ = fetch(
            "POST",
            f"{srv.url}/v1/database/{srv.database}/sql",
            f"SELECT * FROM user WHERE identity = 0x{identity.to_hex()}".encode(),
        )
        (result,) = json.loads(body)
        assert status == 200 and [row[2] for row in result["rows"]] == [False]


def test_client_connected_failure_drops_the_socket() -> None:
    with start_dev_server(TICKER) as srv:
        url = f"{srv.ws_url}/v1/database/{srv.database}/subscribe?compression=None"
        ws = websocket.create_connection(
            url + "&connection_id=dead" + "0" * 27 + "1", subprotocols=[SUBPROTOCOL], timeout=10
        )
        try:
            # The upgrade succeeded, but no IdentityToken: the socket just ends.
            with pytest.raises((websocket.WebSocketConnectionClosedException, OSError)):
                while True:
                    opcode, _ = ws.recv_data(control_frame=True)
                    assert opcode != websocket.ABNF.OPCODE_BINARY
        finally:
            ws.close()
        ok = RawClient(srv.ws_url, srv.database)  # other connection ids are welcome
        ok.close()


def test_vanishing_clients_mid_burst(server: DevServerHandle, clients: list[RawClient]) -> None:
    caller = connect(server, clients)
    stayers = [connect(server, clients) for _ in range(3)]
    leavers = [connect(server, clients) for _ in range(6)]
    for c in stayers + leavers:
        assert isinstance(c.subscribe(["SELECT * FROM message"], 1), SubscribeMultiApplied)
    texts = [f"burst {caller.identity.to_hex()[:8]} {i}" for i in range(60)]
    for i, text in enumerate(texts):
        caller.call("send_message", _string(text), request_id=i + 1)
        if i == 20:
            for c in leavers[:3]:  # vanish without a close frame
                assert c.ws.sock is not None
                c.ws.sock.shutdown(socket.SHUT_RDWR)
                c.ws.sock.close()
        if i == 40:
            for c in leavers[3:]:
                c.close()
    ids = [caller.expect(TransactionUpdate).reducer_call.request_id for _ in texts]
    assert ids == list(range(1, 61))
    for c in stayers:
        got: list[bytes] = []
        while len(got) < len(texts):
            tu = c.expect(TransactionUpdate)
            if tu.reducer_call.reducer_name != "send_message":
                continue  # a leaver's identity_disconnected
            assert isinstance(tu.status, Committed)
            got += rows_of(tu.status.database_update.tables, "message")[1]
        assert [g[40:] for g in got] == [_string(t) for t in texts]


def test_sender_queries_are_per_caller(server: DevServerHandle, clients: list[RawClient]) -> None:
    a = connect(server, clients)
    b = connect(server, clients)
    q = "SELECT * FROM user WHERE identity = :sender"
    for c in (a, b):
        applied = c.subscribe([q], 1)
        assert isinstance(applied, SubscribeMultiApplied)
        assert rows_of(applied.update.tables, "user")[1] == [user_row(c.identity, None, True)]
    b.call("set_name", _string("bob"), request_id=1)
    tu = b.expect(TransactionUpdate)
    assert isinstance(tu.status, Committed)
    assert rows_of(tu.status.database_update.tables, "user")[1] == [
        user_row(b.identity, "bob", True)
    ]
    a.sync()
    a.expect_only_sync()  # a's :sender query did not change
