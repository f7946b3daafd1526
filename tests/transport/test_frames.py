"""FrameDecoder and encode_frame from bytes alone: splits, fragments, violations, masking."""

from __future__ import annotations

import itertools
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from stdb_game.errors import ProtocolError
from stdb_game.transport.frames import (
    FrameDecoder,
    close_payload,
    encode_frame,
    mask,
    parse_close,
)

from .ws_test_server import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, server_frame


def unmask(frame: bytes) -> tuple[int, int, bytes]:
    """(first byte, payload length, unmasked payload) of a client frame."""
    b0, b1 = frame[0], frame[1]
    assert b1 & 0x80, "client frames must be masked"
    n, pos = b1 & 0x7F, 2
    if n == 126:
        (n,) = struct.unpack_from("!H", frame, 2)
        pos = 4
    elif n == 127:
        (n,) = struct.unpack_from("!Q", frame, 2)
        pos = 10
    key = frame[pos : pos + 4]
    body = frame[pos + 4 :]
    assert len(body) == n
    return b0, n, bytes(b ^ key[i % 4] for i, b in enumerate(body))


class TestEncodeFrame:
    def test_small_frame_layout(self) -> None:
        frame = encode_frame(OP_BINARY, b"abc", mask_key=b"\x01\x02\x03\x04")
        assert frame == b"\x82\x83\x01\x02\x03\x04" + bytes([0x61 ^ 1, 0x62 ^ 2, 0x63 ^ 3])

    def test_length_forms(self) -> None:
        for size, head in [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)]:
            payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
            frame = encode_frame(OP_BINARY, payload)
            assert len(frame) == head + 4 + size
            b0, n, body = unmask(frame)
            assert (b0, n, body) == (0x82, size, payload)

    def test_masks_differ_between_frames(self) -> None:
        assert encode_frame(OP_BINARY, b"same") != encode_frame(OP_BINARY, b"same")

    def test_close_payload(self) -> None:
        assert close_payload(1000, "bye") == b"\x03\xe8bye"
        assert close_payload(1005) == b""
        assert len(close_payload(1000, "é" * 200)) <= 125


class TestParseClose:
    def test_code_and_reason(self) -> None:
        assert parse_close(b"\x03\xe9module exited") == (1001, "module exited")

    def test_empty_means_no_status(self) -> None:
        assert parse_close(b"") == (1005, "")

    def test_bad_utf8_reason_is_replaced(self) -> None:
        assert parse_close(b"\x03\xe8\xff") == (1000, "\ufffd")


