"""Followers never skip or repeat an event while many writers commit concurrently."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from uuid import uuid4

import psycopg
import pytest

from escrowgrid import bootstrap
from escrowgrid.eventlog.records import AppendRequest, PendingEvent

WRITERS = 8
TASKS_PER_WRITER = 4
DURATION_S = 10.0


def _writer(dsn: str, seconds: float, counts: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """One writer process: its own pool and appender, several concurrent commands at a time."""

    async def main() -> int:
        wired = bootstrap.build(dsn, pool_size=bootstrap.PoolSize(min_size=1, max_size=2))
        await wired.start()
        appender = wired.appender
        deadline = time.monotonic() + seconds
        written = 0

        async def task() -> None:
            nonlocal written
            while time.monotonic() < deadline:
                sid = uuid4()
                size = 1 + written % 3  # commands of one to three events
                events = [PendingEvent(sid, v, "test:Event", b"{}") for v in range(1, size + 1)]
                await appender.append(AppendRequest(events, None, {"w": "x"}))
                written += size

        await asyncio.gather(*(task() for _ in range(TASKS_PER_WRITER)))
        await wired.stop()
        return written

    counts.put(asyncio.run(main()))


def _follow(dsn: str, stop: threading.Event, seen: list[int]) -> None:
    """A live follower: reads after the last position it has seen, as fast as it can."""
    last = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            finished = stop.is_set()
            rows = conn.execute(
                "SELECT position FROM events WHERE position > %s ORDER BY position LIMIT 5000",
                (last,),
            ).fetchall()
            for (position,) in rows:
                seen.append(position)
                last = position
            if finished and not rows:
                return


@pytest.mark.slow
def test_a_live_follower_sees_every_event_exactly_once(database_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    counts: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    seen: list[int] = []
    stop = threading.Event()
    follower = threading.Thread(target=_follow, args=(database_url, stop, seen))
    follower.start()
    writers = [
        ctx.Process(target=_writer, args=(database_url, DURATION_S, counts)) for _ in range(WRITERS)
    ]
    for w in writers:
        w.start()
    for w in writers:
        w.join(120)
        assert w.exitcode == 0
    stop.set()
    follower.join(60)
    written = sum(counts.get(timeout=5) for _ in writers)
    with psycopg.connect(database_url) as conn:
        committed = [r[0] for r in conn.execute("SELECT position FROM events ORDER BY position")]
    assert written == len(committed) > 1000
    assert len(seen) == len(set(seen)), "the follower saw an event twice"
    assert seen == committed, f"skipped: {sorted(set(committed) - set(seen))[:10]}"


def test_without_the_lock_a_follower_can_skip_and_with_it_cannot(database_url: str) -> None:
    """Shows the hazard the table lock removes, step by step with two transactions."""
    insert = (
        "INSERT INTO events (stream_id, version, topic, state, meta, hash)"
        " VALUES (%s, 1, 't', '', '{}', sha256('x')) RETURNING position"
    )
    with psycopg.connect(database_url) as a, psycopg.connect(database_url) as b:
        first = a.execute(insert, (uuid4(),)).fetchone()[0]  # type: ignore[index]
        second = b.execute(insert, (uuid4(),)).fetchone()[0]  # type: ignore[index]
        b.commit()  # the later position commits first
        with psycopg.connect(database_url, autocommit=True) as f:
            visible = [r[0] for r in f.execute("SELECT position FROM events WHERE position > 0")]
        assert visible == [second] and first < second  # a follower now passes `first` by
        a.commit()
    with psycopg.connect(database_url) as a, psycopg.connect(database_url) as b:
        a.execute("LOCK TABLE events IN EXCLUSIVE MODE")
        a.execute(insert, (uuid4(),))
        b.execute("SET lock_timeout = '300ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            b.execute("LOCK TABLE events IN EXCLUSIVE MODE")  # waits for a's commit
        b.rollback()
        # Readers are never blocked by the lock.
        with psycopg.connect(database_url, autocommit=True) as f:
            f.execute("SET lock_timeout = '300ms'")
            f.execute("SELECT count(*) FROM events").fetchone()
        a.commit()
