"""``stdb-game replay FILE``: print a recorded session and the cache it left, no server needed."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from ..errors import SchemaError, StdbError
from ..schema import ModuleSchema
from .driver import replay_session
from .format import RecordingError
from .reader import read_recording
from .summary import summarize, timeline

__all__ = ["add_subcommand", "run"]


def add_subcommand(subparsers: Any) -> None:
    """Register ``replay`` on the ``stdb-game`` command."""
    p = subparsers.add_parser(
        "replay",
        help="print a recorded session (messages, tables, reducers, the cache)",
        description=(
            "Read a recording made with Client(record_to=...), print what happened and "
            "replay it through a client to show the cache at the end or at a tick."
        ),
    )
    p.add_argument("file", type=Path, help="the recording")
    p.add_argument(
        "--summary", action="store_true", help="tallies instead of the message-by-message log"
    )
    p.add_argument(
        "--until-tick",
        type=_count,
        metavar="N",
        help="stop after recorded tick N (0: before the first tick)",
    )
    p.add_argument(
        "--schema",
        type=Path,
        metavar="FILE",
        help="module schema JSON, for recordings that hold none",
    )
    p.add_argument(
        "--rows", type=_count, default=20, metavar="N", help="rows shown per table (default 20)"
    )
    p.add_argument("--no-cache", action="store_true", help="do not replay to show the cache")
    p.set_defaults(handler=run)


def _count(text: str) -> int:
    """A whole number of at least 0 (argparse turns the error into a usage message)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; give 0 or more")
    return value


def _load_schema(path: Path) -> ModuleSchema:
    try:
        return ModuleSchema.from_json(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        raise RecordingError(f"cannot use {path} as a schema: {exc}") from exc


#: The status when whoever read the output stopped reading (``| head``): 128 + SIGPIPE,
#: what a shell reports for a program that a closed pipe ended.
BROKEN_PIPE = 141


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """The ``replay`` handler: the exit status.

    0: all well. 1: the file (or ``--schema``) cannot be read at all, or the replay failed.
    2: the replayed client sent other frames than the recorded one. 3: the file is damaged
    (torn or corrupt): everything before the damage was printed, the rest is lost.
    141: the output pipe was closed (``| head``); nothing is said about it.
    """
    out = out or sys.stdout
    try:
        code = _run(args, out)
        out.flush()  # a closed pipe shows up here, not at exit, for small outputs
    except BrokenPipeError:
        if out is sys.stdout:
            _drop_stdout()
        return BROKEN_PIPE
    return code


def _drop_stdout() -> None:
    """Point stdout at the null device, so flushing what is buffered at exit cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _run(args: argparse.Namespace, out: TextIO) -> int:
    err = sys.stderr if out is sys.stdout else out
    try:
        recording = read_recording(args.file)
    except RecordingError as exc:
        print(f"stdb-game replay: {exc}", file=err)
        return 1
    print(recording.describe(), file=out)
    if recording.damage is not None:
        print(f"warning: {recording.damage.describe()}; showing the part before it", file=err)
    until = args.until_tick
    try:
        schema = _load_schema(args.schema) if args.schema else recording.schema()
    except (RecordingError, SchemaError) as exc:
        print(f"stdb-game replay: {exc}", file=err)
        return 1
    if args.summary:
        for line in summarize(recording, until).lines():
            print(line, file=out)
    else:
        for line in timeline(recording, until, schema):
            print(line, file=out)
    damaged = 3 if recording.damage is not None else 0
    if args.no_cache:
        return damaged
    if schema is None:
        print("cache: the recording holds no schema; pass --schema FILE to see it", file=out)
        return damaged
    try:
        result = replay_session(recording, schema, until_tick=until, event_log=False)
    except StdbError as exc:
        print(f"stdb-game replay: the replay failed: {exc}", file=err)
        return 1
    at = f"tick {result.last_tick}" if result.last_tick is not None else "the start"
    print(f"cache at {at} (client state {result.client.state.value}):", file=out)
    for handle in result.client.db:
        rows = list(handle.iter())
        print(f"  {handle.name} ({len(rows)} rows)", file=out)
        for row in rows[: max(args.rows, 0)]:
            print(f"    {row!r}", file=out)
        if len(rows) > args.rows:
            print(f"    … {len(rows) - args.rows} more", file=out)
    for diff in result.differences:
        print(f"difference: {diff.describe()}", file=out)
    if recording.damage is not None:  # repeated after the cache, where it is read
        print(f"warning: {recording.damage.describe()}; the cache is as of then", file=err)
    return 2 if result.differences else damaged
