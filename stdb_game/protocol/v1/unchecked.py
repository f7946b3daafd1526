"""Fast constructors for frozen dataclasses, for decoders that have already checked the values.

A frozen dataclass's ``__init__`` stores each field through ``object.__setattr__``, which
costs about four times as much as writing the slot directly. Decoding builds several such
objects per message on the game loop's hot path, so the decoders use these instead; user
code keeps the normal, checked constructors.

The fastest way to fill a frozen slotted object from Python is to build it as an instance
of a plain "shadow" class with the very same slots (ordinary attribute stores, which the
interpreter specialises) and then give it its real class: CPython allows ``__class__``
assignment between classes whose instance layouts are identical, and the result is an
ordinary instance of the real class. When a class does not allow that (other bases,
inherited slots), the constructor writes each slot through its descriptor instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["unchecked_constructor"]


def unchecked_constructor(cls: type[T]) -> Callable[..., T]:
    """A function taking ``cls``'s init fields positionally that skips ``__init__`` and
    ``__post_init__``; fields with ``init=False`` get their defaults."""
    if not dataclasses.is_dataclass(cls) or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a slotted dataclass")
    fields = dataclasses.fields(cls)
    for f in fields:
        if not f.init and f.default is dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{f.name} has no default")
    params = [f.name for f in fields if f.init]
    shadow = _shadow_class(cls)
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_shadow": shadow}
    body = []
    if shadow is not None:
        body.append("    obj = _new(_shadow)")
        for f in fields:
            if f.init:
                body.append(f"    obj.{f.name} = {f.name}")
            else:
                namespace[f"_default_{f.name}"] = f.default
                body.append(f"    obj.{f.name} = _default_{f.name}")
        body.append("    obj.__class__ = _cls")
    else:
        body.append("    obj = _new(_cls)")
        for f in fields:
            namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
            if f.init:
                body.append(f"    _set_{f.name}(obj, {f.name})")
            else:
                namespace[f"_default_{f.name}"] = f.default
                body.append(f"    _set_{f.name}(obj, _default_{f.name})")
    source = "\n".join([f"def build({', '.join(params)}):", *body, "    return obj"])
    exec(source, namespace)
    build: Callable[..., T] = namespace["build"]
    build.__qualname__ = build.__name__ = f"build_{cls.__name__}"
    return build


def _shadow_class(cls: type) -> type | None:
    """A plain class with ``cls``'s instance layout, or None if ``__class__`` cannot move
    an instance from it to ``cls``."""
    if cls.__bases__ != (object,):
        return None
    slots = cls.__dict__["__slots__"]
    if isinstance(slots, str):
        slots = (slots,)
    shadow = type(f"_Unchecked{cls.__name__}", (), {"__slots__": tuple(slots)})
    try:
        probe: Any = object.__new__(shadow)
        probe.__class__ = cls
    except TypeError:
        return None
    return shadow
