"""Python annotations -> SATS types: the integer/float markers modules write, and the mapping.

Markers are ``Annotated`` aliases, so a type checker sees ``u8`` as ``int`` and module authors
need no casts; the engine reads the SATS type from the annotation's metadata.
"""

from __future__ import annotations

import enum
import types as _pytypes
import typing
from typing import Annotated, Any, Union

from ..sats import types as t
from ..sats.values import ConnectionId, Identity, ScheduleAt, TimeDuration, Timestamp
from .errors import ModuleError

__all__ = [
    "SatsMarker",
    "TypePair",
    "f32",
    "f64",
    "i8",
    "i16",
    "i32",
    "i64",
    "i128",
    "i256",
    "u8",
    "u16",
    "u32",
    "u64",
    "u128",
    "u256",
]


class SatsMarker:
    """Metadata inside ``Annotated[int, SatsMarker(U8)]``: the SATS type of the annotation."""

    __slots__ = ("ty",)

    def __init__(self, ty: t.AlgebraicType) -> None:
        self.ty = ty

    def __repr__(self) -> str:
        return f"SatsMarker({self.ty!r})"


u8 = Annotated[int, SatsMarker(t.U8)]
u16 = Annotated[int, SatsMarker(t.U16)]
u32 = Annotated[int, SatsMarker(t.U32)]
u64 = Annotated[int, SatsMarker(t.U64)]
u128 = Annotated[int, SatsMarker(t.U128)]
u256 = Annotated[int, SatsMarker(t.U256)]
i8 = Annotated[int, SatsMarker(t.I8)]
i16 = Annotated[int, SatsMarker(t.I16)]
i32 = Annotated[int, SatsMarker(t.I32)]
i64 = Annotated[int, SatsMarker(t.I64)]
i128 = Annotated[int, SatsMarker(t.I128)]
i256 = Annotated[int, SatsMarker(t.I256)]
f32 = Annotated[float, SatsMarker(t.F32)]
f64 = Annotated[float, SatsMarker(t.F64)]

_SIMPLE: dict[Any, t.AlgebraicType] = {
    bool: t.BOOL,
    int: t.I64,
    float: t.F64,
    str: t.STRING,
    bytes: t.bytes_type(),
    Identity: t.IDENTITY,
    ConnectionId: t.CONNECTION_ID,
    Timestamp: t.TIMESTAMP,
    TimeDuration: t.TIME_DURATION,
    ScheduleAt: t.SCHEDULE_AT,
}


class TypePair:
    """One SATS type in two bindings: ``plain`` decodes to tuples, ``obj`` to the module's classes."""

    __slots__ = ("obj", "plain")

    def __init__(self, plain: t.AlgebraicType, obj: t.AlgebraicType | None = None) -> None:
        self.plain = plain
        self.obj = obj if obj is not None else plain


class UserTypeResolver(typing.Protocol):
    """Looks up (and registers on first use) a module-defined class as a SATS type."""

    def user_type(self, cls: type, where: str) -> TypePair | None: ...


def convert_annotation(ann: Any, resolver: UserTypeResolver, where: str) -> TypePair:
    """The SATS type of a resolved annotation, or ModuleError saying what is wrong."""
    origin = typing.get_origin(ann)
    if origin is Annotated:
        for meta in ann.__metadata__:
            if isinstance(meta, SatsMarker):
                return TypePair(meta.ty)
        return convert_annotation(typing.get_args(ann)[0], resolver, where)
    if ann in _SIMPLE:
        return TypePair(_SIMPLE[ann])
    if origin is Union or origin is _pytypes.UnionType:
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(ann)) == 2:
            inner = convert_annotation(args[0], resolver, where)
            return TypePair(t.option(inner.plain), t.option(inner.obj))
        raise ModuleError(f"{where}: only `T | None` unions are supported, got {ann!r}")
    if origin is list:
        (arg,) = typing.get_args(ann) or (None,)
        if arg is None:
            raise ModuleError(f"{where}: say what the list holds, e.g. list[int]")
        inner = convert_annotation(arg, resolver, where)
        return TypePair(t.array(inner.plain), t.array(inner.obj))
    if isinstance(ann, type):
        pair = resolver.user_type(ann, where)
        if pair is not None:
            return pair
        if issubclass(ann, enum.Enum):
            raise ModuleError(f"{where}: enum {ann.__name__} must be declared with @module.type")
    raise ModuleError(
        f"{where}: cannot map {ann!r} to a SpacetimeDB type (use bool, int markers like u32, "
        "float, str, bytes, list[T], T | None, Identity, ConnectionId, Timestamp, TimeDuration, "
        "ScheduleAt, or a @module.type class)"
    )
