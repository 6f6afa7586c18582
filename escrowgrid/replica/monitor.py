"""Follows a streaming replica: how far it has replayed, and whether queries may rely on it."""

# Two facts decide whether a query may go to the replica (docs/architecture.md, "Read replicas"):
# - Freshness. A probe notes the time t1, reads the primary's flushed LSN, then polls the
#   replica until its replay passes that LSN: the replica then holds everything any process had
#   answered before t1. Queries use the replica only while the newest such t1 is at most
#   `max_lag` old.
# - This process's marks. A command whose effects the replica had not replayed within `max_lag`
#   leaves its LSN here; queries go to the primary until the replica has replayed past it.
# A command waits for the replica up to `max_lag` after its flush, so a command answered without
# the replica holding it was answered at least `max_lag` after that flush: by then every
# process's freshness proof from before the flush is too old to use. That keeps read-your-writes
# across API processes, not only within this one. After a (re)connection, probes count only from
# WARM_UP on: a process that saw the replica down answered without waiting, and it notices the
# replica back within RECONNECT_CAP.

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import os
import time
from enum import StrEnum
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from escrowgrid.database import open_pool
from escrowgrid.replica import wal
from escrowgrid.replica.metrics import instruments

log = logging.getLogger("escrowgrid.replica")

RECONNECT_CAP = 0.5  # seconds between attempts to reach a replica that is down, at most
WARM_UP = 1.5  # > RECONNECT_CAP + a connection's set-up: see the comment above
QUERY_TIMEOUT = 2.0  # a replica that does not answer a trivial query in this long is down
PROBE_INTERVAL = 0.05  # a freshness probe (one primary query) this often
POLL_INTERVAL = 0.002  # the replica's replay position this often while commands wait for it
IDLE_POLL = 0.01  # ... and while a probe waits for it
_PRUNE_AT = 10_000


class Reason(StrEnum):
    """Why queries do not go to the replica at this moment."""

    DOWN = "down"  # unreachable, or not a standby
    WARMING = "warming"  # (re)connected, no probe since WARM_UP yet
    STALE = "stale"  # the newest freshness proof is older than max_lag
    BEHIND = "behind"  # a command of this process is not replayed yet


