"""Exceptions of the dev server's database engine, so the network layer can map them to replies."""

from __future__ import annotations

from ..errors import SchemaError, StdbError

__all__ = [
    "CommitLogError",
    "InitError",
    "LifecycleCallError",
    "ModuleError",
    "ReducerArgsError",
    "ReducerCallError",
    "ReducerError",
    "ReducerNotFoundError",
    "SqlError",
    "UniqueViolation",
]


class ModuleError(SchemaError):
    """A module definition the engine cannot run (bad column type, missing scheduled reducer...)."""


class InitError(ModuleError):
    """The module's ``init`` reducer failed, so the database cannot be created.

    ``cause`` is what ``init`` raised (None if it failed without raising, e.g. at commit), so
    the dev server can print the module's own traceback rather than the engine's.
    """

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class ReducerError(Exception):
    """Raise inside a reducer to fail it with a message; the transaction is rolled back."""


class UniqueViolation(ReducerError):
    """An insert or update that would duplicate a unique or primary-key column."""


class ReducerCallError(StdbError):
    """A reducer call refused before it ran; ``status`` is the HTTP status the real server uses."""

    status = 400


class ReducerNotFoundError(ReducerCallError):
    """No reducer of that name in the module."""

    status = 404


class ReducerArgsError(ReducerCallError):
    """The arguments do not decode as the reducer's parameter types."""

    status = 400


class LifecycleCallError(ReducerCallError):
    """Clients may not call lifecycle reducers (init, connect, disconnect) directly."""

    status = 400


class SqlError(StdbError):
    """SQL the dev server does not accept; the message says why. ``unauthorized`` maps to 401."""

    def __init__(self, message: str, *, unauthorized: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.unauthorized = unauthorized


class CommitLogError(StdbError):
    """A commit log that cannot be replayed safely (corruption before the last record, schema)."""
