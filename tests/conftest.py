"""Suite-wide set-up: what to do when the shared reference data is not beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from shared_data import SHARED, shared_available

#: Test files that read ../shared (golden vectors, real schema dumps), relative to tests/.
NEEDS_SHARED = frozenset(
    {
        "codegen/test_chat_bindings.py",
        "codegen/test_cli.py",
        "codegen/test_devserver_e2e.py",
        "codegen/test_generated_code.py",
        "codegen/test_names_and_bad_input.py",
        "devserver/test_schema_json.py",
        "protocol/test_v1_bad_input.py",
        "protocol/test_v1_vectors.py",
        "replay/test_cli.py",
        "replay/test_recorder.py",
        "sats/test_json.py",
        "sats/test_roundtrip.py",
        "sats/test_types.py",
        "sats/test_vectors.py",
        "test_session_ts_transcript.py",
        "testing/test_example_game.py",
    }
)
_TESTS = Path(__file__).resolve().parent
_left_out: list[str] = []


def _missing_message() -> str:
    return (
        f"the shared reference data (golden vectors, module dumps) is not at {SHARED}; "
        "put it beside the checkout as ../shared or set STDB_GAME_SHARED"
    )


def pytest_configure(config: pytest.Config) -> None:
    if not shared_available() and os.environ.get("CI"):
        raise pytest.UsageError(_missing_message() + " (CI needs it: nothing is skipped there)")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if shared_available():
        return None
    try:
        rel = collection_path.resolve().relative_to(_TESTS).as_posix()
    except ValueError:
        return None
    if rel in NEEDS_SHARED:
        _left_out.append(rel)
        return True
    return None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _left_out:
        terminalreporter.write_line(
            f"NOT RUN: {len(_left_out)} test files, because {_missing_message()}: "
            + ", ".join(sorted(_left_out)),
            yellow=True,
        )
