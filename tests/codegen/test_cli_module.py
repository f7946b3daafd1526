"""``stdb-game generate --module``: bindings straight from a dev-server module file."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

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


_SLOW_INIT_MODULE = """
from pathlib import Path

import pytest
from stdb_game.devserver.module import Module, ReducerContext, column, u32

module = Module("seeded")
MARKER = Path(__file__).with_name("init-ran")


@module.table(name="cell", public=True)
class Cell:
    id: u32 = column(primary_key=True)
    value: u32


@module.reducer(lifecycle="init")
def init(ctx: ReducerContext) -> None:
    MARKER.write_text("init ran")
    for i in range(400_000):
        ctx.db.cell.insert(Cell(id=i, value=i))
"""


def _generate(module: Path, out: Path) -> int:
    return main(["generate", "--module", str(module), "--out", str(out), "-q"])


def test_generate_does_not_run_init(tmp_path: Path) -> None:
    module = tmp_path / "seeded.py"
    module.write_text(_SLOW_INIT_MODULE)
    assert _generate(module, tmp_path / "seeded_bindings") == 0
    assert not (tmp_path / "init-ran").exists()
    assert "class Cell(" in (tmp_path / "seeded_bindings" / "_types.py").read_text()
    assert not list(tmp_path.glob("*.stdb"))  # no data directory or log either


def test_generate_works_when_init_raises(tmp_path: Path) -> None:
    module = tmp_path / "broken_init.py"
    module.write_text(
        _SLOW_INIT_MODULE.replace(
            'MARKER.write_text("init ran")', 'raise RuntimeError("seed file missing")'
        )
    )
    assert _generate(module, tmp_path / "broken_bindings") == 0
    assert "class Cell(" in (tmp_path / "broken_bindings" / "_types.py").read_text()


def test_module_that_raises_on_import_shows_its_own_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = tmp_path / "typo.py"
    module.write_text("from stdb_game.devserver.module import Module\n\nmodule = Modul('x')\n")
    assert _generate(module, tmp_path / "typo_bindings") == 1
    err = capsys.readouterr().err
    assert f"module {module} raised while loading" in err
    assert "NameError: name 'Modul' is not defined" in err
    assert 'typo.py", line 3' in err
    assert "importlib" not in err and "stdb_game" not in err.split("\n", 1)[1]


def test_missing_module_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _generate(tmp_path / "nope.py", tmp_path / "out") == 1
    assert "module file not found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
