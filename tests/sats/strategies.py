"""Hypothesis strategies for SATS: random AlgebraicTypes and values of a given type.

Values are generated in the codec's canonical Python form (what ``decode`` returns), so
``decode(encode(v))`` can be compared with ``v`` directly.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

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

#: Shared settings; ``SATS_EXAMPLES=5000 pytest tests/sats`` runs a longer fuzz.
SETTINGS = settings(
    max_examples=int(os.environ.get("SATS_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

INT_RANGES: dict[str, tuple[int, int]] = {
    "I8": (-(1 << 7), (1 << 7) - 1),
    "U8": (0, (1 << 8) - 1),
    "I16": (-(1 << 15), (1 << 15) - 1),
    "U16": (0, (1 << 16) - 1),
    "I32": (-(1 << 31), (1 << 31) - 1),
    "U32": (0, (1 << 32) - 1),
    "I64": (-(1 << 63), (1 << 63) - 1),
    "U64": (0, (1 << 64) - 1),
    "I128": (-(1 << 127), (1 << 127) - 1),
    "U128": (0, (1 << 128) - 1),
    "I256": (-(1 << 255), (1 << 255) - 1),
    "U256": (0, (1 << 256) - 1),
}

PRIMITIVES: list[AlgebraicType] = [t.PrimitiveType._ALL[k] for k in t.PrimitiveType._ALL]
SPECIALS: list[AlgebraicType] = [
    t.IDENTITY,
    t.CONNECTION_ID,
    t.TIMESTAMP,
    t.TIME_DURATION,
    t.UUID,
    t.SCHEDULE_AT,
    t.UNIT,
    t.bytes_type(),
]

#: Field and variant names, including ones a namedtuple must rename (keywords, _x, spaces).
NAMES = st.one_of(
    st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True),
    st.sampled_from(["class", "from", "_private", "x y", "1st", "tag", "value", "Ünïcode"]),
)


def ints(kind: str) -> st.SearchStrategy[int]:
    """Integers of one width, biased to its bounds."""
    lo, hi = INT_RANGES[kind]
    edges = sorted({lo, hi, 0, min(hi, 1), max(lo, -1), lo + 1, hi - 1})
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi))


def _wrap_option(v: Any) -> Any:
    return Some(v) if v is None or type(v) is Some else v


def values(ty: AlgebraicType, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of ``ty`` in the form the codec decodes to."""
    tt = ty.resolve()
    if isinstance(tt, PrimitiveType):
        k = tt.kind
        if k == "Bool":
            return st.booleans()
        if k == "F32":
            return st.floats(width=32)
        if k == "F64":
            return st.floats()
        if k == "String":
            return st.one_of(
                st.text(), st.sampled_from(["", "ok 🚀", "日本語", "\U0010ffff", "\x00"])
            )
        return ints(k)
    if isinstance(tt, ArrayType):
        if tt.is_bytes:
            return st.binary(max_size=40)
        return st.lists(values(tt.elem, depth + 1), max_size=4 if depth < 3 else 1)
    if isinstance(tt, ProductType):
        sp = tt.special
        if sp == "identity":
            return ints("U256").map(Identity)
        if sp == "connection_id":
            return ints("U128").map(ConnectionId)
        if sp == "timestamp":
            return ints("I64").map(Timestamp)
        if sp == "time_duration":
            return ints("I64").map(TimeDuration)
        if sp == "uuid":
            return st.uuids().map(lambda u: uuid.UUID(int=u.int))
        return st.tuples(*(values(e.algebraic_type, depth + 1) for e in tt.elements))
    if isinstance(tt, SumType):
        sp = tt.special
        if sp == "option":
            return st.one_of(
                st.none(), values(tt.variants[0].algebraic_type, depth + 1).map(_wrap_option)
            )
        if sp == "schedule_at":
            return st.one_of(
                ints("I64").map(lambda n: ScheduleAt(TimeDuration(n))),
                ints("I64").map(lambda n: ScheduleAt(Timestamp(n))),
            )
        if not tt.variants:
            return st.nothing()
        return st.one_of(
            *(
                values(v.algebraic_type, depth + 1).map(lambda p, i=i, n=v.name: SumValue(i, n, p))
                for i, v in enumerate(tt.variants)
            )
        )
    raise TypeError(f"no strategy for {ty!r}")  # pragma: no cover


