"""Decode time per v1 server message: an empty TransactionUpdate and a 1000-row FixedSize one.

Run by hand (``python bench/bench_protocol.py``); prints microseconds per message and the
cost of cutting the 1000 rows into slices.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable

from stdb_game.protocol import (
    BsatnRowList,
    Committed,
    CompressableQueryUpdate,
    DatabaseUpdate,
    EnergyQuanta,
    QueryUpdate,
    ReducerCallInfo,
    TableUpdate,
    TransactionUpdate,
    decode_server_frame,
    encode_server_message,
)
from stdb_game.sats.values import ConnectionId, Identity, TimeDuration, Timestamp


def _transaction(tables: tuple[TableUpdate, ...]) -> TransactionUpdate:
    return TransactionUpdate(
        Committed(DatabaseUpdate(tables)),
        Timestamp(1735689600000000),
        Identity(0xC200 << 240 | 12345),
        ConnectionId(0xBECA),
        ReducerCallInfo("update_player_input", 4, b"\x9a\x99\x19\x3f\xcd\xcc\x4c\xbf", 7),
        EnergyQuanta(4_345_615),
        TimeDuration(70),
    )


def _fixed_rows(n: int) -> TableUpdate:
    rows = [i.to_bytes(4, "little") + bytes(12) for i in range(n)]  # entity: i32, f32 x2, i32
    update = QueryUpdate(BsatnRowList.EMPTY, BsatnRowList.from_rows(rows, fixed_size=16))
    return TableUpdate(4099, "entity", n, (CompressableQueryUpdate.uncompressed(update),))


def _per_call_us(fn: Callable[[], object]) -> float:
    timer = timeit.Timer(fn)
    loops, _ = timer.autorange()
    return min(timer.repeat(repeat=5, number=loops)) / loops * 1e6


def main() -> None:
    empty = b"\x00" + encode_server_message(_transaction(()))
    big_msg = _transaction((_fixed_rows(1000),))
    big = b"\x00" + encode_server_message(big_msg)
    inserts = big_msg.status.database_update.tables[0].updates[0].query_update().inserts  # type: ignore[union-attr]

    empty_us = _per_call_us(lambda: decode_server_frame(empty))
    big_us = _per_call_us(lambda: decode_server_frame(big))
    slice_us = _per_call_us(inserts.row_slices)
    print(f"empty TransactionUpdate        ({len(empty):>6} bytes): {empty_us:8.2f} us/message")
    print(f"1000-row FixedSize Transaction ({len(big):>6} bytes): {big_us:8.2f} us/message")
    print(f"row_slices() of those 1000 rows                 : {slice_us:8.2f} us")
    print(f"ratio big/empty decode: {big_us / empty_us:.2f}x")


if __name__ == "__main__":
    main()
