"""SATS-JSON for values (bsatn.md §6): what the server writes, and everything it accepts.

``value_to_json`` produces the JSON document (as Python objects: dict/list/str/int/float/
bool/None, ready for ``json.dumps``) that SpacetimeDB itself writes for a typed value, so
HTTP reducer calls and the JSON protocol see exactly the server's own shapes.
``value_from_json`` reads the typed form *and* the untyped positional form of SQL results
and JSON-protocol rows, and returns the same Python values the BSATN codec decodes to.
"""

from __future__ import annotations

import datetime as _dt
import math
import operator
import struct
import uuid
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from ..errors import DecodeError, EncodeError
from .codec import _default_product_class, _sum_tag
from .types import AlgebraicType, ArrayType, PrimitiveType, ProductType, SumType
from .values import ConnectionId, Identity, ScheduleAt, Some, SumValue, TimeDuration, Timestamp

__all__ = ["value_from_json", "value_to_json"]

_INT_RANGES: dict[str, tuple[int, int]] = {
    kind: ((-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if kind[0] == "I" else (0, (1 << bits) - 1))
    for kind, bits in (
        ("I8", 8), ("U8", 8), ("I16", 16), ("U16", 16), ("I32", 32), ("U32", 32),
        ("I64", 64), ("U64", 64), ("I128", 128), ("U128", 128), ("I256", 256), ("U256", 256),
    )
}  # fmt: skip
_F32 = struct.Struct("<f")
_SPECIAL_FIELD = {
    "identity": "__identity__",
    "connection_id": "__connection_id__",
    "timestamp": "__timestamp_micros_since_unix_epoch__",
    "time_duration": "__time_duration_micros__",
    "uuid": "__uuid__",
}
_FLOAT_WORDS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


# ---- writing ----------------------------------------------------------------------------------


def value_to_json(ty: AlgebraicType, value: Any) -> Any:
    """The SATS-JSON the server writes for ``value`` of type ``ty`` (raises EncodeError)."""
    try:
        return _to(ty, value)
    except EncodeError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError, IndexError) as exc:
        msg = f"missing field {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
        raise EncodeError(msg, type_name=ty.describe()) from exc
    except RecursionError:
        raise EncodeError("value nested too deeply", type_name=ty.describe()) from None


def _hex256(n: int) -> str:
    """u256/i256 as the server writes them: ``0x`` hex without leading zeros, ``-0x`` if negative."""
    return f"-0x{-n:x}" if n < 0 else f"0x{n:x}"


def _f32_json(x: float) -> float:
    """The shortest decimal that reads back as the same f32, as the server (ryu) prints it."""
    packed = _F32.pack(x)
    for digits in range(1, 10):
        candidate = float(f"{x:.{digits}g}")
        try:
            if _F32.pack(candidate) == packed:
                return candidate
        except OverflowError:  # e.g. 3.4e38 rounded up past the largest f32
            continue
    return x  # pragma: no cover - 9 significant digits always round-trip an f32


def _check_int(kind: str, value: Any) -> int:
    n = operator.index(value)
    lo, hi = _INT_RANGES[kind]
    if not lo <= n <= hi:
        raise ValueError(f"{n} is out of range for {kind.lower()}")
    return n


def _fields(ty: ProductType, value: Any) -> Sequence[Any]:
    """A product value's fields in order, from a tuple, a dict or an object (as the codec does)."""
    n = len(ty.elements)
    if isinstance(value, tuple):
        fields: Sequence[Any] = value
    elif isinstance(value, dict):
        fields = [
            value[e.name if e.name is not None else f"_{i}"] for i, e in enumerate(ty.elements)
        ]
    else:
        names = list(ty.py_fields or (e.name or f"_{i}" for i, e in enumerate(ty.elements)))
        fields = [attrgetter(name)(value) for name in names]
    if len(fields) != n:
        raise ValueError(f"expected {n} fields, got {len(fields)}")
    return fields


