"""stdb_game.http against a loopback http.server that plays the SpacetimeDB routes."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stdb_game import http
from stdb_game.errors import AuthError, ConnectError, ProtocolError
from stdb_game.sats.types import ProductType
from stdb_game.sats.values import Identity

IDENTITY_HEX = "c200" + "ab" * 30


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class FakeApi:
    """Routes ``(method, path)`` to canned replies and records every request."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Reply] = {}
        self.seen: list[Seen] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def handle_any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                api.seen.append(Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                reply = api.routes.get((self.command, self.path), Reply(404, b"no such route"))
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except BrokenPipeError:
                    pass  # the client gave up (timeout test)

            do_GET = do_POST = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def route(self, method: str, path: str, status: int = 200, body: object = b"", **kw: object) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.routes[(method, path)] = Reply(status, raw, **kw)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api() -> Iterator[FakeApi]:
    server = FakeApi()
    yield server
    server.stop()


# ---- base URLs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("localhost:3000", "http://localhost:3000"),
        ("ws://localhost:3000/", "http://localhost:3000"),
        ("wss://host.example", "https://host.example"),
        ("https://host.example/prefix/", "https://host.example/prefix"),
        ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
    ],
)
def test_base_http_url(base: str, expected: str) -> None:
    assert http.base_http_url(base) == expected


def test_bad_base_url() -> None:
    with pytest.raises(ValueError):
        http.base_http_url("ftp://x")


# ---- identity ----------------------------------------------------------------------------


def test_create_identity(api: FakeApi) -> None:
    api.route("POST", "/v1/identity", body={"identity": IDENTITY_HEX, "token": "jwt.a.b"})
    identity, token = http.create_identity(api.base.replace("http://", "ws://"))
    assert identity == Identity.from_hex(IDENTITY_HEX)
    assert token == "jwt.a.b"
    assert api.seen[0].method == "POST" and "authorization" not in api.seen[0].headers


def test_create_identity_with_bad_json(api: FakeApi) -> None:
    api.route("POST", "/v1/identity", body=b"<html>")
    with pytest.raises(ProtocolError):
        http.create_identity(api.base)
    api.route("POST", "/v1/identity", body={"identity": "zz"})
    with pytest.raises(ProtocolError):
        http.create_identity(api.base)


def test_websocket_token_sends_bearer_header(api: FakeApi) -> None:
    api.route("POST", "/v1/identity/websocket-token", body={"token": "short.lived.jwt"})
    assert http.websocket_token(api.base, "long.lived.jwt") == "short.lived.jwt"
    assert api.seen[0].headers["authorization"] == "Bearer long.lived.jwt"
    assert "long.lived" not in api.seen[0].path


def test_401_is_auth_error_and_keeps_the_token_out(api: FakeApi) -> None:
    api.route("POST", "/v1/identity/websocket-token", 401, b"Authorization required")
    with pytest.raises(AuthError) as info:
        http.websocket_token(api.base, "secret.token.value")
    assert info.value.status == 401 and info.value.body == "Authorization required"
    assert "secret.token.value" not in str(info.value) + repr(info.value)


# ---- schema ------------------------------------------------------------------------------


def test_get_schema(api: FakeApi) -> None:
    schema = {"typespace": {"types": []}, "tables": [], "reducers": []}
    api.route("GET", "/v1/database/quickstart-chat/schema?version=9", body=schema)
    assert http.get_schema(api.base, "quickstart-chat", token="t") == schema
    assert api.seen[0].headers["authorization"] == "Bearer t"


def test_get_schema_404(api: FakeApi) -> None:
    api.route("GET", "/v1/database/missing/schema?version=9", 404, b"database not found")
    with pytest.raises(ConnectError) as info:
        http.get_schema(api.base, "missing")
    assert not isinstance(info.value, AuthError)
    assert info.value.status == 404 and info.value.body == "database not found"


# ---- sql ---------------------------------------------------------------------------------

USER_RESULT = {
    "schema": {
        "elements": [
            {
                "name": {"some": "identity"},
                "algebraic_type": {
                    "Product": {"elements": [{"name": {"some": "__identity__"}, "algebraic_type": {"U256": []}}]}
                },
            },
            {
                "name": {"some": "name"},
                "algebraic_type": {
                    "Sum": {
                        "variants": [
                            {"name": {"some": "some"}, "algebraic_type": {"String": []}},
                            {"name": {"some": "none"}, "algebraic_type": {"Product": {"elements": []}}},
                        ]
                    }
                },
            },
            {"name": {"some": "online"}, "algebraic_type": {"Bool": []}},
        ]
    },
    "rows": [[["0x" + IDENTITY_HEX], [0, "bob"], True]],
    "total_duration_micros": 153,
    "stats": {"rows_inserted": 0, "rows_deleted": 0, "rows_updated": 0},
}


