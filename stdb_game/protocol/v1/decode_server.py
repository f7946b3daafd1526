"""Decode BSATN ``ServerMessage``s; hand-written because this is the client's hot path.

Row data is sliced out as raw bytes and compressed query updates are left compressed
(``CompressableQueryUpdate.query_update()`` undoes them when the cache needs them).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from ...errors import ProtocolError
from ...sats.codec import _mk_dur, _mk_ts
from ...sats.values import ConnectionId, Identity, TimeDuration, Timestamp
from ..compression import Compression
from .client_messages import QueryId
from .decode_common import (
    check_end,
    read_bytes,
    read_count,
    read_option_u32,
    read_string,
    read_u32,
)
from .row_list import BsatnRowList, FixedSize, RowOffsets
from .server_messages import (
    Committed,
    CompressableQueryUpdate,
    DatabaseUpdate,
    EnergyQuanta,
    Failed,
    IdentityToken,
    InitialSubscription,
    InternalError,
    OneOffQueryResponse,
    OneOffTable,
    OutOfEnergy,
    ProcedureOutOfEnergy,
    ProcedureResult,
    ProcedureStatus,
    QueryUpdate,
    ReducerCallInfo,
    Returned,
    ServerMessage,
    SubscribeApplied,
    SubscribeMultiApplied,
    SubscribeRows,
    SubscriptionError,
    TableUpdate,
    TransactionUpdate,
    TransactionUpdateLight,
    UnsubscribeApplied,
    UnsubscribeMultiApplied,
    UpdateStatus,
)
from .unchecked import unchecked_constructor
from .wire import (
    ENERGY_DURATION,
    I64,
    TS_DUR_U32,
    TS_IDENTITY_CONN,
    U16_U32,
    U32,
    U32_U32,
    U32_U64_U32,
    U64,
    U64_U32,
    failure,
    invalid_utf8,
    truncated,
)

__all__ = [
    "CommittedParts",
    "committed_parts_in_frame",
    "committed_update_in_frame",
    "decode_query_update",
    "decode_server_message",
]

_EMPTY_ROWS = BsatnRowList.EMPTY
_NO_OFFSETS = RowOffsets(())
_ONE_ROW = RowOffsets((0,))
_EMPTY_DATABASE_UPDATE = DatabaseUpdate(())
_OUT_OF_ENERGY = OutOfEnergy()
_PROCEDURE_OUT_OF_ENERGY = ProcedureOutOfEnergy()
_QUERY_UPDATE_COMPRESSION = (Compression.NONE, Compression.BROTLI, Compression.GZIP)
_fixed_sizes: dict[int, FixedSize] = {}

# The decoder checks every value itself, so it builds objects without the dataclass
# __init__/__post_init__ (see unchecked.py for the cost this avoids).
_new_row_list = unchecked_constructor(BsatnRowList)
_new_row_offsets = unchecked_constructor(RowOffsets)
_new_query_update = unchecked_constructor(QueryUpdate)
_new_compressable = unchecked_constructor(CompressableQueryUpdate)
_new_table_update = unchecked_constructor(TableUpdate)
_new_database_update = unchecked_constructor(DatabaseUpdate)
_new_reducer_call = unchecked_constructor(ReducerCallInfo)
_new_transaction_update = unchecked_constructor(TransactionUpdate)
_new_committed = unchecked_constructor(Committed)
_new_energy = unchecked_constructor(EnergyQuanta)
_new_query_id = unchecked_constructor(QueryId)
_new_subscribe_multi_applied = unchecked_constructor(SubscribeMultiApplied)
_new_unsubscribe_multi_applied = unchecked_constructor(UnsubscribeMultiApplied)

# Callers repeat (the local player, the module itself for scheduled reducers), and these
# values are immutable, so recent ones are shared instead of rebuilt for every message.
_CACHE_LIMIT = 256
_identities: dict[bytes, Identity] = {}
_table_names: dict[bytes, str] = {}
_NONE = Compression.NONE
_connection_ids: dict[bytes, ConnectionId] = {}


def decode_server_message(
    data: bytes | bytearray | memoryview, *, strict: bool = True
) -> ServerMessage:
    """Decode one BSATN ``ServerMessage`` (a frame's payload, after the compression byte).

    With ``strict`` (the default) bytes after the message are an error: a server never
    sends them, so they mean the frame was misread. Every failure is a ProtocolError.
    """
    buf = data if type(data) is bytes else bytes(data)
    if not buf:
        raise failure("empty message", "ServerMessage", 0)
    tag = buf[0]
    if tag >= len(_MESSAGE_DECODERS):
        raise failure(f"unknown ServerMessage tag {tag}", "ServerMessage", 0)
    msg, end = _MESSAGE_DECODERS[tag](buf, 1)
    if strict and end != len(buf):
        check_end(buf, end, type(msg).__name__)
    return msg


def decode_query_update(
    data: bytes | bytearray | memoryview, what: str = "QueryUpdate"
) -> QueryUpdate:
    """Decode the BSATN of a lone ``QueryUpdate`` (a decompressed inner update), strictly."""
    buf = data if type(data) is bytes else bytes(data)
    deletes, off = _row_list(buf, 0, f"{what}.deletes")
    inserts, off = _row_list(buf, off, f"{what}.inserts")
    check_end(buf, off, what)
    return QueryUpdate(deletes, inserts)


# ---- nested types -----------------------------------------------------------------------------


def _row_list(data: bytes, off: int, what: str) -> tuple[BsatnRowList, int]:
    size = len(data)
    if off >= size:
        raise truncated(f"{what}.size_hint", off, 1, size)
    tag = data[off]
    if tag == 1:  # RowOffsets: the common case, and always for empty lists
        start = off + 5
        if start > size:
            raise truncated(f"{what}.size_hint", off + 1, 4, size)
        count = U32.unpack_from(data, off + 1)[0]
        if count == 0:
            offsets = _NO_OFFSETS
        elif count == 1:
            if start + 8 > size:
                raise truncated(f"{what}.size_hint", start, 8, size)
            first = U64.unpack_from(data, start)[0]
            offsets = _ONE_ROW if first == 0 else _new_row_offsets((first,))
        else:
            if start + 8 * count > size:
                raise truncated(f"{what}.size_hint", start, 8 * count, size)
            offsets = _new_row_offsets(struct.unpack_from(f"<{count}Q", data, start))
        start += 8 * count
        head = start + 4
        if head > size:
            raise truncated(f"{what}.rows_data", start, 4, size)
        end = head + U32.unpack_from(data, start)[0]
        if end > size:
            raise truncated(f"{what}.rows_data", head, end - head, size)
        if end == head and count == 0:
            return _EMPTY_ROWS, end
        return _new_row_list(offsets, data[head:end]), end
    if tag == 0:  # FixedSize(u16)
        head = off + 7
        if head > size:
            raise truncated(f"{what}.size_hint", off + 1, 6, size)
        row_size, n = U16_U32.unpack_from(data, off + 1)
        end = head + n
        if end > size:
            raise truncated(f"{what}.rows_data", head, n, size)
        hint = _fixed_sizes.get(row_size)
        if hint is None:
            hint = _fixed_sizes[row_size] = FixedSize(row_size)
        return _new_row_list(hint, data[head:end]), end
    raise failure(f"unknown RowSizeHint tag {tag}", f"{what}.size_hint", off)


def _compressable_query_update(data: bytes, off: int) -> tuple[CompressableQueryUpdate, int]:
    if off >= len(data):
        raise truncated("CompressableQueryUpdate", off, 1, len(data))
    tag = data[off]
    if tag == 0:
        deletes, off = _row_list(data, off + 1, "QueryUpdate.deletes")
        inserts, off = _row_list(data, off, "QueryUpdate.inserts")
        return _new_compressable(_NONE, _new_query_update(deletes, inserts)), off
    if tag <= 2:
        compression = _QUERY_UPDATE_COMPRESSION[tag]
        blob, off = read_bytes(data, off + 1, f"CompressableQueryUpdate.{compression.value}")
        return _new_compressable(compression, blob), off
    raise failure(f"unknown CompressableQueryUpdate tag {tag}", "CompressableQueryUpdate", off)


def _table_update(data: bytes, off: int) -> tuple[TableUpdate, int]:
    size = len(data)
    start = off + 8
    if start > size:
        raise truncated("TableUpdate.table_id", off, 8, size)
    table_id, name_len = U32_U32.unpack_from(data, off)
    end = start + name_len
    if end > size:
        raise truncated("TableUpdate.table_name", start, name_len, size)
    raw = data[start:end]
    name = _table_names.get(raw)  # the same few names in every message
    if name is None:
        try:
            name = raw.decode()
        except UnicodeDecodeError as exc:
            err = invalid_utf8(exc, "TableUpdate.table_name", start)
            raise err from err.__cause__
        if len(_table_names) >= _CACHE_LIMIT:
            _table_names.clear()
        _table_names[raw] = name
    off = end + 12
    if off > size:
        raise truncated("TableUpdate.num_rows", end, 12, size)
    num_rows, count = U64_U32.unpack_from(data, end)
    if count > size - off:
        raise truncated("TableUpdate.updates", off, count, size)
    if count == 1:  # the usual case: one query update per table
        update, off = _compressable_query_update(data, off)
        return _new_table_update(table_id, name, num_rows, (update,)), off
    updates = []
    for _ in range(count):
        update, off = _compressable_query_update(data, off)
        updates.append(update)
    return _new_table_update(table_id, name, num_rows, tuple(updates)), off


def _database_update(data: bytes, off: int) -> tuple[DatabaseUpdate, int]:
    count = read_count(data, off, "DatabaseUpdate.tables")
    off += 4
    if count == 0:
        return _EMPTY_DATABASE_UPDATE, off
    tables = []
    for _ in range(count):
        table, off = _table_update(data, off)
        tables.append(table)
    return _new_database_update(tuple(tables)), off


def _update_status(data: bytes, off: int) -> tuple[UpdateStatus, int]:
    if off >= len(data):
        raise truncated("UpdateStatus", off, 1, len(data))
    tag = data[off]
    if tag == 0:
        update, off = _database_update(data, off + 1)
        return Committed(update), off
    if tag == 1:
        message, off = read_string(data, off + 1, "UpdateStatus.Failed")
        return Failed(message), off
    if tag == 2:
        return _OUT_OF_ENERGY, off + 1
    raise failure(f"unknown UpdateStatus tag {tag}", "UpdateStatus", off)


def _procedure_status(data: bytes, off: int) -> tuple[ProcedureStatus, int]:
    if off >= len(data):
        raise truncated("ProcedureStatus", off, 1, len(data))
    tag = data[off]
    if tag == 0:
        value, off = read_bytes(data, off + 1, "ProcedureStatus.Returned")
        return Returned(value), off
    if tag == 1:
        return _PROCEDURE_OUT_OF_ENERGY, off + 1
    if tag == 2:
        message, off = read_string(data, off + 1, "ProcedureStatus.InternalError")
        return InternalError(message), off
    raise failure(f"unknown ProcedureStatus tag {tag}", "ProcedureStatus", off)


def _time_duration(data: bytes, off: int, what: str) -> TimeDuration:
    if off + 8 > len(data):
        raise truncated(what, off, 8, len(data))
    return TimeDuration(I64.unpack_from(data, off)[0])


def _applied_head(data: bytes, off: int, what: str) -> tuple[int, int, QueryId, int]:
    """``request_id: u32``, ``total_host_execution_duration_micros: u64``, ``query_id``."""
    if off + 16 > len(data):
        raise truncated(what, off, 16, len(data))
    request_id, micros, query_id = U32_U64_U32.unpack_from(data, off)
    return request_id, micros, _new_query_id(query_id), off + 16


def _subscribe_rows(data: bytes, off: int) -> tuple[SubscribeRows, int]:
    table_id = read_u32(data, off, "SubscribeRows.table_id")
    name, off = read_string(data, off + 4, "SubscribeRows.table_name")
    rows, off = _table_update(data, off)
    return SubscribeRows(table_id, name, rows), off


# ---- messages, by tag -------------------------------------------------------------------------


def _initial_subscription(data: bytes, off: int) -> tuple[InitialSubscription, int]:
    update, off = _database_update(data, off)
    request_id = read_u32(data, off, "InitialSubscription.request_id")
    duration = _time_duration(data, off + 4, "InitialSubscription.total_host_execution_duration")
    return InitialSubscription(update, request_id, duration), off + 12


class _Slow(Exception):
    """The fast path met something it does not handle itself; the checked path decides."""


#: Timestamp, caller identity, caller connection id, reducer name length.
_TX_HEAD = struct.Struct("<q32s16sI")
#: ``reducer_id`` then the args length.
_TX_MID = U32_U32
#: ``request_id``, energy (u128 as two u64 halves), host execution duration.
_TX_TAIL = struct.Struct("<IQQq")
_TX_FAST_ERRORS = (_Slow, struct.error, IndexError, UnicodeDecodeError, ProtocolError)


def _transaction_update(data: bytes, off: int) -> tuple[TransactionUpdate, int]:
    """The most frequent message: a committed update, read with as few steps as possible.

    Anything unusual (a failed status, a short buffer, bad UTF-8, a malformed table) is
    handed to ``_transaction_update_checked``, which gives the exact ProtocolError.
    """
    try:
        return _transaction_update_fast(data, off)
    except _TX_FAST_ERRORS:
        return _transaction_update_checked(data, off)


#: A committed ``TransactionUpdate`` as its fields, read in place: tables, timestamp, caller
#: identity, caller connection id, reducer name, reducer id, args, request id, energy
#: used (the quanta as an int, as session events carry it; the message wraps it in
#: ``EnergyQuanta``), host execution duration, and last the offset just past the message.
CommittedParts = tuple[
    tuple[TableUpdate, ...],
    Timestamp,
    Identity,
    ConnectionId,
    str,
    int,
    bytes,
    int,
    int,
    TimeDuration,
    int,
]


def committed_update_in_frame(frame: bytes) -> TransactionUpdate | None:
    """An uncompressed frame's committed ``TransactionUpdate``, read in place, or None.

    The frame (compression byte 0, message tag 1) is read without first copying the
    message out of it. None means "not the plain case": ``decode_server_message(frame[1:])``
    then decides, and reports any error with its offset in the message.
    """
    parts = committed_parts_in_frame(frame)
    return None if parts is None else _from_parts(parts)


def committed_parts_in_frame(frame: bytes) -> CommittedParts | None:
    """``committed_update_in_frame`` without building the message objects, for the session,
    which needs only their fields (None: as there)."""
    try:
        parts = _committed_parts(frame, 2)
    except _TX_FAST_ERRORS:
        return None
    return parts if parts[10] == len(frame) else None


def _transaction_update_fast(data: bytes, off: int) -> tuple[TransactionUpdate, int]:
    parts = _committed_parts(data, off)
    return _from_parts(parts), parts[10]


def _from_parts(parts: CommittedParts) -> TransactionUpdate:
    tables, timestamp, identity, connection_id, name, reducer_id, args, request_id = parts[:8]
    return _new_transaction_update(
        _new_committed(_new_database_update(tables) if tables else _EMPTY_DATABASE_UPDATE),
        timestamp,
        identity,
        connection_id,
        _new_reducer_call(name, reducer_id, args, request_id),
        _new_energy(parts[8]),
        parts[9],
    )


def _committed_parts(data: bytes, off: int) -> CommittedParts:
    if data[off] != 0:
        raise _Slow  # Failed / OutOfEnergy: rare, not worth a second copy of the code
    count = U32.unpack_from(data, off + 1)[0]
    off += 5
    size = len(data)
    if count == 0:
        tables: tuple[TableUpdate, ...] = ()
    else:
        if count > size - off:
            raise _Slow
        found = []
        for _ in range(count):
            table, off = _table_update(data, off)
            found.append(table)
        tables = tuple(found)
    micros, identity_raw, connection_raw, name_len = _TX_HEAD.unpack_from(data, off)
    off += 60
    end = off + name_len
    if end > size:
        raise _Slow
    name = data[off:end].decode()
    reducer_id, args_len = _TX_MID.unpack_from(data, end)
    off = end + 8
    end = off + args_len
    if end > size:
        raise _Slow
    args = data[off:end]
    request_id, low, high, duration = _TX_TAIL.unpack_from(data, end)
    identity = _identities.get(identity_raw)
    if identity is None:
        identity = _remember_identity(identity_raw)
    connection_id = _connection_ids.get(connection_raw)
    if connection_id is None:
        connection_id = _remember_connection_id(connection_raw)
    return (
        tables,
        _mk_ts(micros),
        identity,
        connection_id,
        name,
        reducer_id,
        args,
        request_id,
        low | high << 64,
        _mk_dur(duration),
        end + 28,
    )


def _remember_identity(raw: bytes) -> Identity:
    if len(_identities) >= _CACHE_LIMIT:
        _identities.clear()
    identity = _identities[raw] = Identity(int.from_bytes(raw, "little"))
    return identity


def _remember_connection_id(raw: bytes) -> ConnectionId:
    if len(_connection_ids) >= _CACHE_LIMIT:
        _connection_ids.clear()
    connection_id = _connection_ids[raw] = ConnectionId(int.from_bytes(raw, "little"))
    return connection_id


def _transaction_update_checked(data: bytes, off: int) -> tuple[TransactionUpdate, int]:
    status, off = _update_status(data, off)
    size = len(data)
    if off + 56 > size:
        raise truncated("TransactionUpdate.timestamp", off, 56, size)
    micros, identity_raw, connection_raw = TS_IDENTITY_CONN.unpack_from(data, off)
    identity = _identities.get(identity_raw)
    if identity is None:
        if len(_identities) >= _CACHE_LIMIT:
            _identities.clear()
        identity = _identities[identity_raw] = Identity(int.from_bytes(identity_raw, "little"))
    connection_id = _connection_ids.get(connection_raw)
    if connection_id is None:
        if len(_connection_ids) >= _CACHE_LIMIT:
            _connection_ids.clear()
        connection_id = _connection_ids[connection_raw] = ConnectionId(
            int.from_bytes(connection_raw, "little")
        )
    name, off = read_string(data, off + 56, "ReducerCallInfo.reducer_name")
    reducer_id = read_u32(data, off, "ReducerCallInfo.reducer_id")
    args, off = read_bytes(data, off + 4, "ReducerCallInfo.args")
    request_id = read_u32(data, off, "ReducerCallInfo.request_id")
    off += 4
    if off + 24 > size:
        raise truncated("TransactionUpdate.energy_quanta_used", off, 24, size)
    low, high, duration = ENERGY_DURATION.unpack_from(data, off)
    return _new_transaction_update(
        status,
        Timestamp(micros),
        identity,
        connection_id,
        _new_reducer_call(name, reducer_id, args, request_id),
        _new_energy(low | high << 64),
        TimeDuration(duration),
    ), off + 24


def _transaction_update_light(data: bytes, off: int) -> tuple[TransactionUpdateLight, int]:
    request_id = read_u32(data, off, "TransactionUpdateLight.request_id")
    update, off = _database_update(data, off + 4)
    return TransactionUpdateLight(request_id, update), off


def _identity_token(data: bytes, off: int) -> tuple[IdentityToken, int]:
    if off + 32 > len(data):
        raise truncated("IdentityToken.identity", off, 32, len(data))
    # Through the caches: our own later TransactionUpdates then carry these very objects,
    # so the session's "is this ours" test is an identity check.
    raw = data[off : off + 32]
    identity = _identities.get(raw) or _remember_identity(raw)
    token, off = read_string(data, off + 32, "IdentityToken.token")
    if off + 16 > len(data):
        raise truncated("IdentityToken.connection_id", off, 16, len(data))
    raw = data[off : off + 16]
    connection_id = _connection_ids.get(raw) or _remember_connection_id(raw)
    return IdentityToken(identity, token, connection_id), off + 16


def _one_off_query_response(data: bytes, off: int) -> tuple[OneOffQueryResponse, int]:
    message_id, off = read_bytes(data, off, "OneOffQueryResponse.message_id")
    if off >= len(data):
        raise truncated("OneOffQueryResponse.error", off, 1, len(data))
    tag = data[off]
    error: str | None
    if tag == 1:
        error, off = None, off + 1
    elif tag == 0:
        error, off = read_string(data, off + 1, "OneOffQueryResponse.error")
    else:
        raise failure(
            f"bad option tag {tag} (0 = some, 1 = none)", "OneOffQueryResponse.error", off
        )
    count = read_count(data, off, "OneOffQueryResponse.tables")
    off += 4
    tables = []
    for _ in range(count):
        name, off = read_string(data, off, "OneOffTable.table_name")
        rows, off = _row_list(data, off, "OneOffTable.rows")
        tables.append(OneOffTable(name, rows))
    duration = _time_duration(data, off, "OneOffQueryResponse.total_host_execution_duration")
    return OneOffQueryResponse(message_id, error, tuple(tables), duration), off + 8


def _subscribe_applied(data: bytes, off: int) -> tuple[SubscribeApplied, int]:
    request_id, micros, query_id, off = _applied_head(data, off, "SubscribeApplied")
    rows, off = _subscribe_rows(data, off)
    return SubscribeApplied(request_id, micros, query_id, rows), off


def _unsubscribe_applied(data: bytes, off: int) -> tuple[UnsubscribeApplied, int]:
    request_id, micros, query_id, off = _applied_head(data, off, "UnsubscribeApplied")
    rows, off = _subscribe_rows(data, off)
    return UnsubscribeApplied(request_id, micros, query_id, rows), off


def _subscription_error(data: bytes, off: int) -> tuple[SubscriptionError, int]:
    if off + 8 > len(data):
        raise truncated("SubscriptionError.total_host_execution_duration_micros", off, 8, len(data))
    micros = U64.unpack_from(data, off)[0]
    request_id, off = read_option_u32(data, off + 8, "SubscriptionError.request_id")
    query_id, off = read_option_u32(data, off, "SubscriptionError.query_id")
    table_id, off = read_option_u32(data, off, "SubscriptionError.table_id")
    error, off = read_string(data, off, "SubscriptionError.error")
    return SubscriptionError(micros, request_id, query_id, table_id, error), off


def _subscribe_multi_applied(data: bytes, off: int) -> tuple[SubscribeMultiApplied, int]:
    request_id, micros, query_id, off = _applied_head(data, off, "SubscribeMultiApplied")
    update, off = _database_update(data, off)
    return _new_subscribe_multi_applied(request_id, micros, query_id, update), off


def _unsubscribe_multi_applied(data: bytes, off: int) -> tuple[UnsubscribeMultiApplied, int]:
    request_id, micros, query_id, off = _applied_head(data, off, "UnsubscribeMultiApplied")
    update, off = _database_update(data, off)
    return _new_unsubscribe_multi_applied(request_id, micros, query_id, update), off


def _procedure_result(data: bytes, off: int) -> tuple[ProcedureResult, int]:
    status, off = _procedure_status(data, off)
    if off + 20 > len(data):
        raise truncated("ProcedureResult.timestamp", off, 20, len(data))
    micros, duration, request_id = TS_DUR_U32.unpack_from(data, off)
    return ProcedureResult(status, Timestamp(micros), TimeDuration(duration), request_id), off + 20


_MESSAGE_DECODERS: tuple[Callable[[bytes, int], tuple[ServerMessage, int]], ...] = (
    _initial_subscription,
    _transaction_update,
    _transaction_update_light,
    _identity_token,
    _one_off_query_response,
    _subscribe_applied,
    _unsubscribe_applied,
    _subscription_error,
    _subscribe_multi_applied,
    _unsubscribe_multi_applied,
    _procedure_result,
)
