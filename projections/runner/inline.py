"""Inline projection: the read models a command's answer needs, written in its append transaction.

The appender calls `commit` after `append_batch_tracked` has locked the event table and these
models' tracking rows, before it commits: rows and tracking commit with the events or not at
all (exactly-once), so a command's answer needs no wait for them (read-your-writes). When the
models have passed everything before the batch, the batch's own events (already in memory) are
all there is to project; otherwise (a log written by an earlier version, a rebuild's swap) the
transaction first reads what they missed. The plans and writes are the runner's and rebuild's
own (runner.batches), which is what keeps rebuild equal to live.

A batch these models cannot project rolls back to a savepoint: the events still commit, the
models stay where they were and are counted as failing, and every later batch tries again,
as the runner does for an asynchronous model.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import AsyncConnection

from escrowgrid.eventlog.inline import AppendedEvent
from projections.framework.base import (
    LIVE,
    SMALL_BATCH,
    Projection,
    count_mismatch,
    counts_in_sql,
)
from projections.framework.feed import LogEvent
from projections.registry import INLINE
from projections.runner import metrics
from projections.runner.batches import Batch, Planned, Step, plan_batch, read_for, write_batch

log = logging.getLogger("escrowgrid.projections")

_ADVANCE = """
INSERT INTO projection_tracking AS t (name, position)
SELECT * FROM unnest(%s::text[], %s::bigint[])
ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = clock_timestamp()
"""
_CATCH_UP_LIMIT = 1_000_000_000  # a catch-up reads everything missed: the batch must be in it


class InlineProjection:
    """Projects `projections` (positions and ledger_events by default) inside appends."""

    def __init__(self, projections: Sequence[Projection] = INLINE) -> None:
        self._steps = [Step(p, LIVE) for p in projections]
        self._names = tuple(s.name for s in self._steps)
        self.caught_up = 0  # batches that had to read missed events first

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    async def commit(
        self,
        conn: AsyncConnection[Any],
        tracked: Mapping[str, int],
        head_before: int,
        appended: Sequence[AppendedEvent],
    ) -> None:
        reached = appended[-1].position if appended else head_before
        positions = {name: tracked.get(name, 0) for name in self._names}
        if min(positions.values()) >= reached:
            await conn.execute(b"COMMIT")
            return
        if all(p >= head_before for p in positions.values()):
            batch = Batch([_log_event(a) for a in appended], reached)
        else:
            self.caught_up += 1
            start = min(positions.values())
            batch = await read_for(conn, self._steps, start, reached, _CATCH_UP_LIMIT)
        savepoint = False
        try:
            planned = plan_batch(self._steps, positions, batch)
            savepoint = True
            if len(batch.events) <= SMALL_BATCH:
                # Savepoint, rows, tracking and COMMIT in one round trip: the event-table lock
                # is held little longer than without inline projection. An update count that is
                # wrong fails in SQL (counts_in_sql), so the COMMIT queued behind it is skipped.
                with counts_in_sql():
                    async with conn.pipeline():
                        await conn.execute(b"SAVEPOINT inline_projection")
                        await self._write(conn, planned)
                        await conn.execute(b"COMMIT")
            else:  # COPY is not allowed in a pipeline
                await conn.execute(b"SAVEPOINT inline_projection")
                await self._write(conn, planned)
                await conn.execute(b"COMMIT")
        except (psycopg.OperationalError, OSError):
            raise  # the connection is gone: the whole batch fails and is retried by its callers
        except Exception as exc:
            if savepoint:
                await conn.execute(b"ROLLBACK TO SAVEPOINT inline_projection")
            await conn.execute(b"COMMIT")
            for name in self._names:
                metrics.FAILURES.labels(name).inc()
            log.error(
                "inline projection failed; the events are kept, the read models stay behind",
                exc_info=count_mismatch(exc) or exc,
                extra={"projections": list(self._names), "position": reached},
            )
            return
        for name, count in planned.consumed.items():
            if count:
                metrics.EVENTS.labels(name).inc(count)
            metrics.POSITION.labels(name).set(planned.positions[name])

    @staticmethod
    async def _write(conn: AsyncConnection[Any], planned: Planned) -> None:
        await write_batch(conn, planned)
        names = list(planned.positions)
        await conn.execute(_ADVANCE, (names, [planned.positions[n] for n in names]))


def _log_event(appended: AppendedEvent) -> LogEvent:
    event = appended.event
    tenant = appended.tenant_id
    return LogEvent(
        appended.position,
        str(event.stream_id),
        event.version,
        event.topic,
        event.state,
        None if tenant is None else str(tenant),
    )
