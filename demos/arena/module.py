"""Blackholio (the official agar.io-like tutorial game) as a dev server module.

Same tables, columns, row types, indexes, table visibility, scheduled tables and reducer names
as the Rust server of ``demo/Blackholio`` at SpacetimeDB v1.12.0 (``../shared/modules/
blackholio.md``). ``move_all_players`` runs every 50 ms and drives the simulation: circles
move toward their input direction at a mass-dependent speed, a circle eats food and circles
of other players that are smaller than 85 % of its mass when their centres overlap (eating
goes through ``consume_entity`` rows scheduled "now", as in the original), ``player_split``
halves circles of mass >= 60 and ``circle_recombine`` merges them back after 5 s.
Randomness comes from ``ctx.rng``, seeded from the module seed and the transaction's
timestamp, so a run is reproducible from its seed and its call/timestamp sequence.

Simplified compared with the original:

* the push-apart / pull-together of a player's split circles is a plain spring on the
  overlap (the Rust server's exact falloff constants are not reproduced);
* collision detection is a brute-force scan of every entity per circle (the original too),
  fine for the dev server's few players, not tuned for thousands of entities;
* floating point is Python's double precision, rounded to f32 only when stored.
"""

from __future__ import annotations

import math

from stdb_game.devserver.module import (
    Identity,
    Module,
    ReducerContext,
    ReducerError,
    ScheduleAt,
    TimeDuration,
    Timestamp,
    column,
    f32,
    i32,
    i64,
    u64,
)

module = Module("blackholio", seed=0)

START_PLAYER_MASS = 15
START_PLAYER_SPEED = 10
FOOD_MASS_MIN = 2
FOOD_MASS_MAX = 4  # exclusive, as in gen_range(2..4)
TARGET_FOOD_COUNT = 600
MINIMUM_SAFE_MASS_RATIO = 0.85
MIN_MASS_TO_SPLIT = START_PLAYER_MASS * 2
MAX_CIRCLES_PER_PLAYER = 16
SPLIT_RECOMBINE_DELAY_SEC = 5.0
SPLIT_GRAV_PULL_BEFORE_RECOMBINE_SEC = 2.0
ALLOWED_SPLIT_CIRCLE_OVERLAP_PCT = 0.9
SELF_COLLISION_SPEED = 0.05
WORLD_SIZE = 1000
MOVE_INTERVAL_MICROS = 50_000
SPAWN_FOOD_INTERVAL_MICROS = 500_000
DECAY_INTERVAL_MICROS = 5_000_000


@module.type
class DbVector2:
    x: f32
    y: f32

    def __add__(self, other: DbVector2) -> DbVector2:
        return DbVector2(self.x + other.x, self.y + other.y)

    def __sub__(self, other: DbVector2) -> DbVector2:
        return DbVector2(self.x - other.x, self.y - other.y)

    def __mul__(self, k: float) -> DbVector2:
        return DbVector2(self.x * k, self.y * k)

    def sqr_magnitude(self) -> float:
        return self.x * self.x + self.y * self.y

    def magnitude(self) -> float:
        return math.sqrt(self.sqr_magnitude())

    def normalized(self) -> DbVector2:
        m = self.magnitude()
        return DbVector2(self.x / m, self.y / m) if m > 0 else DbVector2(0.0, 0.0)


@module.table(name="config", public=True)
class Config:
    id: i32 = column(primary_key=True)
    world_size: i64


@module.table(name="logged_out_entity")
@module.table(name="entity", public=True)
class Entity:
    entity_id: i32 = column(primary_key=True, auto_inc=True)
    position: DbVector2
    mass: i32


@module.table(name="logged_out_circle")
@module.table(name="circle", public=True)
class Circle:
    entity_id: i32 = column(primary_key=True)
    player_id: i32 = column(index=True)
    direction: DbVector2
    speed: f32
    last_split_time: Timestamp


@module.table(name="logged_out_player")
@module.table(name="player", public=True)
class Player:
    identity: Identity = column(primary_key=True)
    player_id: i32 = column(unique=True, auto_inc=True)
    name: str


@module.table(name="food", public=True)
class Food:
    entity_id: i32 = column(primary_key=True)


@module.table(name="move_all_players_timer", scheduled="move_all_players")
class MoveAllPlayersTimer:
    scheduled_id: u64 = column(primary_key=True, auto_inc=True)
    scheduled_at: ScheduleAt


