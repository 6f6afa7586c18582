"""The API's rule for /metrics, for a scrape target outside the API (`escrowgrid onchain run`)."""

from __future__ import annotations

from typing import Any

from escrowgrid.api.auth import Authenticator, presented_token
from escrowgrid.config import Settings
from escrowgrid.onchain.scrape import Authorize


async def _no_institution_keys(_digest: str) -> tuple[str, Any, str] | None:
    return None  # only the root key may scrape: an institution key is as good as none here


def root_only(settings: Settings) -> Authorize:
    """404 with METRICS_ENABLED=false, 401 without the root key, 403 from a refused address."""
    authenticator = Authenticator(settings, _no_institution_keys)

    async def authorize(headers: list[tuple[bytes, bytes]], client: str | None) -> tuple[int, str]:
        if not settings.metrics_enabled:
            return 404, "Not found"
        token = presented_token(headers)
        if token is None:
            return 401, "Missing API key"
        actor, status, message = await authenticator.authenticate(token, client)
        return (200, "") if actor is not None else (status, message)

    return authorize
