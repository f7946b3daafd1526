"""Encode ``ServerMessage``s to BSATN (for the dev server, replays and tests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...errors import EncodeError
from ..compression import Compression
from .encode_common import encode_with, put_bytes, put_option_u32, put_string
from .row_list import BsatnRowList, FixedSize, RowOffsets
from .server_messages import (
    Committed,
    CompressableQueryUpdate,
    DatabaseUpdate,
    Failed,
    IdentityToken,
    InitialSubscription,
    InternalError,
    OneOffQueryResponse,
    OutOfEnergy,
    ProcedureOutOfEnergy,
    ProcedureResult,
    ProcedureStatus,
    QueryUpdate,
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
)

__all__ = ["encode_query_update", "encode_server_message"]

_U64_MASK = (1 << 64) - 1


def encode_server_message(msg: ServerMessage) -> bytes:
    """The BSATN of ``msg`` (a frame's payload, without the compression byte)."""
    return encode_with(_ENCODERS, msg, "ServerMessage")


def encode_query_update(update: QueryUpdate) -> bytes:
    """The BSATN of a lone ``QueryUpdate``: what the inner compression layer compresses."""
    out = bytearray()
    _put_row_list(out, update.deletes)
    _put_row_list(out, update.inserts)
    return bytes(out)


# ---- nested types -----------------------------------------------------------------------------


def _put_row_list(out: bytearray, rows: BsatnRowList) -> None:
    hint = rows.size_hint
    data = rows.rows_data
    if type(hint) is FixedSize:
        out.append(0)
        out += U16_U32.pack(hint.row_size, len(data))
    elif type(hint) is RowOffsets:
        offsets = hint.offsets
        out.append(1)
        out += U32.pack(len(offsets))
        for offset in offsets:
            out += U64.pack(offset)
        out += U32.pack(len(data))
    else:
        raise EncodeError(f"unknown size hint {hint!r}", type_name="RowSizeHint")
    out += data


def _put_compressable_query_update(out: bytearray, update: CompressableQueryUpdate) -> None:
    compression = update.compression
    payload = update.payload
    out.append(compression.tag)
    if compression is Compression.NONE:
        assert isinstance(payload, QueryUpdate)
        _put_row_list(out, payload.deletes)
        _put_row_list(out, payload.inserts)
    else:
        # The received compressed bytes go back out untouched: re-encoding is lossless.
        assert isinstance(payload, bytes)
        put_bytes(out, payload)


def _put_table_update(out: bytearray, table: TableUpdate) -> None:
    name = table.table_name.encode()
    out += U32_U32.pack(table.table_id, len(name))
    out += name
    out += U64_U32.pack(table.num_rows, len(table.updates))
    for update in table.updates:
        _put_compressable_query_update(out, update)


def _put_database_update(out: bytearray, update: DatabaseUpdate) -> None:
    out += U32.pack(len(update.tables))
    for table in update.tables:
        _put_table_update(out, table)


def _put_update_status(out: bytearray, status: UpdateStatus) -> None:
    if type(status) is Committed:
        out.append(0)
        _put_database_update(out, status.database_update)
    elif type(status) is Failed:
        out.append(1)
        put_string(out, status.message)
    elif type(status) is OutOfEnergy:
        out.append(2)
    else:
        raise EncodeError(f"unknown status {status!r}", type_name="UpdateStatus")


def _put_procedure_status(out: bytearray, status: ProcedureStatus) -> None:
    if type(status) is Returned:
        out.append(0)
        put_bytes(out, status.value)
    elif type(status) is ProcedureOutOfEnergy:
        out.append(1)
    elif type(status) is InternalError:
        out.append(2)
        put_string(out, status.message)
    else:
        raise EncodeError(f"unknown status {status!r}", type_name="ProcedureStatus")


def _put_subscribe_rows(out: bytearray, rows: SubscribeRows) -> None:
    out += U32.pack(rows.table_id)
    put_string(out, rows.table_name)
    _put_table_update(out, rows.table_rows)


# ---- messages ---------------------------------------------------------------------------------


def _initial_subscription(m: InitialSubscription) -> bytes:
    out = bytearray(b"\x00")
    _put_database_update(out, m.database_update)
    out += U32.pack(m.request_id)
    out += I64.pack(m.total_host_execution_duration.micros)
    return bytes(out)


def _transaction_update(m: TransactionUpdate) -> bytes:
    out = bytearray(b"\x01")
    _put_update_status(out, m.status)
    out += TS_IDENTITY_CONN.pack(
        m.timestamp.micros_since_epoch,
        m.caller_identity.to_bytes(),
        m.caller_connection_id.to_bytes(),
    )
    call = m.reducer_call
    put_string(out, call.reducer_name)
    out += U32.pack(call.reducer_id)
    put_bytes(out, call.args)
    out += U32.pack(call.request_id)
    energy = m.energy_quanta_used.quanta
    if not 0 <= energy < 1 << 128:
        raise EncodeError(f"{energy} does not fit a u128", type_name="EnergyQuanta")
    out += ENERGY_DURATION.pack(
        energy & _U64_MASK, energy >> 64, m.total_host_execution_duration.micros
    )
    return bytes(out)


def _transaction_update_light(m: TransactionUpdateLight) -> bytes:
    out = bytearray(b"\x02")
    out += U32.pack(m.request_id)
    _put_database_update(out, m.update)
    return bytes(out)


def _identity_token(m: IdentityToken) -> bytes:
    out = bytearray(b"\x03")
    out += m.identity.to_bytes()
    put_string(out, m.token)
    out += m.connection_id.to_bytes()
    return bytes(out)


def _one_off_query_response(m: OneOffQueryResponse) -> bytes:
    out = bytearray(b"\x04")
    put_bytes(out, m.message_id)
    if m.error is None:
        out.append(1)
    else:
        out.append(0)
        put_string(out, m.error)
    out += U32.pack(len(m.tables))
    for table in m.tables:
        put_string(out, table.table_name)
        _put_row_list(out, table.rows)
    out += I64.pack(m.total_host_execution_duration.micros)
    return bytes(out)


def _applied(tag: int, m: SubscribeApplied | UnsubscribeApplied) -> bytes:
    out = bytearray((tag,))
    out += U32_U64_U32.pack(m.request_id, m.total_host_execution_duration_micros, m.query_id.id)
    _put_subscribe_rows(out, m.rows)
    return bytes(out)


def _subscribe_applied(m: SubscribeApplied) -> bytes:
    return _applied(5, m)


def _unsubscribe_applied(m: UnsubscribeApplied) -> bytes:
    return _applied(6, m)


def _subscription_error(m: SubscriptionError) -> bytes:
    out = bytearray(b"\x07")
    out += U64.pack(m.total_host_execution_duration_micros)
    put_option_u32(out, m.request_id)
    put_option_u32(out, m.query_id)
    put_option_u32(out, m.table_id)
    put_string(out, m.error)
    return bytes(out)


def _multi_applied(tag: int, m: SubscribeMultiApplied | UnsubscribeMultiApplied) -> bytes:
    out = bytearray((tag,))
    out += U32_U64_U32.pack(m.request_id, m.total_host_execution_duration_micros, m.query_id.id)
    _put_database_update(out, m.update)
    return bytes(out)


def _subscribe_multi_applied(m: SubscribeMultiApplied) -> bytes:
    return _multi_applied(8, m)


def _unsubscribe_multi_applied(m: UnsubscribeMultiApplied) -> bytes:
    return _multi_applied(9, m)


def _procedure_result(m: ProcedureResult) -> bytes:
    out = bytearray(b"\x0a")
    _put_procedure_status(out, m.status)
    out += TS_DUR_U32.pack(
        m.timestamp.micros_since_epoch, m.total_host_execution_duration.micros, m.request_id
    )
    return bytes(out)


_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    InitialSubscription: _initial_subscription,
    TransactionUpdate: _transaction_update,
    TransactionUpdateLight: _transaction_update_light,
    IdentityToken: _identity_token,
    OneOffQueryResponse: _one_off_query_response,
    SubscribeApplied: _subscribe_applied,
    UnsubscribeApplied: _unsubscribe_applied,
    SubscriptionError: _subscription_error,
    SubscribeMultiApplied: _subscribe_multi_applied,
    UnsubscribeMultiApplied: _unsubscribe_multi_applied,
    ProcedureResult: _procedure_result,
}
