"""``replay_session``: rebuild the recorded client and tick it once per recorded tick.

The driver, not the client's budget, decides what each tick applies: it delivers exactly
the frames the recorded tick read and lets ``tick()`` apply exactly as many messages as the
recorded tick applied. The client's clock returns the recorded tick times, so stall
detection and reconnect timing follow the recording. Requests the game made (subscribe,
reducer calls, one-off queries) are issued again at the recorded point, so the session's
ids and pending calls match; the frames this produces are compared with the recorded ones.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import protocol as P
from ..client import Client, ClientState, ReconnectPolicy, SubscriptionHandle
from ..errors import ConnectError, ProtocolError, StdbError
from ..events import OneOffQueryResult
from ..schema import ModuleSchema
from .eventlog import EventLog, snapshot_cache
from .format import RecordingDamage, RecordingError, ReplayMismatch
from .plan import Step, steps
from .reader import (
    ConnectionRecord,
    DisconnectRecord,
    EndRecord,
    InboundRecord,
    MarkRecord,
    OutboundRecord,
    Recording,
    RecordingSource,
    read_recording,
)
from .transport import OutboundDifference, ReplayTransport, close_info_from

__all__ = ["ReplayResult", "replay_session"]

log = logging.getLogger("stdb_game.replay")

#: Large enough that the replayed client never holds frames back: the driver decides.
_REPLAY_QUEUE_LIMIT = 1 << 30


@dataclass
class ReplayResult:
    """What a replay did: the client as it ended, its event log, and any differences."""

    client: Client
    recording: Recording
    events: EventLog | None
    differences: list[OutboundDifference]
    #: Ticks replayed, and the recorded index of the last one.
    ticks: int
    last_tick: int | None
    #: Subscriptions the replay made again, by query id.
    subscriptions: dict[int, SubscriptionHandle] = field(default_factory=dict)
    marks: list[MarkRecord] = field(default_factory=list)
    one_off_results: list[OneOffQueryResult] = field(default_factory=list)
    #: True when ``until_tick`` stopped the replay before the end of the recording.
    stopped_early: bool = False

    @property
    def damage(self) -> RecordingDamage | None:
        return self.recording.damage

    @property
    def ok(self) -> bool:
        """No outbound differences (damage is reported separately)."""
        return not self.differences

    def cache(self) -> dict[str, list[Any]]:
        """The client cache rendered as sorted plain data (``snapshot_cache``)."""
        return snapshot_cache(self.client)


class _Clock:
    """The replayed client's clock: the recorded time of whatever is being replayed."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Driver:
    def __init__(
        self,
        recording: Recording,
        schema: ModuleSchema,
        *,
        setup: Callable[[Client], None] | None,
        on_subscription: Callable[[SubscriptionHandle], None] | None,
        strict: bool,
        reissue: bool,
        event_log: bool,
        client_options: Mapping[str, Any],
    ) -> None:
        self.recording = recording
        self.strict = strict
        self.reissue = reissue
        self.on_subscription = on_subscription
        self.clock = _Clock()
        self.transports: list[ReplayTransport] = []
        self.allow: ReplayTransport | None = None
        self.produced: list[bytes] = []
        self.differences: list[OutboundDifference] = []
        self.subscriptions: dict[int, SubscriptionHandle] = {}
        self.marks: list[MarkRecord] = []
        self.one_offs: list[OneOffQueryResult] = []
        self.out_position = 0
        self.last_tick: int | None = None
        conns = recording.connections
        params = conns[0].params if conns else {}
        settings = params.get("settings")
        settings = settings if isinstance(settings, dict) else {}
        options: dict[str, Any] = {
            "compression": params.get("compression", "Gzip"),
            "light": bool(params.get("light", False)),
            "reconnect": ReconnectPolicy(
                enabled=bool(settings.get("reconnect", True)),
                initial_delay=0.0,
                max_delay=0.0,
                jitter=0.0,
                max_attempts=None,
            ),
            "inbound_queue_limit": _REPLAY_QUEUE_LIMIT,
            "budget_ms": None,
            "max_messages": None,
            "stall_threshold": float(settings.get("stall_threshold", 10.0)),
            # Absent from recordings made while messages were applied whole by default.
            "incremental_decode_bytes": _positive_int(settings.get("incremental_decode_bytes")),
            "transport_factory": self._factory,
            "clock": self.clock,
            "rng": random.Random(0),
        }
        options.update(client_options)
        self.client = Client(
            str(params.get("uri", "replay://recording")),
            str(params.get("database", "replay")),
            schema=schema,
            **options,
        )
        self.events = EventLog().attach(self.client) if event_log else None
        if setup is not None:
            setup(self.client)

    # ---- connections ----------------------------------------------------------------------

    def _factory(self, url: str, token: str | None) -> ReplayTransport:
        t = self.allow
        if t is None:
            raise ConnectError("replay: the recorded client did not open a connection here")
        self.allow = None
        return t

    def _new_transport(self) -> ReplayTransport:
        t = ReplayTransport(on_send=self.produced.append)
        self.transports.append(t)
        return t

    @property
    def current(self) -> ReplayTransport | None:
        return self.transports[-1] if self.transports else None

    # ---- outbound frames --------------------------------------------------------------------

    def _differ(self, diff: OutboundDifference) -> None:
        self.differences.append(diff)
        log.warning("replay differs: %s", diff.describe())
        if self.strict:
            raise ReplayMismatch(diff.describe(), diff)

    def _take_produced(self) -> list[bytes]:
        out = self.produced[:]
        self.produced.clear()
        return out

    def _match(self, recorded: list[OutboundRecord], tick: int | None) -> None:
        produced = self._take_produced()
        after = self.last_tick if tick is None else None
        for i, rec in enumerate(recorded):
            pos = self.out_position
            self.out_position += 1
            note = ""
            if i < len(produced):
                actual: bytes | None = produced[i]
            elif self.reissue:
                self.clock.now = rec.now
                note = self._reissue(rec.frame)
                again = self._take_produced()
                actual = again[0] if again else None
                for extra in again[1:]:
                    self._differ(OutboundDifference(tick, pos, None, extra, after, "extra"))
            else:
                actual = None
            if actual != rec.frame:
                self._differ(OutboundDifference(tick, pos, rec.frame, actual, after, note))
        for extra in produced[len(recorded) :]:
            self._differ(OutboundDifference(tick, self.out_position, None, extra, after))

    def _reissue(self, frame: bytes) -> str:
        """Make the recorded request again through the client's API; a note if it cannot."""
        client = self.client
        try:
            msg = P.decode_client_message(frame)
        except ProtocolError as exc:
            return f"recorded frame does not decode: {exc}"
        try:
            if isinstance(msg, P.SubscribeMulti):
                self._watch(client.subscribe(list(msg.query_strings)))
            elif isinstance(msg, P.SubscribeSingle):
                self._watch(client.subscribe_single(msg.query))
            elif isinstance(msg, P.Subscribe):
                self._watch(client.subscribe_legacy(list(msg.query_strings)))
            elif isinstance(msg, (P.UnsubscribeMulti, P.Unsubscribe)):
                client.unsubscribe(msg.query_id.id)
            elif isinstance(msg, P.CallReducer):
                client.call_reducer(msg.reducer, raw_args=msg.args, call_flags=msg.flags)
            elif isinstance(msg, P.OneOffQuery):
                client.one_off_query(msg.query_string, self._one_off)
            else:
                return f"cannot re-issue a {type(msg).__name__}"
        except (StdbError, ValueError, TypeError) as exc:
            return f"re-issuing failed: {exc}"
        return ""

    def _watch(self, handle: SubscriptionHandle) -> None:
        self.subscriptions[handle.query_id] = handle
        if self.events is not None:
            self.events.watch(handle)
        if self.on_subscription is not None:
            self.on_subscription(handle)

    def _one_off(self, result: OneOffQueryResult) -> None:
        self.one_offs.append(result)
        if self.events is not None:
            self.events.one_off_callback(result)

    # ---- the walk ---------------------------------------------------------------------------

    def _gap(self, step: Step) -> bool:
        """Replay what happened between ticks; False once the recording has ended."""
        client = self.client
        for r in step.records:
            t = type(r)
            if t is ConnectionRecord:
                assert isinstance(r, ConnectionRecord)
                if r.now is not None:
                    self.clock.now = r.now
                self.allow = self._new_transport()
                try:
                    client.connect()
                except (StdbError, OSError) as exc:
                    log.warning("replay: connect() failed where the recorded one worked: %s", exc)
                self.allow = None
            elif t is OutboundRecord:
                assert isinstance(r, OutboundRecord)
                self._match([r], None)
            elif t is DisconnectRecord:
                assert isinstance(r, DisconnectRecord)
                self.clock.now = r.now
                self._end_connection(r)
            elif t is MarkRecord:
                assert isinstance(r, MarkRecord)
                self.marks.append(r)
            elif t is EndRecord:
                return False
        return True

    def _end_connection(self, r: DisconnectRecord) -> None:
        if r.is_local:
            if self.client.state is not ClientState.CLOSED:
                self.client.disconnect()
        elif self.current is not None:
            self.current.end(close_info_from(r.close))

    def _tick(self, step: Step) -> bool:
        """Replay one recorded tick; False once the recording has ended."""
        assert step.tick is not None
        outbound: list[OutboundRecord] = []
        local_disconnect = False
        ended = False
        for r in step.records:
            t = type(r)
            if t is InboundRecord:
                assert isinstance(r, InboundRecord)
                if self.current is not None:
                    self.current.deliver([r.frame])
            elif t is ConnectionRecord:
                self.allow = self._new_transport()  # a reconnect inside this tick
            elif t is DisconnectRecord:
                assert isinstance(r, DisconnectRecord)
                if r.is_local:
                    local_disconnect = True
                elif self.current is not None:
                    self.current.end(close_info_from(r.close))
            elif t is OutboundRecord:
                assert isinstance(r, OutboundRecord)
                outbound.append(r)
            elif t is MarkRecord:
                assert isinstance(r, MarkRecord)
                self.marks.append(r)
            elif t is EndRecord:
                ended = True
        self.clock.now = step.tick.now
        budget: float | None = None
        if step.end is None:
            limit: int | None = None  # torn last tick: its applied count was never written
        elif step.end.applied:
            limit = step.end.applied
        else:
            # Nothing applied: an idle tick, or one that only prepared a big message in
            # steps (a tick with something queued applies nothing only then). A zero
            # budget replays that as one step; the tick that applied it finishes it.
            limit, budget = 1, 0.0
        self.client.tick(budget_ms=budget, max_messages=limit)
        self.last_tick = step.tick.index
        if self.allow is not None:
            log.warning("replay: the client did not reconnect in tick %d", step.tick.index)
            self.allow = None
        self._match(outbound, step.tick.index)
        if local_disconnect and self.client.state is not ClientState.CLOSED:
            self.client.disconnect()
        return not ended

    def run(self, until_tick: int | None) -> ReplayResult:
        ticks = 0
        stopped = False
        for step in steps(self.recording):
            if step.tick is None:
                if not self._gap(step):
                    break
                continue
            if until_tick is not None and step.tick.index > until_tick:
                stopped = True
                break
            ticks += 1
            if not self._tick(step):
                break
        return ReplayResult(
            client=self.client,
            recording=self.recording,
            events=self.events,
            differences=self.differences,
            ticks=ticks,
            last_tick=self.last_tick,
            subscriptions=self.subscriptions,
            marks=self.marks,
            one_off_results=self.one_offs,
            stopped_early=stopped,
        )


