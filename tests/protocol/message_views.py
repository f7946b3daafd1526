"""Turn protocol dataclasses into the generic value shapes ``vector_types.assert_same`` reads.

The golden vectors describe messages with the client-API typespace (``{"ref": "ServerMessage"}``
...). ``as_sats_value`` walks that type alongside a decoded message, so each field is
compared against the vector by name and in wire order, without a hand-kept field list.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from stdb_game.protocol import CompressableQueryUpdate, QueryUpdate
from stdb_game.sats.types import AlgebraicType, ArrayType, ProductType, SumType
from stdb_game.sats.values import SumValue

__all__ = ["as_sats_value", "rows_by_table"]


def as_sats_value(ty: AlgebraicType, obj: Any) -> Any:
    """``obj`` (a protocol object) as tuples for products and ``SumValue`` for sums."""
    t_ = ty.resolve()
    if isinstance(t_, ProductType) and not t_.special:
        return tuple(
            as_sats_value(e.algebraic_type, getattr(obj, str(e.name))) for e in t_.elements
        )
    if isinstance(t_, ArrayType) and not t_.is_bytes:
        return [as_sats_value(t_.elem, x) for x in obj]
    if isinstance(t_, SumType) and t_.special == "option":
        return None if obj is None else as_sats_value(t_.variants[0].algebraic_type, obj)
    if isinstance(t_, SumType):
        tag, payload = _variant(t_, obj)
        variant = t_.variants[tag]
        return SumValue(tag, variant.name, as_sats_value(variant.algebraic_type, payload))
    if isinstance(obj, enum.IntEnum):
        return int(obj)  # CallReducerFlags: the vector has the bare u8
    return obj


def _variant(ty: SumType, obj: Any) -> tuple[int, Any]:
    if isinstance(obj, CompressableQueryUpdate):
        return obj.compression.tag, obj.payload
    tag = type(obj).TAG
    payload_ty = ty.variants[tag].algebraic_type.resolve()
    fields = [f.name for f in dataclasses.fields(obj)]
    if isinstance(payload_ty, ProductType) and not payload_ty.elements:
        assert not fields, f"{type(obj).__name__} should be a unit variant"
        return tag, ()
    if isinstance(payload_ty, ProductType) and [e.name for e in payload_ty.elements] == fields:
        return tag, obj  # the variant class is the payload product itself
    assert len(fields) == 1, f"{type(obj).__name__} wraps one payload value, has {fields}"
    return tag, getattr(obj, fields[0])


def _table_updates(msg: Any) -> list[tuple[str, list[QueryUpdate]]]:
    name = type(msg).__name__
    if name in ("SubscribeApplied", "UnsubscribeApplied"):
        table = msg.rows.table_rows
        return [(msg.rows.table_name, table.query_updates())]
    if name == "OneOffQueryResponse":
        empty = type(msg.tables[0].rows).EMPTY if msg.tables else None
        return [(t.table_name, [QueryUpdate(empty, t.rows)]) for t in msg.tables]
    update = {
        "InitialSubscription": lambda m: m.database_update,
        "TransactionUpdate": lambda m: getattr(m.status, "database_update", None),
        "TransactionUpdateLight": lambda m: m.update,
        "SubscribeMultiApplied": lambda m: m.update,
        "UnsubscribeMultiApplied": lambda m: m.update,
    }[name](msg)
    if update is None:
        return []
    return [(t.table_name, t.query_updates()) for t in update.tables]


def rows_by_table(msg: Any) -> dict[str, dict[str, list[bytes]]]:
    """Row bytes per table name, split into ``deletes``/``inserts`` in message order."""
    out: dict[str, dict[str, list[bytes]]] = {}
    for table_name, updates in _table_updates(msg):
        entry = out.setdefault(table_name, {"deletes": [], "inserts": []})
        for update in updates:
            entry["deletes"].extend(update.deletes.row_slices())
            entry["inserts"].extend(update.inserts.row_slices())
    return out
