"""`escrowgrid projections rebuild`: rebuild read models beside the live ones, then swap them in."""

# 1. Build each model into `eg_rebuild_<name>` up to the head of the log (in set-based SQL
#    for a model that has it, else in large pipelined batches; an interrupted build resumes),
#    then make it LOGGED and give it its indexes.
# 2. Catch up with what was appended meanwhile.
# 3. Swap in one transaction: lock the models' tracking rows (the live runner finishes its
#    batch and then waits), apply the last events up to the head, move the live tables out and the
#    new ones in with ALTER TABLE ... SET SCHEMA, set the tracking positions. Then drop the old.
#
# The live tables change only in that transaction, so they are never half-built. It does not
# lock the event table: appends go on, and whatever lands after the head read in the swap is
# projected by the live runner from the position the swap records.

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

import psycopg
from psycopg import AsyncConnection, sql

from projections.framework.base import LIVE_SCHEMA
from projections.rebuilding import scratch
from projections.rebuilding.building import BULK_BATCH, ScratchBuild, ScratchModel, events_between
from projections.rebuilding.progress import Progress
from projections.registry import select
from projections.runner import tracking
from projections.runner.runner import PROJECTIONS_CHANNEL

SWAP_LOCK_TIMEOUT = "5s"  # a reader holding a live table longer than this delays the swap
SWAP_ATTEMPTS = 5


@dataclass
class RebuildReport:
    """What a rebuild did."""

    names: list[str]
    resumed: list[str]
    events: int
    seconds: float
    position: int
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


async def rebuild(
    conninfo: str,
    names: Iterable[str] | None = None,
    *,
    progress: TextIO | None = None,
    show_progress: bool = True,
    batch_size: int = BULK_BATCH,
    resume: bool = True,
) -> RebuildReport:
    """Rebuild the named read models (all for None) while the service keeps serving."""
    projections = select(names)
    started = time.monotonic()
    phases: dict[str, float] = {}
    async with ScratchBuild(conninfo, projections, "rebuild", batch_size=batch_size) as build:
        resumed = await build.prepare(resume=resume)
        start = min(m.position for m in build.models)
        head = await build.head()
        bar = Progress("rebuild", head - start, progress, enabled=show_progress)
        await build.catch_up(head, bar)
        phases["load"] = time.monotonic() - started
        mark = time.monotonic()
        await build.finish_indexes()
        phases["index"] = time.monotonic() - mark
        mark = time.monotonic()
        newer = await build.head()
        bar.add_total(newer - head)
        await build.catch_up(newer, bar)
        position = await _swap(build)
        phases["swap"] = time.monotonic() - mark
        bar.finish()
        events = await events_between(build.writer, build.models, start, position)
    return RebuildReport(
        [p.name for p in projections],
        resumed,
        events,
        time.monotonic() - started,
        position,
        phases,
    )


async def _swap(build: ScratchBuild) -> int:
    """Swap every copy in, in one transaction; retried when a lock is not granted in time."""
    for attempt in range(1, SWAP_ATTEMPTS + 1):
        before = {m.name: m.position for m in build.models}
        try:
            return await _swap_once(build)
        except psycopg.errors.LockNotAvailable:
            for model in build.models:  # the tail applied in the rolled-back transaction is gone
                model.position = before[model.name]
            if attempt == SWAP_ATTEMPTS:
                raise
            await build.catch_up(await build.head())
    raise AssertionError("unreachable")


async def _swap_once(build: ScratchBuild) -> int:
    conn = build.writer
    names = [m.name for m in build.models]
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
        await tracking.ensure_rows(conn, names)
        _, head = await tracking.lock_positions(conn, names)  # waits for the runner's batch
        for model in build.models:
            await build.apply_tail(conn, model, head)
        for model in build.models:
            await _exchange(conn, model)
        positions = {m.name: m.position for m in build.models}
        notice = (PROJECTIONS_CHANNEL, json.dumps(positions))
        await tracking.advance(conn, positions, notify=notice)
    # The old tables go after the swap has committed: readers waited only for the renames.
    for model in build.models:
        await scratch.drop(conn, scratch.schema_name("retired", model.projection))
    return head


async def _exchange(conn: AsyncConnection[Any], model: ScratchModel) -> None:
    """Move the live tables out and the rebuilt ones in (names, indexes and all)."""
    retired = sql.Identifier(scratch.schema_name("retired", model.projection))
    await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(retired))
    await conn.execute(sql.SQL("CREATE SCHEMA {}").format(retired))
    tables = model.projection.tables
    await conn.execute(
        sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
            sql.SQL(", ").join(sql.Identifier(LIVE_SCHEMA, t) for t in tables)
        )
    )
    for table in tables:
        await conn.execute(
            sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                sql.Identifier(LIVE_SCHEMA, table), retired
            )
        )
        await conn.execute(
            sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                sql.Identifier(model.schema, table), sql.Identifier(LIVE_SCHEMA)
            )
        )
    await scratch.drop(conn, model.schema)  # now only its tracking and info tables
