"""Building read models from the log into scratch copies, fast: large batches, pipelined."""

# One connection reads the next batch while another applies and commits the current one, so
# PostgreSQL's work (the SELECT, the COPY, the commit) overlaps Python's (decoding, folding).
# Every batch commits the copy's rows with the copy's own tracking row, so an interrupted build
# resumes where it stopped.

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from escrowgrid.background import cancel_and_wait
from projections.framework.base import Projection, ProjectionError, Target
from projections.rebuilding import scratch
from projections.rebuilding.progress import Progress
from projections.runner import tracking
from projections.runner.batches import (
    Planned,
    Step,
    apply_batch,
    head_position,
    plan_batch,
    read_for,
    write_batch,
)
from projections.runner.connect import close_quietly, connect

BULK_BATCH = 50_000


async def events_between(
    conn: AsyncConnection[Any], models: Sequence[ScratchModel], after: int, upto: int
) -> int:
    """How many events in (after, upto] the models read (for progress and reports)."""
    topics: set[str] | None = set()
    for model in models:
        if model.projection.topics is None or topics is None:
            topics = None
        else:
            topics |= model.projection.topics
    query = "SELECT count(*) FROM events WHERE position > %s AND position <= %s"
    params: list[object] = [after, upto]
    if topics is not None:
        query += " AND topic = ANY(%s)"
        params.append(list(topics))
    cur = await conn.execute(query, params)
    row = await cur.fetchone()
    return int(row[0]) if row else 0


FINISH_PARALLEL = 3


@dataclass
class ScratchModel:
    """One projection being built into its scratch schema."""

    projection: Projection
    schema: str
    position: int = 0
    indexed: bool = False

    @property
    def step(self) -> Step:
        return Step(self.projection, Target(self.schema))

    @property
    def name(self) -> str:
        return self.projection.name


