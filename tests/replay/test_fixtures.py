"""Committed recordings replay to the committed callback order and cache (regressions).

The files come from ``make_fixtures.py``. A failure here means a change in the client,
session, cache or replay alters what a recorded session does: fix it, or regenerate the
fixtures if the new behaviour is intended.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stdb_game.replay import EventLog, read_recording, replay_session

from .sessions import FIXTURES, SCRIPTS, TOKEN

RECORDINGS = sorted(FIXTURES.glob("*.stdbrec"))


def test_there_are_fixtures() -> None:
    assert {p.stem for p in RECORDINGS} >= {"basic", "budget", "chat", "reconnect"}


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.stem)
def test_fixture_replays_to_the_stored_events_and_cache(path: Path) -> None:
    recording = read_recording(path, strict=True)
    assert recording.complete
    schema = None if recording.schema_json else SCRIPTS[path.stem].schema()
    result = replay_session(recording, schema, strict=True)
    expected_events = EventLog.load(path.with_suffix(".events.json"))
    assert result.events is not None
    assert result.events.first_difference(expected_events) is None
    expected_cache = json.loads(path.with_suffix(".cache.json").read_text())
    assert json.loads(json.dumps(result.cache())) == expected_cache
    assert result.differences == []


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.stem)
def test_fixtures_hold_no_token(path: Path) -> None:
    data = path.read_bytes()
    assert TOKEN.encode()[:20] not in data and b"S3CR3T" not in data
