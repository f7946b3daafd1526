"""Checks of a RawModuleDef v9 that parsing alone does not make, before bindings are built.

``ModuleSchema.from_json`` is lenient on purpose (a client should cope with what a server
sends), but bindings generated from a malformed schema would be quietly wrong: a second
reducer of the same name would replace the first, an unknown lifecycle tag would make a
reducer look callable. Each check raises ``SchemaError`` saying where it failed, by table,
reducer, column or parameter name rather than typespace index alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import SchemaError
from ..sats.types import SumType
from ..schema import ModuleSchema

__all__ = ["LIFECYCLES", "check_parsed", "check_raw"]

#: The lifecycle tags of RawModuleDef v9 (``Lifecycle`` in the module ABI).
LIFECYCLES = ("Init", "OnConnect", "OnDisconnect")


def _name_of(element: Any) -> str | None:
    """An element's or variant's ``{"some": name}`` / ``{"none": []}`` name, if it is one."""
    name = element.get("name") if isinstance(element, Mapping) else None
    if isinstance(name, Mapping) and isinstance(name.get("some"), str):
        return str(name["some"])
    return name if isinstance(name, str) else None


def _dangling(ty: Any, size: int, path: str, depth: int = 0) -> tuple[str, int] | None:
    """The first ``Ref`` in raw type ``ty`` pointing outside the typespace: (path, ref)."""
    if depth > 200 or not isinstance(ty, Mapping) or len(ty) != 1:
        return None  # malformed shapes are the parser's to report
    ((tag, body),) = ty.items()
    if tag == "Ref":
        ok = isinstance(body, int) and not isinstance(body, bool) and 0 <= body < size
        return None if ok or not isinstance(body, int) else (path, body)
    if tag == "Array":
        return _dangling(body, size, f"{path}[]", depth + 1)
    key = {"Product": "elements", "Sum": "variants"}.get(tag)
    items = body.get(key) if key is not None and isinstance(body, Mapping) else None
    for i, item in enumerate(items if isinstance(items, list) else []):
        name = _name_of(item)
        sub = f"{path}.{name if name is not None else i}"
        inner = item.get("algebraic_type") if isinstance(item, Mapping) else None
        found = _dangling(inner, size, sub, depth + 1)
        if found is not None:
            return found
    return None


def _check_refs(where: str, elements: Any, size: int, kind: str) -> None:
    """Dangling refs in the top-level elements (columns or parameters) of a product."""
    for i, e in enumerate(elements if isinstance(elements, list) else []):
        if not isinstance(e, Mapping):
            continue
        name = _name_of(e)
        label = f"{where} {kind} {name!r}" if name is not None else f"{where} {kind} #{i}"
        found = _dangling(e.get("algebraic_type"), size, "", 0)
        if found is not None:
            path, ref = found
            inside = f" (at {path.lstrip('.')})" if path else ""
            raise SchemaError(f"{label}{inside}: dangling type ref {ref} (typespace has {size})")


def _str_name(entry: Any, what: str, i: int) -> str:
    if not isinstance(entry, Mapping):
        raise SchemaError(f"{what}[{i}]: a {what[:-1]} entry is an object, got {entry!r:.80}")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise SchemaError(f"{what}[{i}]: the name is a non-empty string, got {name!r:.80}")
    return name


def _lifecycle(r: Mapping[str, Any], name: str) -> str | None:
    lc = r.get("lifecycle")
    if lc is None or lc == {"none": []}:
        return None
    some = lc.get("some") if isinstance(lc, Mapping) and len(lc) == 1 else None
    tag = next(iter(some), None) if isinstance(some, Mapping) and len(some) == 1 else None
    if tag not in LIFECYCLES:
        shown = repr(tag) if isinstance(tag, str) else f"{lc!r:.80}"
        raise SchemaError(
            f"reducer {name!r}: unknown lifecycle {shown} (expected one of "
            f"{', '.join(LIFECYCLES)}, or none)"
        )
    return str(tag)


def check_raw(raw: Mapping[str, Any]) -> None:
    """Structure, names, duplicates, lifecycles and type refs, before parsing."""
    for key in ("tables", "reducers"):
        if key in raw and not isinstance(raw[key], list):
            raise SchemaError(f"{key!r} must be a list of entries, got {raw[key]!r:.80}")
    ts = raw.get("typespace")
    types = ts.get("types") if isinstance(ts, Mapping) else None
    if not isinstance(types, list):
        return  # the parser says what a typespace is
    size = len(types)
    type_names: dict[int, str] = {}
    for entry in raw.get("types") or []:
        ty = entry.get("ty") if isinstance(entry, Mapping) else None
        nm = entry.get("name") if isinstance(entry, Mapping) else None
        label = nm.get("name") if isinstance(nm, Mapping) else nm
        if isinstance(ty, int) and not isinstance(ty, bool):
            if not 0 <= ty < size:
                raise SchemaError(f"type {label!r}: ty {ty} is outside the typespace (size {size})")
            type_names[ty] = str(label)
    tables: dict[str, int] = {}
    for i, t in enumerate(raw.get("tables") or []):
        name = _str_name(t, "tables", i)
        if name in tables:
            raise SchemaError(f"two tables are named {name!r}")
        ref = t.get("product_type_ref")
        if not isinstance(ref, int) or isinstance(ref, bool) or not 0 <= ref < size:
            raise SchemaError(
                f"table {name!r}: product_type_ref {ref!r:.40} is outside the typespace "
                f"(size {size})"
            )
        tables[name] = ref
    rows = {ref: name for name, ref in reversed(list(tables.items()))}
    for i, ty in enumerate(types):
        body = ty.get("Product") if isinstance(ty, Mapping) else None
        if i in rows and isinstance(body, Mapping):
            _check_refs(f"table {rows[i]!r}", body.get("elements"), size, "column")
            continue
        where = f"type {type_names[i]!r}" if i in type_names else f"typespace[{i}]"
        found = _dangling(ty, size, "")
        if found is not None:
            path, ref = found
            inside = f" (at {path.lstrip('.')})" if path else ""
            raise SchemaError(f"{where}{inside}: dangling type ref {ref} (typespace has {size})")
    reducers: set[str] = set()
    lifecycles: dict[str, str] = {}
    for i, r in enumerate(raw.get("reducers") or []):
        name = _str_name(r, "reducers", i)
        if name in reducers:
            raise SchemaError(f"two reducers are named {name!r}")
        reducers.add(name)
        params = r.get("params")
        if not isinstance(params, Mapping) or not isinstance(params.get("elements"), list):
            raise SchemaError(f"reducer {name!r}: params must be {{'elements': [...]}}")
        _check_refs(f"reducer {name!r}", params["elements"], size, "parameter")
        tag = _lifecycle(r, name)
        if tag is not None:
            if tag in lifecycles:
                raise SchemaError(
                    f"reducers {lifecycles[tag]!r} and {name!r} are both the {tag} reducer"
                )
            lifecycles[tag] = name


def check_parsed(raw: Mapping[str, Any], schema: ModuleSchema) -> None:
    """Schedules: the reducer exists and the column is in range and a ``ScheduleAt``."""
    for t in raw["tables"]:
        sched = t.get("schedule")
        some = sched.get("some") if isinstance(sched, Mapping) else None
        if some is None:
            continue
        name = str(t["name"])
        if not isinstance(some, Mapping):
            raise SchemaError(f"table {name!r}: bad schedule {sched!r:.80}")
        reducer = some.get("reducer_name")
        if not isinstance(reducer, str) or reducer not in schema.reducers:
            raise SchemaError(
                f"table {name!r}: its schedule names reducer {reducer!r:.60}, "
                "which the module does not define"
            )
        row = schema.tables[name].row_type
        col = some.get("scheduled_at_column")
        width = len(row.elements)
        if not isinstance(col, int) or isinstance(col, bool) or not 0 <= col < width:
            raise SchemaError(
                f"table {name!r}: scheduled_at_column {col!r:.40} is out of range "
                f"(the row has {width} columns)"
            )
        column = row.elements[col]
        at = column.algebraic_type.resolve()
        if not (isinstance(at, SumType) and at.special == "schedule_at"):
            raise SchemaError(
                f"table {name!r}: scheduled_at_column {col} ({column.name!r}) is not a "
                f"ScheduleAt but {at.describe()}"
            )
