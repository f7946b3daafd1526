"""Every exception the SDK raises on purpose, in one place so users can catch by family."""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ConnectError",
    "DecodeError",
    "EncodeError",
    "InvalidURLError",
    "ProtocolError",
    "SchemaError",
    "StdbError",
    "UsageError",
]


class StdbError(Exception):
    """Base class of every stdb_game error."""


class DecodeError(StdbError, ValueError):
    """Bytes that do not decode as the expected type.

    ``type_name`` names the type being decoded and ``offset`` the byte offset (into the
    buffer given to the decoder) where decoding failed.
    """

    def __init__(self, message: str, *, type_name: str = "?", offset: int = -1) -> None:
        self.type_name = type_name
        self.offset = offset
        self.reason = message
        super().__init__(f"cannot decode {type_name} at byte {offset}: {message}")


class EncodeError(StdbError, ValueError):
    """A Python value that does not fit the type it is encoded as."""

    def __init__(self, message: str, *, type_name: str = "?") -> None:
        self.type_name = type_name
        self.reason = message
        super().__init__(f"cannot encode {type_name}: {message}")


class UsageError(StdbError, ValueError):
    """A request refused because of how it was made, not because of the server (calling a
    lifecycle reducer...). A ``ValueError`` too, which is what such calls raised before."""


class SchemaError(StdbError, ValueError):
    """A type or module schema that cannot be understood (unknown tag, dangling ref...)."""


class ProtocolError(StdbError):
    """A server frame that cannot be decompressed, decoded or applied.

    ``what`` says what was being decoded (``"frame"``, ``"ServerMessage"``, ``"row of table user"``).
    The session that raised it is failed; the client closes and reports it.
    """

    def __init__(self, message: str, *, what: str = "frame", cause: BaseException | None = None):
        self.what = what
        self.reason = message
        super().__init__(f"protocol error in {what}: {message}")
        if cause is not None:
            self.__cause__ = cause


class ConnectError(StdbError):
    """The connection could not be opened (refused, timed out, bad handshake)."""

    def __init__(self, message: str, *, status: int | None = None, body: str = "") -> None:
        self.status = status
        self.body = body
        super().__init__(message)


class AuthError(ConnectError):
    """The server refused the token (HTTP 401) or the auth header (HTTP 400)."""


class InvalidURLError(ConnectError, ValueError):
    """A server address that is not ``scheme://host[:port][/prefix]`` (or ``host:port``).

    Raised when the client is made, before anything touches the network.
    """
