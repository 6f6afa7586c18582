"""The Litestar application: routes, errors, and the middleware around them.

Outside in: request id and access log, metrics, security headers, CORS, the refusal audit,
authentication, rate limiting, then Litestar's routing. Outside Litestar so that requests no
route matches (404, 405) and refused keys (401, 403) get an id, a log line and a metric too.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.di import Provide
from litestar.exceptions import HTTPException

from escrowgrid import jsonlog
from escrowgrid.api.auth import Authenticator, AuthMiddleware
from escrowgrid.api.body_deadline import BodyDeadlineMiddleware
from escrowgrid.api.body_limit import BodyLimitMiddleware
from escrowgrid.api.catalog import AssetController, AssetTemplateController
from escrowgrid.api.console_site import ConsoleSite
from escrowgrid.api.console_support import ConsoleSupportController
from escrowgrid.api.dependencies import DEPENDENCIES, app_state
from escrowgrid.api.docs_site import openapi_config
from escrowgrid.api.errors import (
    DOMAIN_ERRORS,
    database_error_handler,
    domain_error_handler,
    http_exception_handler,
    internal_error_handler,
)
from escrowgrid.api.exact_request import ExactRequest
from escrowgrid.api.field_schemas import FieldSchemaPlugin
from escrowgrid.api.health import HealthController
from escrowgrid.api.institutions import InstitutionController
from escrowgrid.api.ledger import LedgerController
from escrowgrid.api.metrics import MetricsController, MetricsMiddleware
from escrowgrid.api.positions import PositionController
from escrowgrid.api.rate_limit import RateLimitMiddleware
from escrowgrid.api.refusal_audit import RefusalAuditMiddleware
from escrowgrid.api.replica_retry import ReplicaRetryMiddleware
from escrowgrid.api.request_context import ASGIApp, RequestContextMiddleware
from escrowgrid.api.request_limits import RequestLimitsMiddleware
from escrowgrid.api.security import SecurityHeadersMiddleware, cors_config
from escrowgrid.api.services import Services
from escrowgrid.api.unavailable import DATABASE_AWAY, DatabaseUnavailableMiddleware
from escrowgrid.config import Settings, load_settings

MAX_BODY_BYTES = 1024 * 1024


def create_app(settings: Settings) -> ASGIApp:
    """Build the ASGI app for the given settings (no I/O until the lifespan starts)."""
    if settings.database_url is None:
        raise ValueError("create_app needs settings.database_url; `escrowgrid serve` resolves it")
    services = Services.build(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await services.start()
        # Everything built so far lives as long as the worker: out of the collector's sight, a
        # full collection walks only what requests leave behind (docs/performance.md).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await services.stop()

    # Each provider takes the one before it (settings, services, pool) though it needs none of
    # them: Litestar resolves the providers of one level concurrently, a task group and a task
    # each per request; one provider a level is awaited inline (api/dependencies.py).
    async def provide_settings() -> Settings:
        return settings

    async def provide_services(settings: Settings) -> Services:
        return services

    async def provide_pool(services: Services) -> Any:
        return services.pool

    handlers: dict[Any, Any] = {
        HTTPException: http_exception_handler,
        Exception: internal_error_handler,
    }
    handlers.update(dict.fromkeys(DOMAIN_ERRORS, domain_error_handler))
    handlers.update(dict.fromkeys(DATABASE_AWAY, database_error_handler))
    litestar = Litestar(
        route_handlers=[
            HealthController,
            InstitutionController,
            AssetTemplateController,
            AssetController,
            PositionController,
            LedgerController,
            MetricsController,
            ConsoleSupportController,
        ],
        dependencies={
            "settings": Provide(provide_settings, use_cache=True),
            "services": Provide(provide_services, use_cache=True),
            "pool": Provide(provide_pool, use_cache=True),
            **DEPENDENCIES,
        },
        state=app_state(services),
        lifespan=[lifespan],
        exception_handlers=handlers,
        request_max_body_size=MAX_BODY_BYTES,
        request_class=ExactRequest,
        openapi_config=openapi_config(settings),
        plugins=[FieldSchemaPlugin()],
        cors_config=None,
        logging_config=None,
        debug=False,
    )
    inner: ASGIApp = litestar
    if settings.replica.url is not None:
        inner = ReplicaRetryMiddleware(litestar)  # inside auth and rate limits: run once each
    app: ASGIApp = RateLimitMiddleware(inner, settings, services.pool)
    app = AuthMiddleware(
        app,
        Authenticator(settings, services.find_key),
        services.auth_failures.record,
        settings.public_docs_enabled,
    )
    # Outside authentication, so the read-only key's refused write is audited too.
    app = RefusalAuditMiddleware(app, litestar, services.refusals)
    app = ConsoleSite(app)  # static files: outside auth and the OpenAPI document
    cors = cors_config(settings)
    if cors is not None:
        from litestar.middleware.cors import CORSMiddleware

        app = CORSMiddleware(app=app, config=cors)
    # Outside authentication and rate limiting, whose database lookups may fail first.
    app = DatabaseUnavailableMiddleware(app)
    app = RequestLimitsMiddleware(app)
    app = SecurityHeadersMiddleware(app, settings)
    app = MetricsMiddleware(app)
    app = BodyLimitMiddleware(app, MAX_BODY_BYTES)
    app = BodyDeadlineMiddleware(app, settings.request_read_timeout_ms / 1000)
    return RequestContextMiddleware(app)


def create_app_from_env() -> ASGIApp:
    """Factory for server workers: settings come from the environment the parent prepared."""
    settings = load_settings()
    jsonlog.configure(settings.log_level)
    return create_app(settings)
