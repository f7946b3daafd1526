"""The arena's view of the Blackholio tables, kept by callbacks, and smooth positions to draw.

The server moves every circle 20 times a second (``move_all_players``); the game draws at
60+ FPS. Each circle's (x, y, mass) goes into a ``SnapshotInterpolator`` stamped with the
*server* time of the transaction that moved it, and is sampled a little in the past, so
circles glide at the speed they were simulated at, whatever the frame rate or network jitter.

Only the official tables are read: ``config``, ``entity``, ``circle``, ``player``, ``food``,
through the typed bindings in ``demos/arena/bindings`` (``python -m demos.bindings``).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stdb_game import Client, EventCause, Identity, ReducerEvent, RowEventContext
from stdb_game.interpolation import SnapshotInterpolator

from .bindings import DbConnection

__all__ = ["ArenaWorld", "Blob", "ServerClock", "mass_to_radius"]

TABLES = ("config", "entity", "circle", "player", "food")

#: How far behind the newest server state circles are drawn: two 50 ms server ticks.
INTERP_DELAY = 0.1


def mass_to_radius(mass: float) -> float:
    """The module's rule: radius is the square root of mass."""
    return math.sqrt(max(mass, 0.0))


@dataclass(frozen=True, slots=True)
class Blob:
    """One player circle as drawn this frame."""

    entity_id: int
    player_id: int
    x: float
    y: float
    mass: float

    @property
    def radius(self) -> float:
        return mass_to_radius(self.mass)


class ServerClock:
    """Estimates the server's clock from transaction timestamps, to sample snapshots at."""

    def __init__(self, window: int = 120) -> None:
        self._offsets: deque[float] = deque(maxlen=window)
        self.offset: float | None = None

    def observe(self, server_seconds: float, local_seconds: float) -> None:
        """A transaction stamped ``server_seconds`` arrived at ``local_seconds``."""
        self._offsets.append(server_seconds - local_seconds)
        # The largest offset is the least delayed arrival: the best view of "now" there.
        self.offset = max(self._offsets)

    def now(self, local_seconds: float) -> float:
        return local_seconds + (self.offset or 0.0)


@dataclass
class Pop:
    """A short ring drawn where something was eaten."""

    x: float
    y: float
    radius: float
    color_key: int
    born: float
    is_food: bool


