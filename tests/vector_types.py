"""Shared helper: read the golden vectors in ../shared/vectors as stdb_game types and values.

The vectors use their own notation (see ``shared/vectors/README.md``): a compact type
language (``"u32"``, ``{"option": T}``, ``{"ref": "Name"}``...) and JSON values where big
integers are decimal strings and identities are big-endian hex. This module turns both into
what ``stdb_game.sats`` works with, so every test compares against one reading of the files.

Usage::

    from vector_types import load_vectors, type_from_vector, value_from_vector, assert_same

    for case in load_vectors("bsatn.json"):
        ty = type_from_vector(case["type"])
        expected = value_from_vector(ty, case["value"])
        assert_same(ty, expected, decode(ty, bytes.fromhex(case["hex"])))
"""

from __future__ import annotations

import functools
import json
import math
import uuid
from pathlib import Path
from typing import Any

import pytest
from shared_data import VECTORS

from stdb_game.sats import types as t
from stdb_game.sats.types import AlgebraicType, ArrayType, PrimitiveType, ProductType, SumType
from stdb_game.sats.values import (
    ConnectionId,
    Identity,
    ScheduleAt,
    Some,
    SumValue,
    TimeDuration,
    Timestamp,
)

__all__ = [
    "assert_same",
    "client_api_type",
    "load_vectors",
    "same_value",
    "type_from_vector",
    "value_from_vector",
    "vectors_dir",
]

_PRIMS: dict[str, AlgebraicType] = {
    "bool": t.BOOL, "i8": t.I8, "u8": t.U8, "i16": t.I16, "u16": t.U16, "i32": t.I32,
    "u32": t.U32, "i64": t.I64, "u64": t.U64, "i128": t.I128, "u128": t.U128, "i256": t.I256,
    "u256": t.U256, "f32": t.F32, "f64": t.F64, "string": t.STRING,
    "bytes": t.ArrayType(t.U8), "unit": t.UNIT, "identity": t.IDENTITY,
    "connection_id": t.CONNECTION_ID, "timestamp": t.TIMESTAMP,
    "time_duration": t.TIME_DURATION, "schedule_at": t.SCHEDULE_AT, "uuid": t.UUID,
}  # fmt: skip


def vectors_dir() -> Path:
    """The read-only golden vectors next to the repo; missing files fail the run (never skip)."""
    path = VECTORS
    if not (path / "bsatn.json").is_file():
        pytest.fail(f"golden vectors not found at {path} (../shared/vectors, or STDB_GAME_SHARED)")
    return path


def load_vectors(name: str) -> Any:
    """The parsed JSON of one vector file (``bsatn.json``, ``messages.json``...)."""
    path = vectors_dir() / name
    if not path.is_file():
        pytest.fail(f"golden vector file missing: {path}")
    with path.open(encoding="utf-8") as f:
        return json.load(f)


@functools.lru_cache(maxsize=1)
def _client_api() -> dict[str, Any]:
    data = load_vectors("client_api_types.json")
    assert isinstance(data, dict)
    return data


_BUILT: dict[str, AlgebraicType] = {}


def client_api_type(name: str) -> AlgebraicType:
    """A named type of ``client_api_types.json`` (``"ServerMessage"``...), built once."""
    hit = _BUILT.get(name)
    if hit is not None:
        return hit
    defs = _client_api()
    if name not in defs:
        raise KeyError(f"no type {name!r} in client_api_types.json")
    _BUILT[name] = t.UNIT  # placeholder; the v1 message types are not recursive
    built = type_from_vector(defs[name], _name=name)
    _BUILT[name] = built
    return built


def type_from_vector(obj: Any, *, _name: str | None = None) -> AlgebraicType:
    """Convert the vector type notation to a ``stdb_game.sats.types`` object."""
    if isinstance(obj, str):
        if obj not in _PRIMS:
            raise ValueError(f"unknown vector type {obj!r}")
        return _PRIMS[obj]
    if not isinstance(obj, dict) or len(obj) != 1:
        raise ValueError(f"a vector type is a string or a one-key object, got {obj!r}")
    ((key, body),) = obj.items()
    if key == "array":
        return t.ArrayType(type_from_vector(body))
    if key == "option":
        return t.option(type_from_vector(body))
    if key == "product":
        return t.ProductType([(f["name"], type_from_vector(f["type"])) for f in body], name=_name)
    if key == "sum":
        return t.SumType([(v["name"], type_from_vector(v["type"])) for v in body], name=_name)
    if key == "ref":
        return client_api_type(body)
    raise ValueError(f"unknown vector type form {key!r}")


def _float(v: Any) -> float:
    if isinstance(v, str):
        named = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf, "-0.0": -0.0}
        if v not in named:
            raise ValueError(f"unknown float spelling {v!r}")
        return named[v]
    assert isinstance(v, (int, float)) and not isinstance(v, bool), v
    return float(v)


def _int(v: Any) -> int:
    if isinstance(v, str):
        return int(v, 10)
    assert isinstance(v, int) and not isinstance(v, bool), v
    return v


