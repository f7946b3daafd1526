"""Private SATS-JSON helpers until ``stdb_game.sats.json`` lands: reducer args in, SQL rows out.

``value_from_json`` accepts what the real server accepts for reducer arguments (bsatn.md §6.2);
``untyped_json`` writes values the way HTTP SQL results do (products as arrays, sums as
``[tag, payload]``, bytes as hex, u256 as ``0x`` hex; bsatn.md §6.1 last paragraph).
"""

from __future__ import annotations

import math
from typing import Any

from ..sats import types as t
from ..sats.values import (
    ConnectionId,
    Identity,
    ScheduleAt,
    Some,
    SumValue,
    TimeDuration,
    Timestamp,
)

__all__ = ["JsonValueError", "untyped_json", "value_from_json"]

_INT_RANGE = {
    "I8": (-(1 << 7), 1 << 7),
    "U8": (0, 1 << 8),
    "I16": (-(1 << 15), 1 << 15),
    "U16": (0, 1 << 16),
    "I32": (-(1 << 31), 1 << 31),
    "U32": (0, 1 << 32),
    "I64": (-(1 << 63), 1 << 63),
    "U64": (0, 1 << 64),
    "I128": (-(1 << 127), 1 << 127),
    "U128": (0, 1 << 128),
    "I256": (-(1 << 255), 1 << 255),
    "U256": (0, 1 << 256),
}


class JsonValueError(ValueError):
    """JSON that does not fit the expected type; the message names the path."""


def _int(obj: Any, kind: str, path: str) -> int:
    if kind in ("I256", "U256") and isinstance(obj, str):
        s = obj.strip()
        neg = s.startswith("-")
        s = s[1:] if neg else s
        if not s.lower().startswith("0x"):
            raise JsonValueError(f"{path}: {kind} as a string needs a 0x prefix")
        v = int(s, 16) * (-1 if neg else 1)
    elif isinstance(obj, bool) or not isinstance(obj, (int, float)):
        raise JsonValueError(f"{path}: expected a number for {kind}, got {obj!r:.40}")
    elif isinstance(obj, float):
        if not obj.is_integer():
            raise JsonValueError(f"{path}: expected an integer for {kind}, got {obj}")
        v = int(obj)
    else:
        v = obj
    lo, hi = _INT_RANGE[kind]
    if not lo <= v < hi:
        raise JsonValueError(f"{path}: {v} is out of range for {kind}")
    return v


def _unwrap_special(obj: Any, field: str, path: str) -> Any:
    if isinstance(obj, dict) and len(obj) == 1 and field in obj:
        return obj[field]
    if isinstance(obj, list) and len(obj) == 1:
        return obj[0]
    raise JsonValueError(f"{path}: expected {{{field!r}: ...}} or a one-element array")


