"""Where the team's read-only reference data lives: ``../shared`` beside the checkout.

The golden vectors and module dumps are read by path, never copied into the repository.
``STDB_GAME_SHARED`` points the tests at another copy. ``tests/conftest.py`` decides what
happens when it is missing: CI fails, a plain checkout leaves those test files out and says so.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("STDB_GAME_SHARED") or REPO.parent / "shared")
VECTORS = SHARED / "vectors"
MODULES = SHARED / "modules"
CHAT_SCHEMA_JSON = MODULES / "quickstart-chat.raw_module_def_v9.json"
BASIC_SCHEMA_JSON = MODULES / "docs-example-basic-module.raw_module_def_v9.json"


def shared_available() -> bool:
    """True when the vectors and the module dumps the tests read are all there."""
    return (VECTORS / "bsatn.json").is_file() and CHAT_SCHEMA_JSON.is_file()


def require(path: Path) -> Path:
    """``path`` when it is there, else skip the test that needs it (CI never gets here)."""
    if not path.exists():
        import pytest

        pytest.skip(f"{path} not found: the shared reference data is not beside the checkout")
    return path
