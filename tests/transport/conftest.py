"""Fixtures for transport tests: a loopback WebSocket server and a connected transport."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stdb_game.transport import WebSocketTransport

from .ws_test_server import WsTestServer


@pytest.fixture
def make_server() -> Iterator[Callable[..., WsTestServer]]:
    servers: list[WsTestServer] = []

    def make(**kwargs: object) -> WsTestServer:
        server = WsTestServer(**kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., WsTestServer]) -> WsTestServer:
    return make_server()


@pytest.fixture
def transport(server: WsTestServer) -> Iterator[WebSocketTransport]:
    t = WebSocketTransport.connect(server.url(), timeout=5)
    yield t
    t.abort()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 / localhost."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_server(make_server: Callable[..., WsTestServer], tls_files: tuple[Path, Path]) -> WsTestServer:
    cert, key = tls_files
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return make_server(ssl_context=ctx)


@pytest.fixture
def client_tls_context(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls_files[0]))
