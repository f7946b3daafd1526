"""One reducer's transaction: an undo log for rollback and the net row changes for subscribers."""

from __future__ import annotations

from typing import Any

from .storage import Row, TableStore

__all__ = ["Transaction"]


class Transaction:
    """Changes made so far; ``rollback`` undoes them, ``net_changes`` says what they amount to."""

    __slots__ = ("changes", "seq_undo", "undo")

    def __init__(self) -> None:
        self.undo: list[tuple[TableStore, bytes, Row | None]] = []
        self.seq_undo: list[tuple[TableStore, int, int]] = []
        #: per table: (deleted rows, inserted rows), net of each other
        self.changes: dict[TableStore, tuple[dict[bytes, Row], dict[bytes, Row]]] = {}

    def _track(self, store: TableStore) -> tuple[dict[bytes, Row], dict[bytes, Row]]:
        ch = self.changes.get(store)
        if ch is None:
            ch = self.changes[store] = ({}, {})
        return ch

    def insert(self, store: TableStore, data: bytes, row: Row) -> bool:
        """Insert unless an identical row exists (set semantics); unique clashes raise."""
        if data in store.rows:
            return False
        store.check_unique(data, row)
        store.add(data, row)
        self.undo.append((store, data, None))
        deleted, inserted = self._track(store)
        if data in deleted:
            del deleted[data]
        else:
            inserted[data] = row
        return True

    def delete(self, store: TableStore, data: bytes) -> bool:
        """Delete the row with these bytes if present."""
        if data not in store.rows:
            return False
        row = store.remove(data)
        self.undo.append((store, data, row))
        deleted, inserted = self._track(store)
        if data in inserted:
            del inserted[data]
        else:
            deleted[data] = row
        return True

    def next_sequence(self, store: TableStore, column: int) -> int:
        """Take the next value of an auto_inc column."""
        value = store.sequences[column]
        self.seq_undo.append((store, column, value))
        store.sequences[column] = value + 1
        return value

    def rollback(self) -> None:
        """Undo everything, newest first."""
        for store, data, row in reversed(self.undo):
            if row is None:
                store.remove(data)
            else:
                store.add(data, row)
        for store, column, value in reversed(self.seq_undo):
            store.sequences[column] = value
        self.undo.clear()
        self.seq_undo.clear()
        self.changes.clear()

    def touched_sequences(self) -> dict[str, dict[int, int]]:
        """Current values of the sequences this transaction advanced (for the commit log)."""
        out: dict[str, dict[int, int]] = {}
        for store, column, _ in self.seq_undo:
            out.setdefault(store.name, {})[column] = store.sequences[column]
        return out

    def __repr__(self) -> str:
        n: Any = sum(len(d) + len(i) for d, i in self.changes.values())
        return f"Transaction({len(self.undo)} ops, {n} net row changes)"
