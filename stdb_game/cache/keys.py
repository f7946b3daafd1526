"""Column-value extractors for decoded rows, built once per table so lookups stay in C."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter, itemgetter
from typing import Any

from ..errors import SchemaError
from ..sats.types import AlgebraicType, ArrayType, ProductType, SumType

__all__ = ["KeyGetter", "column_getter", "normalize_columns"]

#: Takes a decoded row, returns one column value (one column) or a tuple (several).
KeyGetter = Callable[[Any], Any]


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
