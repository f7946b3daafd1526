"""The resolved, checked form of a module: tables, reducers and types as the engine needs them."""

from __future__ import annotations

import enum
import inspect
import sys
import typing
from collections.abc import Callable
from typing import Any

from ..sats import types as t
from ..sats.values import SumValue
from .coltypes import TypePair, convert_annotation
from .errors import ModuleError
from .module import LIFECYCLES, Module, record_info

__all__ = ["ColumnDef", "IndexDef", "ModuleDef", "ReducerDef", "TableDef", "build_module"]

FIRST_TABLE_ID = 4097


class ColumnDef:
    """One column: position, name, types, and the options declared on it."""

    __slots__ = ("auto_inc", "name", "obj", "pos", "type")

    def __init__(self, pos: int, name: str, pair: TypePair, auto_inc: bool) -> None:
        self.pos = pos
        self.name = name
        self.type = pair.plain
        self.obj = pair.obj
        self.auto_inc = auto_inc


class IndexDef:
    """A btree index; ``unique`` when a unique constraint (or the primary key) backs it."""

    __slots__ = ("accessor", "columns", "name", "unique")

    def __init__(self, name: str, accessor: str, columns: tuple[int, ...], unique: bool) -> None:
        self.name = name
        self.accessor = accessor
        self.columns = columns
        self.unique = unique


class TableDef:
    """Everything the engine and the schema need to know about one table."""

    def __init__(self) -> None:
        self.name = ""
        self.table_id = 0
        self.row_class: type = object
        self.row_type = t.ProductType([])
        self.obj_type = t.ProductType([])
        self.type_ref = 0
        self.columns: list[ColumnDef] = []
        self.primary_key: int | None = None
        self.indexes: list[IndexDef] = []
        self.sequences: list[int] = []
        self.public = False
        self.scheduled_reducer: str | None = None
        self.scheduled_at_column: int | None = None
        self.scheduled_id_column: int | None = None

    def column(self, name: str) -> ColumnDef:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


class ReducerDef:
    """A reducer: name, id (its position), parameter types and its Python function."""

    def __init__(
        self,
        name: str,
        reducer_id: int,
        fn: Callable[..., Any],
        params: t.ProductType,
        obj_params: t.ProductType,
        lifecycle: str | None,
    ) -> None:
        self.name = name
        self.reducer_id = reducer_id
        self.fn = fn
        self.params = params
        self.obj_params = obj_params
        self.lifecycle = lifecycle


class ModuleDef:
    """A built module; ``typespace`` lists (name, plain type) in registration order."""

    def __init__(self, name: str, seed: int) -> None:
        self.name = name
        self.seed = seed
        self.tables: dict[str, TableDef] = {}
        self.reducers: dict[str, ReducerDef] = {}
        self.typespace: list[tuple[str, t.AlgebraicType]] = []
        #: id() of a plain user type -> its typespace index (for Refs in the schema)
        self.type_refs: dict[int, int] = {}
        self.lifecycle: dict[str, ReducerDef] = {}