class ArenaWorld:
    """Everything the arena draws and the bot reads, from the client cache and its callbacks."""

    def __init__(self, client: Client, clock: Callable[[], float] = time.perf_counter) -> None:
        self.client = client
        self.conn = DbConnection(client)  # needs Client(schema=SCHEMA): typed rows
        self._clock = clock
        self.server_clock = ServerClock()
        self.interp: SnapshotInterpolator[int, tuple[float, float, float]] = SnapshotInterpolator(
            delay=INTERP_DELAY, max_extrapolation=0.05
        )
        self.circles: dict[int, int] = {}  # entity_id -> player_id
        self.food: dict[int, tuple[float, float, float]] = {}  # entity_id -> (x, y, mass)
        self.world_size = 1000.0
        self.loaded = False
        #: False from a drop until the reconnect restored the subscription: the cache is stale.
        self.in_sync = False
        #: Times the server removed our last circle (eaten, or gave up) while we were
        #: connected; a dropped connection or a reconnect's reconciliation is no death.
        self.deaths = 0
        self.died_at: float | None = None
        self.pops: deque[Pop] = deque(maxlen=64)
        # What a bot reports: proof that it saw the others play.
        self.food_at_load = 0
        self.food_eaten = 0
        self.food_spawned = 0
        self.moved_others: set[int] = set()
        self.players_seen: set[str] = set()
        self.others_seen: set[int] = set()
        self.subscription = client.subscribe([f"SELECT * FROM {t}" for t in TABLES])
        self.subscription.on_applied(self._applied)
        self.subscription.on_error(self._subscription_failed)
        #: The server refused the subscription (no such tables?): the arena cannot work.
        self.subscription_error: str | None = None
        client.on_disconnect(self._dropped)
        client.on_reconnect(self._resynced)
        db = self.conn.db
        db.config.on_insert(self._config)
        db.config.on_update(lambda ctx, _old, new: self._config(ctx, new))
        db.entity.on_update(self._entity_updated)
        db.circle.on_insert(self._circle_inserted)
        db.circle.on_delete(self._circle_deleted)
        db.food.on_insert(self._food_inserted)
        db.food.on_delete(self._food_deleted)
        db.player.on_insert(self._player_seen)
        db.player.on_update(lambda ctx, _old, new: self._player_seen(ctx, new))
        client.on_any_reducer(self._reducer)  # every transaction stamps the server clock

    # ---- time -------------------------------------------------------------------------------

    def _stamp(self, ctx: RowEventContext) -> float:
        """Server seconds of the change: its transaction's timestamp, else an estimate."""
        ev = ctx.reducer_event
        if ev is not None:
            return ev.timestamp.micros_since_epoch / 1e6
        return self.server_clock.now(self._clock())

    def _reducer(self, ev: ReducerEvent) -> None:
        self.server_clock.observe(ev.timestamp.micros_since_epoch / 1e6, self._clock())

    def render_time(self, local: float | None = None) -> float:
        """The server time to sample circles at (the interpolator subtracts its delay)."""
        return self.server_clock.now(self._clock() if local is None else local)

    # ---- callbacks --------------------------------------------------------------------------

    def _applied(self, _handle: Any) -> None:
        # Fires before the applied rows' insert callbacks: food_at_load counts those.
        self.loaded = True
        self.in_sync = True

    def _subscription_failed(self, _handle: Any, error: str) -> None:
        self.subscription_error = f"the server refused the subscription: {error}"

    def _dropped(self, _reason: Any) -> None:
        self.in_sync = False

    def _resynced(self) -> None:
        self.in_sync = True

    def _config(self, _ctx: RowEventContext, row: Any) -> None:
        self.world_size = float(row.world_size)

    def _entity_updated(self, ctx: RowEventContext, old: Any, new: Any) -> None:
        eid = new.entity_id
        if eid in self.circles:
            p = new.position
            self.interp.push(eid, (p.x, p.y, float(new.mass)), self._stamp(ctx))
            if self.circles[eid] != self.my_player_id and (
                abs(p.x - old.position.x) + abs(p.y - old.position.y) > 0.01
            ):
                self.moved_others.add(eid)
        elif eid in self.food:
            self.food[eid] = (new.position.x, new.position.y, float(new.mass))

    def _circle_inserted(self, ctx: RowEventContext, row: Any) -> None:
        eid = row.entity_id
        self.circles[eid] = row.player_id
        entity = self.conn.db.entity.find(eid)
        if entity is not None:
            p = entity.position
            self.interp.push(eid, (p.x, p.y, float(entity.mass)), self._stamp(ctx))
        if row.player_id != self.my_player_id:
            self.others_seen.add(row.player_id)

    def _circle_deleted(self, ctx: RowEventContext, row: Any) -> None:
        eid = row.entity_id
        pid = self.circles.pop(eid, row.player_id)
        last = self.interp.sample(eid, self.render_time())
        self.interp.remove(eid)
        if pid == self.my_player_id and self._killed(ctx) and pid not in self.circles.values():
            self.deaths += 1
            self.died_at = self._clock()
        if last is not None and ctx.cause is EventCause.REDUCER:
            self.pops.append(
                Pop(last[0], last[1], mass_to_radius(last[2]), pid, self._clock(), False)
            )

    def _killed(self, ctx: RowEventContext) -> bool:
        """A circle deleted by a game reducer (not ``disconnect``) on a live connection."""
        ev = ctx.reducer_event
        if ctx.cause is not EventCause.REDUCER or ev is None or not self.client.is_connected:
            return False
        rdef = self.client.schema.reducers.get(ev.reducer_name)
        return rdef is None or not rdef.is_lifecycle

    def _food_inserted(self, ctx: RowEventContext, row: Any) -> None:
        entity = self.conn.db.entity.find(row.entity_id)
        if entity is None:
            return
        self.food[row.entity_id] = (entity.position.x, entity.position.y, float(entity.mass))
        if ctx.cause is EventCause.SUBSCRIBE_APPLIED:
            self.food_at_load += 1
        elif self.loaded and ctx.cause is EventCause.REDUCER:
            self.food_spawned += 1

    def _food_deleted(self, ctx: RowEventContext, row: Any) -> None:
        spot = self.food.pop(row.entity_id, None)
        if ctx.cause is not EventCause.REDUCER:
            return
        self.food_eaten += 1
        if spot is not None:
            self.pops.append(
                Pop(spot[0], spot[1], mass_to_radius(spot[2]), row.entity_id, self._clock(), True)
            )

    def _player_seen(self, _ctx: RowEventContext, row: Any) -> None:
        if row.name:
            self.players_seen.add(str(row.name))

    # ---- queries ----------------------------------------------------------------------------

    @property
    def me(self) -> Identity | None:
        return self.client.identity

    @property
    def my_player(self) -> Any:
        me = self.me
        return None if me is None else self.conn.db.player.find(me)

    @property
    def my_player_id(self) -> int | None:
        p = self.my_player
        return None if p is None else int(p.player_id)

    def player(self, player_id: int) -> Any:
        return self.conn.db.player.find_by_player_id(player_id)

    def player_name(self, player_id: int) -> str:
        p = self.player(player_id)
        return str(p.name) if p is not None and p.name else f"player {player_id}"

    def blobs(self, local: float | None = None) -> list[Blob]:
        """Every circle at its interpolated place, smallest first (the drawing order)."""
        t = self.render_time(local)
        out: list[Blob] = []
        sample = self.interp.sample
        for eid, pid in self.circles.items():
            v = sample(eid, t)
            if v is not None:
                out.append(Blob(eid, pid, v[0], v[1], v[2]))
        out.sort(key=lambda b: b.mass)
        return out

    def latest_blobs(self) -> list[Blob]:
        """Every circle where the server last put it (for decisions, not for drawing)."""
        find = self.conn.db.entity.find
        out: list[Blob] = []
        for eid, pid in self.circles.items():
            e = find(eid)
            if e is not None:
                out.append(Blob(eid, pid, e.position.x, e.position.y, float(e.mass)))
        return out

    def entity_mass(self, entity_id: int) -> int | None:
        """A circle's mass as the server last set it (what the HUD adds up)."""
        e = self.conn.db.entity.find(entity_id)
        return None if e is None else int(e.mass)

    def masses(self) -> dict[int, int]:
        """Total mass per player id, from the latest server state."""
        find = self.conn.db.entity.find
        totals: dict[int, int] = {}
        for eid, pid in self.circles.items():
            e = find(eid)
            if e is not None:
                totals[pid] = totals.get(pid, 0) + int(e.mass)
        return totals

    def leaderboard(self, n: int = 10) -> list[tuple[int, str, int]]:
        """(player_id, name, mass) of the heaviest players."""
        ranked = sorted(self.masses().items(), key=lambda kv: -kv[1])
        return [(pid, self.player_name(pid), mass) for pid, mass in ranked[:n]]
