"""RawModuleDef v9 in SATS-JSON, shaped like a real ``spacetime describe --json`` (http.md §4)."""

from __future__ import annotations

from typing import Any

from ..sats import types as t
from .moduledef import ModuleDef, TableDef

__all__ = ["module_def_json", "type_json"]

_NONE: dict[str, Any] = {"none": []}


def _opt(value: Any) -> dict[str, Any]:
    return _NONE if value is None else {"some": value}


def type_json(ty: t.AlgebraicType, refs: dict[int, int], top: bool = False) -> Any:
    """JSON of ``ty``, with module-declared types replaced by ``{"Ref": n}`` below the top."""
    if not top and id(ty) in refs:
        return {"Ref": refs[id(ty)]}
    if isinstance(ty, t.ProductType):
        return {
            "Product": {
                "elements": [
                    {"name": _opt(e.name), "algebraic_type": type_json(e.algebraic_type, refs)}
                    for e in ty.elements
                ]
            }
        }
    if isinstance(ty, t.SumType):
        return {
            "Sum": {
                "variants": [
                    {"name": _opt(v.name), "algebraic_type": type_json(v.algebraic_type, refs)}
                    for v in ty.variants
                ]
            }
        }
    if isinstance(ty, t.ArrayType):
        return {"Array": type_json(ty.elem, refs)}
    return ty.to_json()


def _product_json(ty: t.ProductType, refs: dict[int, int]) -> dict[str, Any]:
    return type_json(ty, refs, top=True)["Product"]  # type: ignore[no-any-return]


def _by_name(j: dict[str, Any]) -> str:
    return str(j["name"]["some"])


def _table_json(td: TableDef) -> dict[str, Any]:
    cols = td.columns
    indexes: list[dict[str, Any]] = sorted(
        (
            {
                "name": {"some": ix.name},
                "accessor_name": {"some": ix.accessor},
                "algorithm": {"BTree": list(ix.columns)},
            }
            for ix in td.indexes
        ),
        key=_by_name,
    )
    constraints: list[dict[str, Any]] = sorted(
        (
            {
                "name": {"some": f"{td.name}_{'_'.join(cols[c].name for c in ix.columns)}_key"},
                "data": {"Unique": {"columns": list(ix.columns)}},
            }
            for ix in td.indexes
            if ix.unique
        ),
        key=_by_name,
    )
    sequences: list[dict[str, Any]] = sorted(
        (
            {
                "name": {"some": f"{td.name}_{cols[c].name}_seq"},
                "column": c,
                "start": _NONE,
                "min_value": _NONE,
                "max_value": _NONE,
                "increment": 1,
            }
            for c in td.sequences
        ),
        key=_by_name,
    )
    schedule: dict[str, Any] = _NONE
    if td.scheduled_reducer is not None:
        schedule = {
            "some": {
                "name": {"some": f"{td.name}_sched"},
                "reducer_name": td.scheduled_reducer,
                "scheduled_at_column": td.scheduled_at_column,
            }
        }
    return {
        "name": td.name,
        "product_type_ref": td.type_ref,
        "primary_key": [] if td.primary_key is None else [td.primary_key],
        "indexes": indexes,
        "constraints": constraints,
        "sequences": sequences,
        "schedule": schedule,
        "table_type": {"User": []},
        "table_access": {"Public": []} if td.public else {"Private": []},
    }


def module_def_json(md: ModuleDef) -> dict[str, Any]:
    """The whole RawModuleDefV9: typespace in registration order, tables and types by name."""
    refs = md.type_refs
    return {
        "typespace": {"types": [type_json(ty, refs, top=True) for _, ty in md.typespace]},
        "tables": [_table_json(md.tables[n]) for n in sorted(md.tables)],
        "reducers": [
            {
                "name": rd.name,
                "params": _product_json(rd.params, refs),
                "lifecycle": _opt({rd.lifecycle: []} if rd.lifecycle else None),
            }
            for rd in md.reducers.values()
        ],
        "types": sorted(
            (
                {"name": {"scope": [], "name": name}, "ty": i, "custom_ordering": True}
                for i, (name, _) in enumerate(md.typespace)
            ),
            key=lambda j: j["name"]["name"],
        ),
        "misc_exports": [],
        "row_level_security": [],
    }
