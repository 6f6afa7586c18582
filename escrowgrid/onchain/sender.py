"""The sender: sends due outbox rows in log order, batched, and confirms them."""

# One sender at a time, by a session advisory lock (it goes with a dead process). Every fate of
# a row is written to PostgreSQL before the next step: sent (with its transaction), mined (its
# block), published (after ONCHAIN_CONFIRMATIONS blocks), or a failed attempt (attempts, last
# error, next attempt with exponential backoff from ONCHAIN_RETRY_DELAY_MS). A crash between
# sending and writing `sent` leaves the row pending: it is sent again, and the contract ignores
# a log position it already holds, so the chain still has each event once.
#
# A batch too large for a block (BatchTooLarge: the node's estimate says so) is not a failed
# attempt: the sender halves it until a part fits, sends that part, and from then on takes at
# most that many rows a round (`batch_cap`), so the rest goes in later rounds through the
# queue's per-position rule. Only a single event too large for a block counts as failed.

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any

from psycopg import AsyncConnection

from escrowgrid.config import OnchainSettings
from escrowgrid.onchain import gate, metrics, queue
from escrowgrid.onchain.client import BatchTooLarge, ChainClient, ChainEntry, ChainError
from projections.runner import locks
from projections.runner.connect import close_quietly, connect

log = logging.getLogger("escrowgrid.onchain")
audit = logging.getLogger("escrowgrid.audit")

SENDER_LOCK = "onchain_sender"
MAX_BACKOFF = 30.0