def replay_session(
    source: RecordingSource,
    schema: ModuleSchema | None = None,
    *,
    setup: Callable[[Client], None] | None = None,
    on_subscription: Callable[[SubscriptionHandle], None] | None = None,
    until_tick: int | None = None,
    strict: bool = False,
    strict_recording: bool = False,
    reissue: bool = True,
    event_log: bool = True,
    client_options: Mapping[str, Any] | None = None,
) -> ReplayResult:
    """Replay a recording through a fresh ``Client``, no server needed.

    ``schema`` is required when the recording holds none. ``setup(client)`` runs before the
    first tick (register your game's callbacks there); ``on_subscription(handle)`` sees each
    re-made subscription. ``until_tick`` stops after that recorded tick. ``strict`` raises
    ``ReplayMismatch`` at the first outbound difference; ``strict_recording`` raises
    ``RecordingDamaged`` instead of replaying the good part of a damaged file.
    ``reissue=False`` leaves every request to your ``setup`` code (differences show what it
    did not do). ``client_options`` override ``Client`` arguments.
    """
    recording = read_recording(source, strict=strict_recording)
    if schema is None:
        schema = recording.schema()
    if schema is None:
        raise RecordingError(
            "the recording holds no schema (the client's schema was built by hand): "
            "pass schema= (or --schema FILE on the command line)"
        )
    driver = _Driver(
        recording,
        schema,
        setup=setup,
        on_subscription=on_subscription,
        strict=strict,
        reissue=reissue,
        event_log=event_log,
        client_options=client_options or {},
    )
    return driver.run(until_tick)


def _positive_int(value: object) -> int | None:
    """A recorded positive integer setting, or None when absent or not one."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None
