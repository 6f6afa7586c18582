"""The replica monitor against a real standby: the cases the HTTP tests cannot provoke."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest

from escrowgrid.database import open_pool
from escrowgrid.replica import monitor as monitor_module
from escrowgrid.replica.monitor import Reason, ReplicaMonitor
from tests.support.standby import StreamingPair


@pytest.fixture(scope="module")
def pair() -> Iterator[StreamingPair]:
    running = StreamingPair.start()
    yield running
    running.stop()


async def _until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.02)


def _with_monitor(
    primary_dsn: str, replica_dsn: str, body: Callable[[ReplicaMonitor], Awaitable[None]]
) -> None:
    async def go() -> None:
        primary = open_pool(primary_dsn, min_size=1, max_size=2)
        await primary.open()
        watcher = ReplicaMonitor(replica_dsn, primary, max_lag=1.0, pool_min=1, pool_max=2)
        await watcher.start()
        try:
            await body(watcher)
        finally:
            await watcher.stop()
            await primary.close()

    asyncio.run(go())


def test_a_command_without_its_wal_mark_suspends_the_replica_until_a_later_probe(
    pair: StreamingPair,
) -> None:
    async def body(watcher: ReplicaMonitor) -> None:
        await _until(lambda: watcher.refusal() is None, "the replica is fresh")
        suspended_at = time.monotonic()
        watcher.suspend(0.5)
        assert watcher.refusal() is Reason.WARMING
        await _until(lambda: watcher.refusal() is None, "fresh again")
        assert time.monotonic() - suspended_at >= 0.5

    _with_monitor(pair.primary.dsn, pair.standby.dsn, body)


def test_a_standby_of_another_cluster_is_never_used(pair: StreamingPair, database_url: str) -> None:
    """The standby's LSNs mean nothing for another primary (the tests' session cluster here)."""

    async def body(watcher: ReplicaMonitor) -> None:
        await _until(
            lambda: "not a standby of the primary" in watcher.status().get("error", ""),
            "the monitor names the problem",
        )
        await asyncio.sleep(1.0)  # and keeps refusing it, attempt after attempt
        assert watcher.refusal() is Reason.DOWN and watcher.pool is None

    _with_monitor(database_url, pair.standby.dsn, body)


def test_a_paused_replica_times_a_wait_out_and_serves_again_once_resumed(
    pair: StreamingPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(monitor_module, "WARM_UP", 0.0)

    async def body(watcher: ReplicaMonitor) -> None:
        await _until(lambda: watcher.refusal() is None, "the replica is fresh")
        pair.pause_replay()
        try:
            pair.on_primary("CREATE TABLE IF NOT EXISTS replica_probe (n int)")
            pair.on_primary("INSERT INTO replica_probe VALUES (1)")
            async with watcher._primary.connection() as conn:  # the LSN past that insert
                row = await (
                    await conn.execute("SELECT pg_current_wal_insert_lsn() - '0/0'")
                ).fetchone()
            assert row is not None
            lsn = int(row[0])
            started = time.monotonic()
            assert await watcher.wait_replayed(lsn, 0.3) is False
            assert 0.3 <= time.monotonic() - started < 2.0
            watcher.require(lsn)
            await _until(lambda: watcher.refusal() is not None, "stale or behind")
        finally:
            pair.resume_replay()
        assert await watcher.wait_replayed(lsn, 10.0) is True
        await _until(lambda: watcher.refusal() is None, "fresh again")

    _with_monitor(pair.primary.dsn, pair.standby.dsn, body)


def test_a_wait_ends_as_soon_as_the_replica_goes_down(
    pair: StreamingPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(monitor_module, "WARM_UP", 0.0)

    async def body(watcher: ReplicaMonitor) -> None:
        await _until(lambda: watcher.refusal() is None, "the replica is fresh")
        pair.pause_replay()
        pair.on_primary("CREATE TABLE IF NOT EXISTS replica_probe (n int)")
        pair.on_primary("INSERT INTO replica_probe VALUES (2)")  # WAL the replica has not
        async with watcher._primary.connection() as conn:
            row = await (
                await conn.execute("SELECT pg_current_wal_insert_lsn() - '0/0'")
            ).fetchone()
        assert row is not None
        waiting = asyncio.create_task(watcher.wait_replayed(int(row[0]), 30.0))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await asyncio.to_thread(pair.stop_standby)
        assert await waiting is False
        assert time.monotonic() - started < 5.0  # not the 30 s asked for
        assert watcher.refusal() is Reason.DOWN

    try:
        _with_monitor(pair.primary.dsn, pair.standby.dsn, body)
    finally:
        pair.start_standby()
        pair.resume_replay()
