"""Python value types for SpacetimeDB's special SATS types.

They are immutable, hashable and equal by value, so they can key dicts (the cache's
primary-key indexes) and sit in sets. Wire bytes are little-endian; text forms are
big-endian hex, as SpacetimeDB prints them.
"""

from __future__ import annotations

import datetime as _dt
import os
from typing import Any, Generic, TypeVar

__all__ = [
    "ConnectionId",
    "Identity",
    "ScheduleAt",
    "Some",
    "SumValue",
    "TimeDuration",
    "Timestamp",
]

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
T = TypeVar("T")


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _parse_hex(text: str, nbytes: int, what: str) -> int:
    """Exactly ``2 * nbytes`` hex digits after an optional ``0x``.

    Checked by hand because ``int(s, 16)`` also takes whitespace, a sign and ``_``, which
    the server's hex parser refuses: a lenient parse would accept ids it never issues.
    """
    s = text[2:] if text[:2] in ("0x", "0X") else text
    if len(s) != nbytes * 2:
        raise ValueError(f"{what} hex must be {nbytes * 2} hex digits, got {len(s)}: {text!r}")
    if not _HEX_DIGITS.issuperset(s):
        raise ValueError(f"{what} hex may hold only the digits 0-9a-fA-F: {text!r}")
    return int(s, 16)


def _check_int(value: object, bits: int, what: str) -> None:
    """The constructor takes the id as an int; other forms have their own constructors."""
    if type(value) is not int:
        if isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"{what}() takes the id as an int; build one from its {bits // 8} "
                f"little-endian wire bytes with {what}.from_bytes(data), or from hex text "
                f"with {what}.from_hex(text)"
            )
        if isinstance(value, str):
            raise TypeError(
                f"{what}() takes the id as an int; for hex text use {what}.from_hex(text)"
            )
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(
                f"{what}() takes the id as an int, got {type(value).__name__}; see also "
                f"{what}.from_hex and {what}.from_bytes"
            )
    if not 0 <= value < 1 << bits:
        raise ValueError(f"{what} must be an unsigned {bits}-bit integer, got {value}")


class Identity:
    """A 256-bit SpacetimeDB identity (a user or a database)."""

    __slots__ = ("_value",)
    _value: int
    NBYTES = 32

    def __init__(self, value: int) -> None:
        _check_int(value, 256, "Identity")
        object.__setattr__(self, "_value", value)

    @classmethod
    def from_hex(cls, text: str) -> Identity:
        """Parse the 64-digit big-endian hex form (optional ``0x``)."""
        return cls(_parse_hex(text, 32, "Identity"))

    @classmethod
    def from_bytes(cls, data: bytes) -> Identity:
        """Build from the 32 little-endian wire bytes."""
        if len(data) != 32:
            raise ValueError("Identity needs exactly 32 bytes")
        return cls(int.from_bytes(data, "little"))

    @classmethod
    def from_be_bytes(cls, data: bytes) -> Identity:
        if len(data) != 32:
            raise ValueError("Identity needs exactly 32 bytes")
        return cls(int.from_bytes(data, "big"))

    @classmethod
    def zero(cls) -> Identity:
        return cls(0)

    @property
    def value(self) -> int:
        return self._value

    def to_hex(self) -> str:
        return format(self._value, "064x")

    def to_bytes(self) -> bytes:
        """The 32 little-endian wire bytes."""
        return self._value.to_bytes(32, "little")

    def to_be_bytes(self) -> bytes:
        return self._value.to_bytes(32, "big")

    def is_zero(self) -> bool:
        return self._value == 0

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Identity is immutable")

    def __eq__(self, other: object) -> bool:
        return type(other) is Identity and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Identity", self._value))

    def __lt__(self, other: Identity) -> bool:
        return self._value < other._value

    def __repr__(self) -> str:
        if not hasattr(self, "_value"):  # __new__ without __init__ (copy tools, mocks)
            return "Identity(<no value>)"
        return f"Identity({self.to_hex()!r})"

    def __str__(self) -> str:
        return self.to_hex()

    def __reduce__(self) -> tuple[Any, ...]:
        return (Identity, (self._value,))


