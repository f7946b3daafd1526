"""The declarative API modules are written with: ``Module``, ``column``, ``index``, markers.

A module is a plain Python file::

    module = Module("quickstart-chat")

    @module.table(name="user", public=True)
    class User:
        identity: Identity = column(primary_key=True)
        name: str | None
        online: bool

    @module.reducer
    def set_name(ctx: ReducerContext, name: str) -> None: ...

Declarations only record intent; ``Module.build()`` (called by ``Database.open``) resolves the
annotations, checks every rule and produces the ``ModuleDef`` the engine runs.
"""

from __future__ import annotations

import enum
import inspect
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, overload

from ..sats.values import ConnectionId, Identity, ScheduleAt, SumValue, TimeDuration, Timestamp
from .coltypes import f32, f64, i8, i16, i32, i64, i128, i256, u8, u16, u32, u64, u128, u256
from .context import ReducerContext
from .errors import ModuleError, ReducerError
from .rowclass import MISSING, make_record_class, record_methods

try:  # lets type checkers see row classes as dataclass-like constructors
    from typing_extensions import dataclass_transform
except ImportError:  # pragma: no cover - only a typing nicety

    def dataclass_transform(**_: Any) -> Callable[[Any], Any]:  # type: ignore[misc]
        return lambda f: f