class _Builder:
    def __init__(self, module: Module) -> None:
        self.module = module
        self.out = ModuleDef(module.name, module.seed)
        self.pairs: dict[type, TypePair] = {}
        self.in_progress: set[type] = set()

    # ---- types ----

    def _hints(self, obj: Any, where: str, localns: dict[str, Any] | None = None) -> dict[str, Any]:
        mod = sys.modules.get(getattr(obj, "__module__", ""), None)
        globalns = dict(vars(mod)) if mod is not None else {}
        local = dict(localns or {})
        for cls in self.pairs:  # declared types resolve by name even from other scopes
            local.setdefault(cls.__name__, cls)
        try:
            return typing.get_type_hints(obj, globalns=globalns, localns=local, include_extras=True)
        except Exception as exc:
            raise ModuleError(f"{where}: cannot resolve annotations: {exc}") from exc

    def user_type(self, cls: type, where: str) -> TypePair | None:
        if cls in self.pairs:
            return self.pairs[cls]
        if cls in self.in_progress:
            raise ModuleError(f"{where}: recursive type {cls.__name__} is not supported")
        if issubclass(cls, enum.Enum) and cls in self.module.types:
            return self._enum(cls)
        if getattr(cls, "__stdb_sum__", False) and cls in self.module.types:
            return self._sum(cls, where)
        if record_info(cls) is not None:
            return self._product(cls)
        return None

    def _register(self, cls: type, pair: TypePair) -> TypePair:
        self.pairs[cls] = pair
        self.out.type_refs[id(pair.plain)] = len(self.out.typespace)
        self.out.typespace.append((cls.__name__, pair.plain))
        return pair

    def _product(self, cls: type) -> TypePair:
        info = record_info(cls)
        assert info is not None
        self.in_progress.add(cls)
        hints = self._hints(info.source, cls.__name__, info.localns)
        elems_plain: list[tuple[str, t.AlgebraicType]] = []
        elems_obj: list[tuple[str, t.AlgebraicType]] = []
        for f in info.fields:
            pair = convert_annotation(hints[f], self, f"{cls.__name__}.{f}")
            elems_plain.append((f, pair.plain))
            elems_obj.append((f, pair.obj))
        self.in_progress.discard(cls)
        plain = t.ProductType(elems_plain, name=cls.__name__)
        obj = t.ProductType(elems_obj, name=cls.__name__, py_class=cls, py_fields=info.fields)
        return self._register(cls, TypePair(plain, obj))

    def _enum(self, cls: type[enum.Enum]) -> TypePair:
        members = list(cls)
        variants = [(m.name, t.UNIT) for m in members]
        plain = t.SumType(variants, name=cls.__name__)
        for i, m in enumerate(members):
            m._stdb_tag = i  # type: ignore[attr-defined]
        if not isinstance(cls.__dict__.get("tag"), property):
            cls.tag = property(lambda self: self._stdb_tag)  # type: ignore[attr-defined]
        adapter = type(
            f"{cls.__name__}Adapter",
            (),
            {"_from_sum": staticmethod(lambda tag, _v, ms=tuple(members): ms[tag])},
        )
        obj = t.SumType(variants, name=cls.__name__, py_class=adapter)
        return self._register(cls, TypePair(plain, obj))

    def _sum(self, cls: type, where: str) -> TypePair:
        self.in_progress.add(cls)
        hints = self._hints(cls, cls.__name__, getattr(cls, "__stdb_localns__", None))
        vp: list[tuple[str, t.AlgebraicType]] = []
        vo: list[tuple[str, t.AlgebraicType]] = []
        for name, ann in hints.items():
            if name.startswith("_"):
                continue
            if ann is None or ann is type(None):
                pair = TypePair(t.UNIT)
            else:
                pair = convert_annotation(ann, self, f"{cls.__name__}.{name}")
            vp.append((name, pair.plain))
            vo.append((name, pair.obj))
        self.in_progress.discard(cls)
        if not vp:
            raise ModuleError(f"{where}: sum type {cls.__name__} has no variants")
        for i, (name, ty) in enumerate(vp):
            if isinstance(ty, t.ProductType) and not ty.elements:
                setattr(cls, name, SumValue(i, name, ()))
            else:
                setattr(cls, name, staticmethod(lambda v, i=i, n=name: SumValue(i, n, v)))
        return self._register(
            cls, TypePair(t.SumType(vp, name=cls.__name__), t.SumType(vo, name=cls.__name__))
        )

    # ---- tables ----

    def tables(self) -> None:
        for i, decl in enumerate(self.module.tables):
            td = TableDef()
            td.name = decl.name
            td.table_id = FIRST_TABLE_ID + i
            td.row_class = decl.cls
            td.public = decl.public
            pair = self.user_type(decl.cls, f"table {decl.name}")
            assert pair is not None and isinstance(pair.plain, t.ProductType)
            assert isinstance(pair.obj, t.ProductType)
            td.row_type = pair.plain
            td.obj_type = pair.obj
            td.type_ref = self.out.type_refs[id(pair.plain)]
            info = record_info(decl.cls)
            assert info is not None
            if not info.fields:
                raise ModuleError(f"table {decl.name} has no columns")
            uniques: list[tuple[int, ...]] = []
            singles: list[int] = []
            for pos, f in enumerate(info.fields):
                spec = info.columns.get(f)
                col = ColumnDef(
                    pos,
                    f,
                    TypePair(
                        pair.plain.elements[pos].algebraic_type,
                        pair.obj.elements[pos].algebraic_type,
                    ),
                    bool(spec and spec.auto_inc),
                )
                td.columns.append(col)
                if spec is None:
                    continue
                if spec.primary_key:
                    if td.primary_key is not None:
                        raise ModuleError(f"table {decl.name} has two primary keys")
                    td.primary_key = pos
                if spec.primary_key or spec.unique:
                    uniques.append((pos,))
                elif spec.index:
                    singles.append(pos)
                if spec.auto_inc:
                    kind = col.type.resolve().kind
                    if kind not in (
                        "I8",
                        "U8",
                        "I16",
                        "U16",
                        "I32",
                        "U32",
                        "I64",
                        "U64",
                        "I128",
                        "U128",
                    ):
                        raise ModuleError(f"{decl.name}.{f}: auto_inc needs an integer column")
                    td.sequences.append(pos)
            for cols in uniques:
                self._check_indexable(td, cols)
                td.indexes.append(
                    IndexDef(self._index_name(td, cols), td.columns[cols[0]].name, cols, True)
                )
            for pos in singles:
                self._check_indexable(td, (pos,))
                td.indexes.append(
                    IndexDef(self._index_name(td, (pos,)), td.columns[pos].name, (pos,), False)
                )
            for spec_ix in decl.indexes:
                try:
                    cols = tuple(td.column(c).pos for c in spec_ix.columns)
                except KeyError as exc:
                    raise ModuleError(f"table {decl.name}: index on unknown column {exc}") from None
                self._check_indexable(td, cols)
                iname = self._index_name(td, cols)
                accessor = spec_ix.name or (td.columns[cols[0]].name if len(cols) == 1 else iname)
                td.indexes.append(IndexDef(iname, accessor, cols, False))
            names = [ix.name for ix in td.indexes]
            if len(set(names)) != len(names):
                raise ModuleError(f"table {decl.name}: two indexes on the same columns")
            accessors = [ix.accessor for ix in td.indexes]
            if len(set(accessors)) != len(accessors):
                raise ModuleError(f"table {decl.name}: two indexes with the same accessor name")
            if decl.scheduled is not None:
                self._schedule(td, decl.scheduled)
            self.out.tables[td.name] = td

    @staticmethod
    def _index_name(td: TableDef, cols: tuple[int, ...]) -> str:
        return f"{td.name}_{'_'.join(td.columns[c].name for c in cols)}_idx_btree"

    @staticmethod
    def _check_indexable(td: TableDef, cols: tuple[int, ...]) -> None:
        for c in cols:
            ty = td.columns[c].type.resolve()
            if isinstance(ty, t.ArrayType) and not ty.is_bytes:
                raise ModuleError(f"{td.name}.{td.columns[c].name}: arrays cannot be indexed")

    @staticmethod
    def _schedule(td: TableDef, reducer: str) -> None:
        at = [c for c in td.columns if c.type == t.SCHEDULE_AT]
        if not at:
            raise ModuleError(
                f"scheduled table {td.name} needs a `scheduled_at: ScheduleAt` column"
            )
        col_at = next((c for c in at if c.name == "scheduled_at"), at[0])
        pk = td.primary_key
        if pk is None or td.columns[pk].type != t.U64 or pk not in td.sequences:
            raise ModuleError(
                f"scheduled table {td.name} needs `scheduled_id: u64 = "
                "column(primary_key=True, auto_inc=True)`"
            )
        td.scheduled_reducer = reducer
        td.scheduled_at_column = col_at.pos
        td.scheduled_id_column = pk

    # ---- reducers ----

    def reducers(self) -> None:
        for rid, decl in enumerate(self.module.reducers):
            sig = inspect.signature(decl.fn)
            params = list(sig.parameters.values())
            if not params:
                raise ModuleError(f"reducer {decl.name} must take ctx as its first parameter")
            hints = self._hints(decl.fn, f"reducer {decl.name}", decl.localns)
            ep: list[tuple[str, t.AlgebraicType]] = []
            eo: list[tuple[str, t.AlgebraicType]] = []
            for p in params[1:]:
                if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                    raise ModuleError(f"reducer {decl.name}: *args/**kwargs are not supported")
                if p.name not in hints:
                    raise ModuleError(f"reducer {decl.name}: parameter {p.name} needs a type")
                pair = convert_annotation(hints[p.name], self, f"reducer {decl.name}({p.name})")
                ep.append((p.name, pair.plain))
                eo.append((p.name, pair.obj))
            lifecycle = LIFECYCLES[decl.lifecycle] if decl.lifecycle else None
            if lifecycle and ep:
                raise ModuleError(f"lifecycle reducer {decl.name} takes only ctx")
            rd = ReducerDef(
                decl.name, rid, decl.fn, t.ProductType(ep), t.ProductType(eo), lifecycle
            )
            self.out.reducers[rd.name] = rd
            if lifecycle:
                self.out.lifecycle[lifecycle] = rd

    def check_schedules(self) -> None:
        for td in self.out.tables.values():
            if td.scheduled_reducer is None:
                continue
            rd = self.out.reducers.get(td.scheduled_reducer)
            if rd is None:
                raise ModuleError(
                    f"table {td.name} schedules reducer {td.scheduled_reducer!r}, which is not declared"
                )
            if len(rd.params.elements) != 1 or rd.params.elements[0].algebraic_type != td.row_type:
                raise ModuleError(
                    f"scheduled reducer {rd.name} must take (ctx, row: {td.row_class.__name__})"
                )

    def build(self) -> ModuleDef:
        self.tables()
        for cls in self.module.types:
            self.user_type(cls, f"type {cls.__name__}")
        self.reducers()
        self.check_schedules()
        return self.out


def build_module(module: Module) -> ModuleDef:
    """Resolve and check ``module``; ModuleError names the first problem found."""
    return _Builder(module).build()
