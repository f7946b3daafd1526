"""The dev server module the tick and end-to-end benchmarks talk to.

``entity`` is Blackholio's fixed-width row (``u32`` key, ``DbVector2`` position, ``u32``
mass); ``arena_step`` moves every entity, scheduled at a steady interval by
``start_arena`` (20 Hz in the bench, like Blackholio's ``move_all_players``). ``bulk`` has
the same row shape and holds the large initial subscription; ``move_bulk`` updates a range
of it in one transaction. ``ping`` changes nothing: the caller still gets its own
``TransactionUpdate``, which is what the round-trip figures time.
"""

from __future__ import annotations

from stdb_game.devserver.module import (
    Module,
    ReducerContext,
    ScheduleAt,
    TimeDuration,
    column,
    f32,
    u32,
    u64,
)

module = Module("bench", seed=0)


@module.type
class DbVector2:
    x: f32
    y: f32


@module.table(name="entity", public=True)
class Entity:
    entity_id: u32 = column(primary_key=True)
    position: DbVector2
    mass: u32


@module.table(name="bulk", public=True)
class Bulk:
    id: u32 = column(primary_key=True)
    position: DbVector2
    mass: u32


@module.table(name="arena_timer", scheduled="arena_step")
class ArenaTimer:
    scheduled_id: u64 = column(primary_key=True, auto_inc=True)
    scheduled_at: ScheduleAt


@module.reducer
def start_arena(ctx: ReducerContext, count: u32, interval_micros: u64) -> None:
    """``count`` entities, moved every ``interval_micros`` from now on."""
    for i in range(count):
        ctx.db.entity.insert(Entity(entity_id=i, position=DbVector2(float(i), 0.0), mass=10))
    ctx.db.arena_timer.insert((0, ScheduleAt.interval(TimeDuration(interval_micros))))


@module.reducer
def arena_step(ctx: ReducerContext, _timer: ArenaTimer) -> None:
    for e in ctx.db.entity.iter():
        e.position = DbVector2(e.position.x, (e.position.y + 1.0) % 1000.0)
        ctx.db.entity.entity_id.update(e)


@module.reducer
def fill_bulk(ctx: ReducerContext, first: u32, count: u32) -> None:
    for i in range(first, first + count):
        ctx.db.bulk.insert(Bulk(id=i, position=DbVector2(float(i % 1000), 0.0), mass=i % 100))


@module.reducer
def move_bulk(ctx: ReducerContext, first: u32, count: u32) -> None:
    for i in range(first, first + count):
        row = ctx.db.bulk.id.find(i)
        if row is not None:
            row.mass = row.mass + 1
            ctx.db.bulk.id.update(row)


@module.reducer
def ping(ctx: ReducerContext, seq: u32) -> None:
    pass
