"""The token never reaches a recording: not in the parameters, not in any frame."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from stdb_game import protocol as P
from stdb_game.errors import ProtocolError
from stdb_game.protocol.compression import brotli_available
from stdb_game.replay import REDACTED_TOKEN, InboundRecord, read_recording, redact_identity_token

from .sessions import LONG_TOKEN, ME, ME_CONN, SCRIPTS, TOKEN, Script, chat, run_live

COMPRESSIONS = [P.Compression.NONE, P.Compression.GZIP]
if brotli_available():
    COMPRESSIONS.append(P.Compression.BROTLI)


def _secret_pieces(token: str) -> list[bytes]:
    """Byte strings that would betray the token: itself, its halves, its base64."""
    raw = token.encode()
    return [raw, raw[: len(raw) // 2], raw[len(raw) // 2 :], base64.b64encode(raw)[:40]]


@pytest.mark.parametrize("compression", COMPRESSIONS, ids=lambda c: c.value)
@pytest.mark.parametrize("token", [TOKEN, LONG_TOKEN], ids=["short", "long"])
def test_token_never_appears_in_the_file(
    tmp_path: Path, compression: P.Compression, token: str
) -> None:
    script = Script(
        "chat", chat, schema=SCRIPTS["chat"].schema, compression=compression, token=token
    )
    path = tmp_path / "chat.stdbrec"
    live = run_live(script, path)
    assert live.client.token == token  # the live client did get and keep it
    data = path.read_bytes()
    for piece in _secret_pieces(token) + _secret_pieces(LONG_TOKEN):
        assert piece not in data
    recording = read_recording(path)
    idents = 0
    for r in recording.records:
        if isinstance(r, InboundRecord):
            msg = P.decode_server_frame(r.frame)  # decompressed: still nothing
            if isinstance(msg, P.IdentityToken):
                idents += 1
                assert msg.token == REDACTED_TOKEN
                assert msg.identity == ME and msg.connection_id == ME_CONN
            assert LONG_TOKEN.encode()[:64] not in P.encode_server_message(msg)
    assert idents == 1
    assert all(c.params["has_token"] is True for c in recording.connections)
    assert all(
        "token" not in k for c in recording.connections for k in c.params if k != "has_token"
    )


@pytest.mark.parametrize("compression", COMPRESSIONS, ids=lambda c: c.value)
def test_redaction_of_each_compression(compression: P.Compression) -> None:
    msg = P.IdentityToken(ME, LONG_TOKEN, ME_CONN)
    frame = P.encode_server_frame(msg, compression)
    assert frame[0] == compression.tag  # long enough to be compressed
    out = redact_identity_token(frame, first_of_connection=False)
    assert out[0] == 0
    assert P.decode_server_frame(out) == P.IdentityToken(ME, REDACTED_TOKEN, ME_CONN)


def test_other_frames_pass_untouched() -> None:
    light = P.TransactionUpdateLight(7, P.DatabaseUpdate(()))
    for comp in COMPRESSIONS:
        frame = P.encode_server_frame(light, comp)
        assert redact_identity_token(frame) is frame
    assert redact_identity_token(b"\x07garbage") == b"\x07garbage"


def test_an_identity_token_that_does_not_decode_is_dropped_not_stored() -> None:
    frame = b"\x00\x03" + b"\x01" * 32 + b"\xff\xff\xff\x7f" + TOKEN.encode()
    out = redact_identity_token(frame)
    assert TOKEN.encode() not in out
    with pytest.raises(ProtocolError):
        P.decode_server_frame(out)
