"""pytest fixtures for games built on stdb_game (see ``docs/testing.md``).

Enable in your top-level ``conftest.py``::

    pytest_plugins = ["stdb_game.testing.pytest_plugin"]

and name your module file in ``pytest.ini``/``pyproject.toml`` (``stdb_module = path``) or
override the session-scoped ``stdb_module_path`` fixture. Fixtures:

- ``stdb_dev_server``: the dev server running your module on a free loopback port
  (shared by the tests of one test file unless ``stdb_dev_server_scope = function``);
- ``stdb_dev_server_factory``: start servers for other modules, stopped after the test;
- ``stdb_client`` / ``stdb_client_factory``: connected clients, disconnected afterwards;
- ``stdb_fake``: ``stdb_fake(schema)`` gives a client connected to a scripted FakeServer.

``--stdb-record-dir DIR`` records every client these fixtures make to
``DIR/<test>-<n>.stdbrec``, to replay a failing test's session with ``stdb-game replay``.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..client import Client, ClientState
from ..schema import ModuleSchema
from .kit import FakeConnection, connect_fake, tick_until

__all__ = [
    "stdb_client",
    "stdb_client_factory",
    "stdb_dev_server",
    "stdb_dev_server_factory",
    "stdb_fake",
    "stdb_module_path",
]

ClientFactory = Callable[..., Client]
ServerFactory = Callable[..., Any]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("stdb_module", "module file that the stdb_dev_server fixture serves", default="")
    parser.addini(
        "stdb_dev_server_scope",
        "scope of the stdb_dev_server fixture: function, module or session",
        default="module",
    )
    parser.addoption(
        "--stdb-record-dir",
        default=None,
        help="record every client made by the stdb_game fixtures into this directory",
    )


def _ini(config: pytest.Config, name: str, default: str) -> str:
    try:
        value = config.getini(name)
    except ValueError:  # the plugin's hooks are not registered (fixtures imported directly)
        return default
    return str(value) if value else default


def _server_scope(fixture_name: str, config: pytest.Config) -> str:
    scope = _ini(config, "stdb_dev_server_scope", "module")
    return scope if scope in ("function", "module", "session") else "module"


def _start_server_function() -> Callable[..., Any]:
    """The dev server launcher, or a skip when this install cannot run it."""
    try:
        from ..devserver.launcher import start_dev_server
    except ImportError as exc:  # pragma: no cover - the dev server ships with the package
        pytest.skip(f"the stdb_game dev server is not available: {exc}")
    if importlib.util.find_spec("aiohttp") is None:
        pytest.skip("the dev server needs its extra: pip install 'stdb-game[devserver]'")
    return start_dev_server


@pytest.fixture(scope="session")
def stdb_module_path(pytestconfig: pytest.Config) -> Path:
    """The module file ``stdb_dev_server`` runs: the ``stdb_module`` ini value, or override."""
    value = _ini(pytestconfig, "stdb_module", "")
    if not value:
        pytest.fail(
            "stdb_dev_server needs a module: set 'stdb_module = path/to/module.py' in the "
            "pytest ini options or override the session-scoped stdb_module_path fixture",
            pytrace=False,
        )
    path = Path(value)
    return path if path.is_absolute() else Path(pytestconfig.rootpath) / path


@pytest.fixture
def stdb_dev_server_factory() -> Iterator[ServerFactory]:
    """``start(module_path, **launcher_options)`` -> a running dev server, stopped afterwards."""
    start_dev_server = _start_server_function()
    handles: list[Any] = []

    def start(module: str | Path, **options: Any) -> Any:
        handle = start_dev_server(module, **options)
        handles.append(handle)
        return handle

    yield start
    for h in reversed(handles):
        h.stop()


@pytest.fixture(scope=_server_scope)  # type: ignore[arg-type]
def stdb_dev_server(stdb_module_path: Path) -> Iterator[Any]:
    """The dev server running ``stdb_module_path`` (``.url``, ``.database``, ``.stop()``)."""
    start_dev_server = _start_server_function()
    handle = start_dev_server(stdb_module_path, port=0)
    try:
        yield handle
    finally:
        handle.stop()


def _record_path(request: pytest.FixtureRequest, count: int) -> Path | None:
    directory = request.config.getoption("--stdb-record-dir", default=None)
    if not directory:
        return None
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-120:]
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    return path / f"{name}-{count}.stdbrec"


@pytest.fixture
def stdb_client_factory(request: pytest.FixtureRequest) -> Iterator[ClientFactory]:
    """``connect(server=None, *, timeout=10, **client_options)`` -> a connected ``Client``.

    ``server`` is a dev server handle (``stdb_dev_server`` when left out) or a ``(url,
    database)`` pair. The client has received its IdentityToken when this returns; it is
    disconnected when the test ends.
    """
    clients: list[Client] = []

    def connect(server: Any = None, *, timeout: float = 10.0, **options: Any) -> Client:
        if server is None:
            server = request.getfixturevalue("stdb_dev_server")
        url, database = server if isinstance(server, tuple) else (server.url, server.database)
        if "record_to" not in options:
            path = _record_path(request, len(clients))
            if path is not None:
                options["record_to"] = path
        client = Client(url, database, **options)
        clients.append(client)
        client.connect()
        tick_until(client, lambda: client.is_connected, timeout, what="the IdentityToken")
        return client

    yield connect
    for c in reversed(clients):
        if c.state is not ClientState.CLOSED:
            c.disconnect()


@pytest.fixture
def stdb_client(stdb_client_factory: ClientFactory) -> Client:
    """One client connected to ``stdb_dev_server``."""
    return stdb_client_factory()


@pytest.fixture
def stdb_fake(request: pytest.FixtureRequest) -> Iterator[Callable[..., FakeConnection]]:
    """``stdb_fake(schema, **client_options)`` -> a client connected to a scripted FakeServer."""
    made: list[FakeConnection] = []

    def make(schema: ModuleSchema, **options: Any) -> FakeConnection:
        if "record_to" not in options:
            path = _record_path(request, len(made))
            if path is not None:
                options["record_to"] = path
        conn = connect_fake(schema, **options)
        made.append(conn)
        return conn

    yield make
    for conn in made:
        if conn.client.state is not ClientState.CLOSED:
            conn.client.disconnect()
