"""FakeTransport follows the same rules as the real one."""

from __future__ import annotations

import pytest

from stdb_game.errors import ConnectError
from stdb_game.transport import CloseInfo, CloseKind, FakeTransport, Transport


def test_is_a_transport() -> None:
    assert isinstance(FakeTransport(), Transport)


def test_frames_in_with_budget() -> None:
    t = FakeTransport()
    for i in range(5):
        t.feed(bytes([i]))
    assert t.buffered_frames == 5
    assert t.poll(0) == []
    assert t.poll(2) == [b"\x00", b"\x01"]
    assert t.poll(10) == [b"\x02", b"\x03", b"\x04"]
    assert t.poll_calls == [0, 2, 10]
    assert t.bytes_in == 5


def test_frames_out_only_on_flush() -> None:
    t = FakeTransport()
    t.send(b"a")
    t.send(b"bc")
    assert t.sent == [] and t.pending_out_bytes == 3
    t.blocked = True
    t.flush()
    assert t.sent == []
    t.blocked = False
    t.flush()
    assert t.sent == [b"a", b"bc"] and t.pending_out_bytes == 0 and t.bytes_out == 3


def test_server_close_keeps_earlier_frames() -> None:
    t = FakeTransport()
    t.feed(b"x")
    t.feed_close(1001, "module exited")
    assert not t.is_open
    assert t.closed_reason == CloseInfo.clean(1001, "module exited")
    assert t.poll(5) == [b"x"]
    with pytest.raises(ConnectError):
        t.send(b"y")
    with pytest.raises(ValueError):
        t.feed(b"z")


def test_abnormal_and_error_ends() -> None:
    t = FakeTransport()
    err = ConnectionResetError()
    t.feed_abnormal(err)
    assert t.closed_reason == CloseInfo(CloseKind.ABNORMAL, 1006, "", err)
    t2 = FakeTransport()
    t2.feed_error(ValueError("bad"), 1002)
    assert t2.closed_reason is not None and t2.closed_reason.kind is CloseKind.ERROR


def test_local_close() -> None:
    t = FakeTransport()
    t.feed(b"dropped")
    t.close(1000, "bye")
    assert t.closed_reason == CloseInfo.clean(1000, "bye", initiated_locally=True)
    assert t.poll(5) == []
    t.feed_close(1001)  # a later end does not replace the first
    assert t.closed_reason.initiated_locally


def test_pings_and_pongs() -> None:
    t = FakeTransport()
    t.send_ping(b"1")
    t.feed_pong(b"1")
    assert t.pings_sent == [b"1"]
    assert t.take_pongs() == [b"1"] and t.take_pongs() == []


def test_close_info_describe() -> None:
    assert "module exited" in CloseInfo.clean(1001, "module exited").describe()
    assert "without a close frame" in CloseInfo.abnormal().describe()
    assert "bad" in CloseInfo.failed(ValueError("bad")).describe()
