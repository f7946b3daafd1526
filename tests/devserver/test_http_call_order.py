"""HTTP reducer calls connect the caller first, as the real server's ``call`` route does: every
refusal decided after the body is read (unknown reducer, lifecycle reducer, bad JSON, bad
arguments) still runs and broadcasts client_connected and client_disconnected."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from stdb_game.devserver import Database
from stdb_game.devserver.server import DevServer, ServerConfig
from stdb_game.protocol import (
    SUBPROTOCOL,
    IdentityToken,
    OneOffQuery,
    OneOffQueryResponse,
    QueryId,
    SubscribeMulti,
    SubscribeMultiApplied,
    TransactionUpdate,
    decode_server_frame,
    encode_client_message,
)

CHAT = Path(__file__).resolve().parents[2] / "demos" / "chat" / "module.py"


def _run(scenario: Callable[[DevServer, aiohttp.ClientSession, Any], Awaitable[None]]) -> None:
    async def main() -> None:
        srv = DevServer(Database.open(CHAT), ServerConfig(module=CHAT, port=0, ping_interval=30.0))
        await srv.start()
        try:
            async with aiohttp.ClientSession() as session:
                url = f"{srv.ws_url}/v1/database/{srv.db.name}/subscribe?compression=None"
                ws = await session.ws_connect(url, protocols=(SUBPROTOCOL,), max_msg_size=0)
                assert isinstance(decode_server_frame(await ws.receive_bytes()), IdentityToken)
                sub = SubscribeMulti(("SELECT * FROM user", "SELECT * FROM message"), 1, QueryId(1))
                await ws.send_bytes(encode_client_message(sub))
                applied = decode_server_frame(await ws.receive_bytes())
                assert isinstance(applied, SubscribeMultiApplied)
                await scenario(srv, session, ws)
                await ws.close()
        finally:
            await srv.stop()

    asyncio.run(main())


async def _broadcasts(ws: Any, marker: bytes) -> list[str]:
    """Reducer names of the updates the watcher got before the answer to a one-off query sent
    now: the server queues both in order, so this is every broadcast so far."""
    await ws.send_bytes(encode_client_message(OneOffQuery(marker, "SELECT * FROM user")))
    names: list[str] = []
    while True:
        msg = decode_server_frame(await ws.receive_bytes())
        if isinstance(msg, OneOffQueryResponse):
            assert msg.message_id == marker
            return names
        assert isinstance(msg, TransactionUpdate)
        names.append(msg.reducer_call.reducer_name)


def test_http_refusals_after_the_body_still_connect_and_disconnect() -> None:
    async def scenario(srv: DevServer, session: aiohttp.ClientSession, ws: Any) -> None:
        base = f"{srv.url}/v1/database/{srv.db.name}/call"
        minted = await (await session.post(f"{srv.url}/v1/identity")).json()
        token = minted["token"]
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        cases: list[tuple[str, bytes, int, list[str]]] = [
            ("send_message", b'["hi"]', 200, ["identity_connected", "send_message"]),
            ("send_message", b'[""]', 530, ["identity_connected"]),
            ("nope", b"[]", 404, ["identity_connected"]),
            ("nope", b"{not json", 404, ["identity_connected"]),  # lookup before parsing
            ("init", b"[]", 400, ["identity_connected"]),
            ("identity_connected", b"[]", 400, ["identity_connected"]),
            ("send_message", b"{not json", 400, ["identity_connected"]),
            ("send_message", b"[1]", 400, ["identity_connected"]),
            ("send_message", b"[]", 400, ["identity_connected"]),
        ]
        for i, (reducer, body, status, before) in enumerate(cases):
            async with session.post(f"{base}/{reducer}", data=body, headers=auth) as resp:
                assert (reducer, body, resp.status) == (reducer, body, status)
            got = await _broadcasts(ws, b"m%d" % i)
            assert (reducer, body, got) == (reducer, body, [*before, "identity_disconnected"])
        mine = [u for u in srv.db.rows("user") if u.identity.to_hex() == minted["identity"]]
        assert [u.online for u in mine] == [False]

    _run(scenario)


def test_http_refusals_before_the_body_do_not_connect() -> None:
    async def scenario(srv: DevServer, session: aiohttp.ClientSession, ws: Any) -> None:
        base = f"{srv.url}/v1/database/{srv.db.name}/call"
        json_type = {"Content-Type": "application/json"}
        cases: list[tuple[str, bytes, dict[str, str], int]] = [
            ("send_message", b'["\xff"]', json_type, 400),  # not UTF-8
            ("send_message", b'["x"]', {"Content-Type": "text/plain"}, 415),
        ]
        for i, (reducer, body, headers, status) in enumerate(cases):
            async with session.post(f"{base}/{reducer}", data=body, headers=headers) as resp:
                assert resp.status == status
                if i == 0:
                    assert await resp.text() == "Request body didn't contain valid UTF-8"
            assert await _broadcasts(ws, b"n%d" % i) == []
        assert len(srv.db.rows("user")) == 1  # only the watcher connected

    _run(scenario)
