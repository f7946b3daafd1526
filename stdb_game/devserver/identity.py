"""Identity derivation exactly as SpacetimeDB does it (bsatn.md §3), for minting tokens."""

from __future__ import annotations

import blake3

from ..sats.values import Identity

__all__ = ["ISSUER", "database_identity", "mint_identity", "owner_identity"]

#: The issuer a standalone SpacetimeDB (and the dev server) writes into its tokens.
ISSUER = "localhost"


def mint_identity(issuer: str, subject: str) -> Identity:
    """The identity of the credential (``iss``, ``sub``): ``c2 00`` + 4 checksum bytes + 26 hash bytes."""
    h = blake3.blake3(f"{issuer}|{subject}".encode()).digest()[:26]
    checksum = blake3.blake3(b"\xc2\x00" + h).digest()[:4]
    return Identity.from_be_bytes(b"\xc2\x00" + checksum + h)


def database_identity(name: str) -> Identity:
    """A stable identity for the database called ``name`` (stable across restarts)."""
    return mint_identity(ISSUER, f"stdb-game-devserver-database:{name}")


def owner_identity(name: str) -> Identity:
    """The default owner of database ``name`` when the caller names none."""
    return mint_identity(ISSUER, f"stdb-game-devserver-owner:{name}")
