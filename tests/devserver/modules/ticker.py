"""A test module for the network server: an interval-scheduled reducer, a private table,
and a reducer that schedules a one-shot run. Used by tests/devserver/test_server*.py."""

from __future__ import annotations

from stdb_game.devserver.module import (
    Module,
    ReducerContext,
    ReducerError,
    ScheduleAt,
    TimeDuration,
    column,
    u32,
    u64,
)

module = Module("ticker")


@module.table(name="tick", public=True)
class Tick:
    n: u32 = column(primary_key=True)
    label: str


@module.table(name="secret", public=False)
class Secret:
    id: u32 = column(primary_key=True)
    value: str


@module.table(name="tick_schedule", scheduled="on_tick")
class TickSchedule:
    scheduled_at: ScheduleAt
    label: str
    scheduled_id: u64 = column(primary_key=True, auto_inc=True)


@module.reducer(lifecycle="client_connected")
def connect(ctx: ReducerContext) -> None:
    # Lets tests see a refused connection: connection ids starting with dead are turned away.
    if ctx.connection_id is not None and ctx.connection_id.to_hex().startswith("dead"):
        raise ReducerError("connection refused by the module")


@module.reducer
def on_tick(ctx: ReducerContext, row: TickSchedule) -> None:
    n = len(list(ctx.db.tick.iter()))
    ctx.db.tick.insert(Tick(n=n, label=row.label))


@module.reducer
def start_ticking(ctx: ReducerContext, every_ms: u32, label: str) -> None:
    if every_ms == 0:
        raise ReducerError("every_ms must be positive")
    ctx.db.tick_schedule.insert(
        TickSchedule(
            scheduled_at=ScheduleAt.interval(TimeDuration(every_ms * 1000)),
            label=label,
        )
    )


@module.reducer
def stop_ticking(ctx: ReducerContext) -> None:
    for row in list(ctx.db.tick_schedule.iter()):
        ctx.db.tick_schedule.delete(row)


@module.reducer
def put_secret(ctx: ReducerContext, id: u32, value: str) -> None:
    ctx.db.secret.insert(Secret(id=id, value=value))


@module.reducer
def put_many(ctx: ReducerContext, count: u32, size: u32) -> None:
    base = len(list(ctx.db.tick.iter()))
    for i in range(count):
        ctx.db.tick.insert(Tick(n=base + i, label="x" * size))
