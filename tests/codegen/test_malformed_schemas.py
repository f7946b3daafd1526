"""Malformed schemas: each is a ``SchemaError`` that says where, by table, reducer,
column or parameter name, instead of bindings that would be quietly wrong."""

from __future__ import annotations

from typing import Any

import pytest
from synthetic import SCHEDULE_AT, prim, product, reducer, ref, table
from test_names_and_bad_input import minimal

from stdb_game.codegen import render_bindings
from stdb_game.codegen.model import build_model
from stdb_game.errors import SchemaError


def _sched_table(reducer_name: str, column: int) -> dict[str, Any]:
    return table("timer", 1, pk=0, unique=[[0]], schedule=(reducer_name, column))


TIMER_TYPES = [product(("id", prim("U32"))), product(("id", prim("U64")), ("at", SCHEDULE_AT))]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"reducers": [reducer("r"), reducer("r")]}, "two reducers are named 'r'"),
        ({"tables": [table("t", 0), table("t", 0)]}, "two tables are named 't'"),
        (
            {"reducers": [reducer("r", lifecycle="OnBoot")]},
            r"reducer 'r': unknown lifecycle 'OnBoot' \(expected one of Init, OnConnect",
        ),
        (
            {"reducers": [reducer("a", lifecycle="Init"), reducer("b", lifecycle="Init")]},
            "reducers 'a' and 'b' are both the Init reducer",
        ),
        (
            {"typespace": {"types": TIMER_TYPES}, "tables": [_sched_table("nope", 1)]},
            "table 'timer': its schedule names reducer 'nope', which the module does not",
        ),
        (
            {
                "typespace": {"types": TIMER_TYPES},
                "tables": [_sched_table("tick", 7)],
                "reducers": [reducer("tick", ("t", ref(1)))],
            },
            r"table 'timer': scheduled_at_column 7 is out of range \(the row has 2 columns\)",
        ),
        (
            {
                "typespace": {"types": TIMER_TYPES},
                "tables": [_sched_table("tick", 0)],
                "reducers": [reducer("tick", ("t", ref(1)))],
            },
            r"table 'timer': scheduled_at_column 0 \('id'\) is not a ScheduleAt",
        ),
        ({"tables": [dict(table("t", 0), name=5)]}, "tables\\[0\\]: the name is a non-empty"),
        ({"reducers": [dict(reducer("r"), name=None)]}, "reducers\\[0\\]: the name is a"),
        (
            {"types": [{"name": {"scope": [], "name": "X"}, "ty": 4, "custom_ordering": True}]},
            r"type 'X': ty 4 is outside the typespace \(size 1\)",
        ),
        (
            {"typespace": {"types": [product(("pos", product(("x", ref(6)))))]}},
            r"table 'thing' column 'pos' \(at x\): dangling type ref 6",
        ),
        (
            {"reducers": [reducer("move", ("to", ref(9)))]},
            "reducer 'move' parameter 'to': dangling type ref 9",
        ),
        ({"tables": [table("thing", 3, pk=0)]}, "table 'thing': product_type_ref 3 is outside"),
    ],
)
def test_malformed_schemas_say_where(change: dict[str, Any], message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        render_bindings(minimal(**change), "bad.json")


def test_a_well_formed_schedule_is_accepted() -> None:
    raw = minimal(
        typespace={"types": TIMER_TYPES},
        tables=[_sched_table("tick", 1)],
        reducers=[reducer("tick", ("t", ref(1)))],
        types=[],
    )
    (t,) = build_model(raw).tables
    assert t.scheduled_reducer == "tick"
