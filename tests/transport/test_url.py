"""build_subscribe_url: every accepted base form, explicit compression, optional parameters."""

from __future__ import annotations

import pytest

from stdb_game.sats.values import ConnectionId
from stdb_game.transport import build_subscribe_url


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("ws://localhost:3000", "ws://localhost:3000"),
        ("wss://example.com", "wss://example.com"),
        ("http://127.0.0.1:3000/", "ws://127.0.0.1:3000"),
        ("https://maincloud.spacetimedb.com", "wss://maincloud.spacetimedb.com"),
        ("localhost:3000", "ws://localhost:3000"),
        ("127.0.0.1:3000/", "ws://127.0.0.1:3000"),
        ("https://proxy.example/stdb/", "wss://proxy.example/stdb"),
        ("HTTP://Host:80", "ws://Host:80"),
        ("[::1]:3000", "ws://[::1]:3000"),
    ],
)
def test_base_forms(base: str, expected: str) -> None:
    url = build_subscribe_url(base, "chat")
    assert url == f"{expected}/v1/database/chat/subscribe?compression=Gzip"


@pytest.mark.parametrize("compression", ["None", "Gzip", "Brotli"])
def test_compression_is_always_explicit(compression: str) -> None:
    url = build_subscribe_url("localhost:3000", "db", compression=compression)  # type: ignore[arg-type]
    assert url.endswith(f"/subscribe?compression={compression}")


def test_bad_compression_is_refused() -> None:
    with pytest.raises(ValueError):
        build_subscribe_url("localhost:3000", "db", compression="gzip")  # type: ignore[arg-type]


def test_optional_parameters() -> None:
    cid = ConnectionId(0x0123456789ABCDEF0123456789ABCDEF)
    url = build_subscribe_url(
        "localhost:3000", "db", compression="None", light=True, connection_id=cid, confirmed=False
    )
    assert url == (
        "ws://localhost:3000/v1/database/db/subscribe?compression=None&light=true"
        "&connection_id=0123456789abcdef0123456789abcdef&confirmed=false"
    )


def test_zero_connection_id_is_refused() -> None:
    with pytest.raises(ValueError):
        build_subscribe_url("localhost:3000", "db", connection_id=ConnectionId.zero())


def test_identity_hex_and_odd_names_are_kept_in_one_path_segment() -> None:
    hex_id = "c2" * 32
    assert f"/v1/database/{hex_id}/subscribe" in build_subscribe_url("localhost:3000", hex_id)
    assert "/v1/database/a%2Fb%20c/subscribe" in build_subscribe_url("localhost:3000", "a/b c")


@pytest.mark.parametrize("base", ["ftp://host", "", "http://", "http://host?x=1"])
def test_bad_bases(base: str) -> None:
    with pytest.raises(ValueError):
        build_subscribe_url(base, "db")
