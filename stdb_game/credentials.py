"""Token files that keep a player's identity across restarts.

Same place and format as the official Rust SDK's ``credentials::File``: one file per key in
``~/.spacetimedb_client_credentials/``, holding the BSATN of the product ``{token: String}``
(a u32 little-endian byte count, then the UTF-8 token). A Python game and a Rust tool that
use the same key therefore share one identity.

Tokens are secrets: they never appear in logs, exception messages or reprs here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from .errors import DecodeError

__all__ = [
    "CORRUPT_SUFFIX",
    "CREDENTIALS_DIR_NAME",
    "SHORT_LIVED_SECONDS",
    "CredentialStore",
    "credentials_key",
    "is_short_lived",
    "jwt_claims",
    "safe_file_name",
    "should_store",
]

log = logging.getLogger(__name__)

CREDENTIALS_DIR_NAME = ".spacetimedb_client_credentials"
#: A damaged credentials file replaced by a new token is kept under its name plus this.
CORRUPT_SUFFIX = ".corrupt"
#: A token whose ``exp - iat`` is at most this many seconds is "short-lived" and never stored.
#: ``POST /v1/identity/websocket-token`` issues 60-second tokens.
SHORT_LIVED_SECONDS = 3600

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_NAME_BYTES = 200
#: The port a URL scheme implies; a key leaves it out, as a URL without a port does.
_DEFAULT_PORTS = {"http": "80", "ws": "80", "https": "443", "wss": "443"}


def safe_file_name(key: str) -> str:
    """``key`` itself when it is a plain file name, else a cleaned name plus a hash of ``key``.

    Plain keys stay as they are so they name the same file the Rust SDK would; the hash
    keeps two different keys that clean to the same text apart.
    """
    if _SAFE_NAME.fullmatch(key) and len(key) <= _MAX_NAME_BYTES:
        return key
    cleaned = _UNSAFE_RUN.sub("_", key).strip("._-")[:150] or "key"
    return f"{cleaned}-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:12]}"


def credentials_key(server: str, database: str, client: int | str | None = None) -> str:
    """The key for one (server, database, local client slot), e.g. ``localhost_3000--chat--client2``.

    ``server`` may be a URL (``ws://``, ``https://``...) or ``host:port``. The scheme is
    ignored, but says which port is implied: ``wss://h``, ``https://h`` and ``https://h:443``
    are one server (``ws`` is ``http``, ``wss`` is ``https``; 80 and 443 are the defaults),
    so they share one key. ``client`` separates several game instances on one machine
    (``--client 2``); None means the default slot.
    """
    host = server.strip().lower()
    scheme = ""
    if "://" in host:
        scheme, host = host.split("://", 1)
    host = host.rstrip("/")
    netloc, slash, path = host.partition("/")
    default_port = _DEFAULT_PORTS.get(scheme)
    if default_port is not None and netloc.endswith(f":{default_port}"):
        netloc = netloc[: -len(f":{default_port}")]
    host = netloc + slash + path
    parts = [host, database] + ([] if client is None else [f"client{client}"])
    return safe_file_name("--".join(_UNSAFE_RUN.sub("_", p).strip("_") or "_" for p in parts))


def _encode_token(token: str) -> bytes:
    raw = token.encode("utf-8")
    return len(raw).to_bytes(4, "little") + raw


def _decode_token(data: bytes) -> str:
    what = "credentials file {token: String}"
    if len(data) < 4:
        raise DecodeError("file shorter than the 4-byte length prefix", type_name=what, offset=0)
    size = int.from_bytes(data[:4], "little")
    if 4 + size != len(data):
        raise DecodeError(
            f"length prefix says {size} bytes, file holds {len(data) - 4}", type_name=what, offset=0
        )
    try:
        return data[4:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("token is not UTF-8", type_name=what, offset=4 + exc.start) from None


class CredentialStore:
    """Saves, loads and clears tokens, one private file per key under ``root``.

    ``root`` defaults to ``~/.spacetimedb_client_credentials``. Writes are atomic (temporary
    file, fsync, rename) so a crash never leaves half a token; files are mode 0600 and a
    directory created here is mode 0700.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else Path.home() / CREDENTIALS_DIR_NAME

    def __repr__(self) -> str:
        return f"CredentialStore(root={str(self.root)!r})"

    def path_for(self, key: str) -> Path:
        return self.root / safe_file_name(key)

    def load(self, key: str) -> str | None:
        """The stored token, or None when there is none; ``DecodeError`` if the file is damaged."""
        try:
            data = self.path_for(key).read_bytes()
        except FileNotFoundError:
            return None
        return _decode_token(data)

    def save(self, key: str, token: str) -> None:
        """Store ``token`` under ``key``, replacing what was there in one atomic step.

        A damaged file in the way is not lost: it is first copied to ``<file>.corrupt``
        (someone may still recover the identity from it).
        """
        if not token:
            raise ValueError("refusing to store an empty token")
        path = self.path_for(key)
        self._ensure_root()
        self._keep_damaged(path)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as tmp:
                os.chmod(tmp_name, 0o600)  # mkstemp already does; say it where it matters
                tmp.write(_encode_token(token))
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
            raise
        self._sync_root()
        log.debug("stored credentials under key %r", path.name)

    def _keep_damaged(self, path: Path) -> None:
        try:
            data = path.read_bytes()
        except OSError:
            return  # nothing there (or unreadable: replacing it is then all we can do)
        try:
            _decode_token(data)
        except DecodeError:
            backup = path.with_name(path.name + CORRUPT_SUFFIX)
            fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            log.warning("kept the damaged credentials file %s as %s", path, backup.name)

    def clear(self, key: str) -> bool:
        """Forget the token under ``key``; True if there was one."""
        try:
            self.path_for(key).unlink()
        except FileNotFoundError:
            return False
        self._sync_root()
        return True

    def _ensure_root(self) -> None:
        if self.root.is_dir():
            return
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)  # mkdir's mode is filtered by the umask

    def _sync_root(self) -> None:
        """Make the rename itself durable (POSIX); harmless to skip where unsupported."""
        if not hasattr(os, "O_DIRECTORY"):
            return
        try:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


