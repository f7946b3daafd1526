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
from helpers import game_schema

from stdb_game.client import Client
from stdb_game.credentials import (
    CREDENTIALS_DIR_NAME,
    CredentialStore,
    credentials_key,
    is_short_lived,
    jwt_claims,
    safe_file_name,
    should_store,
)
from stdb_game.errors import AuthError, DecodeError
from stdb_game.testing import FakeServer

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


# ---- damaged files and refused tokens, through the client ----------------------------------


def test_saving_over_a_damaged_file_keeps_a_corrupt_copy(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    (tmp_path / "k").write_bytes(b"garbage!")
    store.save("k", "new-token")
    assert store.load("k") == "new-token"
    assert (tmp_path / "k.corrupt").read_bytes() == b"garbage!"
    store.save("k", "newer-token")  # a good file is replaced with no copy
    assert (tmp_path / "k.corrupt").read_bytes() == b"garbage!"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k", "k.corrupt"]


def _fake_client(store: CredentialStore, **kw: object) -> tuple[Client, FakeServer]:
    schema = game_schema()
    server = FakeServer(schema)
    client = Client("ws://fake:3000", "game", schema=schema, credentials=store,
                    credentials_key="k", transport_factory=server.transport_factory,
                    reconnect=False, **kw)  # type: ignore[arg-type]  # fmt: skip
    return client, server


@pytest.mark.parametrize("data", [b"", b"not a token file"], ids=["empty", "garbage"])
def test_a_damaged_file_means_no_token_not_a_crash(
    tmp_path: Path, data: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "k").write_bytes(data)
    store = CredentialStore(tmp_path)
    with caplog.at_level(logging.WARNING, logger="stdb_game.client"):
        client, server = _fake_client(store)
        client.connect()
    assert server.tokens == [None]  # anonymous
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "stdb_game.client"]
    assert str(tmp_path / "k") in warning and "NEW identity" in warning
    assert (tmp_path / "k").read_bytes() == data  # not touched before a new token is saved
    server.send(server.identity_token(LONG))
    client.tick()
    assert store.load("k") == LONG and (tmp_path / "k.corrupt").read_bytes() == data


def test_a_file_that_cannot_be_read_is_never_written_over(tmp_path: Path) -> None:
    (tmp_path / "k").mkdir()  # read_bytes() raises IsADirectoryError (an OSError)
    client, server = _fake_client(CredentialStore(tmp_path))
    client.connect()
    server.send(server.identity_token(LONG))
    client.tick()
    assert server.tokens == [None] and client.token == LONG  # kept for reconnects
    assert (tmp_path / "k").is_dir() and not (tmp_path / "k.corrupt").exists()


def test_a_refused_stored_token_says_which_file_and_how_to_clear_it(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.save("k", "stale-token")
    client, server = _fake_client(store)
    seen: list[BaseException] = []
    client.on_connect_error(seen.append)
    server.refuse_next.append(AuthError("refused (HTTP 401)", status=401))
    with pytest.raises(AuthError) as info:
        client.connect()
    text = str(info.value)
    assert text.startswith("refused (HTTP 401). The refused token was the stored one")
    assert str(tmp_path / "k") in text and info.value.status == 401
    assert f"CredentialStore(root={str(tmp_path)!r}).clear('k')" in text
    assert "on_token_refused='anonymous'" in text and seen == [info.value]
    assert store.load("k") == "stale-token" and server.tokens == []  # nothing was changed


def test_a_refused_given_token_says_so_and_forget_token_then_connect_works() -> None:
    schema = game_schema()
    server = FakeServer(schema)
    client = Client("ws://fake:3000", "game", schema=schema, token="given",
                    transport_factory=server.transport_factory)  # fmt: skip
    server.refuse_next.append(AuthError("refused (HTTP 401)", status=401))
    with pytest.raises(AuthError) as info:
        client.connect()
    text = str(info.value)
    assert text.startswith("refused (HTTP 401). The refused token was the one passed as token=")
    assert "call client.forget_token(), then client.connect()" in text
    assert info.value.status == 401 and client.token == "given"
    # What the message says works: the next connect() presents no token.
    client.forget_token()
    client.connect()
    assert server.tokens == [None] and client.token is None


def test_on_token_refused_anonymous_clears_the_token_and_retries_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = CredentialStore(tmp_path)
    store.save("k", "stale-token")
    client, server = _fake_client(store, on_token_refused="anonymous")
    server.refuse_next.append(AuthError("refused (HTTP 401)", status=401))
    with caplog.at_level(logging.WARNING, logger="stdb_game.client"):
        client.connect()
    assert server.tokens == [None] and store.load("k") is None
    assert "clearing it and connecting as a NEW identity" in caplog.text
    server.send(server.identity_token(LONG))
    client.tick()
    assert store.load("k") == LONG and client.identity == server.identity
    # Only once: when the anonymous attempt is refused too, that refusal is raised.
    store.save("k", "stale-again")
    client2, server2 = _fake_client(store, on_token_refused="anonymous")
    server2.refuse_next.extend([AuthError("refused 1", status=401), AuthError("refused 2", status=401)])
    with pytest.raises(AuthError, match=r"^refused 2$"):
        client2.connect()
    assert server2.refuse_next == [] and server2.tokens == []


def test_on_token_refused_is_checked() -> None:
    with pytest.raises(ValueError, match="on_token_refused"):
        Client("ws://fake:3000", "game", on_token_refused="ignore")


def test_a_restarted_dev_server_refuses_the_stored_token_and_anonymous_recovers(tmp_path: Path) -> None:
    """The real case: a server restarted with a new signing key (its key file deleted, or
    ``--ephemeral-key``). Each run gets its own key file, so ``STDB_GAME_DEV_KEY_FILE`` in the
    shell cannot make the two runs share a key."""
    import importlib.util

    if importlib.util.find_spec("aiohttp") is None:
        pytest.skip("needs the dev server's extra")
    from stdb_game.devserver.launcher import start_dev_server

    chat = Path(__file__).resolve().parents[1] / "demos" / "chat" / "module.py"
    store = CredentialStore(tmp_path)
    with start_dev_server(chat, key_file=tmp_path / "keys" / "first") as first:
        c = Client(first.url, first.database, credentials=store, credentials_key="k")
        c.connect()
        assert c.run_until(lambda: c.identity is not None, 10)
        c.disconnect()
    old = store.load("k")
    assert old
    with start_dev_server(chat, key_file=tmp_path / "keys" / "second") as second:
        c = Client(second.url, second.database, credentials=store, credentials_key="k")
        with pytest.raises(AuthError, match=r"CredentialStore\(root=.*\)\.clear\('k'\)"):
            c.connect()
        c = Client(second.url, second.database, credentials=store, credentials_key="k",
                   on_token_refused="anonymous")  # fmt: skip
        c.connect()
        assert c.run_until(lambda: c.identity is not None, 10)
        c.disconnect()
    assert store.load("k") not in (None, old)
