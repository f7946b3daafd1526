"""``Client.identity`` survives a reconnect: a game keeps finding its own rows during an outage."""

from __future__ import annotations

from helpers import FakeClock, connected_client

from stdb_game.client import ClientState, ReconnectPolicy
from stdb_game.sats.values import Identity


def test_identity_is_kept_while_reconnecting_and_follows_the_server_after() -> None:
    clock = FakeClock()
    client, server = connected_client(
        clock=clock, reconnect=ReconnectPolicy(initial_delay=1.0, jitter=0.0)
    )
    me = server.identity
    assert client.identity == me and client.connection_id == server.connection_id
    server.transport.feed_abnormal()
    client.tick()
    assert client.state is ClientState.RECONNECTING
    assert client.session is not None and client.session.identity is None
    assert client.identity == me  # the last known one, not None
    assert client.connection_id is None  # no live connection to name
    clock.advance(1.01)
    client.tick()
    assert client.identity == me  # connecting again, IdentityToken not yet in
    other = Identity.from_be_bytes(b"\xc2\x00" + bytes(range(40, 70)))
    server.send(server.identity_token("new-token", identity=other))
    client.tick()
    assert client.state is ClientState.CONNECTED
    assert client.identity == other  # a server that hands out a new one is believed


def test_identity_is_none_before_the_first_connection() -> None:
    client, _ = connected_client()
    fresh = type(client)("ws://fake:3000", "game", schema=client.schema)
    assert fresh.identity is None