class ReplicaMonitor:
    """One task per process polling the replica's replay position and proving its freshness."""

    def __init__(
        self,
        conninfo: str,
        primary: AsyncConnectionPool,
        max_lag: float,
        *,
        pool_min: int = 2,
        pool_max: int = 32,
    ) -> None:
        self._conninfo = conninfo
        self._primary = primary
        self.max_lag = max_lag
        self._pool_size = (pool_min, pool_max)
        # The queries' pool, made at each connection and closed when the replica goes down: a
        # pool that lived through an outage is left with its reconnections backed off for
        # minutes (measured: no connection 5 s after a 20 s outage ended).
        self.pool: AsyncConnectionPool | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._connected_at: float | None = None  # None: down
        self._proofs_from = 0.0  # a probe started before this proves nothing (warm-up, suspend)
        self._replayed = -1
        self._fresh_as_of: float | None = None
        self._lag_bytes: int | None = None
        self._required = 0
        self._error: str | None = "not connected yet"
        self._heap: list[tuple[int, int, asyncio.Future[bool]]] = []
        self._waiting = 0
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- what the read side and the commands ask ------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected_at is not None

    def refusal(self) -> Reason | None:
        """None when a query may go to the replica now, else why not."""
        connected_at = self._connected_at
        if connected_at is None:
            return Reason.DOWN
        fresh = self._fresh_as_of
        if fresh is None:
            return Reason.WARMING
        if time.monotonic() - fresh > self.max_lag:
            return Reason.STALE
        if self._replayed < self._required:
            return Reason.BEHIND
        return None

    def require(self, lsn: int) -> None:
        """Queries of this process go to the primary until the replica has replayed `lsn`."""
        self._required = max(self._required, lsn)

    def poke(self) -> None:
        """Poll the replica now (a query just failed on one of its connections)."""
        self._wake.set()

    def suspend(self, seconds: float) -> None:
        """Queries of this process go to the primary until a probe started `seconds` from now
        has passed: for a command whose LSN could not be learnt."""
        self._fresh_as_of = None
        self._proofs_from = max(self._proofs_from, time.monotonic() + seconds)

    async def wait_replayed(self, lsn: int, timeout: float) -> bool:
        """True once the replica has replayed `lsn`; False after `timeout` seconds."""
        if lsn <= self._replayed:
            return True
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if len(self._heap) > _PRUNE_AT:  # waits abandoned while the replica was stuck
            self._heap = [entry for entry in self._heap if not entry[2].done()]
            heapq.heapify(self._heap)
        heapq.heappush(self._heap, (lsn, next(self._order), future))
        self._waiting += 1
        self._wake.set()
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(future)
        except TimeoutError:
            return lsn <= self._replayed
        finally:
            self._waiting -= 1
            if not future.done():
                future.cancel()  # dropped from the heap once replay passes it, or by a prune

    def status(self) -> dict[str, Any]:
        """What /ready reports about the replica."""
        reason = self.refusal()
        fresh = self._fresh_as_of
        body: dict[str, Any] = {
            "ok": reason is None,
            "state": "streaming" if reason is None else reason.value,
            "servingReads": reason is None,
            "lagMs": None if fresh is None else round((time.monotonic() - fresh) * 1000, 1),
            "lagBytes": self._lag_bytes,
        }
        if self._error is not None and reason is Reason.DOWN:
            body["error"] = self._error
        return body

    # -- the task -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="replica-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=10.0)
            self._task = None
        self._down("stopped")
        if self._closing:
            await asyncio.wait(self._closing, timeout=10.0)

    async def _run(self) -> None:
        backoff = 0.05
        app = f"escrowgrid-replica-monitor:{os.getpid()}"
        while True:
            conn: AsyncConnection[Any] | None = None
            try:
                async with asyncio.timeout(QUERY_TIMEOUT):
                    conn = await AsyncConnection.connect(
                        self._conninfo, autocommit=True, application_name=app
                    )
                    self._advance(await wal.replayed(conn))
                    await wal.check_standby_of(conn, self._primary)
                pool = open_pool(
                    self._conninfo,
                    min_size=self._pool_size[0],
                    max_size=self._pool_size[1],
                    name="escrowgrid-replica",
                )
                try:
                    await pool.open(wait=True, timeout=QUERY_TIMEOUT)
                except BaseException:
                    self._close_later(pool)
                    raise
                self._up(pool)
                backoff = 0.05
                await self._follow(conn)
            except asyncio.CancelledError:
                await _close(conn)
                raise
            except Exception as exc:  # keep watching whatever happens; queries use the primary
                if not isinstance(exc, psycopg.Error | OSError | TimeoutError | wal.NotAStandby):
                    log.exception("replica monitor failed; reconnecting")
                if self.connected:
                    log.warning("replica unreachable; queries go to the primary",
                                extra={"error": str(exc)})  # fmt: skip
                self._down(_first_line(exc))
                await _close(conn)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RECONNECT_CAP)

    async def _follow(self, conn: AsyncConnection[Any]) -> None:
        probe: tuple[float, int] | None = None
        next_probe = 0.0
        while True:
            now = time.monotonic()
            if probe is None and now >= next_probe:
                with contextlib.suppress(psycopg.Error, OSError, TimeoutError):
                    async with asyncio.timeout(QUERY_TIMEOUT):  # the primary down: no proof
                        probe = (now, await wal.flushed(self._primary))
                next_probe = now + PROBE_INTERVAL
            async with asyncio.timeout(QUERY_TIMEOUT):
                self._advance(await wal.replayed(conn))
            if probe is not None:
                started, lsn = probe
                self._lag_bytes = max(0, lsn - self._replayed)
                if self._replayed >= lsn:
                    if started >= self._proofs_from:
                        self._fresh_as_of = started
                    probe = None
                self._publish()
            await self._pause(probe is not None, next_probe)

    async def _pause(self, probing: bool, next_probe: float) -> None:
        if self._waiting:
            await asyncio.sleep(POLL_INTERVAL)
            return
        delay = IDLE_POLL if probing else max(0.0, next_probe - time.monotonic())
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wake.wait()

    # -- state changes --------------------------------------------------------------------------

    def _advance(self, replayed: int) -> None:
        self._replayed = max(self._replayed, replayed)
        while self._heap and (self._heap[0][0] <= self._replayed or self._heap[0][2].done()):
            _, _, future = heapq.heappop(self._heap)
            if not future.done():
                future.set_result(True)

    def _up(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self._connected_at = time.monotonic()
        self._proofs_from = self._connected_at + WARM_UP
        self._fresh_as_of = None
        self._error = None

    def _down(self, error: str) -> None:
        if self.pool is not None:
            self._close_later(self.pool)
            self.pool = None
        # Commands waiting for a replica that is gone answer now, as later ones do at once.
        for _, _, future in self._heap:
            if not future.done():
                future.set_result(False)
        self._heap.clear()
        self._connected_at = None
        self._fresh_as_of = None
        self._lag_bytes = None
        self._error = error
        self._publish()

    def _close_later(self, pool: AsyncConnectionPool) -> None:
        # Queries still holding its connections finish (or fail) on their own.
        task = asyncio.create_task(pool.close(timeout=5.0))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _publish(self) -> None:
        metrics = instruments()
        fresh = self._fresh_as_of
        if fresh is not None:
            metrics.lag_seconds.set(time.monotonic() - fresh)
        if self._lag_bytes is not None:
            metrics.lag_bytes.set(self._lag_bytes)
        metrics.serving.set(1 if self.refusal() is None else 0)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


async def _close(conn: AsyncConnection[Any] | None) -> None:
    if conn is not None and not conn.closed:
        with contextlib.suppress(Exception):  # closing a dead connection fails harmlessly
            await conn.close()
