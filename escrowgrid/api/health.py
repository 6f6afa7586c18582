"""Liveness and readiness, open without a key."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import psycopg
from litestar import Controller, MediaType, Response, get, head
from psycopg_pool import AsyncConnectionPool

from escrowgrid import migrations
from escrowgrid.api.services import Services
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
        self, settings: Settings, pool: AsyncConnectionPool, services: Services
    ) -> Response[dict[str, Any]]:
        body, status = await _readiness(settings, pool)
        # The replica's state is reported, never a reason for 503: queries fall back to the
        # primary while it is down or behind.
        replica = services.replica_status()
        if replica is not None:
            body["replica"] = replica
        return Response(body, status_code=status, headers=_retry_after(status))

    # HEAD as GET without the body, for load balancers and health checkers that probe with it.
    # Not in the OpenAPI document: HEAD is GET's by definition.
    @head("/health", include_in_schema=False)
    async def health_head(self) -> Response[None]:
        return Response(None, media_type=MediaType.JSON)

    @head("/ready", include_in_schema=False)
    async def ready_head(self, settings: Settings, pool: AsyncConnectionPool) -> Response[None]:
        _, status = await _readiness(settings, pool)
        return Response(
            None, status_code=status, media_type=MediaType.JSON, headers=_retry_after(status)
        )


def _retry_after(status: int) -> dict[str, str]:
    return dict([RETRY_AFTER]) if status == 503 else {}


async def _readiness(settings: Settings, pool: AsyncConnectionPool) -> tuple[dict[str, Any], int]:
    """/ready's body and status: 200 when the database answers with the schema current, else 503."""
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
        return body, 503
    return {"ok": True, "storeBackend": settings.store_label, "db": {"ok": True}}, 200


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