class ConnectionId:
    """A 128-bit connection id; all zeros means "no connection"."""

    __slots__ = ("_value",)
    _value: int
    NBYTES = 16

    def __init__(self, value: int) -> None:
        _check_int(value, 128, "ConnectionId")
        object.__setattr__(self, "_value", value)

    @classmethod
    def from_hex(cls, text: str) -> ConnectionId:
        return cls(_parse_hex(text, 16, "ConnectionId"))

    @classmethod
    def from_bytes(cls, data: bytes) -> ConnectionId:
        if len(data) != 16:
            raise ValueError("ConnectionId needs exactly 16 bytes")
        return cls(int.from_bytes(data, "little"))

    @classmethod
    def random(cls) -> ConnectionId:
        """A fresh non-zero random id, as SDKs send in the ``connection_id`` parameter."""
        while True:
            v = int.from_bytes(os.urandom(16), "little")
            if v:
                return cls(v)

    @classmethod
    def zero(cls) -> ConnectionId:
        return cls(0)

    @property
    def value(self) -> int:
        return self._value

    def to_hex(self) -> str:
        return format(self._value, "032x")

    def to_bytes(self) -> bytes:
        return self._value.to_bytes(16, "little")

    def is_zero(self) -> bool:
        return self._value == 0

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("ConnectionId is immutable")

    def __eq__(self, other: object) -> bool:
        return type(other) is ConnectionId and other._value == self._value

    def __hash__(self) -> int:
        return hash(("ConnectionId", self._value))

    def __repr__(self) -> str:
        if not hasattr(self, "_value"):
            return "ConnectionId(<no value>)"
        return f"ConnectionId({self.to_hex()!r})"

    def __str__(self) -> str:
        return self.to_hex()

    def __reduce__(self) -> tuple[Any, ...]:
        return (ConnectionId, (self._value,))


