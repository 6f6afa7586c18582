"""The publisher: the outbox projection (on the projection runner) and the sender, together."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable

from escrowgrid.config import OnchainSettings
from escrowgrid.onchain.client import ChainClient, ChainError
from escrowgrid.onchain.outbox import OutboxProjection
from escrowgrid.onchain.sender import Sender
from projections.runner.runner import ProjectionRunner


def client_for(settings: OnchainSettings) -> Callable[[], ChainClient]:
    """A factory of clients for the configured node, sender and contract."""

    def connect() -> ChainClient:
        if not settings.rpc_url or not settings.private_key or not settings.contract_address:
            raise ChainError("ONCHAIN_RPC_URL, ONCHAIN_PRIVATE_KEY and ONCHAIN_CONTRACT_ADDRESS")
        client = ChainClient.connect(
            settings.rpc_url, settings.private_key, settings.contract_address
        )
        if settings.chain_id is not None and client.chain_id() != settings.chain_id:
            raise ChainError(f"the node's chain id is not ONCHAIN_CHAIN_ID={settings.chain_id}")
        if (
            not client.has_code()
        ):  # a call to an address without code "succeeds" and records nothing
            raise ChainError(f"no contract at ONCHAIN_CONTRACT_ADDRESS={settings.contract_address}")
        return client

    return connect


class Publisher:
    """A follower (start/stop) mirroring the log's eligible events to the contract."""

    def __init__(
        self,
        dsn: str,
        settings: OnchainSettings,
        *,
        client: Callable[[], ChainClient] | None = None,
        poll_interval: float = 0.5,
        lock_interval: float = 1.0,
        stale_seconds: float = 30.0,
    ) -> None:
        self.outbox = ProjectionRunner(
            dsn,
            [OutboxProjection(settings.chain_id, settings.anchor_interval)],
            poll_interval=poll_interval,
            lock_interval=lock_interval,
            application_name=f"escrowgrid-onchain-outbox:{os.getpid()}",
        )
        self.sender = Sender(
            dsn,
            settings,
            client or client_for(settings),
            poll_interval=poll_interval,
            stale_seconds=stale_seconds,
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.outbox.start()
        if self._task is None:
            self._task = asyncio.create_task(self.sender.run(), name="onchain-sender")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.outbox.stop()

    async def run(self) -> None:
        """Until cancelled (`escrowgrid onchain run`)."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()
