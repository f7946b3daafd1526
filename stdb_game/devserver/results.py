"""What the engine hands the network layer: transaction results, row changes, table/reducer info."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..sats import types as t
from ..sats.values import ConnectionId, Identity, Timestamp
from .moduledef import IndexDef

__all__ = ["ReducerInfo", "TableChange", "TableInfo", "TxResult"]


class TableChange:
    """Rows one transaction (or one query's view of it) removed and added, as BSATN bytes.

    ``delete_rows``/``insert_rows`` are the same rows decoded (tuples of column values), kept
    so queries can filter changes without decoding again.
    """

    __slots__ = ("delete_rows", "deletes", "insert_rows", "inserts")

    def __init__(
        self,
        deletes: list[bytes] | None = None,
        inserts: list[bytes] | None = None,
        delete_rows: list[tuple[Any, ...]] | None = None,
        insert_rows: list[tuple[Any, ...]] | None = None,
    ) -> None:
        self.deletes: list[bytes] = deletes if deletes is not None else []
        self.inserts: list[bytes] = inserts if inserts is not None else []
        self.delete_rows: list[tuple[Any, ...]] = delete_rows if delete_rows is not None else []
        self.insert_rows: list[tuple[Any, ...]] = insert_rows if insert_rows is not None else []

    def __bool__(self) -> bool:
        return bool(self.deletes or self.inserts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TableChange):
            return NotImplemented
        return self.deletes == other.deletes and self.inserts == other.inserts

    def __repr__(self) -> str:
        return f"TableChange(deletes={len(self.deletes)}, inserts={len(self.inserts)})"


@dataclass
class TxResult:
    """The outcome of one reducer call (or SQL DML statement).

    ``changes`` maps table name -> TableChange for every table whose rows changed and is what
    got committed: empty when ``committed`` is False, except after a failed one-shot scheduled
    reducer, whose schedule row is still consumed (as in SpacetimeDB) -- broadcast it like any
    committed change. ``caller_connection_id`` is all zeros when there is none.
    """

    committed: bool
    error: str | None
    reducer_name: str
    reducer_id: int
    args: bytes
    caller: Identity
    caller_connection_id: ConnectionId
    timestamp: Timestamp
    changes: dict[str, TableChange] = field(default_factory=dict)
    energy_used: int = 0
    duration_micros: int = 0
    out_of_energy: bool = False
    tx_offset: int = 0

    @property
    def status(self) -> str:
        """``Committed``, ``Failed`` or ``OutOfEnergy`` (the UpdateStatus variant name)."""
        if self.committed:
            return "Committed"
        return "OutOfEnergy" if self.out_of_energy else "Failed"


@dataclass(frozen=True)
class TableInfo:
    """A table as the network layer sees it."""

    name: str
    table_id: int
    row_type: t.ProductType
    primary_key: int | None
    public: bool
    indexes: tuple[IndexDef, ...]
    scheduled_reducer: str | None
    columns: tuple[str, ...]


@dataclass(frozen=True)
class ReducerInfo:
    """A reducer as the network layer sees it; ``lifecycle`` is Init/OnConnect/OnDisconnect."""

    name: str
    reducer_id: int
    params: t.ProductType
    lifecycle: str | None
