"""What generated bindings share, so the generated files stay thin and declarative.

Generated code imports this module as ``_rt``. It holds:

* base classes of the generated types (``GeneratedProduct``, ``TaggedSum``) that give them
  value equality, hashing and a readable ``repr``;
* the typed wrappers around ``Client`` (``TableView``, ``UniqueColumn``, ``IndexedColumn``,
  ``MultiColumnIndex``, ``ReducersView``, ``DbConnectionBase``) and ``ReducerEventOf``, the
  typed reducer event;
* the *current client* of the old SDK's API (``User.iter()``, ``send_message(...)``,
  ``register_on_send_message(...)``): ``set_current_client(client)`` binds it. The compat
  layer (``stdb_game.compat``) calls it when it connects; a program can call it itself.

Everything here runs on the caller's thread; callbacks still fire only inside ``tick()``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from ..client import CallbackHandle, Client, SubscriptionHandle, TableHandle
from ..errors import SchemaError, StdbError
from ..events import ReducerEvent, ReducerStatus, RowEventContext
from ..sats.values import ConnectionId, Identity, Some, SumValue, TimeDuration, Timestamp
from ..schema import ModuleSchema

if TYPE_CHECKING:
    from ..cache import TableCache

__all__ = [
    "UNSET",
    "CallbackHandle",
    "Client",
    "DbConnectionBase",
    "GeneratedProduct",
    "IndexedColumn",
    "MultiColumnIndex",
    "ReducerEvent",
    "ReducerEventOf",
    "ReducersView",
    "RowEventContext",
    "RowUpdateCallback",
    "SubscriptionHandle",
    "TableView",
    "TaggedSum",
    "UniqueColumn",
    "call_reducer",
    "canonical",
    "connect_client",
    "current_table",
    "filter_index",
    "filter_scan",
    "find_unique",
    "get_current_client",
    "iter_rows",
    "register_on_reducer",
    "register_row_update",
    "reset",
    "set_current_client",
    "unit_variant",
]

log = logging.getLogger("stdb_game.codegen")

RowT = TypeVar("RowT")
KeyT = TypeVar("KeyT")
ArgsT_co = TypeVar("ArgsT_co", covariant=True)
T = TypeVar("T")
P = TypeVar("P", bound="GeneratedProduct")


# ---- value classes ------------------------------------------------------------------------


def _freeze(value: Any) -> Any:
    """A hashable stand-in for a decoded value: lists (SATS arrays) become tuples, also
    inside ``Some`` and ``SumValue``."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if type(value) is Some:
        return ("Some", _freeze(value.value))
    if type(value) is SumValue:
        return ("SumValue", value.tag, _freeze(value.value))
    return value


def canonical(value: T) -> T:
    """``value`` as the decoder would give it: ``Some(x)`` becomes ``x`` unless ``x`` is None
    or itself a ``Some`` (only those need the wrapper), in lists, tuples and ``SumValue``
    payloads too. Generated constructors call it for fields that may hold nested options,
    so ``Row(Some(5)) == Row(5)`` and both hash alike, as they encode alike."""
    v: Any = value
    if type(v) is Some:
        inner = canonical(v.value)
        out: Any = Some(inner) if inner is None or type(inner) is Some else inner
    elif type(v) is list:
        out = [canonical(x) for x in v]
    elif isinstance(v, tuple):
        items = [canonical(x) for x in v]
        make = getattr(type(v), "_make", None)  # a namedtuple (an anonymous product)
        out = make(items) if make is not None else tuple(items)
    elif type(v) is SumValue:
        out = SumValue(v.tag, v.name, canonical(v.value))
    else:
        return value
    return out  # type: ignore[no-any-return]


