"""Regenerate the demos' typed bindings from their modules: ``python -m demos.bindings``.

Each demo's module schema (RawModuleDef v9, what ``GET /v1/database/NAME/schema?version=9``
returns) is written to ``demos/<demo>/schema.json`` and its bindings, made by
``stdb-game generate``, to ``demos/<demo>/bindings/``. A test fails when either is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from stdb_game.codegen.generator import render_bindings, write_package

from .common import DEMOS, HERE

__all__ = ["module_schema", "render", "write"]


def module_schema(demo: str) -> dict[str, Any]:
    """The schema the dev server serves for the demo's module, read from the module alone:
    opening a database would run its ``init`` just to describe it."""
    from stdb_game.devserver import module_schema_json

    return module_schema_json(DEMOS[demo].module)


def schema_text(raw: dict[str, Any]) -> str:
    return json.dumps(raw, indent=2, sort_keys=True) + "\n"


def render(demo: str) -> tuple[str, dict[str, str]]:
    """(schema.json text, {bindings file: text}) for the demo, written nowhere."""
    raw = module_schema(demo)
    return schema_text(raw), render_bindings(raw, f"demos/{demo}/schema.json")


def write(demo: str) -> Path:
    """Write the demo's schema.json and bindings package; the package directory."""
    schema, files = render(demo)
    (HERE / demo / "schema.json").write_text(schema, encoding="utf-8")
    out = HERE / demo / "bindings"
    write_package(files, out)
    return out


def main() -> int:
    for demo in DEMOS:
        print(f"wrote {write(demo)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