class Sender:
    """Sends while it holds the sender lock; `step` is one round (tests drive it directly)."""

    def __init__(
        self,
        conninfo: str,
        settings: OnchainSettings,
        client: Callable[[], ChainClient],
        *,
        poll_interval: float = 0.5,
        stale_seconds: float = 30.0,
    ) -> None:
        self._conninfo = conninfo
        self.settings = settings
        self._new_client = client
        self._client: ChainClient | None = None
        self.poll_interval = poll_interval
        self.stale_seconds = stale_seconds
        self.holds_lock = False
        # The most rows that fitted in a block, once a larger batch was refused for its gas.
        self.batch_cap: int | None = None

    async def run(self) -> None:
        """Until cancelled: take the lock, then send and confirm, reconnecting on failure."""
        backoff = 0.5
        while True:
            conn: AsyncConnection[Any] | None = None
            try:
                conn = await connect(self._conninfo, f"escrowgrid-onchain:{os.getpid()}")
                while not await locks.try_acquire(conn, [SENDER_LOCK]):
                    await asyncio.sleep(self.poll_interval * 2)
                self.holds_lock = True
                log.info("onchain sender started", extra={"event": "onchain_sender_started"})
                while True:
                    worked = await self.step(conn)
                    backoff = 0.5
                    if not worked:
                        await asyncio.sleep(self.poll_interval)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the sender must outlive a node or database outage
                log.warning("onchain sender interrupted", extra={"error": _safe(exc)})
                self._client = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            finally:
                self.holds_lock = False
                await close_quietly(conn)

    async def step(self, conn: AsyncConnection[Any]) -> bool:
        """Confirm what is in flight, then send one batch; True when something was sent."""
        client = await self._chain()
        head = None if client is None else await self._head(client)
        if client is not None and head is not None:
            with contextlib.suppress(ChainError):  # a node away: the send below counts it
                await self._confirm(conn, client, head)
        await conn.execute(gate.MARK, (head is not None,))
        if self.settings.retry_worker_enabled:
            await self._revive(conn)
        rows = await queue.due(conn, self.batch_cap or self.settings.retry_batch_size)
        if rows:
            await self._send(conn, client, rows)
        if self.settings.anchor_interval_seconds:
            await queue.anchor_by_time(conn, self.settings.anchor_interval_seconds)
        anchored = head is not None and client is not None and await self._anchor(conn, client)
        await self._measure(conn)
        return bool(rows) or anchored

    async def _revive(self, conn: AsyncConnection[Any]) -> None:
        # Revived rows are the earliest open rows of their positions (later ones were held back
        # behind them), so they go first and per-position order holds.
        count = await queue.revive_failed(conn)
        if count:
            log.info(
                "onchain_retry_revived",
                extra={"event": "onchain_retry_revived", "count": count},
            )

    async def _anchor(self, conn: AsyncConnection[Any], client: ChainClient) -> bool:
        """Confirm anchors in flight, send the next one; True when one was sent."""
        for log_position, tx_hash in await queue.anchors_in_flight(conn):
            with contextlib.suppress(ChainError):
                receipt = await asyncio.to_thread(client.receipt, tx_hash)
                if receipt is not None and receipt.succeeded:
                    await queue.anchor_published(conn, log_position)
        due = await queue.anchor_due(conn, self.stale_seconds)
        if due is None:
            return False
        try:
            tx_hash = await asyncio.to_thread(client.anchor, *due)
        except ChainError as exc:
            self._client = None
            log.warning("onchain anchor failed", extra={"logPosition": due[0], "error": str(exc)})
            return False
        await queue.anchor_sent(conn, due[0], tx_hash)
        return True

    async def _chain(self) -> ChainClient | None:
        if self._client is None:
            try:
                self._client = await asyncio.to_thread(self._new_client)
            except Exception as exc:
                log.warning("onchain node unreachable", extra={"error": _safe(exc)})
                return None
        return self._client

    async def _head(self, client: ChainClient) -> int | None:
        try:
            return await asyncio.to_thread(client.head)
        except Exception as exc:
            log.warning("onchain node unreachable", extra={"error": _safe(exc)})
            return None

    async def _confirm(self, conn: AsyncConnection[Any], client: ChainClient, head: int) -> None:
        flights = await queue.in_flight(conn, self.stale_seconds)
        for flight in flights:
            receipt = await asyncio.to_thread(client.receipt, flight.tx_hash)
            if receipt is None:
                if flight.block_number is not None or flight.stale:
                    # Mined once and gone (a reorg), or never mined (the node lost it): send
                    # again; anything the chain still holds is a no-op there.
                    await queue.requeue(conn, flight.tx_hash)
                    log.warning(
                        "onchain transaction gone; queued again",
                        extra={
                            "tx": "0x" + flight.tx_hash.hex(),
                            "positions": flight.log_positions,
                        },
                    )
                continue
            if not receipt.succeeded:
                await self._attempt_failed(conn, flight.log_positions, "transaction reverted")
                continue
            if receipt.block_number != flight.block_number:
                await queue.mark_mined(
                    conn, flight.tx_hash, receipt.block_number, receipt.block_hash
                )
            if head - receipt.block_number + 1 >= self.settings.confirmations:
                await queue.mark_published(conn, flight.tx_hash)
                metrics.PUBLISHED.inc(len(flight.log_positions))

    async def _send(
        self, conn: AsyncConnection[Any], client: ChainClient | None, rows: list[queue.Queued]
    ) -> None:
        positions = [r.log_position for r in rows]
        if client is None:
            await self._attempt_failed(conn, positions, "the node is unreachable")
            return
        while True:
            entries = [
                ChainEntry(r.log_position, r.event_hash, r.position_id, r.kind, r.payload_json)
                for r in rows
            ]
            try:
                tx_hash = await asyncio.to_thread(client.record_batch, entries)
                break
            except BatchTooLarge as exc:
                if len(rows) == 1:
                    await self._attempt_failed(conn, positions, str(exc))
                    return
                # Only the first part goes now: a later part may hold a later event of a
                # position in this one, and the queue sends that only once this one is confirmed.
                rows = rows[: (len(rows) + 1) // 2]
                positions = positions[: len(rows)]
                self.batch_cap = len(rows)
                log.info(
                    "onchain_batch_split",
                    extra={"event": "onchain_batch_split", "size": len(rows), "error": str(exc)},
                )
            except ChainError as exc:
                self._client = None  # a fresh client asks the node for the pending nonce
                await self._attempt_failed(conn, positions, str(exc))
                return
        await queue.mark_sent(conn, tx_hash, positions)

    async def _attempt_failed(
        self, conn: AsyncConnection[Any], positions: list[int], error: str
    ) -> None:
        metrics.SEND_ERRORS.inc()
        exhausted = await queue.mark_attempt_failed(conn, positions, error, self.settings)
        log.warning("onchain send failed", extra={"positions": positions, "error": error})
        for log_position, position_id, attempts in exhausted:
            metrics.FAILED.inc()
            audit.error(
                "onchain_publish_failed",
                extra={
                    "event": "onchain_publish_failed",
                    "logPosition": log_position,
                    "positionId": position_id,
                    "attempts": attempts,
                    "error": error,
                },
            )

    async def _measure(self, conn: AsyncConnection[Any]) -> None:
        now = await queue.status(conn)
        metrics.PENDING.set(now.pending)
        metrics.FAILED_NOW.set(now.failed)
        metrics.LAG.set(max(0, now.head - now.last_published_position) if now.pending else 0)


def _safe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"