def _unique_names(n: int) -> st.SearchStrategy[list[str]]:
    return st.lists(NAMES, min_size=n, max_size=n, unique=True)


def _product(children: st.SearchStrategy[AlgebraicType]) -> st.SearchStrategy[AlgebraicType]:
    @st.composite
    def build(draw: st.DrawFn) -> AlgebraicType:
        types = draw(st.lists(children, max_size=5))
        names = draw(_unique_names(len(types)))
        return ProductType(list(zip(names, types)))

    return build()


def _sum(children: st.SearchStrategy[AlgebraicType]) -> st.SearchStrategy[AlgebraicType]:
    @st.composite
    def build(draw: st.DrawFn) -> AlgebraicType:
        types = draw(st.lists(st.one_of(st.just(t.UNIT), children), min_size=1, max_size=5))
        names = draw(_unique_names(len(types)))
        return SumType(list(zip(names, types)))

    return build()


def algebraic_types(max_leaves: int = 12) -> st.SearchStrategy[AlgebraicType]:
    """Random types: every primitive and special type, nested through arrays, options,
    products (incl. empty), sums (incl. enums, results) in any combination."""
    leaves = st.sampled_from(PRIMITIVES + SPECIALS)
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            children.map(t.array),
            children.map(t.option),
            st.tuples(children, children).map(lambda p: t.result(p[0], p[1])),
            _product(children),
            _sum(children),
        ),
        max_leaves=max_leaves,
    )


@st.composite
def types_and_values(draw: st.DrawFn) -> tuple[AlgebraicType, Any]:
    """A random type and one value of it."""
    ty = draw(algebraic_types())
    return ty, draw(values(ty))


def _u32(n: int) -> bytes:
    return n.to_bytes(4, "little")


def wire_bytes(ty: AlgebraicType, depth: int = 0) -> st.SearchStrategy[bytes]:
    """Valid BSATN of ``ty`` built straight from the wire rules, without our encoder.

    Fixed-width numbers are arbitrary raw bytes (every bit pattern, NaN payloads included).
    """
    tt = ty.resolve()
    if isinstance(tt, PrimitiveType):
        if tt.kind == "Bool":
            return st.sampled_from([b"\x00", b"\x01"])
        if tt.kind == "String":
            return st.text().map(lambda s: _u32(len(s.encode())) + s.encode())
        size = tt.static_size
        assert size is not None
        return st.binary(min_size=size, max_size=size)
    if isinstance(tt, ArrayType):
        elems = st.lists(wire_bytes(tt.elem, depth + 1), max_size=4 if depth < 3 else 1)
        return elems.map(lambda xs: _u32(len(xs)) + b"".join(xs))
    if isinstance(tt, ProductType):
        if not tt.elements:
            return st.just(b"")
        return st.tuples(*(wire_bytes(e.algebraic_type, depth + 1) for e in tt.elements)).map(
            b"".join
        )
    if isinstance(tt, SumType):
        if not tt.variants:
            return st.nothing()
        return st.one_of(
            *(
                wire_bytes(v.algebraic_type, depth + 1).map(lambda p, i=i: bytes([i]) + p)
                for i, v in enumerate(tt.variants)
            )
        )
    raise TypeError(f"no strategy for {ty!r}")  # pragma: no cover


@st.composite
def types_and_wire_bytes(draw: st.DrawFn) -> tuple[AlgebraicType, bytes]:
    """A random type and a valid encoding of one of its values."""
    ty = draw(algebraic_types())
    return ty, draw(wire_bytes(ty))


def contains(ty: AlgebraicType, kind: str, depth: int = 0) -> bool:
    """Whether ``ty`` holds a primitive of ``kind`` anywhere (for f32 NaN-payload caveats)."""
    tt = ty.resolve()
    if depth > 30:
        return False
    if isinstance(tt, PrimitiveType):
        return tt.kind == kind
    if isinstance(tt, ArrayType):
        return contains(tt.elem, kind, depth + 1)
    if isinstance(tt, ProductType):
        return any(contains(e.algebraic_type, kind, depth + 1) for e in tt.elements)
    if isinstance(tt, SumType):
        return any(contains(v.algebraic_type, kind, depth + 1) for v in tt.variants)
    return False
