"""The SATS type model (``AlgebraicType``), its JSON form, and the special types by shape.

A type is pure data: equal by structure, hashable, cheap to build. Codecs are compiled
from it once (``stdb_game.sats.codec``); generated bindings attach their own Python
classes through ``py_class`` without changing what the type means on the wire.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from ..errors import SchemaError

__all__ = [
    "BOOL",
    "CONNECTION_ID",
    "F32",
    "F64",
    "I8",
    "I16",
    "I32",
    "I64",
    "I128",
    "I256",
    "IDENTITY",
    "SCHEDULE_AT",
    "STRING",
    "TIMESTAMP",
    "TIME_DURATION",
    "U8",
    "U16",
    "U32",
    "U64",
    "U128",
    "U256",
    "UNIT",
    "UUID",
    "AlgebraicType",
    "ArrayType",
    "PrimitiveType",
    "ProductElement",
    "ProductType",
    "RefType",
    "SumType",
    "SumVariant",
    "Typespace",
    "array",
    "bytes_type",
    "option",
    "product",
    "result",
    "sum_type",
]


class AlgebraicType:
    """Base class of every SATS type."""

    __slots__ = ()
    #: The meta variant name (``"U32"``, ``"Product"``...), as in SATS-JSON.
    kind: str = ""

    @staticmethod
    def from_json(obj: Any, typespace: Typespace | None = None) -> AlgebraicType:
        """Parse the SATS-JSON type form (``{"U32": []}``, ``{"Product": {...}}``, ``{"Ref": n}``)."""
        return _type_from_json(obj, typespace, "type")

    def to_json(self) -> Any:
        raise NotImplementedError

    def resolve(self) -> AlgebraicType:
        """This type with top-level refs followed."""
        return self

    @property
    def static_size(self) -> int | None:
        """The BSATN size when every value has the same size, else None."""
        return None

    def describe(self) -> str:
        """A short human name, used in error messages."""
        return self.kind


class PrimitiveType(AlgebraicType):
    """Bool, integers, floats and String."""

    __slots__ = ("_size", "kind")
    _ALL: ClassVar[dict[str, PrimitiveType]] = {}

    def __init__(self, kind: str, size: int | None) -> None:
        self.kind = kind
        self._size = size

    @property
    def static_size(self) -> int | None:
        return self._size

    def to_json(self) -> Any:
        return {self.kind: []}

    def describe(self) -> str:
        return self.kind.lower()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrimitiveType) and other.kind == self.kind

    def __hash__(self) -> int:
        return hash(("prim", self.kind))

    def __repr__(self) -> str:
        return self.kind

    def __reduce__(self) -> tuple[Any, ...]:
        return (_primitive, (self.kind,))


def _primitive(kind: str) -> PrimitiveType:
    return PrimitiveType._ALL[kind]


def _mk(kind: str, size: int | None) -> PrimitiveType:
    t = PrimitiveType(kind, size)
    PrimitiveType._ALL[kind] = t
    return t


BOOL = _mk("Bool", 1)
I8 = _mk("I8", 1)
U8 = _mk("U8", 1)
I16 = _mk("I16", 2)
U16 = _mk("U16", 2)
I32 = _mk("I32", 4)
U32 = _mk("U32", 4)
I64 = _mk("I64", 8)
U64 = _mk("U64", 8)
I128 = _mk("I128", 16)
U128 = _mk("U128", 16)
I256 = _mk("I256", 32)
U256 = _mk("U256", 32)
F32 = _mk("F32", 4)
F64 = _mk("F64", 8)
STRING = _mk("String", None)

#: The meta tag of each type kind (the variant index of AlgebraicType itself).
META_TAGS: dict[str, int] = {
    "Ref": 0, "Sum": 1, "Product": 2, "Array": 3, "String": 4, "Bool": 5, "I8": 6, "U8": 7,
    "I16": 8, "U16": 9, "I32": 10, "U32": 11, "I64": 12, "U64": 13, "I128": 14, "U128": 15,
    "I256": 16, "U256": 17, "F32": 18, "F64": 19,
}  # fmt: skip


class ArrayType(AlgebraicType):
    """``Array<T>``; ``Array<U8>`` is bytes."""

    __slots__ = ("elem",)
    kind = "Array"

    def __init__(self, elem: AlgebraicType) -> None:
        self.elem = elem

    def to_json(self) -> Any:
        return {"Array": self.elem.to_json()}

    @property
    def is_bytes(self) -> bool:
        return self.elem.resolve() == U8

    def describe(self) -> str:
        return "bytes" if self.is_bytes else f"Array<{self.elem.describe()}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArrayType) and other.elem == self.elem

    def __hash__(self) -> int:
        return hash(("array", self.elem))

    def __repr__(self) -> str:
        return f"ArrayType({self.elem!r})"


class ProductElement:
    """One field of a product: an optional name and a type."""

    __slots__ = ("algebraic_type", "name")

    def __init__(self, name: str | None, algebraic_type: AlgebraicType) -> None:
        self.name = name
        self.algebraic_type = algebraic_type

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ProductElement)
            and other.name == self.name
            and other.algebraic_type == self.algebraic_type
        )

    def __hash__(self) -> int:
        return hash((self.name, self.algebraic_type))

    def __repr__(self) -> str:
        return f"{self.name}: {self.algebraic_type!r}"


#: ids of the products/sums whose static size is being computed (recursion guard).
_SIZING: set[int] = set()

_SPECIAL_PRODUCTS = {
    "__identity__": ("identity", "U256"),
    "__connection_id__": ("connection_id", "U128"),
    "__timestamp_micros_since_unix_epoch__": ("timestamp", "I64"),
    "__time_duration_micros__": ("time_duration", "I64"),
    "__uuid__": ("uuid", "U128"),
}


class ProductType(AlgebraicType):
    """A struct: fields in order, concatenated on the wire.

    ``name`` is an optional display name (the schema's type name); ``py_class`` an optional
    class that decoded values are built with (``py_class(*fields)``), whose attributes
    ``py_fields`` are read back when encoding. Neither takes part in equality.
    """

    __slots__ = ("_special", "elements", "name", "py_class", "py_fields")
    kind = "Product"

    def __init__(
        self,
        elements: Iterable[ProductElement | tuple[str | None, AlgebraicType]],
        name: str | None = None,
        py_class: type | None = None,
        py_fields: Sequence[str] | None = None,
    ) -> None:
        self.elements: tuple[ProductElement, ...] = tuple(
            e if isinstance(e, ProductElement) else ProductElement(e[0], e[1]) for e in elements
        )
        self.name = name
        self.py_class = py_class
        self.py_fields: tuple[str, ...] | None = tuple(py_fields) if py_fields else None
        self._special: str | None = None
        if len(self.elements) == 1:
            el = self.elements[0]
            hit = _SPECIAL_PRODUCTS.get(el.name or "")
            if hit and el.algebraic_type.kind == hit[1]:
                self._special = hit[0]
        elif not self.elements:
            self._special = "unit"

    @property
    def special(self) -> str | None:
        """``identity``, ``connection_id``, ``timestamp``, ``time_duration``, ``uuid``, ``unit``."""
        return self._special

    @property
    def names(self) -> list[str | None]:
        return [e.name for e in self.elements]

    @property
    def static_size(self) -> int | None:
        if id(self) in _SIZING:  # recursive through a Ref: no value has a fixed size
            return None
        _SIZING.add(id(self))
        try:
            total = 0
            for e in self.elements:
                s = e.algebraic_type.resolve().static_size
                if s is None:
                    return None
                total += s
            return total
        finally:
            _SIZING.discard(id(self))

    def to_json(self) -> Any:
        return {
            "Product": {
                "elements": [
                    {
                        "name": {"some": e.name} if e.name is not None else {"none": []},
                        "algebraic_type": e.algebraic_type.to_json(),
                    }
                    for e in self.elements
                ]
            }
        }

    def describe(self) -> str:
        if self._special and self._special != "unit":
            return {"identity": "Identity", "connection_id": "ConnectionId",
                    "timestamp": "Timestamp", "time_duration": "TimeDuration",
                    "uuid": "Uuid"}[self._special]  # fmt: skip
        if self.name:
            return self.name
        return (
            "(" + ", ".join(f"{e.name}: {e.algebraic_type.describe()}" for e in self.elements) + ")"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProductType) and other.elements == self.elements

    def __hash__(self) -> int:
        return hash(("product", self.elements))

    def __repr__(self) -> str:
        label = self.name or "ProductType"
        return f"{label}({', '.join(repr(e) for e in self.elements)})"


class SumVariant:
    """One variant of a sum: an optional name and a payload type (unit for none)."""

    __slots__ = ("algebraic_type", "name")

    def __init__(self, name: str | None, algebraic_type: AlgebraicType) -> None:
        self.name = name
        self.algebraic_type = algebraic_type

    @property
    def is_unit(self) -> bool:
        t = self.algebraic_type.resolve()
        return isinstance(t, ProductType) and not t.elements

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, SumVariant)
            and other.name == self.name
            and other.algebraic_type == self.algebraic_type
        )

    def __hash__(self) -> int:
        return hash((self.name, self.algebraic_type))

    def __repr__(self) -> str:
        return f"{self.name}({self.algebraic_type!r})"


_UNDETECTED = "<undetected>"


class SumType(AlgebraicType):
    """A tagged union: one u8 tag, then the chosen variant's payload.

    ``py_class``, when set, decodes through ``py_class._from_sum(tag, payload)`` and
    encodes values that carry ``.tag`` and ``.value`` (or are ``int`` enum members).
    """

    __slots__ = ("_special", "name", "py_class", "variants")
    kind = "Sum"

    def __init__(
        self,
        variants: Iterable[SumVariant | tuple[str | None, AlgebraicType]],
        name: str | None = None,
        py_class: type | None = None,
    ) -> None:
        self.variants: tuple[SumVariant, ...] = tuple(
            v if isinstance(v, SumVariant) else SumVariant(v[0], v[1]) for v in variants
        )
        if len(self.variants) > 256:
            raise SchemaError("a sum type has at most 256 variants (u8 tag)")
        self.name = name
        self.py_class = py_class
        # Detected on first use: a variant may be a Ref into a typespace still being filled.
        self._special: str | None = _UNDETECTED

    def _detect(self) -> str | None:
        vs = self.variants
        names = [v.name for v in vs]
        if names == ["some", "none"] and vs[1].is_unit:
            return "option"
        if names == ["ok", "err"]:
            return "result"
        if names == ["Interval", "Time"]:
            a = vs[0].algebraic_type.resolve()
            b = vs[1].algebraic_type.resolve()
            if (
                isinstance(a, ProductType)
                and a.special == "time_duration"
                and isinstance(b, ProductType)
                and b.special == "timestamp"
            ):
                return "schedule_at"
        if vs and all(v.is_unit for v in vs):
            return "enum"
        return None

    @property
    def special(self) -> str | None:
        """``option``, ``result``, ``schedule_at``, ``enum`` (all-unit) or None."""
        sp = self._special
        if sp is _UNDETECTED:
            sp = self._special = self._detect()
        return sp

    @property
    def static_size(self) -> int | None:
        if id(self) in _SIZING:  # recursive through a Ref: no value has a fixed size
            return None
        _SIZING.add(id(self))
        try:
            sizes = {v.algebraic_type.resolve().static_size for v in self.variants}
        finally:
            _SIZING.discard(id(self))
        if len(sizes) == 1:
            (s,) = sizes
            return None if s is None else 1 + s
        return None

    def variant_index(self, name: str) -> int:
        for i, v in enumerate(self.variants):
            if v.name == name:
                return i
        raise KeyError(name)

    def to_json(self) -> Any:
        return {
            "Sum": {
                "variants": [
                    {
                        "name": {"some": v.name} if v.name is not None else {"none": []},
                        "algebraic_type": v.algebraic_type.to_json(),
                    }
                    for v in self.variants
                ]
            }
        }

    def describe(self) -> str:
        sp = self.special
        if sp == "option":
            return f"Option<{self.variants[0].algebraic_type.describe()}>"
        if sp == "schedule_at":
            return "ScheduleAt"
        if self.name:
            return self.name
        return "Sum(" + " | ".join(str(v.name) for v in self.variants) + ")"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SumType) and other.variants == self.variants

    def __hash__(self) -> int:
        return hash(("sum", self.variants))

    def __repr__(self) -> str:
        return f"{self.name or 'SumType'}({' | '.join(repr(v) for v in self.variants)})"


class RefType(AlgebraicType):
    """A reference into a typespace (index ``index``)."""

    __slots__ = ("index", "typespace")
    kind = "Ref"

    def __init__(self, index: int, typespace: Typespace | None = None) -> None:
        self.index = index
        self.typespace = typespace

    def resolve(self) -> AlgebraicType:
        seen = 0
        t: AlgebraicType = self
        while isinstance(t, RefType):
            if t.typespace is None:
                raise SchemaError(f"type ref {t.index} has no typespace to resolve against")
            t = t.typespace.get(t.index)
            seen += 1
            if seen > 1000:
                raise SchemaError("type refs form a cycle with no concrete type")
        return t

    @property
    def static_size(self) -> int | None:
        return self.resolve().static_size

    def to_json(self) -> Any:
        return {"Ref": self.index}

    def describe(self) -> str:
        if self.typespace is not None and self.typespace.names.get(self.index):
            return self.typespace.names[self.index]
        return f"Ref({self.index})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RefType) and other.index == self.index

    def __hash__(self) -> int:
        return hash(("ref", self.index))

    def __repr__(self) -> str:
        return f"Ref({self.index})"


class Typespace:
    """The list of types that ``Ref(n)`` points into, with optional names per index."""

    __slots__ = ("names", "types")

    def __init__(self, types: Iterable[AlgebraicType] = (), names: dict[int, str] | None = None):
        self.types: list[AlgebraicType] = list(types)
        self.names: dict[int, str] = dict(names or {})

    @classmethod
    def from_json(cls, obj: Any) -> Typespace:
        """Parse ``{"types": [...]}`` (the schema's ``typespace``)."""
        if not isinstance(obj, dict) or not isinstance(obj.get("types"), list):
            raise SchemaError('a typespace is {"types": [...]}')
        ts = cls()
        ts.types = [_type_from_json(t, ts, f"typespace[{i}]") for i, t in enumerate(obj["types"])]
        for i in range(len(ts.types)):
            _check_refs(ts.types[i], ts, f"typespace[{i}]")
        return ts

    def get(self, index: int) -> AlgebraicType:
        if not 0 <= index < len(self.types):
            raise SchemaError(f"type ref {index} is outside the typespace (size {len(self.types)})")
        return self.types[index]

    def __len__(self) -> int:
        return len(self.types)

    def to_json(self) -> Any:
        return {"types": [t.to_json() for t in self.types]}


def _check_refs(t: AlgebraicType, ts: Typespace, where: str, depth: int = 0) -> None:
    if depth > 200:
        return
    if isinstance(t, RefType):
        if not 0 <= t.index < len(ts.types):
            raise SchemaError(f"{where}: dangling type ref {t.index} (typespace has {len(ts)})")
    elif isinstance(t, ProductType):
        for e in t.elements:
            _check_refs(e.algebraic_type, ts, f"{where}.{e.name}", depth + 1)
    elif isinstance(t, SumType):
        for v in t.variants:
            _check_refs(v.algebraic_type, ts, f"{where}.{v.name}", depth + 1)
    elif isinstance(t, ArrayType):
        _check_refs(t.elem, ts, f"{where}[]", depth + 1)


def _opt_name(obj: Any, where: str) -> str | None:
    if obj is None:
        return None
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict) and len(obj) == 1:
        if "some" in obj and isinstance(obj["some"], str):
            return str(obj["some"])
        if "none" in obj:
            return None
    raise SchemaError(f"{where}: a name is {{'some': str}} or {{'none': []}}, got {obj!r}")


def _type_from_json(obj: Any, ts: Typespace | None, where: str) -> AlgebraicType:
    if not isinstance(obj, dict) or len(obj) != 1:
        raise SchemaError(f"{where}: a type is a one-key object, got {obj!r:.80}")
    ((key, body),) = obj.items()
    if key in PrimitiveType._ALL:
        return PrimitiveType._ALL[key]
    if key == "Ref":
        if not isinstance(body, int) or isinstance(body, bool) or body < 0:
            raise SchemaError(f"{where}: Ref needs a non-negative integer, got {body!r}")
        if ts is not None and ts.types and body >= len(ts.types):
            raise SchemaError(f"{where}: dangling type ref {body} (typespace has {len(ts)})")
        return RefType(body, ts)
    if key == "Array":
        return ArrayType(_type_from_json(body, ts, f"{where}[]"))
    if key == "Product":
        items = body.get("elements") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise SchemaError(f"{where}: Product needs {{'elements': [...]}}")
        elems = []
        for i, e in enumerate(items):
            if not isinstance(e, dict) or "algebraic_type" not in e:
                raise SchemaError(f"{where}: product element {i} needs 'algebraic_type'")
            name = _opt_name(e.get("name"), f"{where}.elements[{i}]")
            elems.append(
                ProductElement(name, _type_from_json(e["algebraic_type"], ts, f"{where}.{name}"))
            )
        return ProductType(elems)
    if key == "Sum":
        items = body.get("variants") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise SchemaError(f"{where}: Sum needs {{'variants': [...]}}")
        vs = []
        for i, v in enumerate(items):
            if not isinstance(v, dict) or "algebraic_type" not in v:
                raise SchemaError(f"{where}: sum variant {i} needs 'algebraic_type'")
            name = _opt_name(v.get("name"), f"{where}.variants[{i}]")
            vs.append(SumVariant(name, _type_from_json(v["algebraic_type"], ts, f"{where}.{name}")))
        return SumType(vs)
    raise SchemaError(f"{where}: unknown type tag {key!r}")


# ---- convenient constructors ---------------------------------------------------------------

UNIT = ProductType([])
IDENTITY = ProductType([("__identity__", U256)], name="Identity")
CONNECTION_ID = ProductType([("__connection_id__", U128)], name="ConnectionId")
TIMESTAMP = ProductType([("__timestamp_micros_since_unix_epoch__", I64)], name="Timestamp")
TIME_DURATION = ProductType([("__time_duration_micros__", I64)], name="TimeDuration")
UUID = ProductType([("__uuid__", U128)], name="Uuid")
SCHEDULE_AT = SumType([("Interval", TIME_DURATION), ("Time", TIMESTAMP)], name="ScheduleAt")


def option(t: AlgebraicType) -> SumType:
    """``Option<T>``: ``some`` (tag 0) or ``none`` (tag 1)."""
    return SumType([("some", t), ("none", UNIT)])


def result(ok: AlgebraicType, err: AlgebraicType) -> SumType:
    return SumType([("ok", ok), ("err", err)])


def array(t: AlgebraicType) -> ArrayType:
    return ArrayType(t)


def bytes_type() -> ArrayType:
    return ArrayType(U8)


def product(*fields: tuple[str | None, AlgebraicType], name: str | None = None) -> ProductType:
    return ProductType(fields, name=name)


def sum_type(*variants: tuple[str | None, AlgebraicType], name: str | None = None) -> SumType:
    return SumType(variants, name=name)
