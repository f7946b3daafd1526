"""Turns an annotated class body into a small record class (slots, __init__, __eq__, __repr__).

Rows handed to reducers must be cheap, mutable (``row.name = x; table.identity.update(row)``)
and constructible positionally in column order, which is what BSATN decoders call.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["MISSING", "make_record_class", "record_methods"]


class _Missing:
    """Marks a field without a default."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
_IMMUTABLE = (int, float, str, bytes, bool, type(None), tuple, frozenset)


def _factory(value: Any) -> Callable[[], Any]:
    if isinstance(value, _IMMUTABLE):
        return lambda: value
    return lambda: copy.deepcopy(value)


def make_record_class(cls: type, fields: Sequence[str], defaults: dict[str, Any]) -> type:
    """A new class named like ``cls`` with its methods, whose instances hold ``fields``."""
    ns: dict[str, Any] = {
        k: v
        for k, v in cls.__dict__.items()
        if k not in ("__dict__", "__weakref__") and k not in fields
    }
    ns["__slots__"] = tuple(fields)
    for k, v in record_methods(cls, fields, defaults).items():
        if k in ("__eq__", "__repr__", "_replace"):
            ns.setdefault(k, v)
        else:
            ns[k] = v
    new = type(cls.__name__, cls.__bases__, ns)
    new.__qualname__ = cls.__qualname__
    new.__module__ = cls.__module__
    return new


def record_methods(cls: type, fields: Sequence[str], defaults: dict[str, Any]) -> dict[str, Any]:
    """``__init__`` (positional in field order, defaults), ``__eq__``, ``__repr__``, ``_replace``."""
    for f in fields:
        if not f.isidentifier() or f.startswith("__"):
            raise ValueError(f"{cls.__name__}: {f!r} cannot be a column name")
    ns: dict[str, Any] = {}
    ns["_fields"] = tuple(fields)
    ns["__match_args__"] = tuple(fields)
    env: dict[str, Any] = {"_M": MISSING}
    params: list[str] = []
    body: list[str] = []
    seen_default = False
    for f in fields:
        if f in defaults:
            seen_default = True
            env[f"_d_{f}"] = _factory(defaults[f])
            params.append(f"{f}=_M")
            body.append(f"    if {f} is _M: {f} = _d_{f}()")
        elif seen_default:
            params.append(f"{f}=_M")
            msg = f"{cls.__name__}() missing required argument: {f}"
            body.append(f"    if {f} is _M: raise TypeError({msg!r})")
        else:
            params.append(f)
    body += [f"    self.{f} = {f}" for f in fields] or ["    pass"]
    src = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body) + "\n"
    src += "def _astuple(self):\n"
    src += f"    return ({''.join(f'self.{f}, ' for f in fields)})\n"
    exec(src, env)
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    ns["__init__"] = init
    astuple = env["_astuple"]
    ns["_astuple"] = astuple

    def __eq__(self: Any, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return bool(astuple(self) == astuple(other))

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in fields)
        return f"{type(self).__name__}({inner})"

    def _replace(self: Any, **changes: Any) -> Any:
        """A copy with some fields changed."""
        values = {f: getattr(self, f) for f in fields}
        values.update(changes)
        return type(self)(**values)

    ns["__eq__"] = __eq__
    ns["__repr__"] = __repr__
    ns["__hash__"] = None
    ns["_replace"] = _replace
    return ns
