"""What ``stdb-game dev`` prints when the database cannot open: the reason, and the module's
own traceback when module code raised, never the dev server's internal frames."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from stdb_game.devserver import Database
from stdb_game.devserver.keyfile import KEY_FILE_ENV

ROOT = Path(__file__).resolve().parents[2]

_MODULE = """
from stdb_game.devserver.module import Module, ReducerContext, column, u32

module = Module("startup")


@module.table(name="cell", public=True)
class Cell:
    id: u32 = column(primary_key=True)


@module.reducer(lifecycle="init")
def init(ctx: ReducerContext) -> None:
    seed(ctx)


def seed(ctx: ReducerContext) -> None:
    ctx.db.cell.insert(Cell(id=1))
"""


def _dev(module: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env[KEY_FILE_ENV] = str(module.with_name("devserver-key"))  # never the real home
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "stdb_game.cli", "dev", "--module", str(module), "--port", "0"]
    return subprocess.run(
        [*cmd, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def _line(source: str, text: str) -> int:
    """The 1-based line of ``source`` that contains ``text``."""
    return next(i for i, line in enumerate(source.splitlines(), 1) if text in line)


def _no_internals(err: str) -> None:
    for internal in ("server.py", "database.py", "importlib", "Traceback (most recent call last)"):
        assert internal not in err, err


def test_schema_change_prints_only_the_reason(tmp_path: Path) -> None:
    module = tmp_path / "startup.py"
    module.write_text(_MODULE)
    data = tmp_path / "data"
    Database.open(module, data_dir=data, fsync=False).close()
    module.write_text(
        _MODULE.replace(
            "id: u32 = column(primary_key=True)",
            "id: u32 = column(primary_key=True)\n    hp: u32 = 0",
        )
    )
    res = _dev(module, "--data-dir", str(data))
    assert res.returncode == 1 and res.stdout == ""
    assert "the module's schema changed since this data directory was created" in res.stderr
    assert "CommitLogError" not in res.stderr
    _no_internals(res.stderr)
    assert len(res.stderr.strip().splitlines()) == 1


def test_failing_init_shows_the_modules_traceback(tmp_path: Path) -> None:
    module = tmp_path / "startup.py"
    module.write_text(
        _MODULE.replace("ctx.db.cell.insert(Cell(id=1))", "raise KeyError('seed.csv')")
    )
    res = _dev(module)
    assert res.returncode == 1 and res.stdout == ""
    err = res.stderr
    assert "init reducer failed: 'seed.csv'" in err
    source = module.read_text()
    assert f'File "{module}", line {_line(source, "    seed(ctx)")}, in init' in err
    assert f'File "{module}", line {_line(source, "raise KeyError")}, in seed' in err
    assert "KeyError: 'seed.csv'" in err
    assert "server.py" not in err and "database.py" not in err and "importlib" not in err
    assert err.count("KeyError: 'seed.csv'") == 1  # not logged a second time


def test_module_that_raises_on_import_shows_its_traceback(tmp_path: Path) -> None:
    module = tmp_path / "startup.py"
    module.write_text(_MODULE + "\nCONFIG = load_config()\n")
    res = _dev(module)
    assert res.returncode == 1
    err = res.stderr
    assert "the module raised while loading" in err
    assert "NameError: name 'load_config' is not defined" in err
    line = _line(module.read_text(), "load_config()")
    assert f'File "{module}", line {line}, in <module>' in err
    assert "server.py" not in err and "database.py" not in err and "importlib" not in err
