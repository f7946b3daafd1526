"""The subscribe URL: where the WebSocket lives and which query parameters it carries."""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote, urlencode

from ..http import base_http_url
from ..sats.values import ConnectionId

__all__ = ["Compression", "build_subscribe_url"]

Compression = Literal["None", "Gzip", "Brotli"]
_COMPRESSIONS = ("None", "Gzip", "Brotli")


def build_subscribe_url(
    base: str,
    database: str,
    *,
    compression: Compression = "Gzip",
    light: bool = False,
    connection_id: ConnectionId | None = None,
    confirmed: bool | None = None,
) -> str:
    """``ws(s)://host:port[/prefix]/v1/database/{db}/subscribe?compression=...``.

    ``compression`` is always written out, because a server given none picks Brotli,
    which the standard library cannot decode. ``base`` may be ``ws://``, ``wss://``,
    ``http://``, ``https://`` or a bare ``host:port``. Tokens never go in this URL; they
    travel in the ``Authorization`` header.
    """
    if compression not in _COMPRESSIONS:
        raise ValueError(f"compression must be one of {_COMPRESSIONS}, got {compression!r}")
    if not database:
        raise ValueError("database name or identity is empty")
    http_base = base_http_url(base)
    ws_base = "wss" + http_base[5:] if http_base.startswith("https") else "ws" + http_base[4:]
    params: list[tuple[str, str]] = [("compression", compression)]
    if light:
        params.append(("light", "true"))
    if connection_id is not None:
        if connection_id.is_zero():
            raise ValueError("the server refuses an all-zero connection_id")
        params.append(("connection_id", connection_id.to_hex()))
    if confirmed is not None:
        params.append(("confirmed", "true" if confirmed else "false"))
    return f"{ws_base}/v1/database/{quote(database, safe='')}/subscribe?{urlencode(params)}"
