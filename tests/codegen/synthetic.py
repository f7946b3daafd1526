"""A synthetic RawModuleDef v9 with every type kind the generator handles, as SATS-JSON.

Built with small helpers rather than written out, so each table and reducer reads as what
it tests: all integer widths, floats, strings, bytes, arrays, nested options, an enum, a
sum with payloads, products, a recursive type, the special types, a scheduled table, a
private table, multi-column and non-unique indexes, and Python-reserved names.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]


def prim(kind: str) -> Json:
    return {kind: []}


def ref(i: int) -> Json:
    return {"Ref": i}


def array(t: Json) -> Json:
    return {"Array": t}


def product(*fields: tuple[str | None, Json]) -> Json:
    return {
        "Product": {
            "elements": [
                {"name": {"some": n} if n is not None else {"none": []}, "algebraic_type": t}
                for n, t in fields
            ]
        }
    }


def sum_(*variants: tuple[str, Json]) -> Json:
    return {"Sum": {"variants": [{"name": {"some": n}, "algebraic_type": t} for n, t in variants]}}


UNIT = product()


def option(t: Json) -> Json:
    return sum_(("some", t), ("none", UNIT))


IDENTITY = product(("__identity__", prim("U256")))
CONNECTION_ID = product(("__connection_id__", prim("U128")))
TIMESTAMP = product(("__timestamp_micros_since_unix_epoch__", prim("I64")))
TIME_DURATION = product(("__time_duration_micros__", prim("I64")))
UUID = product(("__uuid__", prim("U128")))
SCHEDULE_AT = sum_(("Interval", TIME_DURATION), ("Time", TIMESTAMP))


def table(
    name: str,
    ref_: int,
    *,
    pk: int | None = None,
    btree: list[tuple[str, list[int]]] = (),  # type: ignore[assignment]
    unique: list[list[int]] = (),  # type: ignore[assignment]
    public: bool = True,
    schedule: tuple[str, int] | None = None,
) -> Json:
    indexes = [
        {
            "name": {"some": f"{name}_{'_'.join(map(str, cols))}_idx_btree"},
            "accessor_name": {"some": acc},
            "algorithm": {"BTree": cols},
        }
        for acc, cols in btree
    ]
    constraints = [
        {
            "name": {"some": f"{name}_{'_'.join(map(str, cols))}_key"},
            "data": {"Unique": {"columns": cols}},
        }
        for cols in unique
    ]
    sched: Json = {"none": []}
    if schedule is not None:
        sched = {
            "some": {
                "name": {"some": f"{name}_sched"},
                "reducer_name": schedule[0],
                "scheduled_at_column": schedule[1],
            }
        }
    return {
        "name": name,
        "product_type_ref": ref_,
        "primary_key": [pk] if pk is not None else [],
        "indexes": indexes,
        "constraints": constraints,
        "sequences": (
            [
                {
                    "name": {"some": f"{name}_{pk}_seq"},
                    "column": pk,
                    "start": {"none": []},
                    "min_value": {"none": []},
                    "max_value": {"none": []},
                    "increment": 1,
                }
            ]
            if pk is not None
            else []
        ),
        "schedule": sched,
        "table_type": {"User": []},
        "table_access": {"Public": []} if public else {"Private": []},
    }


def reducer(name: str, *params: tuple[str, Json], lifecycle: str | None = None) -> Json:
    return {
        "name": name,
        "params": product(*params)["Product"],
        "lifecycle": {"some": {lifecycle: []}} if lifecycle else {"none": []},
    }


# Typespace indexes.
EVERYTHING, COLOR, SHAPE, VEC2, POSITION, TICK_TIMER, SECRET, TREE, FOREST, FROM_ROW, LONG = range(
    11
)

INTS = ["I8", "U8", "I16", "U16", "I32", "U32", "I64", "U64", "I128", "U128", "I256", "U256"]

EVERYTHING_FIELDS: list[tuple[str | None, Json]] = [
    ("id", prim("U64")),
    ("flag", prim("Bool")),
    *[(k.lower() + "_v", prim(k)) for k in INTS],
    ("f32_v", prim("F32")),
    ("f64_v", prim("F64")),
    ("text", prim("String")),
    ("raw", array(prim("U8"))),
    ("ints", array(prim("I32"))),
    ("names", array(prim("String"))),
    ("opt", option(prim("String"))),
    ("opt_opt", option(option(prim("I32")))),
    ("color", ref(COLOR)),
    ("shape", ref(SHAPE)),
    ("pos", ref(VEC2)),
    ("path", array(ref(VEC2))),
    ("maybe_shape", option(ref(SHAPE))),
    ("who", IDENTITY),
    ("conn", CONNECTION_ID),
    ("at", TIMESTAMP),
    ("dur", TIME_DURATION),
    ("when", SCHEDULE_AT),
    ("uid", UUID),
    ("pair", product(("a", prim("I32")), ("b", prim("String")))),
    ("outcome", sum_(("ok", prim("U32")), ("err", prim("String")))),
    ("nothing", UNIT),
]


def synthetic_schema() -> Json:
    """The whole module: 6 tables, 9 reducers."""
    types = [
        product(*EVERYTHING_FIELDS),
        sum_(("Red", UNIT), ("Green", UNIT), ("Blue", UNIT)),
        sum_(
            ("Circle", prim("F32")), ("Rect", ref(VEC2)), ("Empty", UNIT), ("Label", prim("String"))
        ),
        product(("x", prim("F32")), ("y", prim("F32"))),
        product(
            ("entity_id", prim("U32")),
            ("slot", prim("U32")),
            ("x", prim("I32")),
            ("y", prim("I32")),
            ("zone", prim("U16")),
        ),
        product(
            ("scheduled_id", prim("U64")), ("scheduled_at", SCHEDULE_AT), ("note", prim("String"))
        ),
        product(("id", prim("U32")), ("owner", IDENTITY), ("data", array(prim("U8")))),
        product(("value", prim("I32")), ("children", array(ref(TREE)))),
        product(("id", prim("U32")), ("tree", ref(TREE))),
        product(
            ("class", prim("U32")),
            ("type", prim("String")),
            ("from", prim("String")),
            ("self", prim("I32")),
            ("int", prim("I64")),
            ("iter", prim("Bool")),
            ("count", prim("U32")),
            ("playerId", prim("U32")),
        ),
        # Long names: generated lines must wrap the way ruff format wraps them.
        product(
            ("scheduled_identifier_of_the_consume_event", prim("U64")),
            ("consumed_entity_identifier_in_the_world", prim("U32")),
            ("optional_list_of_optional_nested_vectors", option(array(option(ref(VEC2))))),
        ),
    ]
    names = {
        EVERYTHING: "Everything",
        COLOR: "Color",
        SHAPE: "Shape",
        VEC2: "Vec2",
        POSITION: "Position",
        TICK_TIMER: "TickTimer",
        SECRET: "Secret",
        TREE: "Tree",
        FOREST: "Forest",
        LONG: "ConsumeEntityTimerWithAnExtraordinarilyLongName",
    }
    color_col = [n for n, _ in EVERYTHING_FIELDS].index("color")
    return {
        "typespace": {"types": types},
        "tables": [
            table(
                "everything",
                EVERYTHING,
                pk=0,
                btree=[("id", [0]), ("color", [color_col])],
                unique=[[0]],
            ),
            table("forest", FOREST, pk=0, btree=[("id", [0])], unique=[[0]]),
            table(
                "from", FROM_ROW, pk=0, btree=[("class", [0]), ("count", [6])], unique=[[0], [6]]
            ),
            table(
                "position",
                POSITION,
                pk=0,
                btree=[("entity_id", [0]), ("slot", [1]), ("xy", [2, 3]), ("zone", [4])],
                unique=[[0], [1]],
            ),
            table(
                "consume_entity_timer_with_an_extraordinarily_long_name",
                LONG,
                pk=0,
                btree=[("consumed_entity_identifier_in_the_world", [1])],
                unique=[[0]],
            ),
            table("secret", SECRET, pk=0, btree=[("id", [0])], unique=[[0]], public=False),
            table(
                "tick_timer",
                TICK_TIMER,
                pk=0,
                btree=[("scheduled_id", [0])],
                unique=[[0]],
                schedule=("tick", 1),
            ),
        ],
        "reducers": [
            reducer("init", lifecycle="Init"),
            reducer("client_connected", lifecycle="OnConnect"),
            reducer("add_everything", ("row", ref(EVERYTHING))),
            reducer("set_color", ("id", prim("U64")), ("color", ref(COLOR))),
            reducer("draw", ("shape", ref(SHAPE)), ("at", option(ref(VEC2)))),
            reducer("tick", ("timer", ref(TICK_TIMER))),
            reducer("send_bytes", ("data", array(prim("U8")))),
            reducer("import", ("class", prim("U32")), ("lambda", prim("String"))),
            reducer("no_args"),
            reducer(
                "reducer_with_a_rather_long_name_for_wrapping",
                ("first_parameter_with_a_long_name", ref(LONG)),
                ("second_parameter_with_a_long_name", option(array(option(ref(VEC2))))),
            ),
        ],
        "types": [
            {"name": {"scope": [], "name": n}, "ty": i, "custom_ordering": True}
            for i, n in sorted(names.items(), key=lambda kv: kv[1])
        ],
        "misc_exports": [],
        "row_level_security": [],
    }


def long_names_schema() -> Json:
    """Names long enough that generated lines must wrap (and imports come from index params)."""
    col = "column_name_that_is_long_" + "b" * 40
    row_name = "RowTypeNameThatIsLong" + "C" * 40
    sum_name = "SumTypeNameThatIsLong" + "D" * 40
    return {
        "typespace": {
            "types": [
                product(
                    (col, prim("U32")),
                    (col + "_2", option(option(array(prim("String"))))),
                    ("e", ref(1)),
                ),
                sum_(("VariantWithAVeryLongName" + "Z" * 40, prim("String")), ("Short", UNIT)),
            ]
        },
        "tables": [
            table(
                "table_with_a_name_that_is_really_quite_long_" + "a" * 30,
                0,
                pk=0,
                btree=[(col, [0]), ("ab", [0, 2])],
                unique=[[0]],
            )
        ],
        "reducers": [
            reducer("reducer_" + "r" * 70, (col, ref(0)), (col + "_x", ref(1)), ("p3", prim("U8"))),
            reducer("lifecycle_" + "q" * 70, lifecycle="OnConnect"),
        ],
        "types": [
            {"name": {"scope": [], "name": row_name}, "ty": 0, "custom_ordering": True},
            {"name": {"scope": [], "name": sum_name}, "ty": 1, "custom_ordering": True},
        ],
        "misc_exports": [],
        "row_level_security": [],
    }


# Typespace indexes of hostile_names_schema().
H_ROW, H_LIVES, H_INTS, H_EMPTY, H_NESTED = range(5)
#: Enum variants named like attributes of ``int`` and of ``enum.IntEnum``, then a plain one.
NUMBERISH = (
    "real", "imag", "numerator", "denominator", "bit_length", "conjugate", "to_bytes",
    "from_bytes", "as_integer_ratio", "bit_count", "is_integer", "name", "value", "plain",
)  # fmt: skip


def hostile_names_schema() -> Json:
    """Names that break naive codegen: dunders and ``__x`` (mangled in a class body), names
    of base-class members, a leading digit, enum variants named like ``int`` attributes,
    a named empty struct and nested options inside a list."""
    return {
        "typespace": {
            "types": [
                product(
                    ("__init__", prim("U32")),
                    ("__secret", prim("String")),
                    ("__slots__", prim("U8")),
                    ("__class__", prim("U8")),
                    ("count", prim("U32")),
                    ("handle", prim("U32")),
                    ("_cache", prim("U32")),
                    ("_FIELDS", prim("U8")),
                    ("kind", ref(H_INTS)),
                ),
                product(("1st", prim("U8")), ("__hash__", prim("U8"))),
                sum_(*((n, UNIT) for n in NUMBERISH)),
                product(),
                product(
                    ("id", prim("U32")),
                    ("maybe", option(option(array(prim("I32"))))),
                    ("many", array(option(option(prim("I32"))))),
                    ("nothing", ref(H_EMPTY)),
                ),
            ]
        },
        "tables": [
            table("__init__", H_ROW, pk=0, btree=[("count", [4])], unique=[[0], [4], [5]]),
            table("9lives", H_LIVES),
            table("__class__", H_NESTED, pk=0, unique=[[0]]),
        ],
        "reducers": [
            reducer("__init__", ("__self", prim("U8"))),
            reducer("client", ("kind", ref(H_INTS))),
            reducer("_call", ("empty", ref(H_EMPTY)), ("n", prim("U8"))),
            reducer("__slots__"),
        ],
        "types": [
            {"name": {"scope": [], "name": n}, "ty": i, "custom_ordering": True}
            for i, n in [(H_INTS, "Numberish"), (H_EMPTY, "Nothing"), (H_NESTED, "Nested")]
        ],
        "misc_exports": [],
        "row_level_security": [],
    }


def grid_schema() -> Json:
    """Multi-column btree indexes: a three-column one whose first column also has an index
    of its own, and one whose first column is an option."""
    return {
        "typespace": {
            "types": [
                product(
                    ("id", prim("U32")),
                    ("layer", prim("U8")),
                    ("x", prim("I32")),
                    ("y", prim("I32")),
                    ("label", option(prim("String"))),
                )
            ]
        },
        "tables": [
            table(
                "cell",
                0,
                pk=0,
                btree=[
                    ("id", [0]),
                    ("layer", [1]),
                    ("by_layer_pos", [1, 2, 3]),
                    ("by_label", [4, 0]),
                ],
                unique=[[0]],
            )
        ],
        "reducers": [],
        "types": [{"name": {"scope": [], "name": "Cell"}, "ty": 0, "custom_ordering": True}],
        "misc_exports": [],
        "row_level_security": [],
    }
