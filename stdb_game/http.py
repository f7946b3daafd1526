"""The SpacetimeDB HTTP API a game client needs: identities, tokens, schema, SQL, reducer calls.

Standard library only. Every call blocks for at most ``timeout`` seconds per socket
operation, so use these from a loading screen or a tool, never inside ``tick()``.
Tokens travel only in the ``Authorization`` header and never appear in errors.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import quote, urlsplit

from .errors import AuthError, ConnectError, InvalidURLError, ProtocolError
from .sats.types import AlgebraicType, ProductType
from .sats.values import Identity

__all__ = [
    "DEFAULT_TIMEOUT",
    "ReducerCallResult",
    "SqlResult",
    "SqlStats",
    "base_http_url",
    "call_reducer",
    "create_identity",
    "get_schema",
    "refusal_error",
    "sql",
    "websocket_token",
]

DEFAULT_TIMEOUT = 10.0
#: Error bodies are kept for diagnostics, but never more than this.
MAX_ERROR_BODY = 64 * 1024

_SCHEMES = {"http": "http", "ws": "http", "https": "https", "wss": "https"}

# A 400 is an auth refusal only when its text says so; SQL and argument errors are 400 too.
_AUTH_COMPLAINT = re.compile(
    r"authoriz|authentic|\bjwt\b|bearer|credential"
    r"|(invalid|malformed|bad|expired|missing|unverified)\s+(auth\s+)?token"
    r"|token\s+(is\s+)?(invalid|malformed|expired|not\s+valid)",
    re.IGNORECASE,
)


#: A host name or IPv4 address (letters, digits, dots, dashes, underscores), or IPv6 (hex,
#: colons, dots; urlsplit has already taken off the brackets).
_HOST = re.compile(
    r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?"  # a name or IPv4 address
    r"|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.%A-Za-z]*"  # IPv6, with an optional %zone
)


def base_http_url(base: str) -> str:
    """``http(s)://host[:port][/prefix]`` from ``ws://``, ``wss://``, ``http(s)://`` or ``host:port``.

    ``ws`` maps to ``http`` and ``wss`` to ``https``; a bare ``host:port`` means plain
    ``http``. A path prefix (for a reverse proxy) is kept, trailing slashes are dropped.
    """
    text = base.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        raise InvalidURLError(
            f"unsupported URL scheme {parts.scheme!r} in {base!r}: use http://, https://, "
            "ws://, wss:// or a bare host:port"
        )
    why = ""
    if not parts.netloc or parts.query or parts.fragment:
        why = "it needs a host and no query or fragment"
    elif not _HOST.fullmatch(parts.hostname or "") or any(c.isspace() for c in parts.path):
        why = "no usable host name in it"
    else:
        try:
            parts.port  # noqa: B018 - urlsplit checks the port only when asked
        except ValueError:
            why = "the port is not a number from 0 to 65535"
    if why:
        raise InvalidURLError(
            f"{base!r} is not a server address ({why}): expected "
            "scheme://host[:port][/prefix] or host:port, e.g. http://localhost:3000"
        )
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def refusal_error(status: int, body: str, what: str) -> ConnectError:
    """The exception for an HTTP refusal: 401 (and an auth-related 400) is ``AuthError``."""
    snippet = body.strip().replace("\n", " ")[:300]
    said = f"HTTP {status}" + (f": {snippet}" if snippet else "")
    if status == 401 or (status == 400 and _AUTH_COMPLAINT.search(body)):
        return AuthError(
            f"{what}: the server refused the token, so it will not let this identity in "
            f"({said}). Use a token this server issued, or none for a new identity",
            status=status,
            body=body,
        )
    return ConnectError(f"{what}: {said}", status=status, body=body)


@dataclass(frozen=True)
class SqlStats:
    """DML counters of one SQL statement (all zero for SELECT)."""

    rows_inserted: int = 0
    rows_deleted: int = 0
    rows_updated: int = 0


@dataclass(frozen=True)
class SqlResult:
    """One statement's result: column types plus rows as positional SATS-JSON.

    ``rows`` is the server's JSON; ``values()`` decodes it against ``schema``.
    """

    schema: ProductType
    rows: list[list[Any]]
    total_duration_micros: int = 0
    stats: SqlStats = field(default_factory=SqlStats)
    schema_json: Mapping[str, Any] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str | None]:
        return [e.name for e in self.schema.elements]

    def values(self) -> list[Any]:
        """The rows decoded against ``schema`` (namedtuples of Python values, Identity etc.)."""
        from .sats.json import value_from_json

        return [value_from_json(self.schema, row) for row in self.rows]


@dataclass(frozen=True)
class ReducerCallResult:
    """The outcome of a reducer call over HTTP that reached the reducer.

    ``committed`` is False when the reducer returned an error (HTTP 530) or ran out of
    energy (402); ``error`` then holds the server's text.
    """

    committed: bool
    status: int
    error: str | None = None
    energy_used: int | None = None
    duration_micros: int | None = None


@dataclass(frozen=True)
class _Response:
    status: int
    headers: Message
    body: bytes


def _request(
    method: str,
    url: str,
    *,
    what: str,
    timeout: float,
    token: str | None = None,
    body: bytes | None = None,
    content_type: str | None = None,
    outcome_statuses: tuple[int, ...] = (),
    ssl_context: ssl.SSLContext | None = None,
) -> _Response:
    """Send one request; refusals become ``ConnectError``/``AuthError`` unless listed as outcomes."""
    request = urllib.request.Request(url, data=body, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if content_type is not None:
        request.add_header("Content-Type", content_type)
    request.add_header("Accept", "application/json, text/plain")
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=ssl_context) as response:
            return _Response(response.status, response.headers, response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            raw = exc.read(MAX_ERROR_BODY) if exc.fp is not None else b""
        if exc.code in outcome_statuses:
            return _Response(exc.code, exc.headers, raw)
        raise refusal_error(exc.code, raw.decode("utf-8", "replace"), what) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise ConnectError(f"{what}: timed out after {timeout} s") from None
        raise ConnectError(f"{what}: {reason}") from None
    except TimeoutError:
        raise ConnectError(f"{what}: timed out after {timeout} s") from None
    except OSError as exc:
        raise ConnectError(f"{what}: {exc}") from None


def _json_body(response: _Response, what: str) -> Any:
    try:
        return json.loads(response.body)
    except ValueError as exc:
        raise ProtocolError(f"response is not JSON: {exc}", what=what) from None


def _db_url(base_url: str, database: str, tail: str) -> str:
    return f"{base_http_url(base_url)}/v1/database/{quote(database, safe='')}/{tail}"


def create_identity(base_url: str, *, timeout: float = DEFAULT_TIMEOUT) -> tuple[Identity, str]:
    """Mint a new identity and its long-lived token (``POST /v1/identity``)."""
    what = "POST /v1/identity"
    url = f"{base_http_url(base_url)}/v1/identity"
    response = _request("POST", url, what=what, timeout=timeout, body=b"")
    data = _json_body(response, what)
    try:
        return Identity.from_hex(data["identity"]), str(data["token"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"expected identity and token: {exc!r}", what=what) from None


def websocket_token(base_url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT) -> str:
    """A 60-second token for ``?token=`` URLs (``POST /v1/identity/websocket-token``).

    It is short-lived: never store it in place of the long-lived one (see
    ``credentials.should_store``).
    """
    what = "POST /v1/identity/websocket-token"
    url = f"{base_http_url(base_url)}/v1/identity/websocket-token"
    data = _json_body(
        _request("POST", url, what=what, timeout=timeout, token=token, body=b""), what
    )
    if not isinstance(data, dict) or not isinstance(data.get("token"), str):
        raise ProtocolError("expected {'token': ...}", what=what)
    return str(data["token"])


def get_schema(
    base_url: str,
    database: str,
    token: str | None = None,
    *,
    version: int = 9,
    timeout: float = DEFAULT_TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
) -> dict[str, Any]:
    """The module schema as SATS-JSON ``RawModuleDefV9`` (``GET .../schema?version=9``).

    ``ssl_context`` sets TLS for ``https`` (a private CA, as for the WebSocket).
    """
    what = f"GET /v1/database/{database}/schema"
    url = _db_url(base_url, database, f"schema?version={int(version)}")
    response = _request(
        "GET", url, what=what, timeout=timeout, token=token, ssl_context=ssl_context
    )
    data = _json_body(response, what)
    if not isinstance(data, dict):
        raise ProtocolError("expected a JSON object", what=what)
    return data


def sql(
    base_url: str,
    database: str,
    query: str,
    token: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[SqlResult]:
    """Run one SQL statement as the token's identity (``POST .../sql``); one result per statement."""
    what = f"POST /v1/database/{database}/sql"
    url = _db_url(base_url, database, "sql")
    response = _request(
        "POST",
        url,
        what=what,
        timeout=timeout,
        token=token,
        body=query.encode("utf-8"),
        content_type="text/plain; charset=utf-8",
    )
    data = _json_body(response, what)
    if not isinstance(data, list):
        raise ProtocolError("expected a JSON array of statement results", what=what)
    return [_sql_result(item, what) for item in data]


