"""A reference row from the old PyPI ``spacetimedb-sdk`` 0.7.0 (Dec 2023).

That SDK speaks the pre-1.0 text protocol (``v1.text.spacetimedb`` with JSON rows) and
cannot talk to current servers, but its message parsing and cache can still be timed on
equivalent data: ``SpacetimeDBClient._on_message`` (``json.loads`` of a SubscriptionUpdate
or TransactionUpdate, one generated row class per row) then ``_do_update`` (update pairing
by primary key, the cache writes). The wheel is fetched with ``pip download --no-deps``
into a temp folder and run in a child process with only its package on ``sys.path`` (its
one dependency, websocket-client, is ours too). Row classes are written by hand the way
its code generator wrote them (a ``data`` dict filled from the JSON array).

Run: ``python bench/bench_legacy.py [--quick]`` (or through ``bench/run.py``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads as W
from _common import Machine, fmt_rate

from stdb_game.session import Session

VERSION = "0.7.0"
CACHE = Path(tempfile.gettempdir()) / f"stdb-game-bench-legacy-{VERSION}"

# The generated bindings the old codegen produced, per table, in its style.
AUTOGEN = {
    "db_vector_2.py": """
class DbVector2:
    def __init__(self, data):
        self.data = {}
        self.data["x"] = float(data[0])
        self.data["y"] = float(data[1])

    def __getattr__(self, name):
        return self.data.get(name)
""",
    "entity.py": """
from .db_vector_2 import DbVector2

class Entity:
    is_table_class = True
    primary_key = "entity_id"

    def __init__(self, data):
        self.data = {}
        self.data["entity_id"] = int(data[0])
        self.data["position"] = DbVector2(data[1])
        self.data["mass"] = int(data[2])

    def __getattr__(self, name):
        return self.data.get(name)
""",
    "message.py": """
from spacetimedb_sdk.spacetimedb_client import Identity

class Message:
    is_table_class = True

    def __init__(self, data):
        self.data = {}
        self.data["sender"] = Identity.from_string(data[0][0])
        self.data["sent"] = int(data[1])
        self.data["text"] = str(data[2])

    def __getattr__(self, name):
        return self.data.get(name)
""",
    "tick_reducer.py": """
reducer_name = "tick"

def _decode_args(data):
    return []
""",
}

CHILD = r"""
import json, sys, time, gc
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[2])
import autogen
from spacetimedb_sdk.spacetimedb_client import SpacetimeDBClient
cases = json.load(open(sys.argv[3]))
out = {}
for name, case in cases.items():
    best = float("inf")
    for _ in range(case["reps"]):
        client = SpacetimeDBClient(autogen)
        for text in case["setup"]:
            client._on_message(text)
        client._do_update()
        gc.collect()
        c0 = time.thread_time()
        for text in case["messages"]:
            client._on_message(text)
            client._do_update()
        best = min(best, time.thread_time() - c0)
    table = case["table"]
    count = len(client.client_cache.get_table_cache(table).entries)
    out[name] = {"cpu": best, "count": count}
