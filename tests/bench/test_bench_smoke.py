"""The bench runner works: ``bench/run.py --quick`` on tiny sizes prints every table with
the expected rows and writes its sections without touching anyone else's. No node, no
network, and no figure is asserted (they are ratios from one run, not test outcomes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "bench" / "run.py"

pytestmark = pytest.mark.slow

FOREIGN = """# Benchmarks

## Someone else's section

<!-- bench:recording -->
their table
<!-- /bench:recording -->
"""

EXPECTED_ROWS = [
    # decode (ours only in quick mode)
    "entity: TransactionUpdate inserts, 1 rows/msg",
    "entity: SubscribeMultiApplied inserts, 100 rows/msg",
    "entity: TransactionUpdate updates, 100 rows/msg",
    "message: TransactionUpdate inserts, 100 rows/msg",
    "loadout: TransactionUpdate updates, 10 rows/msg",
    "every sender distinct",
    "empty TransactionUpdate",
    # profile
    "| total | frame decode | row slices |",
    # cache
    "| entity inserts |",
    "Update detection",
    "| message | ",
    # tick
    "idle: connected, nothing to read",
    "one small message waiting",
    "20 Hz arena stream, 100 entities",
    "row initial subscription",
    "| clients | calls |",
    # load
    "| clients | subscriptions | seconds | committed calls |",
    "| 8 | none | 1 |",
    "| 8 | every client subscribed to all messages | 1 |",
    # summary
    "| target | ours here |",
    "idle tick <= 2 µs",
]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    doc = tmp_path_factory.mktemp("bench") / "benchmarks.md"
    doc.write_text(FOREIGN)
    proc = subprocess.run(
        [sys.executable, str(RUNNER), "--quick", "--write", "--doc", str(doc)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, doc.read_text()


def test_prints_every_table_with_the_expected_rows(quick_run: tuple[str, str]) -> None:
    out, _ = quick_run
    sections = ("decode", "profile", "cache", "tick", "legacy", "load", "summary")
    for section in sections:
        assert f"## {section}" in out
    missing = [row for row in EXPECTED_ROWS if row not in out]
    assert not missing, f"rows missing from the output: {missing}\n{out[-4000:]}"
    assert "row count mismatch" not in out
    # The load bench's loss check is correctness, not a figure: it must pass.
    load = out.split("## load", 1)[1].split("\n## ", 1)[0]
    assert load.count("| OK |") == 2 and "FAILED" not in load, load


def test_records_the_machine_with_every_table(quick_run: tuple[str, str]) -> None:
    out, _ = quick_run
    assert out.count("cores; CPython") >= 7
    assert "load average" in out


def test_writes_its_sections_and_keeps_others(quick_run: tuple[str, str]) -> None:
    _, doc = quick_run
    for name in ("summary", "decode", "profile", "cache", "tick", "legacy", "load"):
        assert doc.count(f"<!-- bench:{name} -->") == 1
        assert doc.count(f"<!-- /bench:{name} -->") == 1
    assert "<!-- bench:recording -->\ntheir table\n<!-- /bench:recording -->" in doc
    assert doc.startswith("# Benchmarks")