class GeneratedProduct:
    """Base of generated product and row classes: equal, hashable and printed by value.

    Subclasses list their attribute names, in wire order, in ``_FIELDS``; the codec builds
    them with ``cls(*fields)`` and reads them back through the same names. Rows are shared
    with the client cache: treat them as immutable (``_replace`` makes a changed copy).
    """

    __slots__ = ()
    _FIELDS: ClassVar[tuple[str, ...]] = ()
    _values: ClassVar[Callable[[Any], tuple[Any, ...]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields = cls._FIELDS
        if len(fields) == 1:
            one = attrgetter(fields[0])
            cls._values = staticmethod(lambda obj: (one(obj),))
        elif fields:
            cls._values = staticmethod(attrgetter(*fields))
        else:
            cls._values = staticmethod(lambda obj: ())

    def _astuple(self) -> tuple[Any, ...]:
        """The field values in wire order."""
        return type(self)._values(self)

    def _asdict(self) -> dict[str, Any]:
        """Attribute name -> value, in wire order."""
        return dict(zip(self._FIELDS, type(self)._values(self)))

    def _replace(self: P, **changes: Any) -> P:
        """A copy with some fields changed (the original stays as the cache holds it)."""
        unknown = set(changes) - set(self._FIELDS)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {sorted(unknown)}")
        values = [changes.get(n, v) for n, v in zip(self._FIELDS, type(self)._values(self))]
        return type(self)(*values)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return bool(type(self)._values(self) == type(self)._values(other))

    def __ne__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return bool(type(self)._values(self) != type(self)._values(other))

    def __hash__(self) -> int:
        return hash((type(self).__qualname__, _freeze(type(self)._values(self))))

    def __repr__(self) -> str:
        parts = (f"{n}={v!r}" for n, v in zip(self._FIELDS, type(self)._values(self)))
        return f"{type(self).__qualname__}({', '.join(parts)})"


class TaggedSum:
    """Base of generated sum types with payloads: one subclass per variant.

    A variant class has the wire ``tag`` and variant ``name`` as class attributes and its
    payload as ``value`` (None for unit variants); the codec encodes from ``tag``/``value``
    and decodes through the generated base class's ``_from_sum``.
    """

    __slots__ = ()
    tag: ClassVar[int] = -1
    name: ClassVar[str] = ""

    @property
    def value(self) -> Any:
        return None

    @classmethod
    def _from_sum(cls, tag: int, payload: Any) -> Any:
        """The variant object for a decoded ``(tag, payload)``; generated classes define it."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return bool(self.value == other.value)

    def __ne__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return bool(self.value != other.value)

    def __hash__(self) -> int:
        return hash((type(self).__qualname__, _freeze(self.value)))

    def __repr__(self) -> str:
        v = self.value
        return f"{type(self).__qualname__}()" if v is None else f"{type(self).__qualname__}({v!r})"


def unit_variant(cls: Callable[[], T]) -> Callable[[Any], T]:
    """The decoder entry of a unit variant: one shared instance, whatever the payload."""
    instance = cls()
    return lambda _payload: instance


# ---- typed reducer events -----------------------------------------------------------------


class ReducerEventOf(Protocol[ArgsT_co]):
    """A ``stdb_game.events.ReducerEvent`` whose ``args`` is the reducer's generated args type."""

    @property
    def reducer_name(self) -> str: ...
    @property
    def args(self) -> ArgsT_co: ...
    @property
    def args_bytes(self) -> bytes: ...
    @property
    def caller_identity(self) -> Identity: ...
    @property
    def caller_connection_id(self) -> ConnectionId | None: ...
    @property
    def timestamp(self) -> Timestamp: ...
    @property
    def status(self) -> ReducerStatus: ...
    @property
    def error(self) -> str | None: ...
    @property
    def energy_quanta_used(self) -> int: ...
    @property
    def host_execution_duration(self) -> TimeDuration: ...
    @property
    def reducer_id(self) -> int: ...
    @property
    def request_id(self) -> int | None: ...
    @property
    def is_ours(self) -> bool: ...
    @property
    def round_trip(self) -> float | None: ...
    @property
    def committed(self) -> bool: ...


# ---- typed tables -------------------------------------------------------------------------


class IndexedColumn(Generic[RowT, KeyT]):
    """An indexed column of a table: equality and range lookups through the cache's index."""

    __slots__ = ("_cache", "_column")

    def __init__(self, cache: TableCache[Any], column: int) -> None:
        self._cache = cache
        self._column = column

    def filter(self, value: KeyT) -> list[RowT]:
        """Rows whose column equals ``value`` (one dict lookup)."""
        rows: list[RowT] = self._cache.filter(self._column, value)
        return rows

    def range(
        self, lo: KeyT | None = None, hi: KeyT | None = None, *, hi_inclusive: bool = False
    ) -> list[RowT]:
        """Rows with ``lo <= value < hi`` (``<= hi`` with ``hi_inclusive``), in key order."""
        rows: list[RowT] = self._cache.range(self._column, lo, hi, hi_inclusive=hi_inclusive)
        return rows


class UniqueColumn(IndexedColumn[RowT, KeyT]):
    """A unique column (or the primary key): ``find`` is one dict lookup."""

    __slots__ = ()

    def find(self, value: KeyT) -> RowT | None:
        """The row whose column equals ``value``, or None."""
        row: RowT | None = self._cache.find_unique(self._column, value)
        return row


class _Unset:
    """A column left out of a prefix lookup (None cannot say so: it is an option's value)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"


#: Default of the trailing columns of a generated multi-column ``filter``.
UNSET: Any = _Unset()


class MultiColumnIndex(Generic[RowT]):
    """A btree index on several columns: equality on a leading part of its columns, ranges
    on the column after a fixed prefix (what SpacetimeDB's btree indexes allow). Generated
    subclasses give ``filter`` and ``range`` typed signatures and call these."""

    __slots__ = ("_cache", "_columns")

    def __init__(self, cache: TableCache[Any], columns: tuple[int, ...]) -> None:
        self._cache = cache
        self._columns = columns

    @property
    def columns(self) -> tuple[int, ...]:
        """The index's columns (positions in the row), in index order."""
        return self._columns

    def _filter(self, *values: Any) -> list[RowT]:
        given = list(values)
        while given and given[-1] is UNSET:
            given.pop()
        if not given or len(given) > len(self._columns) or any(v is UNSET for v in given):
            raise TypeError(
                f"table {self._cache.name!r}: filter on index columns {self._columns} takes "
                f"values for its first 1 to {len(self._columns)} columns, in order"
            )
        if len(given) == 1:  # a bare value fits an index on that column alone, or a prefix
            rows: list[RowT] = self._cache.filter(self._columns[:1], given[0])
        else:
            rows = self._cache.filter(self._columns[: len(given)], tuple(given))
        return rows

    def _range(self, lo: Any, hi: Any, prefix: Sequence[Any], hi_inclusive: bool) -> list[RowT]:
        fixed = tuple(prefix)
        n = len(fixed)
        if n >= len(self._columns):
            raise TypeError(
                f"table {self._cache.name!r}: range on index columns {self._columns}: "
                f"prefix= fixes at most {len(self._columns) - 1} columns, got {fixed!r}"
            )
        rows: list[RowT]
        if n == 0:  # bounds on the first column: 1-tuples compare with the keys' first column
            rows = self._cache.range(
                self._columns,
                None if lo is None else (lo,),
                None if hi is None else (hi,),
                hi_inclusive=hi_inclusive,
            )
        else:
            rows = self._cache.range(
                self._columns[: n + 1], lo, hi, hi_inclusive=hi_inclusive, prefix=fixed
            )
        return rows

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._cache.name!r} columns={self._columns}>"


class TableView(Generic[RowT]):
    """The typed face of one ``TableHandle``; generated subclasses add key lookups."""

    __slots__ = ("_cache", "_client", "handle")

    def __init__(self, client: Client, table: str) -> None:
        self._client = client
        self.handle: TableHandle = client.table(table)
        self._cache: TableCache[Any] = self.handle.cache

    @property
    def name(self) -> str:
        """The table's wire name."""
        return self.handle.name

    def iter(self) -> Iterator[RowT]:
        """Every cached row (the cache's order)."""
        rows: Iterator[RowT] = self._cache.iter()
        return rows

    def __iter__(self) -> Iterator[RowT]:
        return self.iter()

    def count(self) -> int:
        return self._cache.count()

    def __len__(self) -> int:
        return self._cache.count()

    def on_insert(self, fn: Callable[[RowEventContext, RowT], None]) -> CallbackHandle:
        """``fn(ctx, row)`` when a row enters the cache."""
        return self.handle.on_insert(fn)

    def on_delete(self, fn: Callable[[RowEventContext, RowT], None]) -> CallbackHandle:
        """``fn(ctx, row)`` when a row leaves the cache."""
        return self.handle.on_delete(fn)

    def on_before_delete(self, fn: Callable[[RowEventContext, RowT], None]) -> CallbackHandle:
        """``fn(ctx, row)`` before a message removes ``row``, while the cache still holds it
        (rows leaving the cache only: not the old row of an update)."""
        return self.handle.on_before_delete(fn)

    def _on_update(self, fn: Callable[[RowEventContext, RowT, RowT], None]) -> CallbackHandle:
        return self.handle.on_update(fn)

    def _find(self, column: int, value: Any) -> RowT | None:
        row: RowT | None = self._cache.find_unique(column, value)
        return row

    def _filter(self, columns: int | tuple[int, ...], value: Any) -> list[RowT]:
        rows: list[RowT] = self._cache.filter(columns, value)
        return rows

    def query(self, where: str | None = None) -> str:
        """``SELECT * FROM <table>`` with an optional SQL ``WHERE`` condition."""
        sql = f"SELECT * FROM {self.handle.name}"
        return f"{sql} WHERE {where}" if where else sql

    def subscribe(self, where: str | None = None) -> SubscriptionHandle:
        """Subscribe to this table's rows (those matching ``where`` if given)."""
        return self._client.subscribe(self.query(where))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.handle.name!r} rows={self.count()}>"


# ---- typed reducers and the connection ----------------------------------------------------


def _encode_args(client: Client, reducer: str, args: tuple[Any, ...]) -> bytes:
    session = client.session
    if session is None:  # pragma: no cover - generated connections always carry SCHEMA
        raise StdbError("the client has no schema")
    return session.encode_reducer_args(reducer, args)


class ReducersView:
    """Base of the generated ``RemoteReducers``: call reducers and watch their runs."""

    __slots__ = ("client",)

    def __init__(self, client: Client) -> None:
        self.client = client

    def _call(self, reducer: str, args: tuple[Any, ...]) -> int:
        return self.client.call_reducer(reducer, raw_args=_encode_args(self.client, reducer, args))

    def _on(self, reducer: str, fn: Callable[[Any], None]) -> CallbackHandle:
        return self.client.on_reducer(reducer, fn)


def _unwrap(client: Client | DbConnectionBase) -> Client:
    return client.client if isinstance(client, DbConnectionBase) else client


class DbConnectionBase:
    """Base of the generated ``DbConnection``: a ``Client`` plus typed ``db`` and ``reducers``."""

    def __init__(self, client: Client, schema: ModuleSchema) -> None:
        try:
            has = client.schema
        except StdbError:
            has = None
        if has is not schema:
            raise SchemaError(
                "this client was built with another schema; pass schema=SCHEMA of the "
                "generated bindings (or use their connect())"
            )
        self.client = client
        #: ``Client.tick``: do this frame's networking, fire callbacks; never blocks.
        self.tick = client.tick

    @property
    def identity(self) -> Identity | None:
        return self.client.identity

    @property
    def connection_id(self) -> ConnectionId | None:
        return self.client.connection_id

    @property
    def is_connected(self) -> bool:
        return self.client.is_connected

    def subscribe(self, queries: str | Sequence[str]) -> SubscriptionHandle:
        """Subscribe to SQL queries as one set (``conn.db.<table>.query()`` builds them)."""
        return self.client.subscribe(queries)

    def subscribe_to_all_tables(self) -> SubscriptionHandle:
        """``SELECT *`` of every public table; ``StdbError`` if the module has none (private
        tables are the owner's: subscribe to them by name, ``conn.db.<table>.subscribe()``)."""
        return self.client.subscribe_to_all_tables()

    def on_connect(self, fn: Callable[[Identity, str, ConnectionId], None]) -> CallbackHandle:
        return self.client.on_connect(fn)

    def on_disconnect(self, fn: Callable[[Any], None]) -> CallbackHandle:
        return self.client.on_disconnect(fn)

    def run_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Tick until ``predicate()`` holds (True) or ``timeout`` seconds pass (False)."""
        return self.client.run_until(predicate, timeout)

    def disconnect(self) -> None:
        self.client.disconnect()

    def make_current(self) -> None:
        """Bind the old-style API (``User.iter()``, ``send_message(...)``) to this connection."""
        set_current_client(self.client)

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.__exit__(*exc)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.client!r}>"


def connect_client(
    uri: str, database: str, schema: ModuleSchema, client_kwargs: Mapping[str, Any]
) -> Client:
    """A ``Client`` for the bindings' schema, connected (the one blocking handshake)."""
    if "schema" in client_kwargs:
        raise TypeError("connect() passes the bindings' SCHEMA itself; do not pass schema=")
    return Client(uri, database, schema=schema, **client_kwargs).connect()


# ---- the old SDK's API: a current client ---------------------------------------------------

#: fn(row_op, old, new, reducer_event) with row_op "insert", "delete" or "update".
RowUpdateCallback = Callable[[str, Any, Any, "ReducerEvent | None"], None]

_current: Client | None = None
_row_update: dict[str, list[RowUpdateCallback]] = {}
_reducer_callbacks: dict[str, list[Callable[..., None]]] = {}
_installed_tables: dict[str, list[CallbackHandle]] = {}
_installed_reducers: dict[str, CallbackHandle] = {}


def set_current_client(client: Client | DbConnectionBase | None) -> None:
    """Bind (or with None, unbind) the client the old-style API uses.

    Callbacks registered with ``register_row_update`` / ``register_on_<reducer>`` before or
    after this call all fire for the current client; switching clients moves them over.
    """
    global _current
    new = None if client is None else _unwrap(client)
    if new is _current:
        return
    for handles in _installed_tables.values():
        for h in handles:
            h.remove()
    for h in _installed_reducers.values():
        h.remove()
    _installed_tables.clear()
    _installed_reducers.clear()
    _current = new
    if new is None:
        return
    for table in _row_update:
        _install_table(new, table)
    for reducer in _reducer_callbacks:
        _install_reducer(new, reducer)


def reset() -> None:
    """Unbind the current client and forget every old-style callback (tests, shutdown)."""
    set_current_client(None)
    _row_update.clear()
    _reducer_callbacks.clear()


def get_current_client() -> Client:
    """The client bound by ``set_current_client``."""
    if _current is None:
        raise StdbError(
            "no current client: call stdb_game.codegen.runtime.set_current_client(client) "
            "(or conn.make_current()) before using the module-level binding functions"
        )
    return _current


def current_table(table: str) -> TableHandle:
    """Table ``table`` of the current client."""
    return get_current_client().table(table)


def iter_rows(cls: type[T], table: str) -> Iterator[T]:
    """Every cached row of ``table`` (rows are ``cls`` instances)."""
    rows: Iterator[T] = current_table(table).cache.iter()
    return rows


def find_unique(cls: type[T], table: str, column: int, value: Any) -> T | None:
    """The row of ``table`` whose unique ``column`` equals ``value`` (old ``filter_by_``)."""
    row: T | None = current_table(table).cache.find_unique(column, value)
    return row


def filter_index(cls: type[T], table: str, column: int, value: Any) -> list[T]:
    """Rows of ``table`` whose indexed ``column`` equals ``value``."""
    rows: list[T] = current_table(table).cache.filter(column, value)
    return rows


def filter_scan(cls: type[T], table: str, attribute: str, value: Any) -> list[T]:
    """Rows of ``table`` whose ``attribute`` equals ``value``: a scan, for unindexed columns."""
    get = attrgetter(attribute)
    return [row for row in current_table(table).cache.iter() if get(row) == value]


def call_reducer(reducer: str, args: tuple[Any, ...]) -> int:
    """Call ``reducer`` on the current client; returns the request id."""
    client = get_current_client()
    return client.call_reducer(reducer, raw_args=_encode_args(client, reducer, args))


def register_row_update(table: str, fn: RowUpdateCallback) -> CallbackHandle:
    """``fn(row_op, old, new, reducer_event)`` for every row change of ``table``."""
    lst = _row_update.setdefault(table, [])
    lst.append(fn)
    if _current is not None and table not in _installed_tables:
        _install_table(_current, table)
    return CallbackHandle(lst, fn)


def register_on_reducer(reducer: str, fn: Callable[..., None]) -> CallbackHandle:
    """``fn(caller_identity, status, message, *args)`` for every run of ``reducer``.

    ``status`` is ``"committed"``, ``"failed"`` or ``"out_of_energy"``; ``message`` the
    error text ("" when it committed); ``args`` the reducer's arguments in order.
    """
    lst = _reducer_callbacks.setdefault(reducer, [])
    lst.append(fn)
    if _current is not None and reducer not in _installed_reducers:
        _install_reducer(_current, reducer)
    return CallbackHandle(lst, fn)


def _install_table(client: Client, table: str) -> None:
    try:
        handle = client.table(table)
    except SchemaError:
        log.warning("the current client has no table %r; its row callbacks stay idle", table)
        return
    fns = _row_update[table]

    def on_insert(ctx: RowEventContext, row: Any) -> None:
        for fn in list(fns):
            fn("insert", None, row, ctx.reducer_event)

    def on_delete(ctx: RowEventContext, row: Any) -> None:
        for fn in list(fns):
            fn("delete", row, None, ctx.reducer_event)

    def on_update(ctx: RowEventContext, old: Any, new: Any) -> None:
        for fn in list(fns):
            fn("update", old, new, ctx.reducer_event)

    _installed_tables[table] = [
        handle.on_insert(on_insert),
        handle.on_delete(on_delete),
        handle.on_update(on_update),
    ]


def _args_tuple(args: Any) -> tuple[Any, ...] | None:
    if isinstance(args, GeneratedProduct):
        return args._astuple()
    if isinstance(args, tuple):
        return tuple(args)
    return None


def _install_reducer(client: Client, reducer: str) -> None:
    fns = _reducer_callbacks[reducer]

    def dispatch(ev: ReducerEvent) -> None:
        args = _args_tuple(ev.args)
        if args is None:
            log.warning("arguments of %r did not decode; old-style callbacks skipped", reducer)
            return
        for fn in list(fns):
            fn(ev.caller_identity, ev.status.value, ev.error or "", *args)

    _installed_reducers[reducer] = client.on_reducer(reducer, dispatch)
