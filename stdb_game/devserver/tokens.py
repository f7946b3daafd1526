"""Tokens of the dev server: JWTs it signs itself and checks on every authenticated request.

A real SpacetimeDB signs ES256 tokens with a key pair it keeps across restarts. The dev server
signs HS256 with a secret kept in a file: ``<data_dir>/devserver-token-secret`` with a data
directory, else a per-user file (``keyfile.default_key_file``), so restarting the server to try a changed
module does not log every running client out. Clients treat tokens as opaque strings; only the
claims' names and meaning match the real server.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jwt

from ..sats.values import Identity
from .keyfile import MIN_SECRET, load_or_create_key

__all__ = [
    "ISSUER",
    "WEBSOCKET_TOKEN_SECONDS",
    "Claims",
    "TokenAuthority",
    "TokenError",
    "parse_authorization",
]

#: Issuer claim of every token minted here; a standalone SpacetimeDB uses the same value.
ISSUER = "localhost"
#: Audience claim; the real server writes a list of strings.
AUDIENCE = ["spacetimedb"]
#: Lifetime of tokens from ``POST /v1/identity/websocket-token`` (http.md §2).
WEBSOCKET_TOKEN_SECONDS = 60
_ALGORITHM = "HS256"
_SECRET_FILE = "devserver-token-secret"


class TokenError(Exception):
    """A credential the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Claims:
    """What a validated token says: who it is and how it was issued."""

    identity: Identity
    subject: str
    issuer: str
    token: str
    expires_at: int | None = None


def parse_authorization(header: str | None) -> str | None:
    """The bearer token of an ``Authorization`` header; a header in another form is a 400."""
    if header is None:
        return None
    scheme, _, rest = header.strip().partition(" ")
    token = rest.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise TokenError("Authorization header must be 'Bearer <token>'", status=400)
    return token


class TokenAuthority:
    """Mints identities with their tokens and validates tokens presented by clients."""

    def __init__(
        self,
        derive_identity: Callable[[str, str], Identity],
        *,
        data_dir: Path | str | None = None,
        key_file: Path | str | None = None,
        secret: bytes | None = None,
        issuer: str = ISSUER,
    ) -> None:
        """The key is ``secret``, else the one in ``key_file``, else the data directory's,
        else a fresh one that ends with this object (``key_source`` says which)."""
        self._derive = derive_identity
        if secret is not None:
            self.key_source = "the given secret"
        elif key_file is not None:
            secret = load_or_create_key(Path(key_file))
            self.key_source = str(key_file)
        elif data_dir is not None:
            path = Path(data_dir) / _SECRET_FILE
            secret = load_or_create_key(path)
            self.key_source = str(path)
        else:
            secret = secrets.token_bytes(MIN_SECRET)
            self.key_source = "a fresh key (tokens end with this process)"
        self._secret = secret
        self.issuer = issuer

    def _sign(self, identity: Identity, subject: str, issuer: str, lifetime: int | None) -> str:
        now = int(time.time())
        claims: dict[str, object] = {
            "hex_identity": identity.to_hex(),
            "sub": subject,
            "iss": issuer,
            "aud": AUDIENCE,
            "iat": now,
        }
        if lifetime is not None:
            claims["exp"] = now + lifetime
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def mint(self) -> Claims:
        """A brand-new identity and its long-lived (non-expiring) token."""
        subject = str(uuid.uuid4())
        identity = self._derive(self.issuer, subject)
        token = self._sign(identity, subject, self.issuer, None)
        return Claims(identity=identity, subject=subject, issuer=self.issuer, token=token)

    def websocket_token(self, claims: Claims) -> str:
        """A short-lived token for the same identity, meant for ``?token=`` on the WebSocket URL."""
        return self._sign(claims.identity, claims.subject, claims.issuer, WEBSOCKET_TOKEN_SECONDS)

    def validate(self, token: str) -> Claims:
        """Check signature, expiry and that the identity matches ``iss``/``sub``."""
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                options={"verify_aud": False, "require": ["sub", "iss", "iat"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid token: {exc}") from exc
        subject = payload.get("sub")
        issuer = payload.get("iss")
        if not isinstance(subject, str) or not isinstance(issuer, str):
            raise TokenError("invalid token: sub and iss must be strings")
        identity = self._derive(issuer, subject)
        claimed = payload.get("hex_identity")
        if claimed is not None:
            try:
                matches = Identity.from_hex(str(claimed)) == identity
            except ValueError:
                matches = False
            if not matches:
                raise TokenError("invalid token: hex_identity does not match iss and sub")
        exp = payload.get("exp")
        return Claims(
            identity=identity,
            subject=subject,
            issuer=issuer,
            token=token,
            expires_at=int(exp) if isinstance(exp, (int, float)) else None,
        )
