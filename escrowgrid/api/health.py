"""Liveness and readiness, open without a key."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import psycopg
from litestar import Controller, Response, get
from psycopg_pool import AsyncConnectionPool

from escrowgrid import migrations
from escrowgrid.api.unavailable import RETRY_AFTER
from escrowgrid.config import Settings

SERVICE_NAME = "taas-platform"


class SchemaBehind(Exception):
    """The database answers but lacks migrations this code ships."""

    def __init__(self, applied: int, expected: int) -> None:
        super().__init__(
            f"schema is behind: {applied} of {expected} migrations applied; "
            "run `escrowgrid db migrate` (or restart `escrowgrid serve`)"
        )
        self.applied = applied
        self.expected = expected


@functools.cache
def _shipped_versions() -> tuple[int, ...]:
    return tuple(m.version for m in migrations.discover())


class HealthController(Controller):
    path = ""
    include_in_schema = True
    tags = ["health"]

    @get("/health", operation_id="getHealth", summary="Liveness")
    async def health(self, settings: Settings) -> dict[str, str]:
        return {"status": "ok", "service": SERVICE_NAME, "storeBackend": settings.store_label}

    @get(
        "/ready", operation_id="getReady", summary="Readiness: the database answers, schema current"
    )
    async def ready(
        self, settings: Settings, pool: AsyncConnectionPool
    ) -> Response[dict[str, Any]]:
        try:
            await asyncio.wait_for(_check(pool), timeout=3.0)
        except Exception as exc:  # any failure to reach the database means "not ready"
            error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            body: dict[str, Any] = {
                "ok": False,
                "storeBackend": settings.store_label,
                "db": {"ok": False, "error": error},
            }
            if isinstance(exc, SchemaBehind):
                body["migrations"] = {"applied": exc.applied, "expected": exc.expected}
            return Response(body, status_code=503, headers=dict([RETRY_AFTER]))
        return Response({"ok": True, "storeBackend": settings.store_label, "db": {"ok": True}})


async def _check(pool: AsyncConnectionPool) -> None:
    shipped = list(_shipped_versions())
    async with pool.connection(timeout=2.5) as conn:
        try:
            row = await (
                await conn.execute(
                    "SELECT count(*) FROM schema_migrations WHERE version = ANY(%s)", (shipped,)
                )
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            row = (0,)
    applied = int(row[0]) if row else 0
    if applied < len(shipped):
        raise SchemaBehind(applied, len(shipped))