def value_from_vector(ty: AlgebraicType, v: Any) -> Any:
    """Convert a vector JSON value of type ``ty`` to the Python value the codec decodes to.

    Products become plain tuples in field order (equal to the codec's namedtuples), sums
    ``SumValue``, options ``None`` / the value / ``Some(...)`` when the value is itself an
    absent or explicit option, special types their ``stdb_game.sats.values`` classes.
    """
    t_ = ty.resolve()
    if isinstance(t_, PrimitiveType):
        k = t_.kind
        if k == "Bool":
            assert isinstance(v, bool), v
            return v
        if k in ("F32", "F64"):
            return _float(v)
        if k == "String":
            assert isinstance(v, str), v
            return v
        return _int(v)
    if isinstance(t_, ArrayType):
        if t_.is_bytes:
            return bytes.fromhex(v) if isinstance(v, str) else bytes(v)
        assert isinstance(v, list), v
        return [value_from_vector(t_.elem, x) for x in v]
    if isinstance(t_, ProductType):
        sp = t_.special
        if sp == "identity":
            return Identity.from_hex(v)
        if sp == "connection_id":
            return ConnectionId.from_hex(v)
        if sp == "timestamp":
            return Timestamp(_int(v))
        if sp == "time_duration":
            return TimeDuration(_int(v))
        if sp == "uuid":
            return uuid.UUID(v) if isinstance(v, str) else uuid.UUID(int=_int(v))
        assert isinstance(v, dict), v
        names = [e.name for e in t_.elements]
        if list(v) != names:
            raise ValueError(f"product value keys {list(v)} are not the fields {names}")
        return tuple(value_from_vector(e.algebraic_type, v[e.name]) for e in t_.elements)
    if isinstance(t_, SumType):
        sp = t_.special
        if sp == "option":
            if v is None:
                return None
            assert isinstance(v, dict) and list(v) == ["some"], v
            inner = value_from_vector(t_.variants[0].algebraic_type, v["some"])
            return Some(inner) if inner is None or isinstance(inner, Some) else inner
        assert isinstance(v, dict) and set(v) == {"tag", "value"}, v
        tag = t_.variant_index(v["tag"])
        payload = value_from_vector(t_.variants[tag].algebraic_type, v["value"])
        if sp == "schedule_at":
            return ScheduleAt(payload)
        return SumValue(tag, v["tag"], payload)
    raise TypeError(f"cannot convert a value of {ty!r}")  # pragma: no cover


def _same_float(a: Any, b: Any) -> bool:
    if not isinstance(a, float) or not isinstance(b, float):
        return False
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def same_value(expected: Any, actual: Any) -> bool:
    """Value-level equality without a type: NaN equals NaN, -0.0 differs from 0.0."""
    if isinstance(expected, float) or isinstance(actual, float):
        return _same_float(expected, actual)
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)):
        if isinstance(expected, list) != isinstance(actual, list):
            return False
        return len(expected) == len(actual) and all(map(same_value, expected, actual))
    if type(expected) is SumValue and type(actual) is SumValue:
        return expected.tag == actual.tag and same_value(expected.value, actual.value)
    if type(expected) is Some and type(actual) is Some:
        return same_value(expected.value, actual.value)
    return type(expected) is type(actual) and bool(expected == actual)


def _field(actual: Any, index: int, name: str | None) -> Any:
    if isinstance(actual, tuple):
        return actual[index]
    if isinstance(actual, dict):
        return actual[name]
    return getattr(actual, name or f"_{index}")


def assert_same(ty: AlgebraicType, expected: Any, actual: Any, path: str = "value") -> None:
    """Type-directed comparison with a precise path in the failure message.

    Products in ``actual`` may be tuples, dicts or objects with the field names as
    attributes (e.g. protocol dataclasses); sums anything with ``.tag`` and ``.value``.
    f32 values are compared exactly (the vectors hold the exact f32 as a double).
    """
    t_ = ty.resolve()
    if isinstance(t_, ProductType) and not t_.special:
        assert isinstance(expected, tuple), f"{path}: expected value is not a product tuple"
        if not t_.elements:
            assert actual == () or actual is None or not _fields_of(actual), (
                f"{path}: expected unit, got {actual!r}"
            )
            return
        for i, e in enumerate(t_.elements):
            try:
                got = _field(actual, i, e.name)
            except (AttributeError, KeyError, IndexError):
                raise AssertionError(f"{path}: no field {e.name!r} in {actual!r}") from None
            assert_same(e.algebraic_type, expected[i], got, f"{path}.{e.name}")
        if isinstance(actual, tuple):
            assert len(actual) == len(t_.elements), (
                f"{path}: {len(actual)} fields, not {len(t_.elements)}"
            )
        return
    if isinstance(t_, ArrayType) and not t_.is_bytes:
        assert isinstance(actual, (list, tuple)), f"{path}: expected a list, got {actual!r}"
        assert len(actual) == len(expected), f"{path}: {len(actual)} elements, not {len(expected)}"
        for i, (x, y) in enumerate(zip(expected, actual)):
            assert_same(t_.elem, x, y, f"{path}[{i}]")
        return
    if isinstance(t_, SumType) and t_.special == "option":
        inner_ty = t_.variants[0].algebraic_type
        if expected is None:
            assert actual is None, f"{path}: expected none, got {actual!r}"
            return
        assert actual is not None, f"{path}: expected some, got none"
        if type(expected) is Some:
            assert type(actual) is Some, f"{path}: expected {expected!r}, got {actual!r}"
            assert_same(inner_ty, expected.value, actual.value, f"{path}.some")
            return
        assert_same(inner_ty, expected, actual, f"{path}.some")
        return
    if isinstance(t_, SumType) and t_.special != "schedule_at" and type(expected) is SumValue:
        tag = getattr(actual, "tag", None)
        assert tag == expected.tag, f"{path}: expected variant {expected.name}, got {actual!r}"
        var = t_.variants[expected.tag]
        assert_same(
            var.algebraic_type, expected.value, getattr(actual, "value", ()), f"{path}.{var.name}"
        )
        return
    assert same_value(expected, actual), f"{path}: expected {expected!r}, got {actual!r}"


def _fields_of(obj: Any) -> tuple[Any, ...]:
    slots = getattr(obj, "__slots__", None) or getattr(obj, "__dataclass_fields__", None) or ()
    return tuple(slots)
