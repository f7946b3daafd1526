"""The bench tables and the server frames both SDKs decode, built once and shared.

Three row shapes, as in the issue (#9):

* ``entity`` -- Blackholio's fixed-width row: ``entity_id: u32`` (primary key),
  ``position: DbVector2 {x: f32, y: f32}``, ``mass: u32``. 16 bytes, sent as ``FixedSize``.
* ``message`` -- quickstart-chat's variable row: ``sender: Identity``, ``sent: Timestamp``,
  ``text: String``, no primary key. Sent with ``RowOffsets``.
* ``loadout`` -- a wide row: ``id: u64`` (primary key), ``owner: Identity``,
  ``nickname: Option<String>``, ``level: Option<u32>``, ``state: LoadoutState``
  (``Idle | Moving(DbVector2) | Dead(Timestamp)``), ``gold: u128``, ``seed: u256``,
  ``score: f64``, ``alive: bool``.

``bench/ts/decode_bench.mjs`` declares the same tables for the official TypeScript SDK; the
frames below are written to files that it reads, so both SDKs decode the very same bytes.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stdb_game.sats import types as t
from stdb_game.sats.values import ConnectionId, Identity, SumValue, Timestamp
from stdb_game.schema import ModuleSchema, ReducerDef, TableDef
from stdb_game.testing import FakeServer

VEC2 = t.product(("x", t.F32), ("y", t.F32), name="DbVector2")
ENTITY = t.product(("entity_id", t.U32), ("position", VEC2), ("mass", t.U32), name="Entity")
MESSAGE = t.product(
    ("sender", t.IDENTITY), ("sent", t.TIMESTAMP), ("text", t.STRING), name="Message"
)
STATE = t.sum_type(("Idle", t.UNIT), ("Moving", VEC2), ("Dead", t.TIMESTAMP), name="LoadoutState")
LOADOUT = t.product(
    ("id", t.U64),
    ("owner", t.IDENTITY),
    ("nickname", t.option(t.STRING)),
    ("level", t.option(t.U32)),
    ("state", STATE),
    ("gold", t.U128),
    ("seed", t.U256),
    ("score", t.F64),
    ("alive", t.BOOL),
    name="Loadout",
)
#: The reducer every bench TransactionUpdate names (known to both SDKs' bindings).
REDUCER = "tick"
#: Query id of the bench subscription: ours numbers from 1, the TS SDK from 0, so the TS
#: harness subscribes twice and both know query 1.
QUERY_ID = 1
TABLES = ("entity", "message", "loadout")
_T0 = 1_735_689_600_000_000


def schema() -> ModuleSchema:
    return ModuleSchema.build(
        tables=[
            TableDef("entity", ENTITY, primary_key=0),
            TableDef("message", MESSAGE),
            TableDef("loadout", LOADOUT, primary_key=0),
        ],
        reducers=[ReducerDef(REDUCER, t.ProductType([]))],
    )


def identities(n: int) -> list[Identity]:
    """``n`` fixed, distinct identities (deterministic, c200-prefixed like real ones)."""
    return [Identity.from_be_bytes(b"\xc2\x00" + i.to_bytes(30, "big")) for i in range(1, n + 1)]


_SENDERS = identities(64)


def entity_row(i: int, moved: int = 0) -> tuple[Any, ...]:
    return (i, ((i % 1000) * 0.5 + moved, (i // 1000) * 0.25), 10 + i % 50 + moved)


def message_row(i: int, senders: Sequence[Identity] = _SENDERS) -> tuple[Any, ...]:
    return (senders[i % len(senders)], Timestamp(_T0 + i), f"message {i}: hello from the bench")


def loadout_row(i: int, moved: int = 0) -> tuple[Any, ...]:
    kind = i % 3
    if kind == 0:
        state = SumValue(0, "Idle", ())
    elif kind == 1:
        state = SumValue(1, "Moving", (float(i % 100 + moved), 2.5))
    else:
        state = SumValue(2, "Dead", Timestamp(_T0 + i))
    return (
        i,
        _SENDERS[i % len(_SENDERS)],
        None if i % 3 == 0 else f"player-{i}",
        None if i % 2 else i % 80 + moved,
        state,
        10**30 + i + moved,
        (1 << 200) + i,
        i * 0.25 + moved,
        i % 2 == 0,
    )


@dataclass
class Case:
    """One decode case: frames applied untimed first (``setup``), then the timed ``frames``."""

    name: str
    table: str
    kind: str  # "tx_insert" | "sub_insert" | "tx_update" | "empty_tx"
    rows_per_message: int
    rows: int  # rows in the timed frames (messages for empty_tx)
    setup: list[bytes] = field(default_factory=list)
    frames: list[bytes] = field(default_factory=list)
    #: Rows the table holds after the timed frames (a correctness check on both sides).
    expect_count: int = 0
    #: Subscribe first (SubscribeMultiApplied frames need a known query id).
    subscribe: bool = False
    label: str = ""

    @property
    def messages(self) -> int:
        return len(self.frames)


def _server() -> FakeServer:
    other = Identity.from_be_bytes(b"\xc2\x00" + b"\x07" * 30)
    return FakeServer(schema(), identity=other, connection_id=ConnectionId(0xBECA))


def _row_fn(table: str, senders: Sequence[Identity] | None = None) -> Any:
    if table == "entity":
        return entity_row
    if table == "loadout":
        return loadout_row
    if senders is not None:
        return lambda i: message_row(i, senders)
    return message_row


def build_case(
    table: str, kind: str, per_msg: int, total_rows: int, *, distinct_senders: bool = False
) -> Case:
    """Frames for ``kind`` on ``table``: ``total_rows`` rows in messages of ``per_msg`` rows."""
    srv = _server()
    count = max(1, total_rows // per_msg)
    senders = identities(count * per_msg) if distinct_senders else None
    make = _row_fn(table, senders)
    name = f"{table}_{kind}_{per_msg}" + ("_distinct" if distinct_senders else "")
    case = Case(name, table, kind, per_msg, count * per_msg)
    batches = [[make(m * per_msg + j) for j in range(per_msg)] for m in range(count)]
    if kind == "tx_insert":
        case.frames = [srv.transaction(REDUCER, inserts={table: b}) for b in batches]
    elif kind == "sub_insert":
        case.subscribe = True
        case.frames = [srv.subscribe_applied(QUERY_ID, {table: b}) for b in batches]
    elif kind == "tx_update":
        moved = entity_row if table == "entity" else loadout_row
        case.subscribe = True
        # One untimed SubscribeMultiApplied holds every row; each timed message then moves
        # ``per_msg`` of them (a delete and an insert with the same primary key).
        case.setup = [srv.subscribe_applied(QUERY_ID, {table: [r for b in batches for r in b]})]
        case.frames = [
            srv.transaction(
                REDUCER,
                deletes={table: b},
                inserts={table: [moved(m * per_msg + j, 1) for j in range(per_msg)]},
            )
            for m, b in enumerate(batches)
        ]
    else:
        raise ValueError(kind)
    case.expect_count = count * per_msg
    case.label = _label(table, kind, per_msg, distinct_senders)
    return case


def empty_case(messages: int) -> Case:
    srv = _server()
    frame = srv.transaction(REDUCER)
    return Case("empty_tx", "entity", "empty_tx", 0, messages, frames=[frame] * messages,
                expect_count=0, label="empty TransactionUpdate")  # fmt: skip


_KIND_LABEL = {
    "tx_insert": "TransactionUpdate inserts",
    "sub_insert": "SubscribeMultiApplied inserts",
    "tx_update": "TransactionUpdate updates",
}


def _label(table: str, kind: str, per_msg: int, distinct: bool) -> str:
    extra = ", every sender distinct" if distinct else ""
    return f"{table}: {_KIND_LABEL[kind]}, {per_msg:,} rows/msg{extra}"


def decode_cases(quick: bool) -> list[Case]:
    """The decode matrix: three tables x (tx insert, subscribe insert, tx update) x sizes."""
    sizes = (
        ((1, 40), (10, 200), (100, 400)) if quick else ((1, 200), (100, 2_000), (10_000, 10_000))
    )
    cases: list[Case] = []
    for table in TABLES:
        kinds = ["tx_insert", "sub_insert"] + (["tx_update"] if table != "message" else [])
        for kind in kinds:
            for per_msg, total in sizes:
                cases.append(build_case(table, kind, per_msg, total))
    big, total = sizes[-1]
    cases.append(build_case("message", "tx_insert", big, total, distinct_senders=True))
    cases.append(empty_case(200 if quick else 1000))
    return cases


# ---- files for the node harness -------------------------------------------------------------

_LEN = struct.Struct("<I")


def write_frames(frames: Sequence[bytes], path: Path) -> None:
    with open(path, "wb") as f:
        for fr in frames:
            f.write(_LEN.pack(len(fr)))
            f.write(fr)


def write_manifest(cases: Sequence[Case], folder: Path) -> Path:
    """Write every case's frames and a manifest.json describing them; returns the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for c in cases:
        setup, timed = folder / f"{c.name}.setup.bin", folder / f"{c.name}.frames.bin"
        write_frames(c.setup, setup)
        write_frames(c.frames, timed)
        entries.append(
            {
                "name": c.name,
                "table": c.table,
                "kind": c.kind,
                "setup": setup.name,
                "frames": timed.name,
                "expect_count": c.expect_count,
                "subscribe": c.subscribe,
                "query_id": QUERY_ID,
            }
        )
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps({"cases": entries}, indent=1))
    return manifest


def iter_frames(path: Path) -> Iterator[bytes]:
    data = path.read_bytes()
    off = 0
    while off < len(data):
        (n,) = _LEN.unpack_from(data, off)
        yield data[off + 4 : off + 4 + n]
        off += 4 + n