def _to(ty: AlgebraicType, v: Any) -> Any:
    t = ty.resolve()
    if isinstance(t, PrimitiveType):
        k = t.kind
        if k == "Bool":
            if v is True or v is False:
                return v
            raise TypeError(f"expected bool, got {type(v).__name__}")
        if k == "String":
            if isinstance(v, str):
                return v
            raise TypeError(f"expected str, got {type(v).__name__}")
        if k in ("F32", "F64"):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError(f"expected float, got {type(v).__name__}")
            x = float(v)
            if math.isnan(x) or math.isinf(x):
                return None
            if k == "F32":
                return _f32_json(x)  # OverflowError when x rounds past the largest f32
            return x
        n = _check_int(k, v)
        return _hex256(n) if k in ("I256", "U256") else n
    if isinstance(t, ArrayType):
        if t.is_bytes:
            if isinstance(v, (bytes, bytearray, memoryview)):
                return bytes(v).hex()
            if isinstance(v, (list, tuple)):
                return bytes(v).hex()
            raise TypeError(f"expected bytes, got {type(v).__name__}")
        if isinstance(v, (str, bytes, dict)) or not hasattr(v, "__iter__"):
            raise TypeError(f"expected a list, got {type(v).__name__}")
        return [_to(t.elem, x) for x in v]
    if isinstance(t, ProductType):
        return _product_to(t, v)
    if isinstance(t, SumType):
        return _sum_to(t, v)
    raise TypeError(f"cannot write {ty!r}")  # pragma: no cover


def _product_to(t: ProductType, v: Any) -> Any:
    sp = t.special
    if sp == "unit":
        return []
    if sp == "identity":
        if type(v) is not Identity:
            raise TypeError(f"expected Identity, got {type(v).__name__}")
        return {"__identity__": _hex256(v.value)}
    if sp == "connection_id":
        if v is None:
            v = ConnectionId.zero()
        if type(v) is not ConnectionId:
            raise TypeError(f"expected ConnectionId, got {type(v).__name__}")
        return {"__connection_id__": v.value}
    if sp == "timestamp":
        if isinstance(v, _dt.datetime):
            v = Timestamp.from_datetime(v)
        if type(v) is not Timestamp:
            raise TypeError(f"expected Timestamp or aware datetime, got {type(v).__name__}")
        return {"__timestamp_micros_since_unix_epoch__": v.micros_since_epoch}
    if sp == "time_duration":
        if isinstance(v, _dt.timedelta):
            v = TimeDuration.from_timedelta(v)
        if type(v) is not TimeDuration:
            raise TypeError(f"expected TimeDuration or timedelta, got {type(v).__name__}")
        return {"__time_duration_micros__": v.micros}
    if sp == "uuid":
        if not isinstance(v, uuid.UUID):
            raise TypeError(f"expected uuid.UUID, got {type(v).__name__}")
        return {"__uuid__": v.int}
    fields = _fields(t, v)
    if any(e.name is None for e in t.elements):
        # The server cannot name such a field; it accepts products as arrays in field order.
        return [_to(e.algebraic_type, f) for e, f in zip(t.elements, fields)]
    return {e.name: _to(e.algebraic_type, f) for e, f in zip(t.elements, fields)}


def _variant_key(t: SumType, tag: int) -> str:
    name = t.variants[tag].name
    return name if name is not None else str(tag)


def _sum_to(t: SumType, v: Any) -> Any:
    sp = t.special
    if sp == "option":
        if v is None:
            return {"none": []}
        if type(v) is Some:
            v = v.value
        return {"some": _to(t.variants[0].algebraic_type, v)}
    if sp == "schedule_at":
        if type(v) is not ScheduleAt:
            raise TypeError(f"expected ScheduleAt, got {type(v).__name__}")
        tag = v.tag
        return {_variant_key(t, tag): _to(t.variants[tag].algebraic_type, v.value)}
    tag, payload = _sum_tag(v, [x.name for x in t.variants])
    if not 0 <= tag < len(t.variants):
        raise ValueError(f"variant tag {tag} out of range (0..{len(t.variants) - 1})")
    var = t.variants[tag]
    return {_variant_key(t, tag): [] if var.is_unit else _to(var.algebraic_type, payload)}


