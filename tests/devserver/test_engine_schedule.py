"""Scheduled reducers driven by explicit timestamps: interval rows repeat, time rows run once."""

from __future__ import annotations

from stdb_game.devserver import Database
from stdb_game.devserver.module import (
    ConnectionId,
    Identity,
    Module,
    ReducerContext,
    ReducerError,
    ScheduleAt,
    TimeDuration,
    Timestamp,
    column,
    u64,
)

T0 = Timestamp(1_700_000_000_000_000)
SEC = 1_000_000
ALICE = Identity.from_hex("c200" + "aa" * 30)

sched = Module("sched")


@sched.table(name="tick_timer", scheduled="tick")
class TickTimer:
    scheduled_id: u64 = column(primary_key=True, auto_inc=True)
    scheduled_at: ScheduleAt


@sched.table(name="once_timer", scheduled="once")
class OnceTimer:
    scheduled_id: u64 = column(primary_key=True, auto_inc=True)
    scheduled_at: ScheduleAt
    label: str


@sched.table(name="event", public=True)
class Event:
    id: u64 = column(primary_key=True, auto_inc=True)
    what: str
    at: Timestamp
    caller: Identity


@sched.reducer(lifecycle="init")
def init(ctx: ReducerContext) -> None:
    ctx.db.tick_timer.insert(TickTimer(scheduled_at=ScheduleAt.interval(TimeDuration(SEC))))


@sched.reducer
def tick(ctx: ReducerContext, timer: TickTimer) -> None:
    ctx.db.event.insert(
        Event(what=f"tick{timer.scheduled_id}", at=ctx.timestamp, caller=ctx.sender)
    )


@sched.reducer
def once(ctx: ReducerContext, timer: OnceTimer) -> None:
    if timer.label == "fail":
        raise ReducerError("failing on purpose")
    ctx.db.event.insert(Event(what=timer.label, at=ctx.timestamp, caller=ctx.sender))
    if timer.label == "chain":
        ctx.db.once_timer.insert(
            OnceTimer(scheduled_at=ScheduleAt.time(ctx.timestamp), label="chained")
        )


@sched.reducer
def schedule_once(ctx: ReducerContext, label: str, delay_micros: u64) -> None:
    at = Timestamp(ctx.timestamp.micros_since_epoch + delay_micros)
    ctx.db.once_timer.insert(OnceTimer(scheduled_at=ScheduleAt.time(at), label=label))


@sched.reducer
def stop_ticking(ctx: ReducerContext) -> None:
    for row in ctx.db.tick_timer.iter():
        ctx.db.tick_timer.delete(row)


def at(seconds: float) -> Timestamp:
    return Timestamp(T0.micros_since_epoch + int(seconds * SEC))


def _json(db: Database, name: str, args: list[object], when: Timestamp):
    return db.call_reducer_json(
        name, args, sender=ALICE, connection_id=ConnectionId(1), timestamp=when
    )


def test_interval_rows_repeat() -> None:
    db = Database.open(sched, timestamp=T0)
    assert db.next_deadline() == at(1)
    assert db.run_due(at(0.5)) == []
    res = db.run_due(at(1))
    assert [r.reducer_name for r in res] == ["tick"] and res[0].committed
    assert res[0].caller == db.identity and res[0].caller_connection_id == ConnectionId(0)
    (timer,) = db.rows("tick_timer")
    assert res[0].args == db.stores["tick_timer"].codec.encode(timer)
    assert db.next_deadline() == at(2)
    assert len(db.run_due(at(2))) == 1
    # a caller 7.5 intervals late gets one run; the missed slots are skipped, not burst
    assert len(db.run_due(at(10.5))) == 1
    assert db.next_deadline() == at(11)
    assert [e.what for e in db.rows("event")] == ["tick1"] * 3
    assert all(e.caller == db.identity for e in db.rows("event"))
    assert len(db.rows("tick_timer")) == 1


def test_deleting_an_interval_row_stops_it() -> None:
    db = Database.open(sched, timestamp=T0)
    assert _json(db, "stop_ticking", [], at(0.1)).committed
    assert db.next_deadline() is None
    assert db.run_due(at(5)) == []


def test_time_rows_run_once_and_are_deleted() -> None:
    db = Database.open(sched, timestamp=T0)
    _json(db, "stop_ticking", [], at(0))
    _json(db, "schedule_once", ["b", 3 * SEC], at(0))
    _json(db, "schedule_once", ["a", 2 * SEC], at(0))
    assert db.next_deadline() == at(2)
    res = db.run_due(at(2.5))
    assert [r.reducer_name for r in res] == ["once"]
    assert "once_timer" in res[0].changes and len(res[0].changes["once_timer"].deletes) == 1
    assert [r.label for r in db.rows("once_timer")] == ["b"]
    res = db.run_due(at(3))
    assert [e.what for e in db.rows("event")] == ["a", "b"]
    assert db.rows("once_timer") == [] and db.next_deadline() is None
    assert db.run_due(at(100)) == []


def test_rows_scheduled_for_now_run_in_the_same_call() -> None:
    db = Database.open(sched, timestamp=T0)
    _json(db, "stop_ticking", [], at(0))
    _json(db, "schedule_once", ["chain", SEC], at(0))
    res = db.run_due(at(1))
    assert [e.what for e in db.rows("event")] == ["chain", "chained"]
    assert len(res) == 2


def test_failed_time_row_is_still_consumed() -> None:
    db = Database.open(sched, timestamp=T0)
    _json(db, "stop_ticking", [], at(0))
    _json(db, "schedule_once", ["fail", SEC], at(0))
    (res,) = db.run_due(at(1))
    assert not res.committed and res.error == "failing on purpose"
    assert len(res.changes["once_timer"].deletes) == 1
    assert db.rows("once_timer") == [] and db.rows("event") == []
    assert db.next_deadline() is None


def test_schedules_order_by_deadline() -> None:
    db = Database.open(sched, timestamp=T0)
    _json(db, "schedule_once", ["late", int(1.5 * SEC)], at(0))
    _json(db, "schedule_once", ["early", int(0.5 * SEC)], at(0))
    res = db.run_due(at(2))
    assert [e.what for e in db.rows("event")] == ["early", "tick1", "late"]
    assert len(res) == 3


def test_interval_rows_keep_a_fixed_rate_when_runs_are_late() -> None:
    """Each run 30 ms late: the next slot still counts from the slot, so 20 runs fit in 20 s
    (timing each interval from the late run would push the 20th past 20.5 s)."""
    db = Database.open(sched, timestamp=T0)
    late = int(0.03 * SEC)
    ran: list[int] = []
    for _ in range(20):
        deadline = db.next_deadline()
        assert deadline is not None
        now = Timestamp(deadline.micros_since_epoch + late)
        assert len(db.run_due(now)) == 1
        ran.append(now.micros_since_epoch - T0.micros_since_epoch)
    assert ran == [k * SEC + late for k in range(1, 21)]
    assert db.next_deadline() == at(21)
    assert [e.at for e in db.rows("event")][-1] == Timestamp(T0.micros_since_epoch + ran[-1])


def test_a_run_exactly_one_interval_late_moves_to_the_slot_after_now() -> None:
    db = Database.open(sched, timestamp=T0)
    assert len(db.run_due(at(2))) == 1  # slot 1 ran at slot 2's time
    assert db.next_deadline() == at(3)  # strictly after now, as the real scheduler does
    assert db.run_due(at(2.999)) == []
    assert len(db.run_due(at(3))) == 1
    assert db.next_deadline() == at(4)
