"""The dev server's token signing key on disk, so a restart keeps every issued token valid.

Kept apart from ``tokens`` (which needs PyJWT) so the command line can name the default
location without the server's extra installed.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from ..errors import StdbError

__all__ = [
    "KEY_FILE_ENV",
    "MIN_SECRET",
    "SigningKeyError",
    "default_key_file",
    "load_or_create_key",
]

#: Environment variable naming the key file used without a data directory.
KEY_FILE_ENV = "STDB_GAME_DEV_KEY_FILE"
_STATE_KEY = Path("stdb-game") / "devserver-key"
#: Shortest secret accepted from a key file (HS256 wants at least the hash size).
MIN_SECRET = 32


class SigningKeyError(StdbError):
    """A key file that exists but holds no usable secret; it is never overwritten, since
    every token it signed would stop working."""


def default_key_file(env: Mapping[str, str] | None = None) -> Path | None:
    """Where the key lives without a data directory: ``$STDB_GAME_DEV_KEY_FILE``, else
    ``$XDG_STATE_HOME/stdb-game/devserver-key``, else ``~/.local/state/stdb-game/devserver-key``;
    None if there is no home directory to put it in."""
    env = os.environ if env is None else env
    explicit = env.get(KEY_FILE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    state = env.get("XDG_STATE_HOME")
    if state and Path(state).is_absolute():  # the XDG spec says to ignore relative paths
        return Path(state) / _STATE_KEY
    home = env.get("HOME")
    if not home:
        try:
            home = str(Path.home())
        except RuntimeError:
            return None
    return Path(home) / ".local" / "state" / _STATE_KEY


def _read_key(path: Path) -> bytes:
    text = path.read_text(encoding="ascii", errors="replace").strip()
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) < MIN_SECRET:
        raise SigningKeyError(
            f"{path} is not a dev-server signing key (expected {2 * MIN_SECRET} or more hex "
            "digits); delete it to make a new one (tokens it signed stop working) or pass "
            "another --key-file"
        )
    return secret


def load_or_create_key(path: Path) -> bytes:
    """The secret in ``path``, made on first use (mode 0600; new directories 0700).

    Two servers starting at once agree on one key: the file appears whole (a hard link of a
    finished temporary file), and whoever loses the race reads the winner's.
    """
    path = Path(path)
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = secrets.token_bytes(MIN_SECRET)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secret.hex())
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read_key(path)
        except OSError:  # no hard links here: replace (a racing server may then differ once)
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return secret