@module.table(name="spawn_food_timer", scheduled="spawn_food")
class SpawnFoodTimer:
    scheduled_id: u64 = column(primary_key=True, auto_inc=True)
    scheduled_at: ScheduleAt


@module.table(name="circle_decay_timer", scheduled="circle_decay")
class CircleDecayTimer:
    scheduled_id: u64 = column(primary_key=True, auto_inc=True)
    scheduled_at: ScheduleAt


@module.table(name="circle_recombine_timer", scheduled="circle_recombine")
class CircleRecombineTimer:
    scheduled_id: u64 = column(primary_key=True, auto_inc=True)
    scheduled_at: ScheduleAt
    player_id: i32


@module.table(name="consume_entity_timer", scheduled="consume_entity")
class ConsumeEntityTimer:
    scheduled_id: u64 = column(primary_key=True, auto_inc=True)
    scheduled_at: ScheduleAt
    consumed_entity_id: i32
    consumer_entity_id: i32


# ---- helpers --------------------------------------------------------------------------------


def mass_to_radius(mass: int) -> float:
    return math.sqrt(mass)


def mass_to_max_move_speed(mass: int) -> float:
    return 2.0 * START_PLAYER_SPEED / (1.0 + math.sqrt(mass / START_PLAYER_MASS))


def is_overlapping(a: Entity, b: Entity) -> bool:
    """The smaller circle's centre is inside the bigger one."""
    dx = a.position.x - b.position.x
    dy = a.position.y - b.position.y
    max_radius = max(mass_to_radius(a.mass), mass_to_radius(b.mass))
    return dx * dx + dy * dy <= max_radius * max_radius


def world_size(ctx: ReducerContext) -> int:
    config = ctx.db.config.id.find(0)
    if config is None:
        raise ReducerError("Config not found")
    return int(config.world_size)


def spawn_circle_at(
    ctx: ReducerContext, player_id: int, mass: int, position: DbVector2, timestamp: Timestamp
) -> Entity:
    entity = ctx.db.entity.insert(Entity(entity_id=0, position=position, mass=mass))
    ctx.db.circle.insert(
        Circle(
            entity_id=entity.entity_id,
            player_id=player_id,
            direction=DbVector2(0.0, 1.0),
            speed=0.0,
            last_split_time=timestamp,
        )
    )
    return entity


def spawn_player_initial_circle(ctx: ReducerContext, player_id: int) -> Entity:
    size = world_size(ctx)
    radius = mass_to_radius(START_PLAYER_MASS)
    x = ctx.rng.uniform(radius, size - radius)
    y = ctx.rng.uniform(radius, size - radius)
    return spawn_circle_at(ctx, player_id, START_PLAYER_MASS, DbVector2(x, y), ctx.timestamp)


def destroy_entity(ctx: ReducerContext, entity_id: int) -> None:
    ctx.db.food.entity_id.delete(entity_id)
    ctx.db.circle.entity_id.delete(entity_id)
    ctx.db.entity.entity_id.delete(entity_id)


def schedule_consume_entity(ctx: ReducerContext, consumed: int, consumer: int) -> None:
    ctx.db.consume_entity_timer.insert(
        ConsumeEntityTimer(
            scheduled_id=0,
            scheduled_at=ScheduleAt.time(ctx.timestamp),
            consumed_entity_id=consumed,
            consumer_entity_id=consumer,
        )
    )


def require_player(ctx: ReducerContext, message: str) -> Player:
    player = ctx.db.player.identity.find(ctx.sender)
    if player is None:
        raise ReducerError(message)
    return player  # type: ignore[no-any-return]


# ---- reducers (alphabetical, like the Rust module's registration order) ---------------------


@module.reducer
def circle_decay(ctx: ReducerContext, _timer: CircleDecayTimer) -> None:
    for circle in ctx.db.circle.iter():
        entity = ctx.db.entity.entity_id.find(circle.entity_id)
        if entity is None or entity.mass <= START_PLAYER_MASS:
            continue
        entity.mass = int(entity.mass * 0.99)
        ctx.db.entity.entity_id.update(entity)


@module.reducer
def circle_recombine(ctx: ReducerContext, timer: CircleRecombineTimer) -> None:
    recombining = [
        c
        for c in ctx.db.circle.player_id.filter(timer.player_id)
        if (ctx.timestamp - c.last_split_time).to_seconds() >= SPLIT_RECOMBINE_DELAY_SEC
    ]
    if len(recombining) <= 1:
        return
    base = recombining[0].entity_id
    for c in recombining[1:]:
        schedule_consume_entity(ctx, c.entity_id, base)


