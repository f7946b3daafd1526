"""Fixtures for codegen tests: generate a bindings package into a temp dir and import it."""

from __future__ import annotations

import importlib
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from shared_data import BASIC_SCHEMA_JSON, CHAT_SCHEMA_JSON, require
from synthetic import synthetic_schema

from stdb_game.client import Client, ReconnectPolicy
from stdb_game.codegen import generate, load_schema_file, runtime
from stdb_game.testing import FakeServer

REPO = Path(__file__).resolve().parents[2]
CHAT_JSON = CHAT_SCHEMA_JSON
BASIC_JSON = BASIC_SCHEMA_JSON

_counter = itertools.count()


def import_package(out_dir: Path) -> ModuleType:
    """Import the generated package at ``out_dir`` (its parent goes on ``sys.path``)."""
    parent = str(out_dir.parent)
    if parent not in sys.path:
        sys.path.insert(0, parent)
    importlib.invalidate_caches()
    return importlib.import_module(out_dir.name)


def generate_and_import(raw: dict[str, Any], root: Path, stem: str, source: str) -> ModuleType:
    """Generate into ``root/<unique name>`` and import it (unique, so imports never clash)."""
    out = root / f"{stem}_{next(_counter)}"
    generate(raw, out, source)
    return import_package(out)


def run_tool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a dev tool (mypy, ruff) from the venv against generated code."""
    bindir = Path(sys.executable).parent
    env = {"MYPYPATH": str(REPO), "PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run(
        [str(bindir / args[0]), *args[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="session")
def gen_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bindings")


@pytest.fixture(scope="session")
def chat(gen_root: Path) -> ModuleType:
    return generate_and_import(load_schema_file(require(CHAT_JSON)), gen_root, "chat", CHAT_JSON.name)


@pytest.fixture(scope="session")
def basic(gen_root: Path) -> ModuleType:
    return generate_and_import(load_schema_file(require(BASIC_JSON)), gen_root, "basic", BASIC_JSON.name)


@pytest.fixture(scope="session")
def synth(gen_root: Path) -> ModuleType:
    return generate_and_import(synthetic_schema(), gen_root, "synth", "synthetic.json")


@pytest.fixture(autouse=True)
def _clean_runtime() -> Iterator[None]:
    """The old-style API keeps a global current client; no test leaks one into the next."""
    runtime.reset()
    yield
    runtime.reset()


def connect(pkg: ModuleType) -> tuple[Any, FakeServer]:
    """A generated ``DbConnection`` over a fake server that already said IdentityToken."""
    server = FakeServer(pkg.SCHEMA)
    client = Client(
        "ws://fake:3000",
        "db",
        schema=pkg.SCHEMA,
        transport_factory=server.transport_factory,
        reconnect=ReconnectPolicy(enabled=False),
    )
    conn = pkg.DbConnection(client.connect())
    server.send(server.identity_token())
    conn.tick()
    return conn, server


def reindented(path: Path) -> dict[str, Any]:
    """The schema at ``path`` after a JSON round trip (different whitespace, same content)."""
    data: dict[str, Any] = json.loads(path.read_text())
    return data