# ---- reading ----------------------------------------------------------------------------------


def value_from_json(ty: AlgebraicType, obj: Any) -> Any:
    """Read SATS-JSON (typed or positional) as ``ty``; values are what the codec decodes to.

    Malformed input raises ``DecodeError`` whose ``type_name`` is the path to the bad part
    (``user.name::some``) and whose ``offset`` is -1 (JSON has no byte offsets).
    """
    try:
        return _from(ty, obj, ty.describe())
    except RecursionError:
        raise DecodeError("value nested too deeply", type_name=ty.describe()) from None


def _bad(path: str, msg: str) -> DecodeError:
    return DecodeError(msg, type_name=path, offset=-1)


def _int_from(kind: str, obj: Any, path: str) -> int:
    if isinstance(obj, int) and not isinstance(obj, bool):
        n = obj
    elif kind in ("I256", "U256") and isinstance(obj, str):
        s = obj.strip()
        neg = s.startswith("-")
        digits = s[1:] if neg else s
        if digits[:2].lower() != "0x" or (neg and kind == "U256"):
            raise _bad(path, f"a {kind.lower()} string is '0x' hex, got {obj!r}")
        try:
            n = int(digits[2:], 16)
        except ValueError:
            raise _bad(path, f"not hexadecimal: {obj!r}") from None
        n = -n if neg else n
    else:
        raise _bad(path, f"expected an integer, got {obj!r:.60}")
    lo, hi = _INT_RANGES[kind]
    if not lo <= n <= hi:
        raise _bad(path, f"{n} is out of range for {kind.lower()}")
    return n


def _float_from(kind: str, obj: Any, path: str) -> float:
    if obj is None:
        return math.nan  # the server writes NaN and both infinities as null
    if isinstance(obj, str) and obj in _FLOAT_WORDS:
        x = _FLOAT_WORDS[obj]
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        try:
            x = float(obj)
        except OverflowError:
            x = math.inf if obj > 0 else -math.inf
    else:
        raise _bad(path, f"expected a number, got {obj!r:.60}")
    if kind == "F32" and not math.isnan(x):
        try:
            x = _F32.unpack(_F32.pack(x))[0]
        except OverflowError:
            x = math.copysign(math.inf, x)
    return x


_PRODUCT_CLASSES: dict[ProductType, type] = {}


def _make_product(t: ProductType, fields: list[Any]) -> Any:
    if t.py_class is not None:
        return t.py_class(*fields)
    cls = _PRODUCT_CLASSES.get(t)
    if cls is None:
        if len(_PRODUCT_CLASSES) > 10_000:
            _PRODUCT_CLASSES.clear()
        cls = _PRODUCT_CLASSES[t] = _default_product_class(t)
    return cls(*fields)


def _from(ty: AlgebraicType, obj: Any, path: str) -> Any:
    t = ty.resolve()
    if isinstance(t, PrimitiveType):
        k = t.kind
        if k == "Bool":
            if obj is True or obj is False:
                return obj
            raise _bad(path, f"expected true or false, got {obj!r:.60}")
        if k == "String":
            if isinstance(obj, str):
                return obj
            raise _bad(path, f"expected a string, got {obj!r:.60}")
        if k in ("F32", "F64"):
            return _float_from(k, obj, path)
        return _int_from(k, obj, path)
    if isinstance(t, ArrayType):
        if t.is_bytes:
            return _bytes_from(obj, path)
        if not isinstance(obj, list):
            raise _bad(path, f"expected an array, got {obj!r:.60}")
        return [_from(t.elem, x, f"{path}[{i}]") for i, x in enumerate(obj)]
    if isinstance(t, ProductType):
        return _product_from(t, obj, path)
    if isinstance(t, SumType):
        return _sum_from(t, obj, path)
    raise _bad(path, f"cannot read {ty!r}")  # pragma: no cover


