"""Typed Python bindings from a module schema (``stdb-game generate``).

``generate(raw, out_dir, source)`` writes a package; ``render_bindings(raw, source)`` returns
its files without writing. Generated code imports ``stdb_game.codegen.runtime``, which also
holds the old SDK's "current client" (``runtime.set_current_client``). See ``docs/codegen.md``.
"""

from __future__ import annotations

from .generator import (
    GenerateResult,
    generate,
    load_schema_file,
    parse_schema_text,
    render_bindings,
    schema_digest,
)

__all__ = [
    "GenerateResult",
    "generate",
    "load_schema_file",
    "parse_schema_text",
    "render_bindings",
    "schema_digest",
]