__all__ = [
    "LIFECYCLES",
    "ColumnSpec",
    "ConnectionId",
    "Identity",
    "IndexSpec",
    "Module",
    "ReducerContext",
    "ReducerDecl",
    "ReducerError",
    "ScheduleAt",
    "SpacetimeType",
    "SumValue",
    "TableDecl",
    "TimeDuration",
    "Timestamp",
    "column",
    "f32",
    "f64",
    "i8",
    "i16",
    "i32",
    "i64",
    "i128",
    "i256",
    "index",
    "u8",
    "u16",
    "u32",
    "u64",
    "u128",
    "u256",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

#: Lifecycle names accepted by ``@module.reducer(lifecycle=...)`` -> the schema's Lifecycle variant.
LIFECYCLES = {
    "init": "Init",
    "client_connected": "OnConnect",
    "client_disconnected": "OnDisconnect",
}


class ColumnSpec:
    """What ``column(...)`` records for one field."""

    __slots__ = ("auto_inc", "default", "index", "primary_key", "unique")

    def __init__(
        self, primary_key: bool, unique: bool, index: bool, auto_inc: bool, default: Any
    ) -> None:
        self.primary_key = primary_key
        self.unique = unique
        self.index = index
        self.auto_inc = auto_inc
        self.default = default


def column(
    *,
    primary_key: bool = False,
    unique: bool = False,
    index: bool = False,
    auto_inc: bool = False,
    default: Any = MISSING,
) -> Any:
    """Column options; an ``auto_inc`` column defaults to 0 (= "assign the next value")."""
    if auto_inc and default is MISSING:
        default = 0
    return ColumnSpec(primary_key, unique, index, auto_inc, default)


class IndexSpec:
    """A (possibly multi-column) btree index declared on a table."""

    __slots__ = ("columns", "name")

    def __init__(self, columns: Sequence[str], name: str | None) -> None:
        self.columns = tuple(columns)
        self.name = name


def index(*columns: str, name: str | None = None) -> IndexSpec:
    """A btree index over ``columns``; ``name`` is its accessor (``ctx.db.t.<name>.filter``)."""
    if not columns:
        raise ModuleError("index() needs at least one column")
    return IndexSpec(columns, name)


class SpacetimeType:
    """Base class for product types usable in columns without an explicit ``@module.type``.

    Subclasses become record classes in place (keyword/positional constructor, equality).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields, specs, defaults = _declared_fields(cls)
        for name, value in record_methods(cls, fields, defaults).items():
            if name in ("__eq__", "__repr__", "_replace") and name in cls.__dict__:
                continue
            setattr(cls, name, value)
        for f in fields:
            if f in cls.__dict__:
                delattr(cls, f)
        info = RecordInfo(cls, fields, specs)
        info.defaults = defaults
        info.localns = caller_locals(1)
        cls.__stdb_record__ = info  # type: ignore[attr-defined]


class RecordInfo:
    """What the declaration of a record class (table row or product type) said."""

    __slots__ = ("columns", "defaults", "fields", "localns", "source")

    def __init__(self, source: type, fields: list[str], columns: dict[str, ColumnSpec]) -> None:
        self.source = source
        self.fields = fields
        self.columns = columns
        self.defaults: dict[str, Any] = {}
        #: local names where the class was declared (annotations may name them)
        self.localns: dict[str, Any] = {}


class TableDecl:
    """One ``@module.table`` declaration."""

    __slots__ = ("cls", "indexes", "name", "public", "scheduled")

    def __init__(
        self,
        name: str,
        cls: type,
        public: bool,
        scheduled: str | None,
        indexes: Sequence[IndexSpec],
    ) -> None:
        self.name = name
        self.cls = cls
        self.public = public
        self.scheduled = scheduled
        self.indexes = tuple(indexes)


class ReducerDecl:
    """One ``@module.reducer`` declaration."""

    __slots__ = ("fn", "lifecycle", "localns", "name")

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        lifecycle: str | None,
        localns: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.fn = fn
        self.lifecycle = lifecycle
        self.localns = localns or {}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def record_info(cls: type) -> RecordInfo | None:
    """The declaration info of a record class made by this module API, if it is one."""
    info = cls.__dict__.get("__stdb_record__")
    return info if isinstance(info, RecordInfo) else None


def _declared_fields(cls: type) -> tuple[list[str], dict[str, ColumnSpec], dict[str, Any]]:
    """Fields (annotated, not underscored), their column() specs and defaults."""
    anns: dict[str, Any] = dict(inspect.get_annotations(cls))
    fields = [f for f in anns if not f.startswith("_")]
    specs: dict[str, ColumnSpec] = {}
    defaults: dict[str, Any] = {}
    for f in fields:
        value = cls.__dict__.get(f, MISSING)
        if isinstance(value, ColumnSpec):
            specs[f] = value
            value = value.default
        if value is not MISSING:
            defaults[f] = value
    return fields, specs, defaults


def caller_locals(depth: int) -> dict[str, Any]:
    """The local names of a declaring function (empty at module level, where globals serve)."""
    try:
        frame = sys._getframe(depth + 1)
    except ValueError:  # pragma: no cover
        return {}
    if frame.f_locals is frame.f_globals:
        return {}
    return dict(frame.f_locals)


def make_record(cls: type, localns: dict[str, Any] | None = None) -> type:
    """Turn an annotated class into a record class (idempotent)."""
    if record_info(cls) is not None:
        return cls
    fields, specs, defaults = _declared_fields(cls)
    new = make_record_class(cls, fields, defaults)
    info = RecordInfo(cls, fields, specs)
    info.defaults = defaults
    info.localns = localns or {}
    new.__stdb_record__ = info  # type: ignore[attr-defined]
    return new


class Module:
    """A module: its tables, types and reducers, declared with decorators."""

    def __init__(self, name: str, *, seed: int = 0) -> None:
        self.name = name
        self.seed = seed
        self.tables: list[TableDecl] = []
        self.reducers: list[ReducerDecl] = []
        self.types: list[type] = []
        self._built: Any = None

    # ---- tables ------------------------------------------------------------------------------

    @overload
    @dataclass_transform(field_specifiers=(column,))
    def table(self, cls: type[T]) -> type[T]: ...

    @overload
    def table(
        self,
        *,
        name: str | None = None,
        public: bool = False,
        scheduled: str | Callable[..., Any] | None = None,
        indexes: Sequence[IndexSpec] = (),
    ) -> Callable[[type[T]], type[T]]: ...

    def table(
        self,
        cls: type[T] | None = None,
        *,
        name: str | None = None,
        public: bool = False,
        scheduled: str | Callable[..., Any] | None = None,
        indexes: Sequence[IndexSpec] = (),
    ) -> Any:
        """Declare a table whose rows are instances of the decorated class.

        Stack two ``@module.table`` decorators to give two tables the same row type.
        ``scheduled`` names the reducer the table's rows schedule.
        """

        depth = 2 if cls is not None else 1

        def wrap(c: type[T]) -> type[T]:
            rec = make_record(c, caller_locals(depth))
            sched = scheduled.__name__ if callable(scheduled) else scheduled
            tname = name or _snake(rec.__name__)
            if any(d.name == tname for d in self.tables):
                raise ModuleError(f"table {tname!r} is declared twice")
            self.tables.append(TableDecl(tname, rec, public, sched, indexes))
            self._built = None
            return rec

        return wrap(cls) if cls is not None else wrap

    # ---- types -------------------------------------------------------------------------------

    @overload
    @dataclass_transform(field_specifiers=(column,))
    def type(self, cls: type[T]) -> type[T]: ...

    @overload
    def type(self, *, sum: bool = False) -> Callable[[type[T]], type[T]]: ...

    def type(self, cls: type[T] | None = None, *, sum: bool = False) -> Any:
        """Declare a named type: a product (annotated class), an ``enum.Enum``, or a sum.

        With ``sum=True`` each annotation is a variant (``None`` = no payload); values are
        ``SumValue``s, built with ``Cls.variant(payload)`` or read as ``Cls.variant`` for units.
        """

        depth = 2 if cls is not None else 1

        def wrap(c: type[T]) -> type[T]:
            out: type
            localns = caller_locals(depth)
            if issubclass(c, enum.Enum):
                out = c
            elif sum:
                out = c
                c.__stdb_sum__ = True  # type: ignore[attr-defined]
                c.__stdb_localns__ = localns  # type: ignore[attr-defined]
            else:
                out = make_record(c, localns)
            if out not in self.types:
                self.types.append(out)
            self._built = None
            return out

        return wrap(cls) if cls is not None else wrap

    # ---- reducers ----------------------------------------------------------------------------

    @overload
    def reducer(self, fn: F) -> F: ...

    @overload
    def reducer(
        self, *, name: str | None = None, lifecycle: str | None = None
    ) -> Callable[[F], F]: ...

    def reducer(
        self, fn: F | None = None, *, name: str | None = None, lifecycle: str | None = None
    ) -> Any:
        """Declare a reducer ``fn(ctx, *args)``; ``lifecycle`` is init / client_connected /
        client_disconnected. Raise (any exception, or ``ReducerError``) to fail and roll back."""
        if lifecycle is not None and lifecycle not in LIFECYCLES:
            raise ModuleError(f"unknown lifecycle {lifecycle!r}; use one of {sorted(LIFECYCLES)}")

        depth = 2 if fn is not None else 1

        def wrap(f: F) -> F:
            rname = name or f.__name__
            if any(d.name == rname for d in self.reducers):
                raise ModuleError(f"reducer {rname!r} is declared twice")
            if lifecycle and any(d.lifecycle == lifecycle for d in self.reducers):
                raise ModuleError(f"a {lifecycle} reducer is already declared")
            self.reducers.append(ReducerDecl(rname, f, lifecycle, caller_locals(depth)))
            self._built = None
            return f

        return wrap(fn) if fn is not None else wrap

    def build(self) -> Any:
        """The checked, resolved definition (a ``ModuleDef``), built once."""
        if self._built is None:
            from .moduledef import build_module

            self._built = build_module(self)
        return self._built
