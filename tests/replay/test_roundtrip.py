"""Record a scripted session, replay it, and get the same callbacks, arguments and cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from stdb_game import protocol as P
from stdb_game.client import Client, ClientState
from stdb_game.replay import (
    REDACTED_TOKEN,
    ReplayMismatch,
    ReplayTransport,
    read_recording,
    replay_session,
)

from .sessions import BIG, SCRIPTS, Game, run_against_recording, run_live


def _record(name: str, tmp_path: Path) -> tuple[Game, Path]:
    path = tmp_path / f"{name}.stdbrec"
    return run_live(SCRIPTS[name], path), path


def _replay(name: str, path: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    recording = read_recording(path)
    schema = None if recording.schema_json else SCRIPTS[name].schema()
    return replay_session(path, schema, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_replay_gives_the_same_event_log_and_cache(name: str, tmp_path: Path) -> None:
    live, path = _record(name, tmp_path)
    assert len(live.log) > 0
    result = _replay(name, path)
    assert result.events is not None
    assert result.events.first_difference(live.log.entries) is None
    assert result.events.entries == live.log.entries
    assert result.cache() == live.snapshots[max(live.snapshots)]
    assert result.differences == []
    assert result.ticks == live.client.stats.ticks
    assert result.recording.complete and result.damage is None


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_game_code_rerun_against_replay_transports_sees_the_same(name: str, tmp_path: Path) -> None:
    live, path = _record(name, tmp_path)
    again = run_against_recording(SCRIPTS[name], path)
    assert again.log.entries == live.log.entries
    assert again.snapshots == live.snapshots


@pytest.mark.parametrize("until", [1, 3, 5, 8])
def test_until_tick_stops_with_the_cache_of_that_tick(until: int, tmp_path: Path) -> None:
    live, path = _record("basic", tmp_path)
    result = _replay("basic", path, until_tick=until)
    assert result.last_tick == until and result.stopped_early
    assert result.cache() == live.snapshots[until]
    assert result.events is not None
    assert result.events.entries == [e for e in live.log.entries if e[0] < until]


def test_a_message_prepared_across_ticks_is_replayed_in_the_same_ticks(tmp_path: Path) -> None:
    """Recorded ticks that only prepared a big message apply nothing on replay either: the
    message, the call made from its callback and the message behind it land in the recorded
    ticks, and the recording keeps the client's incremental_decode_bytes."""
    path = tmp_path / "big.stdbrec"
    live = run_live(BIG, path)
    applied = [e for e in live.log.entries if e[1] == "applied"]
    assert applied and applied[0][0] > 2  # it took several ticks live
    recording = read_recording(path)
    assert recording.connections[0].params["settings"]["incremental_decode_bytes"] == 64 * 1024
    result = replay_session(path, BIG.schema())
    assert result.events is not None
    assert result.events.first_difference(live.log.entries) is None
    assert result.differences == []  # the set_x call went out in the recorded tick
    assert result.cache() == live.snapshots[max(live.snapshots)]


def test_budget_grouping_is_replayed_whatever_the_replay_budget(tmp_path: Path) -> None:
    """The recorded tick applied two messages; a replay with tiny budgets still applies two."""
    live, path = _record("budget", tmp_path)
    result = _replay("budget", path, client_options={"budget_ms": 0.0, "max_messages": 1})
    assert result.events is not None and result.events.entries == live.log.entries


def test_replayed_client_sees_the_redacted_token(tmp_path: Path) -> None:
    live, path = _record("basic", tmp_path)
    tokens: list[str] = []
    result = _replay(
        "basic", path, setup=lambda c: c.on_connect(lambda i, t, cid: tokens.append(t))
    )
    assert tokens == [REDACTED_TOKEN]
    assert result.client.identity == live.client.identity


def test_reissued_requests_produce_the_recorded_frames(tmp_path: Path) -> None:
    live, path = _record("basic", tmp_path)
    result = _replay("basic", path)
    sent = [f for t in live.server.transports for f in t.sent]  # type: ignore[union-attr]
    recorded = [r.frame for r in result.recording.records if type(r).__name__ == "OutboundRecord"]
    assert recorded == sent
    assert set(result.subscriptions) == {1, 2}


def test_outbound_differences_are_reported_and_strict_mode_raises(tmp_path: Path) -> None:
    _, path = _record("basic", tmp_path)

    def wrong_game(client: Client) -> None:
        client.on_connect(lambda *a: client.subscribe("SELECT * FROM item"))

    result = _replay("basic", path, setup=wrong_game, reissue=False)
    assert result.differences
    first = result.differences[0]
    assert first.expected is not None and first.actual is not None
    expected = P.decode_client_message(first.expected)
    assert isinstance(expected, P.SubscribeMulti)
    assert "SELECT * FROM player" in first.describe() and "SELECT * FROM item" in first.describe()
    with pytest.raises(ReplayMismatch) as info:
        _replay("basic", path, setup=wrong_game, reissue=False, strict=True)
    assert info.value.difference == first


def test_without_reissue_missing_requests_are_differences(tmp_path: Path) -> None:
    _, path = _record("basic", tmp_path)
    result = _replay("basic", path, reissue=False)
    assert result.differences and all(d.actual is None for d in result.differences)
    assert "did not send" in result.differences[0].describe()


def test_standalone_transport_reports_what_differs(tmp_path: Path) -> None:
    live, path = _record("basic", tmp_path)
    t = ReplayTransport(path)
    assert t.expected == live.server.transports[0].sent  # type: ignore[union-attr]
    t.send(t.expected[0])
    t.send(b"\x06\x00\x00\x00\x00\x09\x00\x00\x00")
    diffs = t.differences()
    assert [d.position for d in diffs][:1] == [1]
    strict = ReplayTransport(path, strict=True)
    with pytest.raises(ReplayMismatch):
        strict.send(b"\x05")
    _, other = _record("protocol_error", tmp_path)
    silent = ReplayTransport(other, connection=0, strict=True)
    silent.send(silent.expected[0])
    with pytest.raises(ReplayMismatch, match="extra"):
        silent.send(silent.expected[0])  # the recorded connection sent only one frame


def test_standalone_transport_closes_where_the_recording_did(tmp_path: Path) -> None:
    _, path = _record("reconnect", tmp_path)
    first = ReplayTransport(path, connection=0)
    polls = 0
    while first.is_open:
        first.poll(100)
        polls += 1
    assert polls == 4  # identity, (subscribe), applied, then the reset in the 4th tick
    info = first.closed_reason
    assert info is not None and info.error is not None and str(info.error) == "reset by peer"
    with pytest.raises(Exception, match="no connection 5"):
        ReplayTransport(path, connection=5)


def test_local_disconnect_is_replayed(tmp_path: Path) -> None:
    _, path = _record("basic", tmp_path)
    result = _replay("basic", path)
    assert result.client.state is ClientState.CLOSED
