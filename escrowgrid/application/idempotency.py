"""The idempotency store: a key's recorded answer, the replay check, the record to keep."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from escrowgrid.application.context import CommandContext
from escrowgrid.eventlog.errors import IdempotencyMismatch
from escrowgrid.eventlog.records import IdempotencyRecord, StoredResponse


async def find_record(pool: AsyncConnectionPool, scope: str, key: str) -> IdempotencyRecord | None:
    """The record PostgreSQL keeps for the key (written by `append_batch` with the events)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT request_hash, status, response FROM idempotency_keys"
            " WHERE scope = %s AND key = %s",
            (scope, key),
        )
        row = await cur.fetchone()
    if row is None:
        return None
    return IdempotencyRecord(scope, key, bytes(row[0]), StoredResponse(row[1], bytes(row[2])))


def replayed(ctx: CommandContext, found: IdempotencyRecord | None) -> StoredResponse | None:
    """The earlier answer when this key was already used with this same request."""
    if found is None or ctx.idempotency is None:
        return None
    if found.request_hash != ctx.idempotency.request_hash:
        raise IdempotencyMismatch(ctx.idempotency.key)
    return found.response


def record_for(ctx: CommandContext, result: Any) -> IdempotencyRecord | None:
    """The record to append with the command's events (None without an idempotency key)."""
    if ctx.idempotency is None:
        return None
    if ctx.render is None:
        raise ValueError("an idempotency key needs a render function for its answer")
    return IdempotencyRecord(
        scope=ctx.idempotency_scope,
        key=ctx.idempotency.key,
        request_hash=ctx.idempotency.request_hash,
        response=ctx.render(result),
    )
