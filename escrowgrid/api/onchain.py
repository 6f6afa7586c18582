"""The on-chain mirror in the API: the `fail` mode's refusal, and each position's records."""

from __future__ import annotations

from uuid import UUID

from litestar.exceptions import HTTPException

from escrowgrid.api.services import Services
from escrowgrid.api.unavailable import RETRY_AFTER
from escrowgrid.config import OnchainFailureMode
from escrowgrid.onchain import gate


async def refuse_when_behind(
    services: Services, *, asset_id: UUID | None = None, position_id: UUID | None = None
) -> None:
    """503 before anything is appended when the publisher cannot mirror the command now."""
    settings = services.settings.onchain
    if not settings.enabled or settings.failure_mode is not OnchainFailureMode.FAIL:
        return
    async with services.pool.connection() as conn:
        try:
            await gate.check(conn, settings, asset_id=asset_id, position_id=position_id)
        except gate.ChainBehind as exc:
            raise HTTPException(
                status_code=503, detail=str(exc), headers=dict([RETRY_AFTER])
            ) from None
