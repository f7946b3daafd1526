"""A module's schema (RawModuleDef v9) as the client needs it: tables, keys, indexes, reducers.

Built from ``GET /v1/database/{db}/schema?version=9`` or ``spacetime describe --json``
(``ModuleSchema.from_json``), or by generated bindings, which attach their own row classes
to the row types (``py_class``) so the cache hands out typed rows. ``to_json`` turns any
schema back into that JSON, which is what a session recording stores.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import SchemaError
from .sats.types import (
    AlgebraicType,
    ProductElement,
    ProductType,
    RefType,
    SumType,
    Typespace,
)

__all__ = ["IndexDef", "ModuleSchema", "ReducerDef", "TableDef"]


@dataclass(frozen=True)
class IndexDef:
    """A btree index over one or more columns (by position in the row)."""

    name: str
    columns: tuple[int, ...]
    accessor_name: str | None = None


@dataclass
class TableDef:
    """One table: its row type and the keys the client cache indexes."""

    name: str
    row_type: ProductType
    primary_key: int | None = None
    unique_columns: tuple[tuple[int, ...], ...] = ()
    indexes: tuple[IndexDef, ...] = ()
    public: bool = True
    scheduled_reducer: str | None = None
    type_name: str | None = None

    @property
    def column_names(self) -> list[str]:
        return [e.name or f"_{i}" for i, e in enumerate(self.row_type.elements)]

    def column_index(self, name: str) -> int:
        for i, e in enumerate(self.row_type.elements):
            if e.name == name:
                return i
        raise KeyError(f"table {self.name!r} has no column {name!r}")


@dataclass
class ReducerDef:
    """One reducer: its parameters as a product (the BSATN of its arguments) and lifecycle."""

    name: str
    params: ProductType
    lifecycle: str | None = None  # "Init", "OnConnect", "OnDisconnect"
    reducer_id: int = 0

    @property
    def is_lifecycle(self) -> bool:
        return self.lifecycle is not None

    @property
    def param_names(self) -> list[str]:
        return [e.name or f"_{i}" for i, e in enumerate(self.params.elements)]


@dataclass
class ModuleSchema:
    """Tables and reducers of one module, keyed by name."""

    tables: dict[str, TableDef] = field(default_factory=dict)
    reducers: dict[str, ReducerDef] = field(default_factory=dict)
    typespace: Typespace = field(default_factory=Typespace)
    type_names: dict[int, str] = field(default_factory=dict)
    raw: Mapping[str, Any] | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ModuleSchema:
        """Parse a RawModuleDef v9 JSON document."""
        if not isinstance(raw, Mapping):
            raise SchemaError("a module schema is a JSON object")
        if "V9" in raw and isinstance(raw["V9"], Mapping):
            raw = raw["V9"]
        for key in ("typespace", "tables", "reducers"):
            if key not in raw:
                raise SchemaError(f"module schema lacks {key!r} (is it RawModuleDef v9?)")
        ts = Typespace.from_json(raw["typespace"])
        type_names: dict[int, str] = {}
        for entry in raw.get("types", []) or []:
            try:
                scope = list(entry["name"].get("scope", []))
                name = str(entry["name"]["name"])
                type_names[int(entry["ty"])] = "::".join([*scope, name])
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise SchemaError(f"bad entry in 'types': {entry!r:.120}") from exc
        ts.names.update(type_names)
        for idx, name in type_names.items():
            t = ts.get(idx)
            if isinstance(t, (ProductType, SumType)) and t.name is None:
                t.name = name.split("::")[-1]
        schema = cls(typespace=ts, type_names=type_names, raw=raw)
        for t in raw["tables"]:
            schema._add_table_json(t)
        for i, r in enumerate(raw["reducers"]):
            schema._add_reducer_json(r, i)
        return schema

    def _add_table_json(self, t: Mapping[str, Any]) -> None:
        try:
            name = str(t["name"])
            ref = int(t["product_type_ref"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaError(f"table entry lacks name/product_type_ref: {t!r:.120}") from exc
        row = self.typespace.get(ref)
        if not isinstance(row, ProductType):
            raise SchemaError(f"table {name!r}: product_type_ref {ref} is not a product type")
        pk_cols = list(t.get("primary_key") or [])
        if len(pk_cols) > 1:
            raise SchemaError(f"table {name!r}: multi-column primary keys are not supported")
        pk = int(pk_cols[0]) if pk_cols else None
        uniques: list[tuple[int, ...]] = []
        for c in t.get("constraints") or []:
            data = c.get("data", {}) if isinstance(c, Mapping) else {}
            if "Unique" in data:
                uniques.append(tuple(int(x) for x in data["Unique"]["columns"]))
        indexes: list[IndexDef] = []
        for ix in t.get("indexes") or []:
            algo = ix.get("algorithm", {})
            if not isinstance(algo, Mapping) or len(algo) != 1:
                raise SchemaError(f"table {name!r}: index algorithm {algo!r:.80} is not understood")
            ((_kind, cols),) = algo.items()  # BTree/Hash list columns, Direct one column
            if isinstance(cols, int):
                cols = [cols]
            if not isinstance(cols, list) or not cols:
                raise SchemaError(f"table {name!r}: index without columns: {ix!r:.120}")
            iname = _opt(ix.get("name")) or f"{name}_{'_'.join(map(str, cols))}_idx"
            indexes.append(
                IndexDef(iname, tuple(int(c) for c in cols), _opt(ix.get("accessor_name")))
            )
        for cols in (*([(pk,)] if pk is not None else []), *uniques):
            for c in cols:
                if not 0 <= c < len(row.elements):
                    raise SchemaError(f"table {name!r}: key column {c} out of range")
        access = t.get("table_access") or {"Public": []}
        sched = t.get("schedule") or {"none": []}
        sched_reducer = None
        if isinstance(sched, Mapping) and "some" in sched:
            sched_reducer = str(sched["some"].get("reducer_name", "")) or None
        self.tables[name] = TableDef(
            name=name,
            row_type=row,
            primary_key=pk,
            unique_columns=tuple(uniques),
            indexes=tuple(indexes),
            public="Public" in access,
            scheduled_reducer=sched_reducer,
            type_name=self.type_names.get(ref),
        )

    def _add_reducer_json(self, r: Mapping[str, Any], index: int) -> None:
        try:
            name = str(r["name"])
            params = AlgebraicType.from_json({"Product": r["params"]}, self.typespace)
        except (KeyError, TypeError) as exc:
            raise SchemaError(f"reducer entry lacks name/params: {r!r:.120}") from exc
        assert isinstance(params, ProductType)
        lc = r.get("lifecycle") or {"none": []}
        lifecycle = None
        if isinstance(lc, Mapping) and "some" in lc and isinstance(lc["some"], Mapping):
            lifecycle = next(iter(lc["some"]), None)
        self.reducers[name] = ReducerDef(name, params, lifecycle, index)

    @classmethod
    def build(
        cls, tables: Iterable[TableDef] = (), reducers: Iterable[ReducerDef] = ()
    ) -> ModuleSchema:
        """Assemble a schema by hand (generated bindings, tests)."""
        s = cls()
        for t in tables:
            s.tables[t.name] = t
        for i, r in enumerate(reducers):
            if not r.reducer_id:
                r.reducer_id = i
            s.reducers[r.name] = r
        return s

    def to_json(self) -> dict[str, Any]:
        """This schema as RawModuleDef v9 JSON that ``from_json`` reads back to an equal one.

        Generated bindings build their schema from Python objects, with no JSON to keep; a
        recording needs the JSON so it can be replayed on its own. Row types that are not
        in the typespace (a schema assembled by hand) are appended to it, and reducers are
        listed in ``reducer_id`` order, since that order is their id on the wire.
        """
        types: list[AlgebraicType] = list(self.typespace.types)
        refs: dict[int, int] = {id(t): i for i, t in enumerate(types)}
        names: dict[int, str] = dict(self.type_names)

        def ref_of(row: ProductType, type_name: str | None) -> int:
            idx = refs.get(id(row))
            if idx is None:
                idx = refs[id(row)] = len(types)
                types.append(row)
            name = type_name or row.name
            if name and idx not in names:
                names[idx] = name
            return idx

        tables = [_table_json(t, ref_of(t.row_type, t.type_name)) for t in self.tables.values()]
        reducers = [
            _reducer_json(r) for r in sorted(self.reducers.values(), key=lambda r: r.reducer_id)
        ]
        return {
            "typespace": {"types": [t.to_json() for t in types]},
            "tables": tables,
            "reducers": reducers,
            "types": [_type_name_json(name, idx) for idx, name in sorted(names.items())],
            "misc_exports": [],
            "row_level_security": [],
        }

    def table(self, name: str) -> TableDef:
        try:
            return self.tables[name]
        except KeyError:
            raise SchemaError(f"the module has no table {name!r}") from None

    def reducer(self, name: str) -> ReducerDef:
        try:
            return self.reducers[name]
        except KeyError:
            raise SchemaError(f"the module has no reducer {name!r}") from None

    def resolve(self, t: AlgebraicType) -> AlgebraicType:
        return t.resolve() if isinstance(t, RefType) else t


_NONE: dict[str, Any] = {"none": []}


def _some(v: Any) -> dict[str, Any]:
    return {"some": v}


def _table_json(t: TableDef, ref: int) -> dict[str, Any]:
    """One ``tables`` entry of RawModuleDef v9."""
    schedule: dict[str, Any] = _NONE
    if t.scheduled_reducer is not None:
        at = next((i for i, e in enumerate(t.row_type.elements) if _is_schedule_at(e)), 1)
        schedule = _some(
            {
                "name": _some(f"{t.name}_sched"),
                "reducer_name": t.scheduled_reducer,
                "scheduled_at_column": at,
            }
        )
    return {
        "name": t.name,
        "product_type_ref": ref,
        "primary_key": [] if t.primary_key is None else [t.primary_key],
        "indexes": [
            {
                "name": _some(ix.name),
                "accessor_name": _NONE if ix.accessor_name is None else _some(ix.accessor_name),
                "algorithm": {"BTree": list(ix.columns)},
            }
            for ix in t.indexes
        ],
        "constraints": [
            {
                "name": _some(f"{t.name}_{'_'.join(map(str, cols))}_key"),
                "data": {"Unique": {"columns": list(cols)}},
            }
            for cols in t.unique_columns
        ],
        "sequences": [],
        "schedule": schedule,
        "table_type": {"User": []},
        "table_access": {"Public": []} if t.public else {"Private": []},
    }


def _is_schedule_at(e: ProductElement) -> bool:
    t = e.algebraic_type.resolve()
    return isinstance(t, SumType) and t.special == "schedule_at"


def _reducer_json(r: ReducerDef) -> dict[str, Any]:
    """One ``reducers`` entry of RawModuleDef v9."""
    return {
        "name": r.name,
        "params": r.params.to_json()["Product"],
        "lifecycle": _NONE if r.lifecycle is None else _some({r.lifecycle: []}),
    }


def _type_name_json(name: str, ty: int) -> dict[str, Any]:
    *scope, last = name.split("::")
    return {"name": {"scope": scope, "name": last}, "ty": ty, "custom_ordering": True}


def _opt(v: Any) -> str | None:
    if isinstance(v, Mapping):
        s = v.get("some")
        return str(s) if s is not None else None
    return str(v) if isinstance(v, str) else None
