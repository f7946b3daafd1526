"""Fast constructors for frozen dataclasses, for decoders that have already checked the values.

A frozen dataclass's ``__init__`` stores each field through ``object.__setattr__``, which
costs about four times as much as writing the slot directly. Decoding builds several such
objects per message on the game loop's hot path, so the decoders use these instead; user
code keeps the normal, checked constructors.
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
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    params = []
    body = ["    obj = _new(_cls)"]
    for f in dataclasses.fields(cls):
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        if f.init:
            params.append(f.name)
            body.append(f"    _set_{f.name}(obj, {f.name})")
        else:
            if f.default is dataclasses.MISSING:
                raise TypeError(f"{cls.__name__}.{f.name} has no default")
            namespace[f"_default_{f.name}"] = f.default
            body.append(f"    _set_{f.name}(obj, _default_{f.name})")
    source = "\n".join([f"def build({', '.join(params)}):", *body, "    return obj"])
    exec(source, namespace)
    build: Callable[..., T] = namespace["build"]
    build.__qualname__ = build.__name__ = f"build_{cls.__name__}"
    return build
