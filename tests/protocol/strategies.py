"""Hypothesis strategies for every v1 message, for round-trip tests."""

from __future__ import annotations

from hypothesis import strategies as st

from stdb_game.protocol import (
    BsatnRowList,
    CallProcedure,
    CallReducer,
    CallReducerFlags,
    ClientMessage,
    Committed,
    CompressableQueryUpdate,
    Compression,
    DatabaseUpdate,
    EnergyQuanta,
    Failed,
    FixedSize,
    IdentityToken,
    InitialSubscription,
    InternalError,
    OneOffQuery,
    OneOffQueryResponse,
    OneOffTable,
    OutOfEnergy,
    ProcedureOutOfEnergy,
    ProcedureResult,
    QueryId,
    QueryUpdate,
    ReducerCallInfo,
    Returned,
    RowOffsets,
    ServerMessage,
    Subscribe,
    SubscribeApplied,
    SubscribeMulti,
    SubscribeMultiApplied,
    SubscribeRows,
    SubscribeSingle,
    SubscriptionError,
    TableUpdate,
    TransactionUpdate,
    TransactionUpdateLight,
    Unsubscribe,
    UnsubscribeApplied,
    UnsubscribeMulti,
    UnsubscribeMultiApplied,
)
from stdb_game.sats.values import ConnectionId, Identity, TimeDuration, Timestamp

u16 = st.integers(0, 2**16 - 1)
u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)
text = st.text(max_size=12)
blob = st.binary(max_size=24)
query_ids = st.builds(QueryId, u32)
identities = st.builds(Identity, st.integers(0, 2**256 - 1))
connection_ids = st.builds(ConnectionId, st.integers(0, 2**128 - 1))
timestamps = st.builds(Timestamp, i64)
durations = st.builds(TimeDuration, i64)
strings_tuple = st.lists(text, max_size=3).map(tuple)


@st.composite
def row_lists(draw: st.DrawFn) -> BsatnRowList:
    """Well-formed lists built like a server would, plus raw hints that only need to round-trip."""
    kind = draw(st.sampled_from(["fixed", "offsets", "auto", "raw"]))
    if kind == "fixed":
        size = draw(st.integers(1, 6))
        rows = draw(st.lists(st.binary(min_size=size, max_size=size), max_size=4))
        return BsatnRowList.from_rows(rows, fixed_size=size)
    if kind in ("offsets", "auto"):
        rows = draw(st.lists(st.binary(max_size=6), max_size=4))
        return (
            BsatnRowList.from_rows(rows) if kind == "offsets" else BsatnRowList.from_rows_auto(rows)
        )
    hint = draw(
        st.one_of(
            st.builds(FixedSize, u16),
            st.builds(RowOffsets, st.lists(u64, max_size=3).map(tuple)),
        )
    )
    return BsatnRowList(hint, draw(blob))


query_updates = st.builds(QueryUpdate, row_lists(), row_lists())
compressable_query_updates = st.one_of(
    st.builds(CompressableQueryUpdate.uncompressed, query_updates),
    st.builds(
        CompressableQueryUpdate, st.sampled_from([Compression.BROTLI, Compression.GZIP]), blob
    ),
)
table_updates = st.builds(
    TableUpdate, u32, text, u64, st.lists(compressable_query_updates, max_size=2).map(tuple)
)
database_updates = st.builds(DatabaseUpdate, st.lists(table_updates, max_size=3).map(tuple))
subscribe_rows = st.builds(SubscribeRows, u32, text, table_updates)
update_statuses = st.one_of(
    st.builds(Committed, database_updates), st.builds(Failed, text), st.just(OutOfEnergy())
)
procedure_statuses = st.one_of(
    st.builds(Returned, blob), st.just(ProcedureOutOfEnergy()), st.builds(InternalError, text)
)
energy = st.integers(0, 2**128 - 1).map(EnergyQuanta)
optional_u32 = st.none() | u32

client_messages: st.SearchStrategy[ClientMessage] = st.one_of(
    st.builds(CallReducer, text, blob, u32, st.sampled_from(list(CallReducerFlags))),
    st.builds(Subscribe, strings_tuple, u32),
    st.builds(OneOffQuery, blob, text),
    st.builds(SubscribeSingle, text, u32, query_ids),
    st.builds(SubscribeMulti, strings_tuple, u32, query_ids),
    st.builds(Unsubscribe, u32, query_ids),
    st.builds(UnsubscribeMulti, u32, query_ids),
    st.builds(CallProcedure, text, blob, u32, st.just(0)),
)

server_messages: st.SearchStrategy[ServerMessage] = st.one_of(
    st.builds(InitialSubscription, database_updates, u32, durations),
    st.builds(
        TransactionUpdate,
        update_statuses,
        timestamps,
        identities,
        connection_ids,
        st.builds(ReducerCallInfo, text, u32, blob, u32),
        energy,
        durations,
    ),
    st.builds(TransactionUpdateLight, u32, database_updates),
    st.builds(IdentityToken, identities, text, connection_ids),
    st.builds(
        OneOffQueryResponse,
        blob,
        st.none() | text,
        st.lists(st.builds(OneOffTable, text, row_lists()), max_size=2).map(tuple),
        durations,
    ),
    st.builds(SubscribeApplied, u32, u64, query_ids, subscribe_rows),
    st.builds(UnsubscribeApplied, u32, u64, query_ids, subscribe_rows),
    st.builds(SubscriptionError, u64, optional_u32, optional_u32, optional_u32, text),
    st.builds(SubscribeMultiApplied, u32, u64, query_ids, database_updates),
    st.builds(UnsubscribeMultiApplied, u32, u64, query_ids, database_updates),
    st.builds(ProcedureResult, procedure_statuses, timestamps, durations, u32),
)