def test_sql(api: FakeApi) -> None:
    api.route("POST", "/v1/database/quickstart-chat/sql", body=[USER_RESULT])
    (result,) = http.sql(api.base, "quickstart-chat", "SELECT * FROM user", token="t")
    assert api.seen[0].body == b"SELECT * FROM user"
    assert isinstance(result.schema, ProductType)
    assert result.column_names == ["identity", "name", "online"]
    assert result.rows == [[["0x" + IDENTITY_HEX], [0, "bob"], True]]
    assert result.total_duration_micros == 153
    assert result.stats == http.SqlStats(0, 0, 0)


def test_sql_error_mentioning_a_token_column_is_not_auth(api: FakeApi) -> None:
    api.route("POST", "/v1/database/db/sql", 400, b"unknown column `token` in table `session`")
    with pytest.raises(ConnectError) as info:
        http.sql(api.base, "db", "SELECT token FROM session")
    assert not isinstance(info.value, AuthError) and info.value.status == 400


def test_400_about_authorization_is_auth_error(api: FakeApi) -> None:
    api.route("POST", "/v1/database/db/sql", 400, b"Authorization header is malformed")
    with pytest.raises(AuthError):
        http.sql(api.base, "db", "SELECT 1", token="x")


def test_sql_bad_shape(api: FakeApi) -> None:
    api.route("POST", "/v1/database/db/sql", body={"not": "a list"})
    with pytest.raises(ProtocolError):
        http.sql(api.base, "db", "SELECT 1")


# ---- reducer calls -----------------------------------------------------------------------


def test_call_reducer_committed(api: FakeApi) -> None:
    api.route(
        "POST",
        "/v1/database/chat/call/set_name",
        headers={"spacetime-energy-used": "1234", "spacetime-execution-duration-micros": "56"},
    )
    result = http.call_reducer(api.base, "chat", "set_name", ["bob"], token="t")
    assert result == http.ReducerCallResult(True, 200, None, 1234, 56)
    seen = api.seen[0]
    assert seen.headers["content-type"] == "application/json"
    assert json.loads(seen.body) == ["bob"]


def test_call_reducer_arg_forms(api: FakeApi) -> None:
    api.route("POST", "/v1/database/chat/call/set_name")
    http.call_reducer(api.base, "chat", "set_name", {"name": "bob"})
    http.call_reducer(api.base, "chat", "set_name", '["raw"]')
    http.call_reducer(api.base, "chat", "set_name", ())
    assert [s.body for s in api.seen] == [b'{"name": "bob"}', b'["raw"]', b"[]"]


def test_call_reducer_failure_is_a_result(api: FakeApi) -> None:
    api.route("POST", "/v1/database/chat/call/send_message", 530, b"Messages must not be empty")
    result = http.call_reducer(api.base, "chat", "send_message", [""])
    assert not result.committed and result.status == 530
    assert result.error == "Messages must not be empty"


def test_call_reducer_out_of_energy_is_a_result(api: FakeApi) -> None:
    api.route("POST", "/v1/database/chat/call/x", 402, b"Module energy budget exhausted.")
    result = http.call_reducer(api.base, "chat", "x", [])
    assert not result.committed and result.status == 402


def test_call_reducer_unknown_is_connect_error(api: FakeApi) -> None:
    with pytest.raises(ConnectError) as info:
        http.call_reducer(api.base, "chat", "nope", [])
    assert info.value.status == 404


# ---- transport failures ------------------------------------------------------------------


def test_timeout(api: FakeApi) -> None:
    api.route("POST", "/v1/identity", body={"identity": IDENTITY_HEX, "token": "t"}, delay=1.0)
    started = time.monotonic()
    with pytest.raises(ConnectError, match="timed out"):
        http.create_identity(api.base, timeout=0.2)
    assert time.monotonic() - started < 1.0


def test_refused_connection() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectError) as info:
        http.create_identity(f"127.0.0.1:{port}", timeout=2)
    assert info.value.status is None
