"""Liveness and readiness, open without a key."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, Response, get
from psycopg_pool import AsyncConnectionPool

from escrowgrid.config import Settings

SERVICE_NAME = "taas-platform"


class HealthController(Controller):
    path = ""
    include_in_schema = True
    tags = ["health"]

    @get("/health", operation_id="getHealth", summary="Liveness")
    async def health(self, settings: Settings) -> dict[str, str]:
        return {"status": "ok", "service": SERVICE_NAME, "storeBackend": settings.store_label}

    @get("/ready", operation_id="getReady", summary="Readiness: the database answers")
    async def ready(
        self, settings: Settings, pool: AsyncConnectionPool
    ) -> Response[dict[str, Any]]:
        try:
            await asyncio.wait_for(_ping(pool), timeout=3.0)
        except Exception as exc:  # any failure to reach the database means "not ready"
            error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            body = {
                "ok": False,
                "storeBackend": settings.store_label,
                "db": {"ok": False, "error": error},
            }
            return Response(body, status_code=503)
        return Response({"ok": True, "storeBackend": settings.store_label, "db": {"ok": True}})


async def _ping(pool: AsyncConnectionPool) -> None:
    async with pool.connection(timeout=2.5) as conn:
        await conn.execute("SELECT 1")