@module.reducer(lifecycle="client_connected")
def connect(ctx: ReducerContext) -> None:
    player = ctx.db.logged_out_player.identity.find(ctx.sender)
    if player is None:
        ctx.db.player.insert(Player(identity=ctx.sender, player_id=0, name=""))
        return
    ctx.db.player.insert(player)
    ctx.db.logged_out_player.identity.delete(player.identity)
    for circle in ctx.db.logged_out_circle.player_id.filter(player.player_id):
        entity = ctx.db.logged_out_entity.entity_id.find(circle.entity_id)
        if entity is None:
            raise ReducerError("Could not find logged out entity")
        ctx.db.entity.insert(entity)
        ctx.db.logged_out_entity.entity_id.delete(entity.entity_id)
        ctx.db.circle.insert(circle)
        ctx.db.logged_out_circle.entity_id.delete(circle.entity_id)


@module.reducer
def consume_entity(ctx: ReducerContext, request: ConsumeEntityTimer) -> None:
    consumed = ctx.db.entity.entity_id.find(request.consumed_entity_id)
    if consumed is None:
        raise ReducerError("Consumed entity doesn't exist")
    consumer = ctx.db.entity.entity_id.find(request.consumer_entity_id)
    if consumer is None:
        raise ReducerError("Consumer entity doesn't exist")
    consumer.mass += consumed.mass
    destroy_entity(ctx, consumed.entity_id)
    ctx.db.entity.entity_id.update(consumer)


@module.reducer(lifecycle="client_disconnected")
def disconnect(ctx: ReducerContext) -> None:
    player = require_player(ctx, "Player not found")
    for circle in ctx.db.circle.player_id.filter(player.player_id):
        entity = ctx.db.entity.entity_id.find(circle.entity_id)
        if entity is None:
            raise ReducerError("Could not find circle")
        ctx.db.logged_out_entity.insert(entity)
        ctx.db.entity.entity_id.delete(entity.entity_id)
        ctx.db.logged_out_circle.insert(circle)
        ctx.db.circle.entity_id.delete(circle.entity_id)
    ctx.db.logged_out_player.insert(player)
    ctx.db.player.identity.delete(player.identity)


@module.reducer
def enter_game(ctx: ReducerContext, name: str) -> None:
    player = require_player(ctx, "Player not found")
    player.name = name
    ctx.db.player.identity.update(player)
    spawn_player_initial_circle(ctx, player.player_id)


@module.reducer(lifecycle="init")
def init(ctx: ReducerContext) -> None:
    ctx.db.config.insert(Config(id=0, world_size=WORLD_SIZE))
    for table, micros in (
        (ctx.db.circle_decay_timer, DECAY_INTERVAL_MICROS),
        (ctx.db.spawn_food_timer, SPAWN_FOOD_INTERVAL_MICROS),
        (ctx.db.move_all_players_timer, MOVE_INTERVAL_MICROS),
    ):
        table.insert((0, ScheduleAt.interval(TimeDuration(micros))))


def _split_forces(ctx: ReducerContext, directions: dict[int, DbVector2]) -> None:
    """Simplified: split circles of one player push apart early, pull together later."""
    for player in ctx.db.player.iter():
        circles = ctx.db.circle.player_id.filter(player.player_id)
        if len(circles) <= 1:
            continue
        entities = [ctx.db.entity.entity_id.find(c.entity_id) for c in circles]
        for i, ci in enumerate(circles):
            ei = entities[i]
            if ei is None:
                continue
            for j in range(i + 1, len(circles)):
                ej = entities[j]
                if ej is None:
                    continue
                diff = ei.position - ej.position
                distance = diff.magnitude()
                radius_sum = mass_to_radius(ei.mass) + mass_to_radius(ej.mass)
                since = ctx.timestamp - max(ci.last_split_time, circles[j].last_split_time)
                if since.to_seconds() < SPLIT_GRAV_PULL_BEFORE_RECOMBINE_SEC:
                    if distance < radius_sum * ALLOWED_SPLIT_CIRCLE_OVERLAP_PCT:
                        push = diff.normalized() * ((radius_sum - distance) * SELF_COLLISION_SPEED)
                        directions[ci.entity_id] = directions[ci.entity_id] + push
                        directions[ej.entity_id] = directions[ej.entity_id] - push
                else:
                    pull = diff.normalized() * (-SELF_COLLISION_SPEED * min(distance, 1.0))
                    directions[ci.entity_id] = directions[ci.entity_id] + pull
                    directions[ej.entity_id] = directions[ej.entity_id] - pull


