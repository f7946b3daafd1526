"""CredentialStore files (location, format, permissions, atomicity) and the should_store rule."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import sys
from pathlib import Path

import pytest

from stdb_game.credentials import (
    CREDENTIALS_DIR_NAME,
    CredentialStore,
    credentials_key,
    is_short_lived,
    jwt_claims,
    safe_file_name,
    should_store,
)
from stdb_game.errors import DecodeError

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")


def make_jwt(**claims: object) -> str:
    def part(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'ES256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


LONG = make_jwt(hex_identity="c2" * 32, sub="s", iss="localhost", aud=["spacetimedb"], iat=1_700_000_000)
WS_TOKEN = make_jwt(hex_identity="c2" * 32, sub="s", iss="localhost", iat=1_700_000_100, exp=1_700_000_160)


# ---- files -------------------------------------------------------------------------------


def test_default_root_is_the_rust_sdk_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("USERPROFILE", str(tmp_path))
    store = CredentialStore()
    assert store.root == tmp_path / ".spacetimedb_client_credentials" == tmp_path / CREDENTIALS_DIR_NAME
    store.save("my_app", "tok")
    assert (tmp_path / ".spacetimedb_client_credentials" / "my_app").is_file()


def test_round_trip_and_missing_key(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "creds")
    assert store.load("nothing") is None
    store.save("k", LONG)
    assert store.load("k") == LONG
    store.save("k", "replacement")
    assert store.load("k") == "replacement"


def test_file_is_bsatn_of_a_token_product(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.save("k", "héllo")
    # what the Rust SDK writes for Credentials { token: "héllo" }: u32 LE length + UTF-8
    assert (tmp_path / "k").read_bytes() == b"\x06\x00\x00\x00h\xc3\xa9llo"
    (tmp_path / "rust-written").write_bytes(b"\x03\x00\x00\x00abc")
    assert store.load("rust-written") == "abc"


@pytest.mark.parametrize("data", [b"", b"\x01\x00", b"\x05\x00\x00\x00abc", b"\x02\x00\x00\x00\xff\xfe"])
def test_damaged_file_is_a_decode_error_without_the_token(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "k").write_bytes(data)
    with pytest.raises(DecodeError) as info:
        CredentialStore(tmp_path).load("k")
    assert "abc" not in str(info.value)


def test_clear(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.save("k", "t")
    assert store.clear("k") is True
    assert store.load("k") is None
    assert store.clear("k") is False


@posix_only
def test_permissions(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        store = CredentialStore(tmp_path / "deep" / "creds")
        store.save("k", "t")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(store.root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(store.path_for("k")).st_mode) == 0o600


@posix_only
def test_replacing_a_loose_file_makes_it_private(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_bytes(b"\x01\x00\x00\x00x")
    path.chmod(0o644)
    CredentialStore(tmp_path).save("k", "t")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = CredentialStore(tmp_path)
    store.save("k", "old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        store.save("k", "new")
    monkeypatch.undo()
    assert store.load("k") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k"]


def test_token_never_in_repr_or_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = CredentialStore(tmp_path)
    with caplog.at_level(logging.DEBUG):
        store.save("k", "very-secret-token")
        store.load("k")
    assert "very-secret-token" not in caplog.text
    assert "very-secret-token" not in repr(store)


def test_empty_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        CredentialStore(tmp_path).save("k", "")


# ---- keys --------------------------------------------------------------------------------


def test_plain_keys_are_kept_for_rust_interop() -> None:
    assert safe_file_name("my_app") == "my_app"
    assert safe_file_name("quickstart-chat.v2") == "quickstart-chat.v2"


@pytest.mark.parametrize("key", ["../../etc/passwd", "a/b", ".hidden", "", "..", "x" * 300, "ü", "a:b", "C:\\x"])
def test_unsafe_keys_become_safe_distinct_names(key: str, tmp_path: Path) -> None:
    name = safe_file_name(key)
    assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert 0 < len(name) <= 200
    assert CredentialStore(tmp_path).path_for(key).parent == tmp_path


def test_cleaned_keys_do_not_collide() -> None:
    assert safe_file_name("a:b") != safe_file_name("a_b") != safe_file_name("a/b")
    assert safe_file_name("a:b") != safe_file_name("a/b")


def test_credentials_key_separates_servers_databases_and_client_slots() -> None:
    base = credentials_key("localhost:3000", "quickstart-chat")
    assert base == "localhost_3000--quickstart-chat"
    assert credentials_key("ws://localhost:3000/", "quickstart-chat") == base
    assert credentials_key("HTTP://LocalHost:3000", "quickstart-chat") == base
    keys = {
        base,
        credentials_key("localhost:3000", "quickstart-chat", client=2),
        credentials_key("localhost:3000", "quickstart-chat", client=3),
        credentials_key("localhost:3001", "quickstart-chat"),
        credentials_key("localhost:3000", "other"),
        credentials_key("https://maincloud.spacetimedb.com", "quickstart-chat"),
    }
    assert len(keys) == 6
    assert credentials_key("localhost:3000", "chat", client=2) == "localhost_3000--chat--client2"
    assert all(safe_file_name(k) == k for k in keys)


def test_credentials_key_leaves_out_the_port_a_scheme_implies() -> None:
    tls = credentials_key("wss://Example.com", "db")
    assert tls == "example.com--db"
    for same in ("https://example.com:443", "wss://example.com:443/", "https://example.com"):
        assert credentials_key(same, "db") == tls
    plain = credentials_key("ws://example.com", "db")
    assert plain == credentials_key("http://example.com:80", "db") == tls
    # Only the scheme's own default goes: these name other ports than the URL implies.
    assert credentials_key("http://example.com:443", "db") == "example.com_443--db"
    assert credentials_key("wss://example.com:80", "db") == "example.com_80--db"
    assert credentials_key("https://example.com:3000", "db") == "example.com_3000--db"
    assert credentials_key("example.com:443", "db") == "example.com_443--db"  # no scheme


def test_two_client_slots_keep_their_own_identity(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.save(credentials_key("localhost:3000", "game", client=1), "token-one")
    store.save(credentials_key("localhost:3000", "game", client=2), "token-two")
    assert store.load(credentials_key("localhost:3000", "game", client=1)) == "token-one"
    assert store.load(credentials_key("localhost:3000", "game", client=2)) == "token-two"


# ---- the short-lived rule ----------------------------------------------------------------


def test_jwt_claims_decodes_payload_without_verification() -> None:
    claims = jwt_claims(LONG)
    assert claims is not None and claims["iss"] == "localhost" and "exp" not in claims
    assert jwt_claims("not-a-jwt") is None
    assert jwt_claims("a.!!!.c") is None
    assert jwt_claims("a.bnVsbA.c") is None  # payload "null" is not an object


def test_is_short_lived() -> None:
    assert is_short_lived(WS_TOKEN)
    assert not is_short_lived(LONG)
    assert not is_short_lived(make_jwt(iat=0, exp=30 * 86400))  # a month-long OIDC token
    assert not is_short_lived("opaque")


def test_echoed_websocket_token_never_overwrites_the_long_lived_one() -> None:
    assert should_store(WS_TOKEN, LONG) is False
    assert should_store(WS_TOKEN, None) is False


def test_first_and_changed_long_lived_tokens_are_stored() -> None:
    assert should_store(LONG, None) is True
    other = make_jwt(hex_identity="d3" * 32, sub="t", iss="localhost", iat=1_700_000_500)
    assert should_store(other, LONG) is True


def test_same_or_empty_token_is_not_stored_again() -> None:
    assert should_store(LONG, LONG) is False
    assert should_store("", LONG) is False
    assert should_store(None, None) is False


def test_expiring_tokens() -> None:
    week = make_jwt(iat=1_000_000, exp=1_000_000 + 7 * 86400)
    month = make_jwt(iat=1_000_000, exp=1_000_000 + 30 * 86400)
    assert should_store(month, week) is True
    assert should_store(week, month) is False
    assert should_store(week, LONG) is False  # never trade a non-expiring token for an expiring one
    assert should_store(week, "opaque-stored") is True
    assert should_store(week, None, now=2_000_000_000) is False  # already expired
    assert should_store(week, None, now=1_000_001) is True


def test_opaque_tokens_are_treated_as_long_lived() -> None:
    assert should_store("opaque-new", None) is True
    assert should_store("opaque-new", "opaque-old") is True
