"""The dev server run inside the test's own event loop, where its tasks and handlers can be
inspected: no writer task outlives its connection, a failing one-off handler still answers."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from stdb_game.devserver import Database
from stdb_game.devserver.module import Module, ReducerContext
from stdb_game.devserver.server import DevServer, ServerConfig
from stdb_game.protocol import (
    SUBPROTOCOL,
    CallReducer,
    CallReducerFlags,
    Committed,
    Failed,
    IdentityToken,
    OneOffQuery,
    OneOffQueryResponse,
    TransactionUpdate,
    decode_server_frame,
    encode_client_message,
)

CHAT = Path(__file__).resolve().parents[2] / "demos" / "chat" / "module.py"


quitter = Module("quitter")


@quitter.table(name="note", public=True)
class Note:
    text: str


@quitter.reducer
def quit_now(ctx: ReducerContext) -> None:
    ctx.db.note.insert(Note(text="half done"))
    sys.exit(0)


@quitter.reducer
def add_note(ctx: ReducerContext, text: str) -> None:
    ctx.db.note.insert(Note(text=text))


def _run(
    scenario: Callable[[DevServer, aiohttp.ClientSession], Awaitable[None]],
    module: Path | Module = CHAT,
) -> None:
    async def main() -> None:
        db = Database.open(module)
        srv = DevServer(db, ServerConfig(module=CHAT, port=0, ping_interval=30.0))
        await srv.start()
        try:
            async with aiohttp.ClientSession() as session:
                await scenario(srv, session)
        finally:
            await srv.stop()

    asyncio.run(main())


async def _connect(srv: DevServer, session: aiohttp.ClientSession) -> Any:
    url = f"{srv.ws_url}/v1/database/{srv.db.name}/subscribe?compression=None"
    ws = await session.ws_connect(url, protocols=(SUBPROTOCOL,), max_msg_size=0)
    assert isinstance(decode_server_frame(await ws.receive_bytes()), IdentityToken)
    return ws


async def _until_no_connections(srv: DevServer) -> None:
    while srv.connections:
        await asyncio.sleep(0.01)
    # the handler's cleanup runs after it leaves the table; let it finish
    for _ in range(5):
        await asyncio.sleep(0)


def _writer_tasks() -> list[asyncio.Task[Any]]:
    return [
        t
        for t in asyncio.all_tasks()
        if not t.done() and "_write_loop" in getattr(t.get_coro(), "__qualname__", "")
    ]


def test_oversized_message_leaves_no_pending_writer() -> None:
    async def scenario(srv: DevServer, session: aiohttp.ClientSession) -> None:
        ws = await _connect(srv, session)
        assert len(_writer_tasks()) == 1
        try:
            await ws.send_bytes(b"\x02" * (srv.config.max_message_size + 1))
            await ws.receive()
        except ConnectionError:
            pass  # the server may drop the socket before the client finished sending
        await _until_no_connections(srv)
        assert _writer_tasks() == []
        # the server still serves
        ws2 = await _connect(srv, session)
        await ws2.close()

    _run(scenario)


def test_clean_close_and_text_frame_leave_no_pending_writer() -> None:
    async def scenario(srv: DevServer, session: aiohttp.ClientSession) -> None:
        a = await _connect(srv, session)
        b = await _connect(srv, session)
        await b.send_str("{}")  # closes 1011
        msg = await b.receive()
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1011
        await a.close()
        await _until_no_connections(srv)
        assert _writer_tasks() == []

    _run(scenario)


def test_a_failing_one_off_handler_still_answers_with_its_message_id() -> None:
    async def scenario(srv: DevServer, session: aiohttp.ClientSession) -> None:
        def broken(sql: str, caller: Any) -> Any:
            raise RuntimeError("engine bug")

        srv.db.one_off = broken
        ws = await _connect(srv, session)
        await ws.send_bytes(encode_client_message(OneOffQuery(b"id-7", "SELECT * FROM user")))
        resp = decode_server_frame(await ws.receive_bytes())
        assert isinstance(resp, OneOffQueryResponse)
        assert resp.message_id == b"id-7" and resp.tables == ()
        assert resp.error is not None and "engine bug" in resp.error
        await ws.close()

    _run(scenario)


def test_a_reducer_calling_sys_exit_fails_and_the_server_keeps_serving() -> None:
    async def scenario(srv: DevServer, session: aiohttp.ClientSession) -> None:
        ws = await _connect(srv, session)
        call = CallReducer("quit_now", b"", 5, CallReducerFlags.FULL_UPDATE)
        await ws.send_bytes(encode_client_message(call))
        tu = decode_server_frame(await ws.receive_bytes())
        assert isinstance(tu, TransactionUpdate) and isinstance(tu.status, Failed)
        assert tu.status.message == "SystemExit: 0"
        base = f"{srv.url}/v1/database/{srv.db.name}/call"
        async with session.post(f"{base}/quit_now", json=[]) as resp:
            assert resp.status == 530 and await resp.text() == "SystemExit: 0"
        args = (2).to_bytes(4, "little") + b"ok"
        await ws.send_bytes(encode_client_message(CallReducer("add_note", args, 6, 0)))
        tu = decode_server_frame(await ws.receive_bytes())
        assert isinstance(tu, TransactionUpdate) and isinstance(tu.status, Committed)
        assert [n.text for n in srv.db.rows("note")] == ["ok"]
        await ws.close()

    _run(scenario, quitter)
