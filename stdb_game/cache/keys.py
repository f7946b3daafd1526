"""Column-value extractors for decoded rows, built once per table so lookups stay in C,
and the sort keys that give range lookups SpacetimeDB's btree order on every column type."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter, itemgetter
from typing import Any

from ..errors import SchemaError
from ..sats.codec import _sum_tag
from ..sats.types import AlgebraicType, ArrayType, PrimitiveType, ProductType, SumType
from ..sats.values import Some

__all__ = ["KeyGetter", "OrderKey", "column_getter", "column_order", "normalize_columns"]

#: Takes a decoded row, returns one column value (one column) or a tuple (several).
KeyGetter = Callable[[Any], Any]
#: Maps an index key (a column value or a tuple of them) to a totally ordered stand-in.
OrderKey = Callable[[Any], Any]


def normalize_columns(columns: int | Sequence[int]) -> tuple[int, ...]:
    """``3`` or ``[3]`` or ``(3, 1)`` as a tuple of column positions."""
    if isinstance(columns, int):
        return (columns,)
    return tuple(columns)


def column_getter(row_type: ProductType, columns: Sequence[int]) -> KeyGetter:
    """An ``itemgetter`` for namedtuple rows, an ``attrgetter`` for ``py_class`` rows.

    One column gives the bare value, several give a tuple, so a multi-column key is an
    ordinary (hashable, ordered) tuple.
    """
    cols = tuple(columns)
    width = len(row_type.elements)
    if not cols:
        raise SchemaError(f"{_label(row_type)}: an index needs at least one column")
    for c in cols:
        if not 0 <= c < width:
            raise SchemaError(f"{_label(row_type)}: column {c} is outside 0..{width - 1}")
        col_type = row_type.elements[c].algebraic_type
        if not _decodes_hashable(col_type):
            # Caught here, not at commit: an unhashable key would fail half-way through a commit.
            raise SchemaError(
                f"{_label(row_type)}: column {c} ({col_type.describe()}) decodes to a list "
                "and cannot key an index"
            )
    if row_type.py_class is None:
        return itemgetter(*cols)
    names = row_type.py_fields or tuple(e.name or "" for e in row_type.elements)
    picked = [names[c] for c in cols]
    if not all(picked):
        raise SchemaError(f"{_label(row_type)}: py_class rows need named columns to index")
    return attrgetter(*picked)


def _decodes_hashable(ty: AlgebraicType, depth: int = 0) -> bool:
    """False when decoded values may contain a ``list`` (arrays other than bytes)."""
    if depth > 64:
        return True
    t = ty.resolve()
    if isinstance(t, ArrayType):
        return t.is_bytes
    if isinstance(t, ProductType):
        return all(_decodes_hashable(e.algebraic_type, depth + 1) for e in t.elements)
    if isinstance(t, SumType):
        return all(_decodes_hashable(v.algebraic_type, depth + 1) for v in t.variants)
    return True


def _label(row_type: ProductType) -> str:
    return row_type.name or "row type"


# ---- range order ------------------------------------------------------------------------------
#
# SpacetimeDB orders btree keys by its AlgebraicValue ordering: numbers by value with floats
# in IEEE total order where every NaN sorts after +inf (its F32/F64 are decorum::Total), -0.0
# equal to 0.0; strings and bytes bytewise; products field by field; sums by variant tag,
# then payload. Option is the sum some(0) | none(1), so None sorts after every value.
# Python already orders ints, bools, str, bytes, UUIDs and Timestamps that way; the rest
# (NaN, ConnectionId, SumValue, None, generated classes) get a stand-in key built here.


def column_order(row_type: ProductType, columns: Sequence[int]) -> OrderKey | None:
    """The sort key for an index on ``columns``, or None when the raw keys already sort right.

    Several columns give tuple keys; the sort key maps each element, so a shorter tuple
    still bounds a prefix.
    """
    cols = tuple(columns)
    orders = [_value_order(row_type.elements[c].algebraic_type, 0) for c in cols]
    if all(o is None for o in orders):
        return None
    if len(cols) == 1:
        return orders[0]
    fns = [o if o is not None else _same for o in orders]
    return lambda key: tuple([f(v) for f, v in zip(fns, key)])


def _same(v: Any) -> Any:
    return v


def _float_order(x: Any) -> Any:
    return (1,) if x != x else (0, x)  # NaN after every number, all NaNs equal


def _int_value(v: Any) -> Any:
    """Identity / ConnectionId by their integer (a plain int bound is taken as is)."""
    return v if isinstance(v, int) else v.value


def _schedule_order(v: Any) -> Any:
    inner = v.value
    return (v.tag, inner.micros if v.tag == 0 else inner.micros_since_epoch)


def _value_order(ty: AlgebraicType, depth: int) -> OrderKey | None:
    """The stand-in key for one decoded value of ``ty``; None if the value sorts right as is."""
    t = ty.resolve()
    if depth > 32:  # recursive through a Ref: no index column is this deep
        return None
    if isinstance(t, PrimitiveType):
        return _float_order if t.kind in ("F32", "F64") else None
    if isinstance(t, ArrayType):
        return None  # only byte arrays can key an index (column_getter), and bytes sort right
    if isinstance(t, ProductType):
        return _product_order(t, depth)
    if isinstance(t, SumType):
        return _sum_order(t, depth)
    return None


def _product_order(t: ProductType, depth: int) -> OrderKey | None:
    sp = t.special
    if sp in ("identity", "connection_id"):
        return _int_value
    if sp is not None:
        return None  # timestamp, time_duration, uuid and unit order themselves
    orders = [_value_order(e.algebraic_type, depth + 1) for e in t.elements]
    fns = [o if o is not None else _same for o in orders]
    if t.py_class is None:
        if all(o is None for o in orders):
            return None  # plain tuples compare field by field already
        return lambda v: tuple([f(x) for f, x in zip(fns, v)])
    names = t.py_fields or tuple(e.name or "" for e in t.elements)
    getters = list(zip(fns, names))
    return lambda v: tuple([f(getattr(v, n)) for f, n in getters])


def _sum_order(t: SumType, depth: int) -> OrderKey:
    sp = t.special
    if sp == "option":
        inner = _value_order(t.variants[0].algebraic_type, depth + 1) or _same

        def option_order(v: Any) -> Any:
            if v is None:
                return (1,)
            return (0, inner(v.value if type(v) is Some else v))

        return option_order
    if sp == "schedule_at":
        return _schedule_order
    names = [v.name for v in t.variants]
    payloads = [
        None if v.is_unit else (_value_order(v.algebraic_type, depth + 1) or _same)
        for v in t.variants
    ]

    def sum_order(v: Any) -> Any:
        tag, payload = _sum_tag(v, names)
        f = payloads[tag] if 0 <= tag < len(payloads) else None
        return (tag,) if f is None else (tag, f(payload))

    return sum_order
