"""The app's Litestar object built with the OpenAPI dump's dummy settings, for route checks."""

from __future__ import annotations

from typing import Any

from litestar import Litestar

from escrowgrid.api.app import create_app
from escrowgrid.api.openapi_dump import _DUMMY_ENV
from escrowgrid.config import load_settings


def built_litestar() -> Litestar:
    """The Litestar app under the pure-ASGI layers (no I/O: the lifespan does not run)."""
    app: Any = create_app(load_settings(dict(_DUMMY_ENV)))
    while not isinstance(app, Litestar):
        app = app.app
    return app
