"""OpenAPI 3.1 at /openapi.json and a Swagger UI explorer at /docs, its assets served locally."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from litestar import Request, Router
from litestar._openapi.plugin import handle_schema_path_not_found
from litestar.datastructures import CacheControlHeader
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from escrowgrid.api.openapi_finish import finish
from escrowgrid.config import Settings

STATIC_DIR = Path(__file__).resolve().parent / "static"
DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
SPEC_PATH = "/openapi.json"
ASSET_FILES = (
    f"{ASSETS_PATH}/swagger-ui/swagger-ui.css",
    f"{ASSETS_PATH}/swagger-ui/swagger-ui-bundle.js",
    f"{ASSETS_PATH}/docs-init.js",
)

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} API explorer</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{css}">
</head>
<body>
<div id="swagger-ui" data-spec-url="{spec}"></div>
<script src="{bundle}"></script>
<script src="{init}"></script>
</body>
</html>
"""


class FinishedJsonPlugin(JsonRenderPlugin):
    """/openapi.json as escrowgrid/api/openapi_finish.py completes Litestar's document."""

    def __init__(self) -> None:
        super().__init__(path=SPEC_PATH)
        self._finished: tuple[int, dict[str, Any]] | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        # Litestar builds the document once and hands over the same dict on every request.
        if self._finished is None or self._finished[0] != id(openapi_schema):
            self._finished = (id(openapi_schema), finish(openapi_schema))
        return super().render(request, self._finished[1])


class LocalSwaggerPlugin(OpenAPIRenderPlugin):
    """Swagger UI from the files in escrowgrid/api/static: no CDN, no inline script."""

    def __init__(self) -> None:
        super().__init__(path=DOCS_PATH, favicon="", style="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        css, bundle, init = ASSET_FILES
        page = _PAGE.format(
            title=html.escape(str(openapi_schema["info"]["title"])),
            spec=html.escape(self.get_openapi_json_route(request)),
            css=css,
            bundle=bundle,
            init=init,
        )
        return page.encode()

    def receive_router(self, router: Router) -> None:
        router.register(
            create_static_files_router(
                path=ASSETS_PATH,
                directories=[STATIC_DIR],
                name="docs-assets",
                cache_control=CacheControlHeader(public=True, max_age=3600),
                include_in_schema=False,
            )
        )


class _DocsRouter(Router):
    """The docs routes at the root, without Litestar's HTML catch-all for unknown schema paths.

    Litestar adds `GET /{path:str}` answering an HTML 404; mounted at "/" it would catch every
    unknown one-segment path, where the API must answer its JSON 404 (and 405 for other methods).
    """

    def register(self, value: ControllerRouterHandler) -> list[Any]:
        if getattr(value, "fn", None) is handle_schema_path_not_found:
            return []
        return super().register(value)


def openapi_config(settings: Settings) -> OpenAPIConfig:
    """Always on; AuthMiddleware decides whether the docs need a key (PUBLIC_DOCS_ENABLED)."""
    config = OpenAPIConfig(
        title="escrowgrid",
        version="0.1.0",
        description="Event-sourced escrow ledger: institutions, positions and their audit trail.",
        render_plugins=[FinishedJsonPlugin(), LocalSwaggerPlugin()],
        openapi_router=_DocsRouter(path="/", route_handlers=[], include_in_schema=False),
        components=Components(
            security_schemes={
                "apiKey": SecurityScheme(
                    type="apiKey", name="X-API-KEY", security_scheme_in="header"
                ),
                "bearer": SecurityScheme(type="http", scheme="bearer"),
            }
        ),
        security=[{"apiKey": []}, {"bearer": []}],
    )
    # Without a default plugin Litestar serves no page at "/" (it stays an unknown route).
    config.default_plugin = None
    return config
