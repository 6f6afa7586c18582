"""Read model `ledger_digest`: the ledger digest at the tracked position, for GET /ledger/digest."""

# The digest is eventlog.hashing.digest_step folded over every event's hash in log order, from
# GENESIS (docs/read-side.md describes it for auditors); `escrowgrid verify` recomputes it.

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from escrowgrid.eventlog.hashing import GENESIS, digest_step
from projections.framework.base import Projection, ProjectionError, Target
from projections.framework.feed import LogEvent

LEDGER_DIGEST = "ledger_digest"
_READ = "SELECT position, digest, event_count FROM {ledger_digest} WHERE id"
_WRITE = """
INSERT INTO {ledger_digest} (id, position, digest, event_count) VALUES (true, %s, %s, %s)
ON CONFLICT (id) DO UPDATE
SET position = excluded.position, digest = excluded.digest, event_count = excluded.event_count
"""


class LedgerDigestProjection(Projection):
    """One row: position, digest and number of events folded."""

    name = "ledger_digest"
    tables = (LEDGER_DIGEST,)
    topics = None
    wants_hash = True

    async def write(
        self, conn: AsyncConnection[Any], target: Target, plan: Sequence[LogEvent]
    ) -> None:
        events = plan
        if not events:
            return
        cur = await conn.execute(target.sql(_READ))
        row = await cur.fetchone()
        position, digest, count = (
            (0, GENESIS, 0) if row is None else (row[0], bytes(row[1]), row[2])
        )
        for event in events:
            if event.position <= position or event.hash is None:
                raise ProjectionError(f"ledger digest at {position} given event {event.position}")
            digest = digest_step(digest, event.position, event.hash)
            position = event.position
        await conn.execute(target.sql(_WRITE), (position, digest, count + len(events)))


PROJECTION = LedgerDigestProjection()