print("RESULT " + json.dumps(out))
"""


def _json_row(table: str, row: tuple[object, ...]) -> list[object]:
    if table == "entity":
        i, (x, y), mass = row
        return [i, [x, y], mass]
    sender, sent, text = row
    return [[sender.to_hex()], sent.micros_since_epoch, text]  # type: ignore[union-attr]


def _ops(table: str, rows: list[tuple[object, ...]], op: str, pk: bool) -> list[dict[str, object]]:
    del pk  # the old protocol's row_pk identifies the row's content, key or not
    out = []
    for r in rows:
        # The server sent a hash of the row's bytes; any string unique per row content works.
        row_pk = json.dumps(_json_row(table, r))
        item: dict[str, object] = {"op": op, "row_pk": row_pk}
        if op == "insert":
            item["row"] = _json_row(table, r)
        out.append(item)
    return out


def _message(table: str, ops: list[dict[str, object]], tx: bool) -> str:
    update = {"table_updates": [{"table_id": 1, "table_name": table.capitalize(),
                                 "table_row_operations": ops}]}  # fmt: skip
    if not tx:
        return json.dumps({"SubscriptionUpdate": update})
    event = {
        "timestamp": 1735689600000000,
        "status": "committed",
        "caller_identity": "c2" + "00" * 31,
        "caller_address": "00" * 16,
        "function_call": {"reducer": "tick", "args": "[]"},
        "energy_quanta_used": 1000,
        "message": "",
    }
    return json.dumps({"TransactionUpdate": {"event": event, "subscription_update": update}})


@dataclass
class LegacyRow:
    label: str
    rows: int
    legacy_cpu: float
    ours_cpu: float


@dataclass
class LegacyReport:
    machine: Machine
    note: str
    rows: list[LegacyRow] = field(default_factory=list)


def fetch(allow_download: bool) -> tuple[Path | None, str]:
    """The unpacked wheel folder, or None and why."""
    target = CACHE / "unpacked"
    if (target / "spacetimedb_sdk" / "spacetimedb_client.py").exists():
        return target, ""
    if not allow_download:
        return None, "not downloaded (quick mode does not use the network)"
    CACHE.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            f"spacetimedb-sdk=={VERSION}",
            "--no-deps",
            "--only-binary",
            ":all:",
            "-d",
            str(CACHE),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    wheels = list(CACHE.glob(f"spacetimedb_sdk-{VERSION}-*.whl"))
    if not wheels:
        return None, f"pip download failed: {proc.stderr.strip()[-200:]}"
    with zipfile.ZipFile(wheels[0]) as z:
        z.extractall(target)
    return target, ""


def _cases(quick: bool) -> dict[str, dict[str, object]]:
    n_big = 1_000 if quick else 10_000
    reps = 2 if quick else 5
    cases: dict[str, dict[str, object]] = {}
    ents = [W.entity_row(i) for i in range(n_big)]
    cases["entity subscription insert"] = {
        "table": "Entity", "reps": reps, "setup": [],
        "messages": [_message("entity", _ops("entity", ents, "insert", True), False)],
    }  # fmt: skip
    moved = [W.entity_row(i, 1) for i in range(n_big)]
    cases["entity update"] = {
        "table": "Entity", "reps": reps,
        "setup": [_message("entity", _ops("entity", ents, "insert", True), False)],
        "messages": [_message("entity", _ops("entity", ents, "delete", True)
                              + _ops("entity", moved, "insert", True), True)],
    }  # fmt: skip
    msgs = [W.message_row(i) for i in range(n_big)]
    cases["message subscription insert"] = {
        "table": "Message", "reps": reps, "setup": [],
        "messages": [_message("message", _ops("message", msgs, "insert", False), False)],
    }  # fmt: skip
    return cases


def _ours(quick: bool) -> dict[str, float]:
    """Our Session on the same rows as binary frames (thread CPU, best of N)."""
    n_big = 1_000 if quick else 10_000
    reps = 2 if quick else 5
    out = {}
    specs = {
        "entity subscription insert": W.build_case("entity", "sub_insert", n_big, n_big),
        "entity update": W.build_case("entity", "tx_update", n_big, n_big),
        "message subscription insert": W.build_case("message", "sub_insert", n_big, n_big),
    }
    for name, case in specs.items():
        best = float("inf")
        for _ in range(reps):
            s = Session(W.schema())
            s.subscribe([f"SELECT * FROM {case.table}"])
            for f in case.setup:
                s.receive(f)
            c0 = time.thread_time()
            for f in case.frames:
                s.receive(f)
            best = min(best, time.thread_time() - c0)
        out[name] = best
    return out


def run(quick: bool = False) -> LegacyReport:
    machine = Machine()
    folder, why = fetch(allow_download=not quick)
    if folder is None:
        return LegacyReport(machine, f"spacetimedb-sdk {VERSION}: {why}")
    work = Path(tempfile.mkdtemp(prefix="stdb-game-bench-legacy-"))
    pkg = work / "autogen"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name, src in AUTOGEN.items():
        (pkg / name).write_text(src)
    cases = _cases(quick)
    (work / "cases.json").write_text(json.dumps(cases))
    child = work / "child.py"
    child.write_text(CHILD)
    proc = subprocess.run(
        [sys.executable, "-I", str(child), str(folder), str(work), str(work / "cases.json")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if not lines:
        err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return LegacyReport(machine, f"spacetimedb-sdk {VERSION} did not run: {err}")
    got = json.loads(lines[-1][7:])
    ours = _ours(quick)
    report = LegacyReport(
        machine,
        f"spacetimedb-sdk {VERSION} from PyPI (Dec 2023). It speaks the pre-1.0 text "
        "protocol (`v1.text.spacetimedb`, JSON rows), which current servers do not accept, so "
        "only its message parsing and cache are timed: `SpacetimeDBClient._on_message` + "
        "`_do_update` from its `spacetimedb_client` module, imported as is, with row classes "
        "written the way its code generator wrote them",
    )
    for name, res in got.items():
        rows = 1_000 if quick else 10_000
        label = name if int(res["count"]) == rows else f"{name} **(row count {res['count']})**"
        report.rows.append(LegacyRow(label, rows, float(res["cpu"]), ours[name]))
    machine.load_after = Machine().load_before
    return report


def table(r: LegacyReport) -> str:
    lines = [f"`bench/bench_legacy.py` via `bench/run.py`; {r.machine.line()}.", "", r.note + "."]
    if not r.rows:
        return "\n".join(lines)
    lines += [
        "",
        "Same rows; theirs as the JSON text messages it parsed, ours as binary frames through "
        "`Session.receive`. Thread CPU time, best of N, one message per case:",
        "",
        "| case | rows | spacetimedb-sdk 0.7.0 rows/s | ours rows/s | ours / 0.7.0 |",
        "|---|---:|---:|---:|---:|",
    ]
    for x in r.rows:
        lines.append(
            f"| {x.label} | {x.rows:,} | {fmt_rate(x.rows / x.legacy_cpu)} | "
            f"{fmt_rate(x.rows / x.ours_cpu)} | {x.legacy_cpu / x.ours_cpu:.1f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    print(table(run(args.quick)))


if __name__ == "__main__":
    main()