# ---- which token to keep ----------------------------------------------------------------


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT, decoded WITHOUT checking its signature, or None if it is not one.

    Only for classifying tokens we were handed (lifetime, expiry); never for trusting them.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def is_short_lived(token: str, *, max_lifetime: float = SHORT_LIVED_SECONDS) -> bool:
    """True for a JWT whose ``exp - iat`` is at most ``max_lifetime`` seconds."""
    claims = jwt_claims(token)
    if claims is None:
        return False
    exp, iat = _number(claims.get("exp")), _number(claims.get("iat"))
    return exp is not None and iat is not None and exp - iat <= max_lifetime


def should_store(
    new_token: str | None,
    stored_token: str | None,
    *,
    now: float | None = None,
    max_short_lifetime: float = SHORT_LIVED_SECONDS,
) -> bool:
    """Whether a token the server handed us should replace the stored one.

    The server's ``IdentityToken`` echoes the token a connection authenticated with; after
    connecting with a 60-second websocket token that echo is the short-lived one, and
    storing it would lose the identity a minute later. Rules, reading the claims without
    verification (``jwt_claims``):

    * never store an empty token, the same token again, or a short-lived one
      (``exp - iat <= max_short_lifetime``);
    * with ``now`` (Unix seconds) given, never store a token that has already expired;
    * with nothing stored, store it;
    * a token without ``exp`` (SpacetimeDB's own long-lived tokens) replaces anything;
    * an expiring token never replaces a non-expiring one, and replaces an expiring one
      only if it expires later (or the stored one cannot be read as a JWT).
    """
    if not new_token or new_token == stored_token:
        return False
    if is_short_lived(new_token, max_lifetime=max_short_lifetime):
        return False
    new_exp = _number((jwt_claims(new_token) or {}).get("exp"))
    if now is not None and new_exp is not None and new_exp <= now:
        return False
    if not stored_token:
        return True
    if new_exp is None:
        return True
    stored_claims = jwt_claims(stored_token)
    if stored_claims is None:
        return True
    stored_exp = _number(stored_claims.get("exp"))
    return stored_exp is not None and new_exp > stored_exp
