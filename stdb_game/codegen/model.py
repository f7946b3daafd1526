"""The bindings to generate, worked out from a RawModuleDef v9: classes, tables, reducers, names.

Parsing is ``ModuleSchema.from_json``'s (unknown type tags are ``SchemaError`` there) and
the checks it leaves out are ``validate.py``'s; this module decides what Python each part
becomes and applies the naming rules of ``names.py``. ``render.py`` then only prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import SchemaError
from ..sats.types import (
    AlgebraicType,
    ArrayType,
    PrimitiveType,
    ProductType,
    RefType,
    SumType,
    Typespace,
)
from ..schema import IndexDef, ModuleSchema
from .names import (
    RESERVED_CLASS_NAMES,
    RESERVED_SNAKE_NAMES,
    Namespace,
    avoid,
    identifier,
    pascal_case,
    snake_case,
)
from .validate import check_parsed, check_raw

__all__ = [
    "BindingsModel",
    "EnumClass",
    "Field",
    "IndexAccessor",
    "ProductClass",
    "ReducerModel",
    "TableModel",
    "TaggedClass",
    "Variant",
    "build_model",
]

#: Attribute names ``GeneratedProduct`` uses; a field with one of them gets a trailing ``_``.
PRODUCT_MEMBERS = frozenset({"_FIELDS", "_values", "_astuple", "_asdict", "_replace"})
#: Members of ``TableView`` and of the generated handle that are not per-column.
TABLE_VIEW_MEMBERS = frozenset(
    {
        "handle", "name", "iter", "count", "on_insert", "on_delete", "on_before_delete",
        "on_update", "find", "query", "subscribe", "_cache", "_client", "_find", "_filter",
        "_on_update",
    }
)  # fmt: skip
#: Members of ``ReducersView``.
REDUCERS_VIEW_MEMBERS = frozenset({"client", "_call", "_on"})
#: Attributes of ``int`` (every Python from 3.10 on, so output does not depend on the one
#: running the generator): an ``IntEnum`` member with one of these names shadows it, which
#: type checkers reject.
INT_MEMBERS = frozenset(
    {
        "as_integer_ratio", "bit_count", "bit_length", "conjugate", "denominator",
        "from_bytes", "imag", "is_integer", "numerator", "real", "to_bytes",
    }
)  # fmt: skip
#: Names an ``enum.IntEnum`` member cannot take (a trailing ``_`` is added).
ENUM_MEMBERS = frozenset({"name", "value", "mro", "_from_sum", "_by_tag"}) | INT_MEMBERS
#: Module-level names of the generated package that tables/reducers must not take as modules.
PACKAGE_NAMES = frozenset({"__init__", "_types", "_schema", "_db", "connect"})

_PRIM_ANN = {
    "Bool": "bool", "I8": "int", "U8": "int", "I16": "int", "U16": "int", "I32": "int",
    "U32": "int", "I64": "int", "U64": "int", "I128": "int", "U128": "int", "I256": "int",
    "U256": "int", "F32": "float", "F64": "float", "String": "str",
}  # fmt: skip
_SPECIAL_ANN = {
    "identity": "Identity",
    "connection_id": "ConnectionId",
    "timestamp": "Timestamp",
    "time_duration": "TimeDuration",
    "uuid": "uuid.UUID",
    "unit": "tuple[()]",
}


@dataclass
class Field:
    """One field of a generated product (or one reducer parameter)."""

    wire: str | None
    attr: str
    ty: AlgebraicType
    ann: str
    #: The snake_case name before keyword avoidance, for method names (``find_by_class``).
    stem: str = ""
    #: The value may hold a nested option: the constructor makes ``Some(x)`` canonical.
    canon: bool = False


@dataclass
class ProductClass:
    """A generated ``GeneratedProduct`` subclass: a row, a named struct or reducer args."""

    name: str
    index: int | None
    wire_name: str
    fields: list[Field]
    #: Tables whose rows are this class (old-style classmethods need exactly one).
    tables: list[TableModel] = field(default_factory=list)
    reducer: str | None = None


@dataclass
class EnumClass:
    """A generated ``enum.IntEnum`` for a sum whose variants are all unit."""

    name: str
    index: int
    wire_name: str
    members: list[tuple[str, str | None]]


@dataclass
class Variant:
    """One variant class of a tagged sum."""

    class_name: str
    wire: str | None
    tag: int
    ty: AlgebraicType
    #: The payload annotation, None for a unit variant.
    ann: str | None
    #: The payload may hold a nested option (see ``Field.canon``).
    canon: bool = False


@dataclass
class TaggedClass:
    """A generated ``TaggedSum`` base class with one subclass per variant."""

    name: str
    index: int
    wire_name: str
    variants: list[Variant]


@dataclass
class ColumnKey:
    """A lookup a table handle offers on some columns."""

    method: str
    columns: tuple[int, ...]
    unique: bool
    #: For the leading columns of a multi-column index (a btree prefix scan): its accessor.
    prefix_of: str | None = None


@dataclass
class IndexAccessor:
    """The typed accessor of one multi-column btree index: ``conn.db.<table>.<attr>``."""

    attr: str
    class_name: str
    #: The index's name in the schema (its accessor name if it has one).
    label: str
    columns: tuple[int, ...]


@dataclass
class TableModel:
    """One table: names, row class and the keyed lookups of its handle."""

    wire: str
    attr: str
    module: str
    handle_class: str
    row_index: int
    row_ann: str
    row_type: ProductType
    columns: list[Field]
    primary_key: int | None
    unique_columns: tuple[tuple[int, ...], ...]
    indexes: list[IndexDef]
    public: bool
    scheduled_reducer: str | None
    type_name: str | None
    finds: list[ColumnKey] = field(default_factory=list)
    filters: list[ColumnKey] = field(default_factory=list)
    #: Column accessor attributes: (attribute, column, unique).
    accessors: list[tuple[str, int, bool]] = field(default_factory=list)
    #: Multi-column index accessor attributes.
    index_accessors: list[IndexAccessor] = field(default_factory=list)
    #: Old-style classmethods on the row class: (method, column, kind) with kind
    #: "unique", "index", "prefix" (first column of a multi-column index) or "scan"; plus
    #: the names of ``iter`` and ``register_row_update``.
    old_filters: list[tuple[str, int, str]] = field(default_factory=list)
    old_iter: str = "iter"
    old_register: str = "register_row_update"


@dataclass
class ReducerModel:
    """One reducer: call method, callback, args class and old-style module."""

    wire: str
    reducer_id: int
    lifecycle: str | None
    params: list[Field]
    params_type: ProductType
    args_class: ProductClass | None
    call_method: str | None
    callback_method: str
    module: str
    old_call: str | None
    old_register: str


@dataclass
class BindingsModel:
    """Everything the renderer prints, in schema order."""

    schema: ModuleSchema
    typespace: Typespace
    classes: dict[int, ProductClass | EnumClass | TaggedClass]
    args_classes: list[ProductClass]
    tables: list[TableModel]
    reducers: list[ReducerModel]
    class_names: dict[int, str]

    @property
    def all_classes(self) -> list[ProductClass | EnumClass | TaggedClass]:
        return [*self.classes.values(), *self.args_classes]


def _opt_str(v: Any) -> str | None:
    if isinstance(v, Mapping):
        s = v.get("some")
        return s if isinstance(s, str) else None
    return v if isinstance(v, str) else None


def _raw_indexes(raw_table: Mapping[str, Any], table: str, width: int) -> list[IndexDef]:
    """Every index of a raw table (btree, hash and direct), as ``IndexDef``."""
    out: list[IndexDef] = []
    for ix in raw_table.get("indexes") or []:
        if not isinstance(ix, Mapping):
            raise SchemaError(f"table {table!r}: an index is an object, got {ix!r:.80}")
        algo = ix.get("algorithm")
        cols: list[int]
        if isinstance(algo, Mapping) and len(algo) == 1:
            ((kind, body),) = algo.items()
            if kind in ("BTree", "Hash") and isinstance(body, list):
                cols = [int(c) for c in body]
            elif kind == "Direct" and isinstance(body, int):
                cols = [int(body)]
            else:
                raise SchemaError(f"table {table!r}: unknown index algorithm {algo!r:.80}")
        else:
            raise SchemaError(f"table {table!r}: bad index algorithm {algo!r:.80}")
        if not cols or any(not 0 <= c < width for c in cols):
            raise SchemaError(f"table {table!r}: index columns {cols} out of range")
        name = _opt_str(ix.get("name")) or f"{table}_{'_'.join(map(str, cols))}_idx"
        out.append(IndexDef(name, tuple(cols), _opt_str(ix.get("accessor_name"))))
    return out


def _hashable(ty: AlgebraicType, depth: int = 0) -> bool:
    """False when decoded values may hold a list (arrays other than bytes): no index key."""
    if depth > 64:
        return True
    t = ty.resolve()
    if isinstance(t, ArrayType):
        return t.is_bytes
    if isinstance(t, ProductType) and t.special is None:
        return all(_hashable(e.algebraic_type, depth + 1) for e in t.elements)
    if isinstance(t, SumType) and t.special not in ("schedule_at",):
        return all(_hashable(v.algebraic_type, depth + 1) for v in t.variants)
    return True


class _Builder:
    """Builds a ``BindingsModel``: names first (so annotations can refer to classes), then
    fields, tables and reducers."""

    def __init__(self, schema: ModuleSchema, raw: Mapping[str, Any]) -> None:
        self.schema = schema
        self.raw = raw
        self.ts = schema.typespace
        self.classes_ns = Namespace("generated classes", RESERVED_CLASS_NAMES)
        self.modules_ns = Namespace("generated modules", PACKAGE_NAMES | RESERVED_SNAKE_NAMES)
        self.class_names: dict[int, str] = {}
        self.classes: dict[int, ProductClass | EnumClass | TaggedClass] = {}

    # ---- which typespace entries get a class, and its name --------------------------------

    def wants_class(self, t: AlgebraicType) -> bool:
        if isinstance(t, ProductType):
            return t.special is None
        if isinstance(t, SumType):
            return t.special not in ("option", "schedule_at")
        return False

    def name_classes(self) -> None:
        row_tables: dict[int, str] = {}
        for raw_t in self.raw["tables"]:
            row_tables.setdefault(int(raw_t["product_type_ref"]), str(raw_t["name"]))
        for i, t in enumerate(self.ts.types):
            full = self.schema.type_names.get(i)
            named_unit = isinstance(t, ProductType) and t.special == "unit" and full is not None
            if not (self.wants_class(t) or named_unit):
                continue
            if full is not None:
                wire = full
                base = "".join(pascal_case(p) for p in full.split("::"))
            elif i in row_tables:
                wire = f"row of table {row_tables[i]}"
                base = pascal_case(row_tables[i])
            else:
                wire = f"typespace[{i}]"
                base = f"Type{i}"
            self.class_names[i] = self.classes_ns.add(base, wire, kind="type")

    # ---- annotations ----------------------------------------------------------------------

    def ann(self, ty: AlgebraicType, depth: int = 0) -> str:
        """The Python annotation of values of ``ty`` (as decoded, and accepted to encode)."""
        if depth > 100:
            raise SchemaError("type nests too deeply for bindings")
        if isinstance(ty, RefType):
            name = self.class_names.get(ty.index)
            if name is not None:
                return name
            return self.ann(self.ts.get(ty.index), depth + 1)
        if isinstance(ty, PrimitiveType):
            return _PRIM_ANN[ty.kind]
        if isinstance(ty, ArrayType):
            if ty.is_bytes:
                return "bytes"
            return f"list[{self.ann(ty.elem, depth + 1)}]"
        if isinstance(ty, ProductType):
            sp = ty.special
            if sp is not None:
                return _SPECIAL_ANN[sp]
            inner = ", ".join(self.ann(e.algebraic_type, depth + 1) for e in ty.elements)
            return f"tuple[{inner}]"
        if isinstance(ty, SumType):
            sp = ty.special
            if sp == "option":
                inner_t = ty.variants[0].algebraic_type
                inner = self.ann(inner_t, depth + 1)
                if self.nullable(inner_t):  # inner ends in "| None"; keep None last
                    return f"{inner.removesuffix(' | None')} | Some[{inner}] | None"
                return f"{inner} | None"
            if sp == "schedule_at":
                return "ScheduleAt"
            return "SumValue"
        raise SchemaError(f"no Python annotation for {ty!r}")  # pragma: no cover

    def nullable(self, ty: AlgebraicType) -> bool:
        t = ty.resolve()
        return isinstance(t, SumType) and t.special == "option"

    def nested_option(self, ty: AlgebraicType, seen: frozenset[int] = frozenset()) -> bool:
        """Whether a value of ``ty`` may hold an ``Option<Option<..>>`` outside any generated
        class (those make their own fields canonical)."""
        if isinstance(ty, RefType):
            if ty.index in self.class_names or ty.index in seen:
                return False
            return self.nested_option(self.ts.get(ty.index), seen | {ty.index})
        if isinstance(ty, ArrayType):
            return self.nested_option(ty.elem, seen)
        if isinstance(ty, ProductType):
            return ty.special is None and any(
                self.nested_option(e.algebraic_type, seen) for e in ty.elements
            )
        if isinstance(ty, SumType):
            if ty.special == "option":
                inner = ty.variants[0].algebraic_type
                return self.nullable(inner) or self.nested_option(inner, seen)
            if ty.special == "schedule_at":
                return False
            return any(self.nested_option(v.algebraic_type, seen) for v in ty.variants)
        return False

    # ---- classes --------------------------------------------------------------------------

    def fields_of(self, product: ProductType, what: str) -> list[Field]:
        ns = Namespace(what, RESERVED_SNAKE_NAMES | PRODUCT_MEMBERS)
        out: list[Field] = []
        for i, e in enumerate(product.elements):
            stem = f"_{i}" if e.name is None else snake_case(e.name)
            attr = ns.add(stem, e.name if e.name is not None else f"#{i}", kind="field")
            ty = e.algebraic_type
            canon = self.nested_option(ty)
            out.append(Field(e.name, attr, ty, self.ann(ty), stem, canon))
        return out

    def build_classes(self) -> None:
        for i, name in self.class_names.items():
            t = self.ts.types[i]
            wire = self.schema.type_names.get(i, name)
            if isinstance(t, ProductType):
                fields = self.fields_of(t, f"type {wire!r}")
                self.classes[i] = ProductClass(name, i, wire, fields)
            elif isinstance(t, SumType) and t.special == "enum":
                ns = Namespace(f"enum {wire!r}", ENUM_MEMBERS)
                members: list[tuple[str, str | None]] = []
                for tag, v in enumerate(t.variants):
                    base = identifier(v.name) if v.name is not None else f"V{tag}"
                    if base.startswith("_"):
                        raise SchemaError(
                            f"enum {wire!r}: variant {v.name!r} starts with '_', which "
                            "Python's enum reserves"
                        )
                    members.append((ns.add(base, str(v.name), kind="variant"), v.name))
                self.classes[i] = EnumClass(name, i, wire, members)
            else:
                assert isinstance(t, SumType)
                variants: list[Variant] = []
                for tag, v in enumerate(t.variants):
                    vbase = pascal_case(v.name) if v.name is not None else f"Variant{tag}"
                    cname = self.classes_ns.add(
                        name + vbase, f"{wire}::{v.name}", kind="variant class"
                    )
                    ann = None if v.is_unit else self.ann(v.algebraic_type)
                    canon = ann is not None and self.nested_option(v.algebraic_type)
                    variants.append(Variant(cname, v.name, tag, v.algebraic_type, ann, canon))
                self.classes[i] = TaggedClass(name, i, wire, variants)

    # ---- tables ---------------------------------------------------------------------------

    def build_tables(self) -> list[TableModel]:
        table_attrs = Namespace("tables", RESERVED_SNAKE_NAMES | {"_rt"})
        out: list[TableModel] = []
        for raw_t in self.raw["tables"]:
            wire = str(raw_t["name"])
            tdef = self.schema.tables[wire]
            ref = int(raw_t["product_type_ref"])
            attr = table_attrs.add(snake_case(wire), wire, kind="table")
            module = self.modules_ns.add(attr, wire, kind="table")
            handle_class = self.classes_ns.add(
                pascal_case(wire) + "TableHandle", wire, kind="table handle of"
            )
            row_cls = self.classes.get(ref)
            if isinstance(row_cls, ProductClass):
                columns = row_cls.fields
                row_ann = row_cls.name
            else:  # a unit row type: no class, tuples
                columns = self.fields_of(tdef.row_type, f"table {wire!r}")
                row_ann = self.ann(tdef.row_type)
            indexes = _raw_indexes(raw_t, wire, len(tdef.row_type.elements))
            usable = [ix for ix in indexes if all(_hashable(columns[c].ty) for c in ix.columns)]
            tm = TableModel(
                wire=wire,
                attr=attr,
                module=module,
                handle_class=handle_class,
                row_index=ref,
                row_ann=row_ann,
                row_type=tdef.row_type,
                columns=columns,
                primary_key=tdef.primary_key,
                unique_columns=tdef.unique_columns,
                indexes=usable,
                public=tdef.public,
                scheduled_reducer=tdef.scheduled_reducer,
                type_name=tdef.type_name,
            )
            self.table_keys(tm)
            if isinstance(row_cls, ProductClass):
                row_cls.tables.append(tm)
            out.append(tm)
        for tm in out:
            self.old_style(tm)
        return out

    def table_keys(self, tm: TableModel) -> None:
        """The handle's lookups: ``find_by_``, ``filter_by_`` and column accessors."""
        ns = Namespace(f"table {tm.wire!r} handle", TABLE_VIEW_MEMBERS | RESERVED_SNAKE_NAMES)
        cols = tm.columns
        unique: list[int] = []
        if tm.primary_key is not None:
            unique.append(tm.primary_key)
        for uc in tm.unique_columns:
            if len(uc) == 1 and uc[0] not in unique:
                unique.append(uc[0])
        unique = [c for c in unique if _hashable(cols[c].ty)]
        indexed_single: list[int] = []
        multi: dict[tuple[int, ...], str | None] = {}  # columns -> accessor name
        for ix in tm.indexes:
            if len(ix.columns) == 1:
                if ix.columns[0] not in indexed_single:
                    indexed_single.append(ix.columns[0])
            elif ix.columns not in multi:
                multi[ix.columns] = ix.accessor_name
        for c in unique:
            tm.accessors.append((ns.add(cols[c].attr, cols[c].attr, kind="column"), c, True))
        for c in indexed_single:
            if c not in unique:
                tm.accessors.append((ns.add(cols[c].attr, cols[c].attr, kind="column"), c, False))
        for mc, accessor in multi.items():
            stems = "_and_".join(cols[c].stem for c in mc)
            label = accessor or f"by_{stems}"
            attr = ns.add(snake_case(label), label, kind="index")
            class_name = self.classes_ns.add(
                f"{tm.handle_class.removesuffix('TableHandle')}{pascal_case(label)}Index",
                f"{tm.wire}.{label}",
                kind="index accessor class of",
            )
            tm.index_accessors.append(IndexAccessor(attr, class_name, label, mc))
        for c in unique:
            name = ns.add(f"find_by_{cols[c].stem}", cols[c].attr, kind="column")
            tm.finds.append(ColumnKey(name, (c,), True))
        for c in indexed_single:
            name = ns.add(f"filter_by_{cols[c].stem}", cols[c].attr, kind="column")
            tm.filters.append(ColumnKey(name, (c,), c in unique))
        for mc in multi:
            label = "_and_".join(cols[c].stem for c in mc)
            name = ns.add(f"filter_by_{label}", label, kind="index")
            tm.filters.append(ColumnKey(name, mc, False))
        # The leading columns of a multi-column index are indexed too (a prefix scan).
        done = {k.columns for k in tm.filters}
        for ia in tm.index_accessors:
            for n in range(1, len(ia.columns)):
                prefix = ia.columns[:n]
                if prefix in done:
                    continue
                done.add(prefix)
                label = "_and_".join(cols[c].stem for c in prefix)
                name = ns.add(f"filter_by_{label}", label, kind="index prefix")
                tm.filters.append(ColumnKey(name, prefix, False, ia.attr))

    def old_style(self, tm: TableModel) -> None:
        """Names of the old API's classmethods on the row class (only for one-table rows)."""
        taken = {f.attr for f in tm.columns} | PRODUCT_MEMBERS | RESERVED_SNAKE_NAMES
        tm.old_iter = avoid("iter", taken)
        tm.old_register = avoid("register_row_update", taken | {tm.old_iter})
        used = {tm.old_iter, tm.old_register}
        unique = {k.columns[0] for k in tm.finds}
        indexed = {k.columns[0] for k in tm.filters if len(k.columns) == 1 and not k.prefix_of}
        prefixed = {k.columns[0] for k in tm.filters if len(k.columns) == 1 and k.prefix_of}
        for c, col in enumerate(tm.columns):
            kind = (
                "unique"
                if c in unique
                else "index"
                if c in indexed
                else "prefix"
                if c in prefixed
                else "scan"
            )
            name = avoid(f"filter_by_{col.stem}", taken | used)
            used.add(name)
            tm.old_filters.append((name, c, kind))

    # ---- reducers -------------------------------------------------------------------------

    def build_reducers(self) -> list[ReducerModel]:
        methods = Namespace("RemoteReducers", REDUCERS_VIEW_MEMBERS | RESERVED_SNAKE_NAMES)
        rdefs = sorted(self.schema.reducers.values(), key=lambda r: r.reducer_id)
        snakes = {r.name: snake_case(r.name) for r in rdefs}
        calls: dict[str, str] = {}
        for r in rdefs:
            if r.lifecycle is None:
                calls[r.name] = methods.add(snakes[r.name], r.name, kind="reducer")
        out: list[ReducerModel] = []
        for r in rdefs:
            snake = snakes[r.name]
            callback = methods.add(f"on_{snake}", r.name, kind="reducer callback of")
            module = self.modules_ns.add(f"{snake}_reducer", r.name, kind="reducer")
            params = self.fields_of(r.params, f"reducer {r.name!r}")
            args_class = None
            if params:
                cname = self.classes_ns.add(
                    pascal_case(r.name) + "Args", r.name, kind="arguments of reducer"
                )
                args_class = ProductClass(
                    cname, None, f"arguments of reducer {r.name}", params, reducer=r.name
                )
            module_taken = RESERVED_SNAKE_NAMES | {"reducer_name", "_rt"}
            old_call = avoid(snake, module_taken) if r.lifecycle is None else None
            old_register = avoid(f"register_on_{snake}", module_taken | {old_call or ""})
            out.append(
                ReducerModel(
                    wire=r.name,
                    reducer_id=r.reducer_id,
                    lifecycle=r.lifecycle,
                    params=params,
                    params_type=r.params,
                    args_class=args_class,
                    call_method=calls.get(r.name),
                    callback_method=callback,
                    module=module,
                    old_call=old_call,
                    old_register=old_register,
                )
            )
        return out


def build_model(raw: Mapping[str, Any]) -> BindingsModel:
    """Parse a RawModuleDef v9 JSON document and decide the bindings' names and shapes."""
    if isinstance(raw, Mapping) and "V9" in raw and isinstance(raw["V9"], Mapping):
        raw = raw["V9"]
    if isinstance(raw, Mapping):
        check_raw(raw)
    schema = ModuleSchema.from_json(raw)
    check_parsed(raw, schema)
    b = _Builder(schema, raw)
    b.name_classes()
    b.build_classes()
    tables = b.build_tables()
    reducers = b.build_reducers()
    return BindingsModel(
        schema=schema,
        typespace=b.ts,
        classes=b.classes,
        args_classes=[r.args_class for r in reducers if r.args_class is not None],
        tables=tables,
        reducers=reducers,
        class_names=b.class_names,
    )
