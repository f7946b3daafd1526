"""Replay the official TypeScript SDK's session transcript through our Session.

``ts_sdk_session.json`` records what ``spacetimedb@1.12.0``'s real ``DbConnection`` sent,
which callbacks it fired and what its cache held after each server frame. We feed the same
frames to a ``Session`` built from the real quickstart-chat schema and compare step by step.

Deliberate differences, checked here as such:
* request and query ids: the TS SDK always sends request id 0 and numbers query ids from 0;
  we number both from 1. The test starts our counters at 0 to compare bytes exactly.
* reducer callbacks and row callbacks come in the same order as the TS SDK (reducer first,
  then rows; ``on_applied`` before the applied rows' inserts).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from shared_data import SHARED
from vector_types import load_vectors

from stdb_game.events import (
    ConnectedEvent,
    EventCause,
    ReducerEvent,
    ReducerStatus,
    SubscriptionAppliedEvent,
    SubscriptionEndedEvent,
    TableChangeEvent,
)
from stdb_game.sats.values import Identity, Timestamp
from stdb_game.schema import ModuleSchema
from stdb_game.session import Session

CAUSE_NAMES = {
    EventCause.SUBSCRIBE_APPLIED: "SubscribeApplied",
    EventCause.UNSUBSCRIBE_APPLIED: "UnsubscribeApplied",
    EventCause.REDUCER: "Reducer",
    EventCause.UNKNOWN_TRANSACTION: "UnknownTransaction",
}


def chat_schema() -> ModuleSchema:
    path = SHARED / "modules" / "quickstart-chat.raw_module_def_v9.json"
    return ModuleSchema.from_json(json.loads(path.read_text()))


def render_value(v: Any) -> Any:
    if isinstance(v, Identity):
        return v.to_hex()
    if isinstance(v, Timestamp):
        return str(v.micros_since_epoch)
    return v


def render_row(schema: ModuleSchema, table: str, row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, el in enumerate(schema.tables[table].row_type.elements):
        v = row[i]
        ty = el.algebraic_type.resolve()
        if getattr(ty, "special", None) == "option":
            out[str(el.name)] = None if v is None else {"some": render_value(v)}
        else:
            out[str(el.name)] = render_value(v)
    return out


def camel(name: str) -> str:
    return "".join(p.capitalize() for p in name.split("_"))


def render_events(schema: ModuleSchema, events: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for ev in events:
        if isinstance(ev, ConnectedEvent):
            out.append(
                {"callback": "onConnect", "identity": ev.identity.to_hex(), "token": ev.token}
            )
        elif isinstance(ev, SubscriptionAppliedEvent):
            out.append({"callback": "subscription.onApplied"})
        elif isinstance(ev, SubscriptionEndedEvent):
            continue  # the TS transcript registered no onEnd callback
        elif isinstance(ev, ReducerEvent):
            status: dict[str, Any] = {"tag": "Committed"}
            if ev.status is ReducerStatus.FAILED:
                status = {"tag": "Failed", "value": ev.error}
            args = dict(ev.args._asdict()) if ev.args is not None else None
            out.append(
                {
                    "callback": f"reducers.on{camel(ev.reducer_name)}",
                    "status": status,
                    "caller_identity": ev.caller_identity.to_hex(),
                    "args": args,
                }
            )
        elif isinstance(ev, TableChangeEvent):
            cause = CAUSE_NAMES[ev.context.cause]
            for row in ev.inserts:
                out.append({"callback": f"{ev.table_name}.onInsert", "ctx_event": cause,
                            "row": render_row(schema, ev.table_name, row)})  # fmt: skip
            for row in ev.deletes:
                out.append({"callback": f"{ev.table_name}.onDelete", "ctx_event": cause,
                            "row": render_row(schema, ev.table_name, row)})  # fmt: skip
            for old, new in ev.updates:
                out.append({"callback": f"{ev.table_name}.onUpdate", "ctx_event": cause,
                            "old": render_row(schema, ev.table_name, old),
                            "new": render_row(schema, ev.table_name, new)})  # fmt: skip
        else:  # pragma: no cover - a new event kind must be rendered here
            raise AssertionError(f"unrendered event {ev!r}")
    return out


def canon(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in rows)


def test_replay_matches_the_official_sdk_step_by_step() -> None:
    transcript = load_vectors("ts_sdk_session.json")
    assert transcript["websocket_subprotocol"] == "v1.bsatn.spacetimedb"
    schema = chat_schema()
    session = Session(schema)
    # Start our counters where the TS SDK's are, so sent bytes compare exactly.
    session._next_query_id = 0
    session._next_request_id = 0
    steps = transcript["steps"]
    checked_frames = checked_sends = 0
    for i, step in enumerate(steps):
        label = f"step {i}: {step.get('step')}"
        events: list[Any] = []
        if "server_frame_hex" in step:
            events = session.receive(bytes.fromhex(step["server_frame_hex"]), now=float(i))
            checked_frames += 1
        for sent in step.get("client_sent", []):
            value = sent["value"]
            tag, body = value["tag"], value["value"]
            session._next_request_id = body["request_id"]
            if tag == "SubscribeMulti":
                session._next_query_id = body["query_id"]["id"]
                _rec, frame = session.subscribe(body["query_strings"], now=float(i))
            elif tag == "CallReducer":
                _rid, frame = session.call_reducer(
                    body["reducer"], bytes.fromhex(body["args"]), flags=body["flags"], now=float(i)
                )
            elif tag == "UnsubscribeMulti":
                maybe = session.unsubscribe(body["query_id"]["id"])
                assert maybe is not None, label
                frame = maybe
            else:  # pragma: no cover
                raise AssertionError(f"{label}: unexpected client message {tag}")
            assert frame.hex() == sent["hex"], label
            checked_sends += 1
        expected_cbs = [c for c in step.get("callbacks", []) if c["callback"] != "onDisconnect"]
        assert render_events(schema, events) == expected_cbs, label
        if "cache_after" in step:
            for table, rows in step["cache_after"].items():
                ours = [render_row(schema, table, r) for r in session.cache.table(table).iter()]
                assert canon(ours) == canon(rows), f"{label}: cache of {table}"
    assert checked_frames >= 8 and checked_sends >= 3


def test_identity_and_token_kept_from_identity_token() -> None:
    transcript = load_vectors("ts_sdk_session.json")
    session = Session(chat_schema())
    first = transcript["steps"][0]
    (ev,) = session.receive(bytes.fromhex(first["server_frame_hex"]))
    assert isinstance(ev, ConnectedEvent)
    assert session.identity is not None
    assert session.identity.to_hex() == first["server_message"]["value"]["identity"]
    assert session.identity.to_hex().startswith("c200")
    assert session.token == first["server_message"]["value"]["token"]


@pytest.mark.parametrize("step_index", [4])
def test_update_is_one_event_with_old_and_new(step_index: int) -> None:
    """B03 as the TS SDK saw it: delete+insert with the same pk is one update."""
    transcript = load_vectors("ts_sdk_session.json")
    session = Session(chat_schema())
    for step in transcript["steps"][:step_index]:
        if "server_frame_hex" in step:
            session.receive(bytes.fromhex(step["server_frame_hex"]))
    session._next_query_id = 0
    events = session.receive(bytes.fromhex(transcript["steps"][step_index]["server_frame_hex"]))
    changes = [e for e in events if isinstance(e, TableChangeEvent)]
    assert len(changes) == 1
    (change,) = changes
    assert change.inserts == [] and change.deletes == []
    ((old, new),) = change.updates
    assert old.name is None and new.name == "Alice"
    assert change.context.reducer_event is not None
    assert change.context.reducer_event.args.name == "Alice"
