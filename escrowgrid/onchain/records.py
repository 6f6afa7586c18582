"""Each position's on-chain records, as GET /positions/{id}/onchain answers them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from psycopg import AsyncConnection

_RECORDS = """
SELECT log_position, kind, status, '0x' || encode(tx_hash, 'hex'), block_number, attempts,
    last_error, to_char(published_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
FROM onchain_outbox WHERE position_id = %s ORDER BY log_position
"""


class OnchainRecord(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """One event of the position: queued, sent, published (confirmed) or failed."""

    log_position: int
    kind: str
    status: str
    tx_hash: str | None
    block_number: int | None
    attempts: int
    last_error: str | None
    published_at: str | None


class OnchainRecords(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    position_id: str
    records: list[OnchainRecord]


async def records_of(conn: AsyncConnection[Any], position_id: UUID) -> OnchainRecords:
    """Every queued event of the position in log order (none when it is not on chain)."""
    cur = await conn.execute(_RECORDS, (position_id,))
    rows = await cur.fetchall()
    return OnchainRecords(
        position_id=str(position_id),
        records=[
            OnchainRecord(
                log_position=r[0],
                kind=r[1],
                status=r[2],
                tx_hash=r[3],
                block_number=r[4],
                attempts=r[5],
                last_error=r[6],
                published_at=r[7],
            )
            for r in rows
        ],
    )
