"""The old README's API drives the same client: names, arguments and callbacks as documented."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from helpers import Player, game_schema

from stdb_game import protocol as P
from stdb_game.client import ReconnectPolicy
from stdb_game.compat import CallReducerFlags, SpacetimeDBAsyncClient, SpacetimeDBClient
from stdb_game.events import ReducerStatus
from stdb_game.testing import FakeServer


def _connect(**kw: Any) -> tuple[SpacetimeDBClient, FakeServer]:
    schema = game_schema()
    server = FakeServer(schema)
    client = SpacetimeDBClient.connect(
        "localhost:3000",
        "game",
        auth_token="stored-token",
        module_bindings=schema,
        transport_factory=server.transport_factory,
        reconnect=ReconnectPolicy(enabled=False),
        **kw,
    )
    return client, server


def test_connect_takes_the_old_arguments_and_builds_the_real_url() -> None:
    seen: list[Any] = []
    client, server = _connect(
        on_identity=lambda token, identity, conn: seen.append(("identity", token, identity)),
        on_connect=lambda: seen.append("connect"),
    )
    assert server.urls[0].startswith("ws://localhost:3000/v1/database/game/subscribe?")
    assert server.tokens[0] == "stored-token"
    server.send(server.identity_token("stored-token"))
    client.update()
    assert seen == [("identity", "stored-token", server.identity), "connect"]
    assert SpacetimeDBClient.instance is client


def test_db_identity_names_the_database_in_the_path() -> None:
    schema = game_schema()
    server = FakeServer(schema)
    ident = "c200" + "ab" * 30
    SpacetimeDBClient.connect("localhost:3000", "ignored", db_identity=ident, module_bindings=schema,
                              transport_factory=server.transport_factory)  # fmt: skip
    assert f"/v1/database/{ident}/subscribe" in server.urls[0]


def test_subscribe_and_call_reducer_return_ids_and_flags_alias() -> None:
    client, server = _connect()
    server.send(server.identity_token())
    client.update()
    qid = client.subscribe_multi(["SELECT * FROM player", "SELECT * FROM note"])
    qid2 = client.subscribe_single("SELECT * FROM item")
    rid = client.call_reducer("set_x", 1, 2, flags=CallReducerFlags.NO_SIDE_EFFECTS)
    msgs = server.received()
    multi, single, call = msgs
    assert isinstance(multi, P.SubscribeMulti) and multi.query_id.id == qid
    assert isinstance(single, P.SubscribeMulti) and single.query_id.id == qid2  # see docstring
    assert isinstance(call, P.CallReducer) and call.request_id == rid
    assert call.flags == CallReducerFlags.NO_SUCCESS_NOTIFY == 1
    client.unsubscribe(qid)
    assert isinstance(server.received()[-1], P.UnsubscribeMulti)


def test_register_row_update_and_subscription_applied() -> None:
    client, server = _connect()
    server.send(server.identity_token())
    client.update()
    ops: list[Any] = []
    applied: list[bool] = []
    client.register_row_update(
        "player", lambda op, old, new, ev: ops.append((op, old, new, ev is None))
    )
    client.register_on_subscription_applied(lambda: applied.append(True))
    qid = client.subscribe_multi(["SELECT * FROM player"])
    server.send(server.subscribe_applied(qid, {"player": [(1, 0)]}))
    server.send(
        server.transaction(
            "set_x", (1, 4), deletes={"player": [(1, 0)]}, inserts={"player": [(1, 4)]}
        )
    )
    client.tick(budget_ms=None)  # update() has a 4 ms budget: a loaded machine may split it
    assert applied == [True]
    assert ops == [
        ("insert", None, Player(1, 0), True),
        ("update", Player(1, 0), Player(1, 4), False),
    ]


def test_async_client_runs_the_tick_and_awaits_reducer_results() -> None:
    schema = game_schema()
    server = FakeServer(schema)

    async def scenario() -> tuple[Any, list[Any]]:
        sac = SpacetimeDBAsyncClient(schema, tick_interval=0.001)
        connected: list[Any] = []
        # The README's positional form: run(token, host, name, on_connect, queries).
        task = asyncio.create_task(
            sac.run(
                "tok",
                "localhost:3000",
                "game",
                lambda token, ident: connected.append(ident),
                ["SELECT * FROM player"],
                transport_factory=server.transport_factory,
            )
        )
        while not server.transports:
            await asyncio.sleep(0.001)
        server.send(server.identity_token("tok"))
        while not connected:
            await asyncio.sleep(0.001)
        call = asyncio.create_task(sac.call_reducer("set_x", 3, 7))
        while not any(isinstance(m, P.CallReducer) for m in server.received()):
            await asyncio.sleep(0.001)
        (req,) = [m for m in server.received() if isinstance(m, P.CallReducer)]
        server.send(server.transaction("set_x", (3, 7), request_id=req.request_id))
        event = await asyncio.wait_for(call, 5)
        sac.close()
        await asyncio.wait_for(task, 5)
        return event, server.received()

    event, sent = asyncio.run(scenario())
    assert event.status is ReducerStatus.COMMITTED and event.args.x == 7
    assert isinstance(sent[0], P.SubscribeMulti) and sent[0].query_strings == (
        "SELECT * FROM player",
    )


def test_async_no_success_notify_returns_and_drops_fail_waiters() -> None:
    from stdb_game.errors import StdbError

    schema = game_schema()
    server = FakeServer(schema)

    async def scenario() -> tuple[Any, BaseException | None]:
        sac = SpacetimeDBAsyncClient(schema, tick_interval=0.001)
        task = asyncio.create_task(
            sac.run(
                "tok",
                "localhost:3000",
                "game",
                transport_factory=server.transport_factory,
                reconnect=ReconnectPolicy(enabled=False),
            )
        )
        while not server.transports:
            await asyncio.sleep(0.001)
        server.send(server.identity_token("tok"))
        await asyncio.sleep(0.02)
        quiet = await asyncio.wait_for(
            sac.call_reducer("spawn", flags=CallReducerFlags.NO_SUCCESS_NOTIFY), 5
        )
        pending = asyncio.create_task(sac.call_reducer("spawn"))
        await asyncio.sleep(0.02)
        server.transport.feed_abnormal()
        err: BaseException | None = None
        try:
            await asyncio.wait_for(pending, 5)
        except StdbError as exc:
            err = exc
        await asyncio.wait_for(task, 5)
        return quiet, err

    quiet, err = asyncio.run(scenario())
    assert quiet is None
    assert err is not None and "connection lost" in str(err)


def test_call_flags_never_replace_a_reducer_parameter_named_flags() -> None:
    client, server = _connect()
    server.send(server.identity_token())
    client.update()
    client.call_reducer("configure", 3)
    client.call_reducer("configure", 5, flags=CallReducerFlags.NO_SUCCESS_NOTIFY)
    plain, quiet = [m for m in server.received() if isinstance(m, P.CallReducer)]
    assert plain.args == b"\x03" and plain.flags == CallReducerFlags.FULL_UPDATE
    assert quiet.args == b"\x05" and quiet.flags == CallReducerFlags.NO_SUCCESS_NOTIFY


def test_async_call_flags_never_replace_a_reducer_parameter_named_flags() -> None:
    schema = game_schema()
    server = FakeServer(schema)

    async def scenario() -> list[P.CallReducer]:
        sac = SpacetimeDBAsyncClient(schema, tick_interval=0.001)
        task = asyncio.create_task(
            sac.run("tok", "localhost:3000", "game", transport_factory=server.transport_factory)
        )
        while not server.transports:
            await asyncio.sleep(0.001)
        server.send(server.identity_token("tok"))
        while sac.client is None or not sac.client.client.is_connected:
            await asyncio.sleep(0.001)
        await sac.call_reducer("configure", 9, flags=CallReducerFlags.NO_SUCCESS_NOTIFY)
        sac.close()
        await asyncio.wait_for(task, 5)
        return [m for m in server.received() if isinstance(m, P.CallReducer)]

    (call,) = asyncio.run(scenario())
    assert call.args == b"\x09" and call.flags == CallReducerFlags.NO_SUCCESS_NOTIFY


def test_the_old_module_paths_map_to_the_compat_classes() -> None:
    import stdb_game.compat as compat
    from stdb_game.compat import spacetimedb_async_client, spacetimedb_client

    assert spacetimedb_client.SpacetimeDBClient is compat.SpacetimeDBClient
    assert spacetimedb_client.CallReducerFlags is compat.CallReducerFlags
    assert spacetimedb_async_client.SpacetimeDBAsyncClient is compat.SpacetimeDBAsyncClient


def test_builder_chain_wires_the_old_callbacks() -> None:
    from stdb_game.errors import ConnectError

    schema = game_schema()
    server = FakeServer(schema)
    ident = "c200" + "ab" * 30
    seen: list[Any] = []
    client = (
        SpacetimeDBClient.builder()
        .with_uri("localhost:3000")
        .with_module_name("ignored-when-an-identity-is-given")
        .with_db_identity(ident)
        .with_token("tok")
        .with_module_bindings(schema)
        .with_reconnect(ReconnectPolicy(initial_delay=0.0, jitter=0.0, max_attempts=1))
        .with_option("transport_factory", server.transport_factory)
        .on_connect(lambda identity, token: seen.append(("connect", identity, token)))
        .on_identity(lambda token, identity, conn: seen.append(("identity", token, conn)))
        .on_disconnect(lambda text: seen.append(("disconnect", text)))
        .on_error(lambda text: seen.append(("error", text)))
        .connect()
    )
    assert server.urls[0].startswith(f"ws://localhost:3000/v1/database/{ident}/subscribe?")
    assert server.tokens == ["tok"]
    assert client.client.schema is schema and SpacetimeDBClient.instance is client
    server.send(server.identity_token("tok"))
    client.update()
    assert seen == [
        ("identity", "tok", server.connection_id),
        ("connect", server.identity, "tok"),
    ]
    seen.clear()
    server.refuse_next.append(ConnectError("server gone"))
    server.send(server.transaction("<none>", b"", failed="query id reused"))
    server.transport.feed_close(1001, "module exited")
    for _ in range(3):
        client.update()
    assert seen == [
        ("error", "query id reused"),
        ("disconnect", "server closed the connection (1001: module exited)"),
        ("error", "server gone"),
        ("disconnect", "connection failed: server gone"),
    ]


def test_async_run_with_all_six_positional_arguments() -> None:
    schema = game_schema()
    server = FakeServer(schema)

    async def scenario() -> list[Any]:
        sac = SpacetimeDBAsyncClient(schema, tick_interval=0.001)
        connected: list[Any] = []
        # run(auth_token, host, address_or_name, ssl_enabled, on_connect, queries)
        task = asyncio.create_task(
            sac.run("tok", "example.com:443", "game", True,
                    lambda token, identity: connected.append((token, identity)),
                    ["SELECT * FROM player", "SELECT * FROM note"],
                    transport_factory=server.transport_factory)
        )  # fmt: skip
        while not server.transports:
            await asyncio.sleep(0.001)
        server.send(server.identity_token("tok"))
        while not connected:
            await asyncio.sleep(0.001)
        sac.close()
        await asyncio.wait_for(task, 5)
        return connected

    connected = asyncio.run(scenario())
    assert server.urls[0].startswith("wss://example.com:443/v1/database/game/subscribe?")
    assert server.tokens == ["tok"] and connected == [("tok", server.identity)]
    (sub,) = server.received()
    assert isinstance(sub, P.SubscribeMulti)
    assert sub.query_strings == ("SELECT * FROM player", "SELECT * FROM note")


# ---- the old SDK's async surface: connect, async on_connect, awaitable close -----------------


def _wait_for(cond: Any, timeout: float = 5.0) -> Any:
    async def wait() -> None:
        while not cond():
            await asyncio.sleep(0.001)

    return asyncio.wait_for(wait(), timeout)


def test_async_connect_returns_token_and_identity_then_keeps_ticking() -> None:
    schema = game_schema()
    server = FakeServer(schema)

    async def scenario() -> tuple[Any, Any, Any]:
        sac = SpacetimeDBAsyncClient(schema, tick_interval=0.001)
        connecting = asyncio.create_task(
            sac.connect("tok", "localhost:3000", "game", False, ["SELECT * FROM player"],
                        transport_factory=server.transport_factory)
        )  # fmt: skip
        await _wait_for(lambda: server.transports)
        server.send(server.identity_token("tok"))
        token_identity = await asyncio.wait_for(connecting, 5)
        assert sac.is_connected and sac.identity == server.identity
        call = asyncio.create_task(sac.call_reducer("set_x", 3, 7))  # no run(): still ticking
        await _wait_for(lambda: any(isinstance(m, P.CallReducer) for m in server.received()))
        (req,) = [m for m in server.received() if isinstance(m, P.CallReducer)]
        server.send(server.transaction("set_x", (3, 7), request_id=req.request_id))
        event = await asyncio.wait_for(call, 5)
        await asyncio.wait_for(sac.close(), 5)  # the old SDK's close() is a coroutine
        return token_identity, event, server.transport.closed_reason

    (token, identity), event, closed = asyncio.run(scenario())
    assert (token, identity) == ("tok", server.identity)
    assert event.status is ReducerStatus.COMMITTED
    assert closed is not None and closed.initiated_locally and closed.code == 1000
    assert isinstance(server.received()[0], P.SubscribeMulti)


def test_async_on_connect_is_awaited_while_the_client_ticks() -> None:
    schema = game_schema()
    server = FakeServer(schema)
    steps: list[str] = []

    async def scenario() -> None:
        sac = SpacetimeDBAsyncClient(schema, tick_interval=0.001)

        async def on_connect(token: str, identity: Any) -> None:
            steps.append("connected")
            call = asyncio.ensure_future(sac.call_reducer("spawn"))
            await _wait_for(lambda: any(isinstance(m, P.CallReducer) for m in server.received()))
            (req,) = [m for m in server.received() if isinstance(m, P.CallReducer)]
            server.send(server.transaction("spawn", (), request_id=req.request_id))
            ev = await call
            steps.append(f"spawn {ev.status.value}")
            await sac.close()
            steps.append("closed")

        task = asyncio.create_task(
            sac.run("tok", "localhost:3000", "game", False, on_connect, [],
                    transport_factory=server.transport_factory)
        )  # fmt: skip
        await _wait_for(lambda: server.transports)
        server.send(server.identity_token("tok"))
        await asyncio.wait_for(task, 5)  # run() returns: no hang

    asyncio.run(scenario())
    assert steps == ["connected", "spawn committed", "closed"]


def test_an_exception_in_async_on_connect_ends_run_with_it() -> None:
    schema = game_schema()
    server = FakeServer(schema)

    async def scenario() -> None:
        sac = SpacetimeDBAsyncClient(schema, tick_interval=0.001)

        async def on_connect(token: str, identity: Any) -> None:
            raise KeyError("bug in the game")

        task = asyncio.create_task(
            sac.run("tok", "localhost:3000", "game", on_connect,
                    transport_factory=server.transport_factory)
        )  # fmt: skip
        await _wait_for(lambda: server.transports)
        server.send(server.identity_token("tok"))
        await asyncio.wait_for(task, 5)

    with pytest.raises(KeyError, match="bug in the game"):
        asyncio.run(scenario())
    assert server.transport.closed_reason is not None  # and the connection was closed


def test_close_without_await_closes_and_events_scheduled_early_fire() -> None:
    schema = game_schema()
    server = FakeServer(schema)
    fired: list[str] = []
    sac = SpacetimeDBAsyncClient(schema, tick_interval=0.001)
    # Before the loop runs, as the old SDK allowed: scheduled once the client connects.
    sac.schedule_event(0.0, lambda: fired.append("early"))
    sac.schedule_event(60.0, lambda: fired.append("too late"))
    sac.register_on_subscription_applied(lambda: fired.append("applied"))

    async def scenario() -> None:
        task = asyncio.create_task(
            sac.run("tok", "localhost:3000", "game", None, ["SELECT * FROM player"],
                    transport_factory=server.transport_factory)
        )  # fmt: skip
        await _wait_for(lambda: server.transports)
        server.send(server.identity_token("tok"))
        await _wait_for(lambda: server.received())
        (sub,) = server.received()
        assert isinstance(sub, P.SubscribeMulti)
        server.send(server.subscribe_applied(sub.query_id.id, {"player": [(1, 0)]}))
        await _wait_for(lambda: "applied" in fired and "early" in fired)
        sac.close()  # not awaited: closes all the same, and cancels the 60 s event
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert sorted(fired) == ["applied", "early"]
    assert server.transport.closed_reason is not None


def test_async_on_connect_runs_once_and_queries_are_not_sent_twice_after_a_reconnect() -> None:
    schema = game_schema()
    server = FakeServer(schema)
    calls: list[Any] = []

    async def scenario() -> None:
        sac = SpacetimeDBAsyncClient(schema, tick_interval=0.001)
        task = asyncio.create_task(
            sac.run("tok", "localhost:3000", "game", False,
                    lambda token, identity: calls.append(identity), ["SELECT * FROM player"],
                    transport_factory=server.transport_factory,
                    reconnect=ReconnectPolicy(initial_delay=0.0, jitter=0.0))
        )  # fmt: skip
        await _wait_for(lambda: server.transports)
        server.send(server.identity_token("tok"))
        await _wait_for(lambda: calls)
        server.transport.feed_abnormal()
        await _wait_for(lambda: len(server.transports) == 2)
        server.send(server.identity_token("tok"))
        await _wait_for(lambda: server.received(1))
        await asyncio.sleep(0.02)
        await sac.close()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert calls == [server.identity]
    assert [type(m).__name__ for m in server.received(1)] == ["SubscribeMulti"]  # the restore


def test_compat_call_reducer_sends_a_lone_bytes_value_as_a_value() -> None:
    from stdb_game.sats import types as t
    from stdb_game.schema import ModuleSchema, ReducerDef

    schema = ModuleSchema.build(
        tables=[], reducers=[ReducerDef("upload", t.ProductType([("data", t.bytes_type())]))]
    )
    server = FakeServer(schema)
    client = SpacetimeDBClient.connect("localhost:3000", "game", module_bindings=schema,
                                       transport_factory=server.transport_factory)  # fmt: skip
    server.send(server.identity_token())
    client.update()
    client.call_reducer("upload", b"abc")
    (call,) = server.received()
    assert isinstance(call, P.CallReducer) and call.args == b"\x03\x00\x00\x00abc"
