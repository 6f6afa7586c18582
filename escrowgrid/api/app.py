"""The Litestar application: wiring of settings, pool, routes, errors and middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from psycopg_pool import AsyncConnectionPool

from escrowgrid import jsonlog
from escrowgrid.api.errors import http_exception_handler, internal_error_handler
from escrowgrid.api.health import HealthController
from escrowgrid.api.request_context import RequestContextMiddleware
from escrowgrid.config import Settings, load_settings
from escrowgrid.database import open_pool

MAX_BODY_BYTES = 1024 * 1024


def create_app(settings: Settings) -> RequestContextMiddleware:
    """Build the ASGI app for the given settings (no I/O until the lifespan starts)."""
    if settings.database_url is None:
        raise ValueError("create_app needs settings.database_url; `escrowgrid serve` resolves it")
    pool = open_pool(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await pool.open(wait=False)
        try:
            yield
        finally:
            await pool.close()

    async def provide_settings() -> Settings:
        return settings

    async def provide_pool() -> AsyncConnectionPool:
        return pool

    app = Litestar(
        route_handlers=[HealthController],
        dependencies={
            "settings": Provide(provide_settings, use_cache=True),
            "pool": Provide(provide_pool, use_cache=True),
        },
        lifespan=[lifespan],
        exception_handlers={
            HTTPException: http_exception_handler,
            Exception: internal_error_handler,
        },
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=OpenAPIConfig(title="escrowgrid", version="0.1.0")
        if settings.public_docs_enabled
        else None,
        logging_config=None,
        debug=False,
    )
    # Outside Litestar, so that requests no route matches (404, 405) get an id and a log line too.
    return RequestContextMiddleware(app)


def create_app_from_env() -> RequestContextMiddleware:
    """Factory for server workers: settings come from the environment the parent prepared."""
    settings = load_settings()
    jsonlog.configure(settings.log_level)
    return create_app(settings)
