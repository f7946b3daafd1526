"""Callbacks rendered as plain data, so a live session and its replay can be compared.

``EventLog.attach(client)`` registers a callback of every kind and appends one JSON-ready
entry per call: ``[ticks_done, kind, ...arguments]``. The tick number makes the grouping
of events into ticks part of what is compared. Timing that no replay can reproduce
(reducer round trips) and the token (redacted in recordings) are left out.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..events import OneOffQueryResult, ReducerEvent, RowEventContext
from ..sats.values import (
    ConnectionId,
    Identity,
    ScheduleAt,
    Some,
    SumValue,
    TimeDuration,
    Timestamp,
)

if TYPE_CHECKING:
    from ..client import Client, DisconnectReason, SubscriptionHandle

__all__ = ["EventLog", "render", "snapshot_cache"]


def render(value: Any) -> Any:
    """``value`` as JSON-ready data that compares equal exactly when the values do."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"bytes": bytes(value).hex()}
    if isinstance(value, (Identity, ConnectionId)):
        return value.to_hex()
    if isinstance(value, Timestamp):
        return {"timestamp": value.micros_since_epoch}
    if isinstance(value, TimeDuration):
        return {"duration": value.micros}
    if isinstance(value, ScheduleAt):
        return {value.name: render(value.value)}
    if isinstance(value, Some):
        return {"some": render(value.value)}
    if isinstance(value, SumValue):
        return {value.name if value.name is not None else f"#{value.tag}": render(value.value)}
    if isinstance(value, enum.Enum):
        return render(value.value)
    if isinstance(value, (list, tuple)):
        return [render(v) for v in value]
    if isinstance(value, dict):
        return {str(k): render(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((render(v) for v in value), key=_sort_key)
    if isinstance(value, BaseException):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: render(getattr(value, f.name)) for f in dataclasses.fields(value)}
    slots = [s for c in type(value).__mro__ for s in getattr(c, "__slots__", ())]
    if slots:
        return {s: render(getattr(value, s, None)) for s in slots if not s.startswith("__")}
    return repr(value)


def _sort_key(v: Any) -> str:
    return json.dumps(v, sort_keys=True)


def render_reducer_event(ev: ReducerEvent) -> dict[str, Any]:
    """A reducer event without its round trip (wall-clock timing a replay cannot repeat)."""
    return {
        "reducer": ev.reducer_name,
        "args": render(ev.args),
        "args_bytes": ev.args_bytes.hex(),
        "caller_identity": render(ev.caller_identity),
        "caller_connection_id": render(ev.caller_connection_id),
        "timestamp": render(ev.timestamp),
        "status": ev.status.value,
        "error": ev.error,
        "energy": ev.energy_quanta_used,
        "host_duration": render(ev.host_execution_duration),
        "reducer_id": ev.reducer_id,
        "request_id": ev.request_id,
        "is_ours": ev.is_ours,
    }


def render_context(ctx: RowEventContext) -> dict[str, Any]:
    out: dict[str, Any] = {"cause": ctx.cause.value}
    if ctx.reducer_event is not None:
        out["reducer"] = ctx.reducer_event.reducer_name
        out["request_id"] = ctx.reducer_event.request_id
        out["timestamp"] = render(ctx.reducer_event.timestamp)
    if ctx.query_id is not None:
        out["query_id"] = ctx.query_id
    return out


def render_disconnect(reason: DisconnectReason) -> dict[str, Any]:
    return {
        "kind": reason.kind.value,
        "code": reason.code,
        "reason": reason.reason,
        "error": None if reason.error is None else str(reason.error),
        "stalled_for": reason.stalled_for,
        "will_reconnect": reason.will_reconnect,
    }


def render_one_off(result: OneOffQueryResult) -> dict[str, Any]:
    return {
        "message_id": result.message_id.hex(),
        "table": result.table_name,
        "rows": [render(r) for r in result.rows],
        "error": result.error,
    }


def snapshot_cache(client: Client, tables: Iterable[str] | None = None) -> dict[str, list[Any]]:
    """Every cached row per table, rendered and sorted: two equal caches give equal dicts."""
    names = list(tables) if tables is not None else [h.name for h in client.db]
    return {
        name: sorted((render(r) for r in client.table(name).iter()), key=_sort_key)
        for name in sorted(names)
    }


class EventLog:
    """Records every callback a client fires, as comparable data (see the module docstring)."""

    def __init__(self) -> None:
        self.entries: list[list[Any]] = []
        self._client: Client | None = None

    def attach(self, client: Client, *, before_delete: bool = True) -> EventLog:
        """Register on every callback of ``client``; call before ``connect()``."""
        self._client = client
        add = self._add
        client.on_connect(lambda identity, token, conn: add("connect", identity, conn))
        client.on_disconnect(lambda reason: add("disconnect", render_disconnect(reason)))
        client.on_reconnect(lambda: add("reconnect"))
        client.on_connect_error(lambda exc: add("connect_error", str(exc)))
        client.on_any_reducer(lambda ev: add("reducer", render_reducer_event(ev)))
        client.on_server_error(lambda message: add("server_error", message))
        for handle in client.db:
            handle.on_insert(self._row_callback("insert", handle.name))
            handle.on_delete(self._row_callback("delete", handle.name))
            handle.on_update(self._update_callback(handle.name))
            if before_delete:
                handle.on_before_delete(self._row_callback("before_delete", handle.name))
        return self

    def _row_callback(self, kind: str, table: str) -> Callable[[RowEventContext, Any], None]:
        def on_row(ctx: RowEventContext, row: Any) -> None:
            self._add(kind, table, render_context(ctx), row)

        return on_row

    def _update_callback(self, table: str) -> Callable[[RowEventContext, Any, Any], None]:
        def on_update(ctx: RowEventContext, old: Any, new: Any) -> None:
            self._add("update", table, render_context(ctx), old, new)

        return on_update

    def watch(self, handle: SubscriptionHandle) -> SubscriptionHandle:
        """Log the callbacks of one subscription (they are registered per handle)."""
        add = self._add
        handle.on_applied(lambda h: add("applied", h.query_id))
        handle.on_error(lambda h, error: add("subscription_error", h.query_id, error))
        handle.on_end(lambda h: add("ended", h.query_id))
        return handle

    def one_off_callback(self, result: OneOffQueryResult) -> None:
        """Pass as a ``one_off_query`` callback to log its result."""
        self._add("one_off", render_one_off(result))

    def note(self, kind: str, *args: Any) -> None:
        """Add an entry of your own (it is compared like any other)."""
        self._add(kind, *args)

    def _add(self, kind: str, *args: Any) -> None:
        ticks = self._client.stats.ticks if self._client is not None else 0
        self.entries.append([ticks, kind, *(render(a) for a in args)])

    # ---- comparing and storing ----------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(self.entries, indent=None, separators=(",", ":"))

    def save(self, path: str | Path) -> None:
        """Write one entry per line, so diffs of stored logs read well."""
        lines = ",\n".join(json.dumps(e, separators=(",", ":")) for e in self.entries)
        Path(path).write_text(f"[\n{lines}\n]\n" if self.entries else "[]\n")

    @staticmethod
    def load(path: str | Path) -> list[list[Any]]:
        data = json.loads(Path(path).read_text())
        if not isinstance(data, list):
            raise ValueError(f"{path}: an event log is a JSON list")
        return data

    def first_difference(self, other: list[list[Any]]) -> str | None:
        """Where this log and ``other`` part ways, in words (None when equal)."""
        mine = json.loads(self.to_json())  # normalise tuples and key types as JSON would
        for i, (a, b) in enumerate(zip(mine, other)):
            if a != b:
                return f"entry {i} differs:\n  got      {a}\n  expected {b}"
        if len(mine) != len(other):
            return f"lengths differ: got {len(mine)} entries, expected {len(other)}"
        return None

    def __len__(self) -> int:
        return len(self.entries)
