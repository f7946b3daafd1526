"""``stdb-game generate --module``: bindings straight from a dev-server module file."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from stdb_game.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_generate_from_a_module_file(tmp_path: Path) -> None:
    out = tmp_path / "chat_bindings"
    assert (
        main(
            [
                "generate",
                "--module",
                str(ROOT / "demos" / "chat" / "module.py"),
                "--out",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    sys.path.insert(0, str(tmp_path))
    try:
        pkg = importlib.import_module("chat_bindings")
        assert set(pkg.SCHEMA.tables) == {"user", "message"}
        assert set(pkg.SCHEMA.reducers) >= {"set_name", "send_message"}
        assert "generated" in (out / "__init__.py").read_text().lower()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("chat_bindings", None)
