"""`escrowgrid verify --chain`: the anchors on chain against the ledger digest of the log."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from escrowgrid.eventlog.hashing import GENESIS, digest_step
from escrowgrid.onchain.client import ChainClient

_BATCH = 10_000
_READ = "SELECT position, hash FROM events WHERE position > %s ORDER BY position LIMIT %s"


async def check_anchors(conn: AsyncConnection[Any], client: ChainClient) -> tuple[int, list[str]]:
    """(anchors proved, problems): each anchor's digest recomputed from the log up to it."""
    anchors = dict(client.anchors())
    problems: list[str] = []
    proved = 0
    digest, position = GENESIS, 0
    wanted = sorted(anchors)
    while wanted:
        cur = await conn.execute(_READ, (position, _BATCH))
        rows = await cur.fetchall()
        if not rows:
            break
        for at, event_hash in rows:
            digest = digest_step(digest, at, bytes(event_hash))
            position = at
            while wanted and wanted[0] <= at:
                anchored = wanted.pop(0)
                if anchored != at:
                    problems.append(f"anchor at {anchored}: no event at that log position")
                elif anchors[anchored] != digest:
                    problems.append(f"anchor at {anchored}: the log's digest there differs")
                else:
                    proved += 1
    problems += [f"anchor at {p}: beyond the end of the log" for p in wanted]
    return proved, problems
