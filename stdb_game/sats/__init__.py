"""SATS, SpacetimeDB's type system: types, value classes, BSATN codecs and SATS-JSON."""

from __future__ import annotations

from .codec import Codec, decode, encode, get_codec
from .json import value_from_json, value_to_json
from .types import (
    AlgebraicType,
    ArrayType,
    PrimitiveType,
    ProductElement,
    ProductType,
    RefType,
    SumType,
    SumVariant,
    Typespace,
)
from .values import ConnectionId, Identity, ScheduleAt, Some, SumValue, TimeDuration, Timestamp

__all__ = [
    "AlgebraicType",
    "ArrayType",
    "Codec",
    "ConnectionId",
    "Identity",
    "PrimitiveType",
    "ProductElement",
    "ProductType",
    "RefType",
    "ScheduleAt",
    "Some",
    "SumType",
    "SumValue",
    "SumVariant",
    "TimeDuration",
    "Timestamp",
    "Typespace",
    "decode",
    "encode",
    "get_codec",
    "value_from_json",
    "value_to_json",
]