def value_from_json(ty: t.AlgebraicType, obj: Any, path: str = "$") -> Any:
    """The Python value (as the BSATN codecs take it) of JSON ``obj`` read as type ``ty``."""
    ty = ty.resolve()
    if isinstance(ty, t.PrimitiveType):
        k = ty.kind
        if k == "Bool":
            if not isinstance(obj, bool):
                raise JsonValueError(f"{path}: expected true/false, got {obj!r:.40}")
            return obj
        if k == "String":
            if not isinstance(obj, str):
                raise JsonValueError(f"{path}: expected a string, got {obj!r:.40}")
            return obj
        if k in ("F32", "F64"):
            if obj is None:
                return math.nan
            if isinstance(obj, bool) or not isinstance(obj, (int, float)):
                raise JsonValueError(f"{path}: expected a number, got {obj!r:.40}")
            return float(obj)
        return _int(obj, k, path)
    if isinstance(ty, t.ArrayType):
        if ty.is_bytes:
            if isinstance(obj, str):
                try:
                    return bytes.fromhex(obj)
                except ValueError:
                    raise JsonValueError(f"{path}: bytes must be a hex string") from None
            if isinstance(obj, list):
                return bytes(_int(x, "U8", f"{path}[{i}]") for i, x in enumerate(obj))
            raise JsonValueError(f"{path}: expected hex string for bytes")
        if not isinstance(obj, list):
            raise JsonValueError(f"{path}: expected an array")
        return [value_from_json(ty.elem, x, f"{path}[{i}]") for i, x in enumerate(obj)]
    if isinstance(ty, t.ProductType):
        sp = ty.special
        if sp == "identity":
            raw = _unwrap_special(obj, "__identity__", path)
            return Identity(_int(raw, "U256", path))
        if sp == "connection_id":
            raw = _unwrap_special(obj, "__connection_id__", path)
            return ConnectionId(_int(raw, "U128", path))
        if sp == "timestamp":
            raw = _unwrap_special(obj, "__timestamp_micros_since_unix_epoch__", path)
            return Timestamp(_int(raw, "I64", path))
        if sp == "time_duration":
            raw = _unwrap_special(obj, "__time_duration_micros__", path)
            return TimeDuration(_int(raw, "I64", path))
        els = ty.elements
        if isinstance(obj, dict):
            names = [e.name for e in els]
            extra = set(obj) - set(n for n in names if n is not None)
            if extra:
                raise JsonValueError(f"{path}: unknown field(s) {sorted(extra)}")
            out = []
            for e in els:
                if e.name not in obj:
                    raise JsonValueError(f"{path}: missing field {e.name!r}")
                out.append(value_from_json(e.algebraic_type, obj[e.name], f"{path}.{e.name}"))
            return tuple(out)
        if isinstance(obj, list):
            if len(obj) != len(els):
                raise JsonValueError(f"{path}: expected {len(els)} elements, got {len(obj)}")
            return tuple(
                value_from_json(e.algebraic_type, x, f"{path}[{i}]")
                for i, (e, x) in enumerate(zip(els, obj))
            )
        raise JsonValueError(f"{path}: expected an object or array for a product")
    if isinstance(ty, t.SumType):
        sp = ty.special
        if sp == "option" and obj is None:
            return None
        tag, payload = _sum_parts(ty, obj, path)
        var = ty.variants[tag]
        value = value_from_json(var.algebraic_type, payload, f"{path}.{var.name}")
        if sp == "option":
            if tag == 1:
                return None
            return Some(value) if value is None else value
        if sp == "schedule_at":
            return ScheduleAt(value)
        return SumValue(tag, var.name, value)
    raise JsonValueError(f"{path}: unsupported type {ty.describe()}")


def _sum_parts(ty: t.SumType, obj: Any, path: str) -> tuple[int, Any]:
    if isinstance(obj, dict) and len(obj) == 1:
        ((key, payload),) = obj.items()
        for i, v in enumerate(ty.variants):
            if v.name == key:
                return i, payload
        if key.isdigit() and int(key) < len(ty.variants):
            return int(key), payload
        raise JsonValueError(f"{path}: unknown variant {key!r}")
    if isinstance(obj, list) and len(obj) == 2 and isinstance(obj[0], int):
        if not 0 <= obj[0] < len(ty.variants):
            raise JsonValueError(f"{path}: variant tag {obj[0]} out of range")
        return obj[0], obj[1]
    raise JsonValueError(f"{path}: expected a sum as {{variant: payload}} or [tag, payload]")


def untyped_json(ty: t.AlgebraicType, value: Any) -> Any:
    """``value`` of type ``ty`` as JSON without type information (HTTP SQL result rows)."""
    ty = ty.resolve()
    if isinstance(ty, t.PrimitiveType):
        k = ty.kind
        if k == "U256" or k == "I256":
            return ("-" if value < 0 else "") + hex(abs(value))
        if k in ("F32", "F64") and (math.isnan(value) or math.isinf(value)):
            return None
        return value
    if isinstance(ty, t.ArrayType):
        if ty.is_bytes:
            return bytes(value).hex()
        return [untyped_json(ty.elem, v) for v in value]
    if isinstance(ty, t.ProductType):
        sp = ty.special
        if sp == "identity":
            return [hex(value.value)]
        if sp == "connection_id":
            return [value.value]
        if sp == "timestamp":
            return [value.micros_since_epoch]
        if sp == "time_duration":
            return [value.micros]
        if isinstance(value, dict):
            value = tuple(value[e.name] for e in ty.elements)
        elif not isinstance(value, tuple):
            value = tuple(getattr(value, e.name or "") for e in ty.elements)
        return [untyped_json(e.algebraic_type, v) for e, v in zip(ty.elements, value)]
    if isinstance(ty, t.SumType):
        sp = ty.special
        if sp == "option":
            if value is None:
                return [1, []]
            inner = value.value if type(value) is Some else value
            return [0, untyped_json(ty.variants[0].algebraic_type, inner)]
        if sp == "schedule_at":
            tag = value.tag
            return [tag, untyped_json(ty.variants[tag].algebraic_type, value.value)]
        tag = value.tag
        return [tag, untyped_json(ty.variants[tag].algebraic_type, value.value)]
    raise TypeError(f"cannot render {ty.describe()} as JSON")