def _sql_result(item: Any, what: str) -> SqlResult:
    if not isinstance(item, dict) or not isinstance(item.get("schema"), dict):
        raise ProtocolError("statement result without a schema", what=what)
    schema_json = item["schema"]
    schema = AlgebraicType.from_json({"Product": schema_json})
    assert isinstance(schema, ProductType)
    rows = item.get("rows", [])
    if not isinstance(rows, list):
        raise ProtocolError("statement result rows are not a list", what=what)
    raw_stats = item.get("stats") or {}
    stats = SqlStats(
        int(raw_stats.get("rows_inserted", 0)),
        int(raw_stats.get("rows_deleted", 0)),
        int(raw_stats.get("rows_updated", 0)),
    )
    return SqlResult(schema, rows, int(item.get("total_duration_micros", 0)), stats, schema_json)


def call_reducer(
    base_url: str,
    database: str,
    reducer: str,
    args_json: Sequence[Any] | Mapping[str, Any] | str,
    token: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> ReducerCallResult:
    """Call a reducer over HTTP (``POST .../call/{reducer}``).

    ``args_json`` is the argument tuple as SATS-JSON: a list in parameter order, an object
    keyed by parameter name, or that JSON already encoded as a ``str``. A reducer error
    (530) or exhausted energy (402) is a result with ``committed=False``; every other
    refusal raises.
    """
    what = f"POST /v1/database/{database}/call/{reducer}"
    if isinstance(args_json, str):
        body = args_json
    elif isinstance(args_json, Mapping):
        body = json.dumps(dict(args_json))
    else:
        body = json.dumps(list(args_json))
    url = _db_url(base_url, database, f"call/{quote(reducer, safe='')}")
    response = _request(
        "POST",
        url,
        what=what,
        timeout=timeout,
        token=token,
        body=body.encode("utf-8"),
        content_type="application/json",
        outcome_statuses=(402, 530),
    )
    ok = 200 <= response.status < 300
    return ReducerCallResult(
        committed=ok,
        status=response.status,
        error=None if ok else response.body.decode("utf-8", "replace"),
        energy_used=_int_header(response.headers, "spacetime-energy-used"),
        duration_micros=_int_header(response.headers, "spacetime-execution-duration-micros"),
    )


def _int_header(headers: Message, name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
