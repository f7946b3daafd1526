"""Python names for schema names: case conversion, keywords and the rename rules of codegen.

The rules (documented in ``docs/codegen.md``):

* tables, reducers, columns and parameters become snake_case, types and variants' classes
  PascalCase; characters that cannot be in an identifier become ``_``, a leading digit gets
  a ``_`` in front;
* leading underscores beyond the first are dropped (``__secret`` -> ``_secret``,
  ``__init__`` -> ``_init__``): Python mangles ``__x`` names in classes and gives dunders
  special meaning, so no generated name may start with ``__``;
* a name that is a Python keyword, or one the generated code itself uses in that place,
  gets a trailing ``_`` (more than one if that is reserved too): ``class`` -> ``class_``;
* two different schema names that end up with the same Python name in one namespace are a
  ``SchemaError`` (``class`` and ``class_`` in one table, say): renaming one of them
  silently would make the bindings guesswork.

Wire names are never changed: generated code keeps them for the protocol.
"""

from __future__ import annotations

import keyword
import re

from ..errors import SchemaError

__all__ = [
    "RESERVED_CLASS_NAMES",
    "RESERVED_SNAKE_NAMES",
    "Namespace",
    "identifier",
    "pascal_case",
    "snake_case",
]

#: Lowercase names generated code refers to: builtins in annotations, imported modules,
#: ``self``/``cls``. A field, parameter, table or reducer with one of these names gets a ``_``.
RESERVED_SNAKE_NAMES = frozenset(
    {
        "int", "float", "str", "bool", "bytes", "list", "tuple", "object", "enum", "uuid",
        "self", "cls", "super", "property", "classmethod", "_rt", "_t",
    }
)  # fmt: skip

#: Class-like names generated modules import or define; a schema type converting to one
#: of these gets a trailing ``_`` (a user type ``Timestamp`` becomes ``Timestamp_``).
RESERVED_CLASS_NAMES = frozenset(
    {
        "Any", "Callable", "ClassVar", "Iterator", "Sequence", "Identity", "ConnectionId",
        "Timestamp", "TimeDuration", "ScheduleAt", "Some", "SumValue", "DbConnection",
        "RemoteTables", "RemoteReducers", "SCHEMA", "IndexDef", "ModuleSchema", "ReducerDef",
        "TableDef",
    }
)  # fmt: skip

_WORD_BOUNDARY_1 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_WORD_BOUNDARY_2 = re.compile(r"([a-z0-9])([A-Z])")


def identifier(name: str) -> str:
    """``name`` with non-identifier characters replaced, so it can name something in Python."""
    out = "".join(c if (c.isascii() and (c.isalnum() or c == "_")) else "_" for c in name)
    if not out:
        raise SchemaError(f"cannot make a Python name from {name!r}")
    if out.startswith("__"):  # mangled in a class body, or a dunder: keep one underscore
        out = "_" + out.lstrip("_")
    if out[0].isdigit():
        out = "_" + out
    return out


def snake_case(name: str) -> str:
    """``SendMessage`` / ``sendMessage`` / ``send_message`` -> ``send_message``."""
    s = identifier(name)
    s = _WORD_BOUNDARY_1.sub(r"\1_\2", s)
    s = _WORD_BOUNDARY_2.sub(r"\1_\2", s)
    return s.lower()


def pascal_case(name: str) -> str:
    """``send_message`` / ``sendMessage`` / ``SendMessage`` -> ``SendMessage``."""
    s = identifier(name)
    lead = "_" if s[0] == "_" and len(s.strip("_")) and s.strip("_")[0].isdigit() else ""
    parts = [p for p in re.split(r"_+", s) if p]
    if not parts:
        raise SchemaError(f"cannot make a class name from {name!r}")
    return lead + "".join(p[0].upper() + p[1:] for p in parts)


def avoid(name: str, taken: frozenset[str] | set[str]) -> str:
    """``name`` with trailing underscores until it is not a keyword nor in ``taken``.

    Only fixed names are skipped this way; a clash with another schema name is the
    caller's ``SchemaError``.
    """
    while keyword.iskeyword(name) or name in taken:
        name += "_"
    return name


class Namespace:
    """The Python names of one scope (a class's members, a package's modules...).

    ``fixed`` names belong to the generated code; a schema-derived name equal to one of them,
    or to a keyword, is renamed with a trailing ``_``. Two schema names that land on the same
    Python name raise ``SchemaError`` naming both.
    """

    def __init__(self, what: str, fixed: frozenset[str] | set[str] = frozenset()) -> None:
        self.what = what
        self.fixed = set(fixed)
        self.owners: dict[str, str] = {}

    def add(self, python_name: str, wire_name: str, *, kind: str = "name") -> str:
        """Claim ``python_name`` (renamed per the rules) for ``wire_name``; return the name."""
        name = avoid(python_name, self.fixed)
        display = f"{kind} {wire_name!r}"
        owner = self.owners.get(name)
        if owner is not None:
            raise SchemaError(
                f"{self.what}: {display} and {owner} both become the Python name {name!r}; "
                "rename one of them in the module"
            )
        self.owners[name] = display
        return name

    def reserve(self, python_name: str) -> None:
        """Mark a name the generated code uses, so later schema names avoid it."""
        self.fixed.add(python_name)

    def __contains__(self, name: object) -> bool:
        return name in self.owners or name in self.fixed
