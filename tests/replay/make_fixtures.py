"""Regenerate the regression recordings in ``tests/fixtures/recordings``.

Run from the repository root: ``python tests/replay/make_fixtures.py``. Each scripted
session of ``sessions.py`` is played against the FakeServer and recorded to
``<name>.stdbrec``; the live client's callbacks go to ``<name>.events.json`` and its cache
at the end to ``<name>.cache.json``. ``test_fixtures.py`` replays the committed files and
expects exactly those. Only regenerate when a change of behaviour is intended, and say so
in the commit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from replay.sessions import FIXTURES, SCRIPTS, run_live  # noqa: E402


def main() -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for name, script in sorted(SCRIPTS.items()):
        path = FIXTURES / f"{name}.stdbrec"
        game = run_live(script, path)
        game.log.save(FIXTURES / f"{name}.events.json")
        cache = game.snapshots[max(game.snapshots)]
        (FIXTURES / f"{name}.cache.json").write_text(json.dumps(cache, indent=1) + "\n")
        print(f"{path.name}: {path.stat().st_size} bytes, {len(game.log)} events")


if __name__ == "__main__":
    main()
