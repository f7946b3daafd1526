"""``BsatnRowList``: a table's rows as one raw BSATN blob plus the hint that cuts it into rows.

Rows stay as bytes here; the cache keys rows by their bytes and decodes only the ones it
has not seen, so the protocol layer never decodes a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Union

from ...errors import EncodeError, ProtocolError

__all__ = ["BsatnRowList", "FixedSize", "RowOffsets", "RowSizeHint"]

_U16_MAX = 0xFFFF


@dataclass(frozen=True, slots=True)
class FixedSize:
    """Every row is exactly ``row_size`` bytes (sum tag 0, a u16)."""

    TAG: ClassVar[int] = 0
    row_size: int


@dataclass(frozen=True, slots=True)
class RowOffsets:
    """Row ``i`` starts at ``offsets[i]`` and ends where the next starts (sum tag 1)."""

    TAG: ClassVar[int] = 1
    offsets: tuple[int, ...]


RowSizeHint = Union[FixedSize, RowOffsets]


@dataclass(frozen=True, slots=True)
class BsatnRowList:
    """Rows of one table, concatenated BSATN with no per-row prefix, and their size hint."""

    size_hint: RowSizeHint
    rows_data: bytes

    EMPTY: ClassVar[BsatnRowList]

    def __len__(self) -> int:
        hint = self.size_hint
        if isinstance(hint, RowOffsets):
            return len(hint.offsets)
        size = len(self.rows_data)
        n = _checked_row_size(hint.row_size, size)
        return size // n if n else 0

    def row_slices(self) -> list[bytes]:
        """One ``bytes`` per row; both hints give the same slices for the same rows."""
        data = self.rows_data
        size = len(data)
        hint = self.size_hint
        if isinstance(hint, FixedSize):
            n = _checked_row_size(hint.row_size, size)
            if n == 0:
                return []
            return [data[i : i + n] for i in range(0, size, n)]
        offsets = hint.offsets
        if not offsets:
            if size:
                raise ProtocolError(
                    f"RowOffsets([]) with {size} byte(s) of row data: the bytes belong to no row",
                    what="BsatnRowList",
                )
            return []
        if offsets[0] != 0:
            raise ProtocolError(
                f"first row offset is {offsets[0]}, not 0: leading bytes belong to no row",
                what="BsatnRowList",
            )
        ends = (*offsets[1:], size)
        # Equal neighbours are allowed: they are zero-length rows (a column-less table).
        for i, (start, stop) in enumerate(zip(offsets, ends)):
            if stop < start:
                if stop == size:
                    raise ProtocolError(
                        f"row offset {start} (row {i}) is beyond the {size}-byte row data",
                        what="BsatnRowList",
                    )
                raise ProtocolError(
                    f"row offsets decrease: row {i} starts at {start}, row {i + 1} at {stop}",
                    what="BsatnRowList",
                )
        return [data[a:b] for a, b in zip(offsets, ends)]

    @classmethod
    def from_rows(cls, rows: Sequence[bytes], fixed_size: int | None = None) -> BsatnRowList:
        """Build a list the way server 1.1.2 does: ``FixedSize`` only for a static row size.

        ``fixed_size`` is the row type's static BSATN size (``AlgebraicType.static_size``)
        or None; every row must then have exactly that length. Sizes of 0 or above a u16
        fall back to ``RowOffsets``, as do empty lists (``RowOffsets([])``, empty data).
        """
        if not rows:
            return cls.EMPTY
        if fixed_size is not None and 0 < fixed_size <= _U16_MAX:
            for i, row in enumerate(rows):
                if len(row) != fixed_size:
                    raise EncodeError(
                        f"row {i} is {len(row)} bytes but the row type is {fixed_size} bytes",
                        type_name="BsatnRowList",
                    )
            return cls(FixedSize(fixed_size), b"".join(rows))
        return cls._with_offsets(rows)

    @classmethod
    def from_rows_auto(cls, rows: Sequence[bytes]) -> BsatnRowList:
        """Build a list the way newer servers do: ``FixedSize`` whenever all rows have one
        nonzero length that fits a u16, else ``RowOffsets``."""
        if not rows:
            return cls.EMPTY
        n = len(rows[0])
        if 0 < n <= _U16_MAX and all(len(r) == n for r in rows):
            return cls(FixedSize(n), b"".join(rows))
        return cls._with_offsets(rows)

    @classmethod
    def _with_offsets(cls, rows: Sequence[bytes]) -> BsatnRowList:
        offsets = []
        pos = 0
        for row in rows:
            offsets.append(pos)
            pos += len(row)
        return cls(RowOffsets(tuple(offsets)), b"".join(rows))


BsatnRowList.EMPTY = BsatnRowList(RowOffsets(()), b"")


def _checked_row_size(row_size: int, size: int) -> int:
    """The row size, after refusing hints that would drop or invent bytes."""
    if row_size == 0:
        if size:
            raise ProtocolError(
                f"FixedSize(0) with {size} byte(s) of row data: the rows cannot be cut",
                what="BsatnRowList",
            )
        return 0
    if size % row_size:
        raise ProtocolError(
            f"{size} bytes of row data is not a whole number of {row_size}-byte rows",
            what="BsatnRowList",
        )
    return row_size