class TestFrameDecoder:
    def test_one_byte_at_a_time(self) -> None:
        wire = server_frame(OP_BINARY, b"x" * 300) + server_frame(OP_PING, b"p") + server_frame(OP_BINARY, b"")
        d = FrameDecoder()
        controls = []
        for i in range(len(wire)):
            controls += d.feed(wire[i : i + 1])
            if i < len(wire) - 1 - 2:
                assert len(d.messages) <= 1
        assert list(d.messages) == [b"x" * 300, b""]
        assert controls == [(OP_PING, b"p")]
        assert d.message_bytes == 300 and d.partial_bytes == 0

    def test_nothing_comes_out_until_the_last_byte(self) -> None:
        wire = server_frame(OP_BINARY, b"abcdef")
        d = FrameDecoder()
        for i in range(len(wire) - 1):
            d.feed(wire[i : i + 1])
            assert not d.messages
        d.feed(wire[-1:])
        assert list(d.messages) == [b"abcdef"]

    def test_fragments_joined(self) -> None:
        d = FrameDecoder()
        d.feed(server_frame(OP_BINARY, b"ab", fin=False) + server_frame(OP_CONT, b"cd", fin=False))
        assert not d.messages
        d.feed(server_frame(OP_CONT, b"ef"))
        assert list(d.messages) == [b"abcdef"] and d.message_bytes == 6

    def test_close_stops_parsing(self) -> None:
        d = FrameDecoder()
        controls = d.feed(server_frame(OP_CLOSE, b"\x03\xe8") + server_frame(OP_BINARY, b"after"))
        assert controls == [(OP_CLOSE, b"\x03\xe8")]
        assert d.finished and not d.messages and d.error is None
        assert d.feed(server_frame(OP_BINARY, b"more")) == []

    def test_pong_is_reported(self) -> None:
        assert FrameDecoder().feed(server_frame(OP_PONG, b"t")) == [(OP_PONG, b"t")]

    def check_violation(self, wire: bytes, code: int, fragment: str) -> FrameDecoder:
        d = FrameDecoder(max_message_bytes=1000)
        d.feed(wire)
        assert d.finished and isinstance(d.error, ProtocolError)
        assert d.error_close_code == code
        assert fragment in str(d.error)
        return d

    def test_text_frame(self) -> None:
        self.check_violation(server_frame(OP_TEXT, b"{}"), 1003, "text frame")

    def test_masked_server_frame(self) -> None:
        self.check_violation(encode_frame(OP_BINARY, b"x"), 1002, "masked")

    def test_reserved_bits(self) -> None:
        self.check_violation(server_frame(OP_BINARY, b"x", rsv=4), 1002, "reserved bits")

    def test_reserved_opcodes(self) -> None:
        self.check_violation(server_frame(3, b"x"), 1002, "reserved data opcode")
        self.check_violation(server_frame(11, b"x"), 1002, "reserved control opcode")

    def test_long_or_fragmented_control_frame(self) -> None:
        self.check_violation(server_frame(OP_PING, b"x" * 126), 1002, "control frames")
        self.check_violation(server_frame(OP_PING, b"x", fin=False), 1002, "control frames")

    def test_continuation_without_start(self) -> None:
        self.check_violation(server_frame(OP_CONT, b"x"), 1002, "continuation")

    def test_new_message_inside_fragmented_one(self) -> None:
        wire = server_frame(OP_BINARY, b"a", fin=False) + server_frame(OP_BINARY, b"b")
        self.check_violation(wire, 1002, "inside a fragmented")

    def test_too_big_is_refused_on_the_header(self) -> None:
        d = self.check_violation(struct.pack("!BBQ", 0x82, 127, 1 << 40), 1009, "exceeds")
        assert d.partial_bytes == 0

    def test_messages_before_a_violation_are_kept(self) -> None:
        d = FrameDecoder()
        d.feed(server_frame(OP_BINARY, b"ok") + server_frame(OP_TEXT, b"no"))
        assert list(d.messages) == [b"ok"] and d.error is not None


@settings(max_examples=200, deadline=None)
@given(
    messages=st.lists(st.binary(max_size=70_000), max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=1 << 20), max_size=12),
    fragment=st.booleans(),
)
def test_any_split_of_the_stream_gives_the_same_messages(
    messages: list[bytes], cuts: list[int], fragment: bool
) -> None:
    wire = b""
    for m in messages:
        if fragment and len(m) > 2:
            wire += server_frame(OP_BINARY, m[:1], fin=False) + server_frame(OP_PING, b"")
            wire += server_frame(OP_CONT, m[1:2], fin=False) + server_frame(OP_CONT, m[2:])
        else:
            wire += server_frame(OP_BINARY, m)
    points = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})
    d = FrameDecoder()
    for a, b in itertools.pairwise(points):
        d.feed(memoryview(wire)[a:b])
    assert list(d.messages) == messages
    assert d.partial_bytes == 0 and d.error is None


@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=4, max_size=4), payload=st.binary(max_size=5000))
def test_mask_matches_websocket_client_and_is_its_own_inverse(key: bytes, payload: bytes) -> None:
    from websocket import ABNF

    masked = mask(key, payload)
    assert masked == ABNF.mask(key, payload)
    assert mask(key, masked) == payload