def _bytes_from(obj: Any, path: str) -> bytes:
    if isinstance(obj, str):
        s = obj[2:] if obj[:2] in ("0x", "0X") else obj
        try:
            return bytes.fromhex(s)
        except ValueError:
            raise _bad(path, f"bytes are a hex string, got {obj!r:.60}") from None
    if isinstance(obj, list) and all(
        isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 256 for x in obj
    ):
        return bytes(obj)
    raise _bad(path, f"bytes are a hex string or an array of 0..255, got {obj!r:.60}")


def _one_field(obj: Any, field: str, path: str) -> Any:
    """The inner value of a one-field special product: ``{"__x__": v}`` or ``[v]``."""
    if isinstance(obj, dict) and len(obj) == 1 and field in obj:
        return obj[field]
    if isinstance(obj, list) and len(obj) == 1:
        return obj[0]
    raise _bad(path, f'expected {{"{field}": ...}} or a one-element array, got {obj!r:.60}')


def _product_from(t: ProductType, obj: Any, path: str) -> Any:
    sp = t.special
    if sp == "unit":
        if obj == [] or obj == {}:
            return ()
        raise _bad(path, f"unit is [] or {{}}, got {obj!r:.60}")
    if sp is not None:
        inner = _one_field(obj, _SPECIAL_FIELD[sp], path)
        kind = t.elements[0].algebraic_type.kind
        n = _int_from(kind, inner, path)
        if sp == "identity":
            return Identity(n)
        if sp == "connection_id":
            return ConnectionId(n)
        if sp == "timestamp":
            return Timestamp(n)
        if sp == "time_duration":
            return TimeDuration(n)
        return uuid.UUID(int=n)
    elems = t.elements
    if isinstance(obj, list):
        if len(obj) != len(elems):
            raise _bad(path, f"expected {len(elems)} fields, got an array of {len(obj)}")
        items = obj
    elif isinstance(obj, dict):
        keys = [e.name if e.name is not None else str(i) for i, e in enumerate(elems)]
        extra = set(obj) - set(keys)
        if extra:
            raise _bad(path, f"unknown field(s) {sorted(extra)}")
        missing = [k for k in keys if k not in obj]
        if missing:
            raise _bad(path, f"missing field(s) {missing}")
        items = [obj[k] for k in keys]
    else:
        raise _bad(path, f"expected an object or an array, got {obj!r:.60}")
    fields = [
        _from(e.algebraic_type, x, f"{path}.{e.name if e.name is not None else i}")
        for i, (e, x) in enumerate(zip(elems, items))
    ]
    return _make_product(t, fields)


def _split_sum(t: SumType, obj: Any, path: str) -> tuple[int, Any]:
    """(tag, payload JSON) from ``{"name": p}``, ``{"<tag>": p}`` or ``[tag, p]``."""
    n = len(t.variants)
    if isinstance(obj, dict) and len(obj) == 1:
        ((key, payload),) = obj.items()
        for i, v in enumerate(t.variants):
            if v.name == key:
                return i, payload
        if isinstance(key, str) and key.isdigit() and int(key) < n:
            return int(key), payload
        raise _bad(path, f"unknown variant {key!r}")
    if isinstance(obj, list) and len(obj) == 2:
        tag = obj[0]
        if isinstance(tag, int) and not isinstance(tag, bool) and 0 <= tag < n:
            return tag, obj[1]
        raise _bad(path, f"variant tag {tag!r} out of range (0..{n - 1})")
    raise _bad(path, f'a sum is {{"variant": payload}} or [tag, payload], got {obj!r:.60}')


def _sum_from(t: SumType, obj: Any, path: str) -> Any:
    sp = t.special
    if sp == "option" and obj is None:
        return None
    tag, payload = _split_sum(t, obj, path)
    var = t.variants[tag]
    value = _from(var.algebraic_type, payload, f"{path}::{var.name if var.name else tag}")
    if sp == "option":
        if tag == 1:
            return None
        return Some(value) if value is None or type(value) is Some else value
    if sp == "schedule_at":
        return ScheduleAt(value)
    if t.py_class is not None:
        return t.py_class._from_sum(tag, value)  # type: ignore[attr-defined]
    return SumValue(tag, var.name, value)
