"""One step of any projector: read the next batch for a set of projections and apply it."""

# Shared by the live runner (into the live tables) and by rebuild/verify (into scratch tables):
# the same handlers and the same batching, whatever the target, is what makes rebuild equal live.

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, AsyncCursor

from projections.framework.base import Projection, Target
from projections.framework.feed import LogEvent, received, send_read


@dataclass(frozen=True, slots=True)
class Step:
    """A projection and the schema its rows go to."""

    projection: Projection
    target: Target

    @property
    def name(self) -> str:
        return self.projection.name


@dataclass(frozen=True, slots=True)
class Batch:
    """Events read for a set of steps, and the log position the batch accounts for."""

    # `reached` is past the last event when the batch ends at the head: positions with no
    # event of interest still count as passed, or waiters would wait for them forever.

    events: list[LogEvent]
    reached: int


async def head_position(conn: AsyncConnection[Any]) -> int:
    """The highest committed position; every event at or below it is visible (gap-safe log)."""
    cur = await conn.execute("SELECT coalesce(max(position), 0) FROM events")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def read_for(
    conn: AsyncConnection[Any],
    steps: Sequence[Step],
    after: int,
    upto: int,
    limit: int,
) -> Batch:
    """The next batch after `after`, up to `upto` (a head read earlier), for these steps."""
    return await batch_read(await send_read_for(conn, steps, after, limit, upto), upto, limit)


async def send_read_for(
    conn: AsyncConnection[Any],
    steps: Sequence[Step],
    after: int,
    limit: int,
    upto: int | None = None,
) -> AsyncCursor[Any]:
    """`read_for`'s query, sent; without `upto` it can go behind the lock of the positions it
    starts from, in one pipeline, before the lock has answered with the head."""
    return await send_read(conn, after, limit, upto=upto, **_wanted(steps))


async def batch_read(cur: AsyncCursor[Any], head: int, limit: int) -> Batch:
    """The batch a `send_read_for` read, given the head read under the lock (or its `upto`)."""
    # A read without `upto` has a snapshot later than the head's, and the log is gap-safe: it
    # saw every event up to that head, and in order any it returns above it.
    events = await received(cur)
    if len(events) >= limit:
        return Batch(events, events[-1].position)
    return Batch(events, max(head, events[-1].position) if events else head)


def _wanted(steps: Sequence[Step]) -> dict[str, Any]:
    """The feed's filters and columns for these steps' projections together."""
    projections = [s.projection for s in steps]
    topics: set[str] | None = set()
    for p in projections:
        if p.topics is None or topics is None:
            topics = None
        else:
            topics |= p.topics
    return {
        "topics": topics,
        "with_context": any(p.wants_context for p in projections),
        "with_meta": any(p.wants_meta for p in projections),
        "with_hash": any(p.wants_hash for p in projections),
    }


@dataclass(frozen=True, slots=True)
class Planned:
    """A batch planned for a set of steps: each step's plan (None: nothing to write), its new
    position and how many events it consumed."""

    plans: list[tuple[Step, Any]]
    positions: dict[str, int]
    consumed: dict[str, int]


def plan_batch(steps: Sequence[Step], positions: Mapping[str, int], batch: Batch) -> Planned:
    """Give each step the events past its own position and of its topics, and plan them."""
    # Pure Python: a rebuild does this for the next batch while the current one is written.
    plans: list[tuple[Step, Any]] = []
    reached: dict[str, int] = {}
    consumed: dict[str, int] = {}
    for step in steps:
        start = positions[step.name]
        if start >= batch.reached:
            reached[step.name] = start
            consumed[step.name] = 0
            continue
        mine = batch.events
        if mine and mine[0].position <= start:
            mine = [e for e in mine if e.position > start]
        topics = step.projection.topics
        if topics is not None:
            mine = [e for e in mine if e.topic in topics]
        if mine:
            plans.append((step, step.projection.plan(mine)))
        reached[step.name] = batch.reached
        consumed[step.name] = len(mine)
    return Planned(plans, reached, consumed)


async def write_batch(conn: AsyncConnection[Any], planned: Planned) -> None:
    """Write every plan, in the caller's transaction (which must record planned.positions)."""
    for step, plan in planned.plans:
        await step.projection.write(conn, step.target, plan)


async def apply_batch(
    conn: AsyncConnection[Any],
    steps: Sequence[Step],
    positions: Mapping[str, int],
    batch: Batch,
) -> Planned:
    """Plan and write a batch for these steps, in the caller's transaction."""
    planned = plan_batch(steps, positions, batch)
    await write_batch(conn, planned)
    return planned