class ScratchBuild:
    """Scratch copies of some projections, built from the log in the same pass."""

    def __init__(
        self,
        conninfo: str,
        projections: Sequence[Projection],
        kind: str,
        *,
        batch_size: int = BULK_BATCH,
    ) -> None:
        self.conninfo = conninfo
        self.kind = kind
        self.batch_size = batch_size
        self.models = [ScratchModel(p, scratch.schema_name(kind, p)) for p in projections]
        self._writer: AsyncConnection[Any] | None = None
        self._reader: AsyncConnection[Any] | None = None

    async def __aenter__(self) -> ScratchBuild:
        app = f"escrowgrid-{self.kind}"
        self._writer = await connect(self.conninfo, app)
        self._reader = await connect(self.conninfo, app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await close_quietly(self._reader)
        await close_quietly(self._writer)

    @property
    def writer(self) -> AsyncConnection[Any]:
        assert self._writer is not None, "use ScratchBuild as an async context manager"
        return self._writer

    async def prepare(self, *, resume: bool) -> list[str]:
        """Create the copies, or pick up interrupted ones; returns the names resumed."""
        resumed: list[str] = []
        for model in self.models:
            found = None
            if resume:
                found = await scratch.state(self.writer, model.projection, model.schema)
            if found is None:
                await scratch.create(self.writer, model.projection, model.schema)
                model.position, model.indexed = 0, False
            else:
                model.position, model.indexed = found.position, found.indexed
                resumed.append(model.name)
        return resumed

    async def head(self) -> int:
        return await head_position(self.writer)

    async def catch_up(self, upto: int, progress: Progress | None = None) -> None:
        """Build every copy up to `upto`. Progress counts log positions passed by the slowest."""
        start = min((m.position for m in self.models), default=upto)
        for model in self.models:
            bulk = model.projection.bulk_statements(model.step.target, upto)
            if model.position == 0 < upto and bulk:
                await self._bulk(model, bulk, upto)
        behind = [m for m in self.models if m.position < upto]
        if not behind:
            if progress is not None:
                progress.advance(upto - start)
            return
        if progress is not None:
            progress.advance(min(m.position for m in behind) - start)
        assert self._reader is not None
        steps = [m.step for m in behind]
        queue: asyncio.Queue[tuple[Planned, int] | None] = asyncio.Queue(maxsize=2)
        positions = {m.name: m.position for m in behind}
        reader = asyncio.create_task(self._read(self._reader, steps, positions, upto, queue))
        try:
            while (item := await queue.get()) is not None:
                planned, passed = item
                await self._write(behind, planned)
                if progress is not None:
                    progress.advance(passed)
        finally:
            await cancel_and_wait([reader])

    async def _bulk(
        self, model: ScratchModel, waves: list[list[tuple[str, list[Any]]]], upto: int
    ) -> None:
        """Build an empty copy up to `upto` with the model's set-based statements: wave after
        wave, the statements of a wave side by side."""
        # Each statement commits on its own; the tracking row moves only after all did. An
        # interruption leaves the tracking row at 0, and the next attempt starts by emptying.
        target = model.step.target
        for table in model.projection.tables:
            await self.writer.execute(target.sql(f"TRUNCATE {{{table}}}"))

        async def run(statement: str, params: list[Any]) -> None:
            conn = await connect(self.conninfo, f"escrowgrid-{self.kind}")
            try:
                async with conn.transaction():
                    # Sorts and hashes of a whole log stay in memory (one admin session).
                    await conn.execute("SET LOCAL work_mem = '512MB'")
                    cur = await conn.execute(statement, params)
                    row = await cur.fetchone() if cur.description else None
                    if row is not None and row[0] is not None:
                        raise ProjectionError(f"{model.name}: {row[0]}")
            finally:
                await close_quietly(conn)

        for wave in waves:
            try:
                async with asyncio.TaskGroup() as group:  # one fails: the others are cancelled
                    for statement, params in wave:
                        group.create_task(run(statement, params))
            except BaseExceptionGroup as failed:
                named: list[BaseException] = [
                    e for e in failed.exceptions if isinstance(e, ProjectionError)
                ]
                raise (named or list(failed.exceptions))[0] from None
        await tracking.advance(self.writer, {model.name: upto}, target)
        model.position = upto

    async def _read(
        self,
        conn: AsyncConnection[Any],
        steps: list[Step],
        positions: dict[str, int],
        upto: int,
        queue: asyncio.Queue[tuple[Planned, int] | None],
    ) -> None:
        """Read and plan batch after batch (the writer is one or two batches behind)."""
        while (after := min(positions.values())) < upto:
            batch = await read_for(conn, steps, after, upto, self.batch_size)
            planned = plan_batch(steps, positions, batch)
            positions = planned.positions
            await queue.put((planned, min(positions.values()) - after))
        await queue.put(None)

    async def _write(self, models: list[ScratchModel], planned: Planned) -> None:
        async with self.writer.transaction():
            await write_batch(self.writer, planned)
            for model in models:
                await tracking.advance(
                    self.writer,
                    {model.name: planned.positions[model.name]},
                    Target(model.schema),
                )
        for model in models:
            model.position = planned.positions[model.name]

    async def apply_tail(self, conn: AsyncConnection[Any], model: ScratchModel, upto: int) -> None:
        """Bring one copy to `upto` inside the caller's transaction (swap, compare)."""
        while model.position < upto:
            batch = await read_for(conn, [model.step], model.position, upto, self.batch_size)
            applied = await apply_batch(conn, [model.step], {model.name: model.position}, batch)
            model.position = applied.positions[model.name]
            await tracking.advance(conn, applied.positions, Target(model.schema))

    async def finish_indexes(self, parallel: int = FINISH_PARALLEL) -> None:
        """WAL and indexes for every copy not yet finished, a few tables at a time (the index
        builds and rewrites are PostgreSQL's work: separate sessions use separate cores)."""
        todo = [(m, t) for m in self.models if not m.indexed for t in m.projection.tables]
        if not todo:
            return
        gate = asyncio.Semaphore(parallel)

        async def finish(model: ScratchModel, table: str) -> None:
            async with gate:
                conn = await connect(self.conninfo, f"escrowgrid-{self.kind}")
                try:
                    await scratch.finish_table(conn, model.projection, model.schema, table)
                finally:
                    await close_quietly(conn)

        await asyncio.gather(*(finish(m, t) for m, t in todo))
        for model in self.models:
            if not model.indexed:
                await scratch.mark_finished(self.writer, model.schema)
                model.indexed = True

    async def drop(self) -> None:
        for model in self.models:
            await scratch.drop(self.writer, model.schema)