class Timestamp:
    """Microseconds since the Unix epoch (UTC); may be negative."""

    __slots__ = ("_micros",)
    _micros: int

    def __init__(self, micros_since_epoch: int) -> None:
        if not -(1 << 63) <= micros_since_epoch < 1 << 63:
            raise ValueError("Timestamp must fit in a signed 64-bit microsecond count")
        object.__setattr__(self, "_micros", int(micros_since_epoch))

    @classmethod
    def from_datetime(cls, when: _dt.datetime) -> Timestamp:
        """From an aware datetime (naive ones are refused: they hide a timezone bug)."""
        if when.tzinfo is None:
            raise ValueError("Timestamp.from_datetime needs an aware datetime (tzinfo set)")
        delta = when - _EPOCH
        return cls((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)

    @classmethod
    def now(cls) -> Timestamp:
        return cls.from_datetime(_dt.datetime.now(_dt.timezone.utc))

    @property
    def micros_since_epoch(self) -> int:
        return self._micros

    def to_datetime(self) -> _dt.datetime:
        """An aware UTC datetime."""
        return _EPOCH + _dt.timedelta(microseconds=self._micros)

    def to_seconds(self) -> float:
        return self._micros / 1_000_000

    def __add__(self, other: TimeDuration) -> Timestamp:
        if not isinstance(other, TimeDuration):
            return NotImplemented
        return Timestamp(self._micros + other.micros)

    def __sub__(self, other: Timestamp) -> TimeDuration:
        if not isinstance(other, Timestamp):
            return NotImplemented
        return TimeDuration(self._micros - other._micros)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Timestamp is immutable")

    def __eq__(self, other: object) -> bool:
        return type(other) is Timestamp and other._micros == self._micros

    def __lt__(self, other: Timestamp) -> bool:
        return self._micros < other._micros

    def __le__(self, other: Timestamp) -> bool:
        return self._micros <= other._micros

    def __hash__(self) -> int:
        return hash(("Timestamp", self._micros))

    def __repr__(self) -> str:
        try:
            text = self.to_datetime().isoformat()
        except OverflowError:
            text = f"{self._micros}us"
        return f"Timestamp({text})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Timestamp, (self._micros,))


class TimeDuration:
    """A signed span of microseconds."""

    __slots__ = ("_micros",)
    _micros: int

    def __init__(self, micros: int) -> None:
        if not -(1 << 63) <= micros < 1 << 63:
            raise ValueError("TimeDuration must fit in a signed 64-bit microsecond count")
        object.__setattr__(self, "_micros", int(micros))

    @classmethod
    def from_timedelta(cls, delta: _dt.timedelta) -> TimeDuration:
        return cls((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)

    @classmethod
    def from_seconds(cls, seconds: float) -> TimeDuration:
        return cls(round(seconds * 1_000_000))

    @property
    def micros(self) -> int:
        return self._micros

    def to_timedelta(self) -> _dt.timedelta:
        return _dt.timedelta(microseconds=self._micros)

    def to_seconds(self) -> float:
        return self._micros / 1_000_000

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("TimeDuration is immutable")

    def __eq__(self, other: object) -> bool:
        return type(other) is TimeDuration and other._micros == self._micros

    def __lt__(self, other: TimeDuration) -> bool:
        return self._micros < other._micros

    def __hash__(self) -> int:
        return hash(("TimeDuration", self._micros))

    def __repr__(self) -> str:
        return f"TimeDuration({self._micros}us)"

    def __reduce__(self) -> tuple[Any, ...]:
        return (TimeDuration, (self._micros,))


class ScheduleAt:
    """When a scheduled reducer runs: every ``interval`` or once at ``time``."""

    __slots__ = ("_value",)
    _value: TimeDuration | Timestamp

    def __init__(self, value: TimeDuration | Timestamp) -> None:
        if not isinstance(value, (TimeDuration, Timestamp)):
            raise TypeError("ScheduleAt holds a TimeDuration (interval) or a Timestamp (time)")
        object.__setattr__(self, "_value", value)

    @classmethod
    def interval(cls, every: TimeDuration | _dt.timedelta) -> ScheduleAt:
        if isinstance(every, _dt.timedelta):
            every = TimeDuration.from_timedelta(every)
        return cls(every)

    @classmethod
    def time(cls, at: Timestamp | _dt.datetime) -> ScheduleAt:
        if isinstance(at, _dt.datetime):
            at = Timestamp.from_datetime(at)
        return cls(at)

    @property
    def tag(self) -> int:
        """0 = Interval, 1 = Time (the wire tags)."""
        return 0 if isinstance(self._value, TimeDuration) else 1

    @property
    def name(self) -> str:
        return "Interval" if self.tag == 0 else "Time"

    @property
    def value(self) -> TimeDuration | Timestamp:
        return self._value

    @property
    def is_interval(self) -> bool:
        return self.tag == 0

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("ScheduleAt is immutable")

    def __eq__(self, other: object) -> bool:
        return type(other) is ScheduleAt and other._value == self._value

    def __hash__(self) -> int:
        return hash(("ScheduleAt", self._value))

    def __repr__(self) -> str:
        return f"ScheduleAt.{'interval' if self.tag == 0 else 'time'}({self._value!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (ScheduleAt, (self._value,))


class Some(Generic[T]):
    """An explicit ``some`` for nested options: ``Some(None)`` is Some(None), not None.

    Options decode to ``None`` or the bare value; only when the value would itself be
    ``None`` (an ``Option<Option<T>>``) does the decoder wrap it in ``Some``.
    Encoders accept ``Some(x)`` anywhere an option is expected.
    """

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return type(other) is Some and other.value == self.value

    def __hash__(self) -> int:
        return hash(("Some", self.value))

    def __repr__(self) -> str:
        return f"Some({self.value!r})"


class SumValue:
    """A decoded value of a sum type: its variant tag, the variant's name and its payload."""

    __slots__ = ("name", "tag", "value")

    def __init__(self, tag: int, name: str | None, value: Any = ()) -> None:
        self.tag = tag
        self.name = name
        self.value = value

    def __eq__(self, other: object) -> bool:
        if type(other) is not SumValue:
            return NotImplemented
        return self.tag == other.tag and self.value == other.value

    def __hash__(self) -> int:
        return hash(("SumValue", self.tag, _hashable(self.value)))

    def __repr__(self) -> str:
        label = self.name if self.name is not None else f"#{self.tag}"
        if self.value == () or self.value is None:
            return f"SumValue({label})"
        return f"SumValue({label}, {self.value!r})"


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value