@module.reducer
def move_all_players(ctx: ReducerContext, _timer: MoveAllPlayersTimer) -> None:
    size = world_size(ctx)
    circles = ctx.db.circle.iter()
    directions = {c.entity_id: c.direction * c.speed for c in circles}
    _split_forces(ctx, directions)
    moved: dict[int, Entity] = {}
    for circle in circles:
        entity = ctx.db.entity.entity_id.find(circle.entity_id)
        if entity is None:
            continue
        radius = mass_to_radius(entity.mass)
        step = directions[circle.entity_id] * mass_to_max_move_speed(entity.mass)
        pos = entity.position + step
        entity.position = DbVector2(
            min(max(pos.x, radius), size - radius), min(max(pos.y, radius), size - radius)
        )
        ctx.db.entity.entity_id.update(entity)
        moved[entity.entity_id] = entity
    entities = {e.entity_id: e for e in ctx.db.entity.iter()}
    owner = {c.entity_id: c.player_id for c in circles}
    for circle in circles:
        me = moved.get(circle.entity_id)
        if me is None:
            continue
        for other in entities.values():
            if other.entity_id == me.entity_id or not is_overlapping(me, other):
                continue
            if other.entity_id not in owner:
                edible = ctx.db.food.entity_id.find(other.entity_id) is not None
            else:
                edible = (
                    owner[other.entity_id] != circle.player_id
                    and other.mass / me.mass < MINIMUM_SAFE_MASS_RATIO
                )
            if edible:
                schedule_consume_entity(ctx, other.entity_id, me.entity_id)


@module.reducer
def player_split(ctx: ReducerContext) -> None:
    player = require_player(ctx, "Sender has no player")
    circles = ctx.db.circle.player_id.filter(player.player_id)
    count = len(circles)
    for circle in circles:
        entity = ctx.db.entity.entity_id.find(circle.entity_id)
        if entity is None:
            continue
        if entity.mass >= MIN_MASS_TO_SPLIT * 2:
            half = entity.mass // 2
            spawn_circle_at(
                ctx, circle.player_id, half, entity.position + circle.direction, ctx.timestamp
            )
            entity.mass -= half
            circle.last_split_time = ctx.timestamp
            ctx.db.circle.entity_id.update(circle)
            ctx.db.entity.entity_id.update(entity)
            count += 1
            if count >= MAX_CIRCLES_PER_PLAYER:
                break
    at = Timestamp(ctx.timestamp.micros_since_epoch + int(SPLIT_RECOMBINE_DELAY_SEC * 1e6))
    ctx.db.circle_recombine_timer.insert(
        CircleRecombineTimer(
            scheduled_id=0, scheduled_at=ScheduleAt.time(at), player_id=player.player_id
        )
    )


@module.reducer
def respawn(ctx: ReducerContext) -> None:
    player = require_player(ctx, "No such player found")
    spawn_player_initial_circle(ctx, player.player_id)


@module.reducer
def spawn_food(ctx: ReducerContext, _timer: SpawnFoodTimer) -> None:
    if ctx.db.player.count() == 0:
        return
    size = world_size(ctx)
    food_count = ctx.db.food.count()
    while food_count < TARGET_FOOD_COUNT:
        mass = ctx.rng.randrange(FOOD_MASS_MIN, FOOD_MASS_MAX)
        radius = mass_to_radius(mass)
        x = ctx.rng.uniform(radius, size - radius)
        y = ctx.rng.uniform(radius, size - radius)
        entity = ctx.db.entity.insert(Entity(entity_id=0, position=DbVector2(x, y), mass=mass))
        ctx.db.food.insert(Food(entity_id=entity.entity_id))
        food_count += 1


@module.reducer
def suicide(ctx: ReducerContext) -> None:
    player = require_player(ctx, "Sender has no player")
    for circle in ctx.db.circle.player_id.filter(player.player_id):
        destroy_entity(ctx, circle.entity_id)


@module.reducer
def update_player_input(ctx: ReducerContext, direction: DbVector2) -> None:
    player = require_player(ctx, "Player not found")
    for circle in ctx.db.circle.player_id.filter(player.player_id):
        circle.direction = direction.normalized()
        circle.speed = min(max(direction.magnitude(), 0.0), 1.0)
        ctx.db.circle.entity_id.update(circle)
