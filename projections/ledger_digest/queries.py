"""Reads of read model `ledger_digest`: the digest the projector has reached."""

from __future__ import annotations

from escrowgrid.eventlog.hashing import GENESIS
from projections.framework.querying import Conn


async def current_digest(conn: Conn) -> tuple[int, str]:
    """(position, hex digest) of the ledger digest the projector has reached."""
    cur = await conn.execute("SELECT position, digest FROM ledger_digest WHERE id")
    row = await cur.fetchone()
    if row is None:
        return 0, GENESIS.hex()
    return int(row[0]), bytes(row[1]).hex()
