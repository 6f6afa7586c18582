"""Metrics, CORS, security headers and docs through the app's middleware order, in process."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import httpx
from litestar import Litestar, get
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.middleware._internal.cors import CORSMiddleware
from litestar.params import FromPath

from escrowgrid.api.auth import Authenticator, AuthMiddleware
from escrowgrid.api.docs_site import ASSET_FILES, openapi_config
from escrowgrid.api.metrics import MetricsController, MetricsMiddleware, registry, snapshot
from escrowgrid.api.rate_limit import RateLimitMiddleware
from escrowgrid.api.request_context import RequestContextMiddleware
from escrowgrid.api.security import SecurityHeadersMiddleware, cors_config
from escrowgrid.config import load_settings

ROOT_KEY = "unit-root-key-0123456789"
ADMIN_KEY = "unit-admin-key-0123456789"
INSTITUTION = uuid4()


@get("/things/{thing_id:str}", sync_to_thread=False)
def thing(thing_id: FromPath[str]) -> dict[str, str]:
    return {"id": thing_id}


async def _lookup(key_hash: str) -> tuple[str, Any, str] | None:
    if key_hash == hashlib.sha256(ADMIN_KEY.encode()).hexdigest():
        return "admin-key", INSTITUTION, "admin"
    return None


def build(**env: str) -> Any:
    """The middleware order of escrowgrid/api/app.py around a small Litestar app."""
    settings = load_settings({"ROOT_API_KEY": ROOT_KEY, "RATE_LIMIT_ENABLED": "false", **env})

    async def provide_settings() -> Any:
        return settings

    async def no_pool() -> None:
        return None  # no database here: the scrape's probe is skipped

    litestar = Litestar(
        route_handlers=[thing, MetricsController],
        dependencies={
            "settings": Provide(provide_settings, use_cache=True),
            "pool": Provide(no_pool, use_cache=True),
        },
        openapi_config=openapi_config(settings),
        debug=False,
    )
    app: Any = RateLimitMiddleware(litestar, settings, pool=None)  # type: ignore[arg-type]
    app = AuthMiddleware(
        app, Authenticator(settings, _lookup), lambda _: None, settings.public_docs_enabled
    )
    cors: CORSConfig | None = cors_config(settings)
    if cors is not None:
        app = CORSMiddleware(app=app, config=cors)
    app = SecurityHeadersMiddleware(app, settings)
    app = MetricsMiddleware(app)
    return RequestContextMiddleware(app)


def call(app: Any, fn: Callable[[httpx.AsyncClient], Any]) -> Any:
    async def go() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await fn(client)

    return asyncio.run(go())


def get_(app: Any, path: str, **headers: str) -> httpx.Response:
    async def fn(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get(path, headers=headers)

    result: httpx.Response = call(app, fn)
    return result


def preflight(app: Any, origin: str) -> httpx.Response:
    async def fn(client: httpx.AsyncClient) -> httpx.Response:
        return await client.options(
            "/things/1",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, x-api-key, idempotency-key",
            },
        )

    result: httpx.Response = call(app, fn)
    return result


def test_security_headers_on_a_json_answer() -> None:
    r = get_(build(), "/things/1", **{"X-API-KEY": ROOT_KEY})
    assert r.status_code == 200
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert "strict-transport-security" not in r.headers
    refused = get_(build(), "/things/1")  # answered by auth, outside Litestar: headers too
    assert refused.status_code == 401 and refused.headers["x-frame-options"] == "DENY"


def test_hsts_only_in_production() -> None:
    r = get_(build(ESCROWGRID_ENV="production"), "/things/1", **{"X-API-KEY": ROOT_KEY})
    assert r.headers["strict-transport-security"].startswith("max-age=")


def test_cors_preflight_from_an_allowed_origin() -> None:
    app = build(CORS_ALLOWED_ORIGINS="https://console.example, https://ops.example")
    r = preflight(app, "https://console.example")
    assert 200 <= r.status_code < 300
    assert r.headers["access-control-allow-origin"] == "https://console.example"
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "x-api-key", "authorization", "idempotency-key", "x-request-id"} <= (
        allowed
    )
    methods = {m.strip() for m in r.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "PUT", "OPTIONS"} <= methods
    simple = get_(app, "/things/1", Origin="https://ops.example", **{"X-API-KEY": ROOT_KEY})
    assert simple.headers["access-control-allow-origin"] == "https://ops.example"
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()


def test_cors_preflight_from_another_origin_is_refused_in_json() -> None:
    r = preflight(build(CORS_ALLOWED_ORIGINS="https://console.example"), "https://evil.example")
    assert r.status_code == 400
    assert "access-control-allow-origin" not in r.headers
    assert r.json()["error"] == "CORS preflight refused"


def test_cors_unset_allows_localhost_outside_production_and_nothing_in_production() -> None:
    dev = build()
    assert preflight(dev, "http://localhost:5173").status_code == 204
    assert preflight(dev, "http://127.0.0.1:3000").status_code == 204
    assert preflight(dev, "http://localhost.evil.example").status_code == 400
    prod = build(ESCROWGRID_ENV="production")
    r = get_(prod, "/things/1", Origin="http://localhost:5173", **{"X-API-KEY": ROOT_KEY})
    assert "access-control-allow-origin" not in r.headers


def test_docs_page_uses_only_local_assets() -> None:
    app = build(PUBLIC_DOCS_ENABLED="true")
    page = get_(app, "/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert set(ASSET_FILES) <= set(refs)
    assert all(ref.startswith("/") or ref.startswith("data:") for ref in refs), refs
    assert "<script>" not in page.text  # no inline script: the CSP allows none
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    for asset in ASSET_FILES:
        r = get_(app, asset)
        assert r.status_code == 200 and len(r.content) > 100, asset
    assert get_(app, "/docs/assets/nope.js").status_code == 404


def test_openapi_document() -> None:
    app = build(PUBLIC_DOCS_ENABLED="true")
    doc = get_(app, "/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert doc["info"]["title"] == "escrowgrid"
    assert "/metrics" in doc["paths"]
    assert doc["components"]["securitySchemes"]["apiKey"]["name"] == "X-API-KEY"
    assert not any(p.startswith("/docs") for p in doc["paths"])


def test_docs_need_a_key_unless_public() -> None:
    private = build()
    assert get_(private, "/openapi.json").status_code == 401
    assert get_(private, "/docs").status_code == 401
    assert get_(private, "/openapi.json", **{"X-API-KEY": ADMIN_KEY}).status_code == 200


def test_no_html_catch_all_at_the_root() -> None:
    app = build(PUBLIC_DOCS_ENABLED="true")
    for path in ("/", "/nosuch"):
        r = get_(app, path, **{"X-API-KEY": ROOT_KEY})
        assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")


def _samples(text: str, name: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line.rsplit(" ", 1)
            found[labels[len(name) :]] = float(value)
    return found


def test_metrics_text_uses_route_templates() -> None:
    app = build()
    raw_id = str(uuid4())
    assert get_(app, f"/things/{raw_id}", **{"X-API-KEY": ROOT_KEY}).status_code == 200
    get_(app, "/no/such/route", **{"X-API-KEY": ROOT_KEY})
    r = get_(app, "/metrics", **{"X-API-KEY": ROOT_KEY})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = r.text
    assert raw_id not in text
    for name in ("http_requests_total", "taas_requests_total"):
        series = _samples(text, name)
        assert series['{method="GET",route="/things/{thing_id}",status="200"}'] >= 1
        assert series['{method="GET",route="unmatched",status="404"}'] >= 1
    assert 'http_request_duration_seconds_bucket{le="0.005",method="GET"' in text
    assert "escrowgrid_events_appended_total" in text
    same = get_(app, "/metrics/prometheus", **{"X-API-KEY": ROOT_KEY})
    assert same.status_code == 200 and "http_requests_total" in same.text


def test_metrics_json_snapshot() -> None:
    app = build()
    before = snapshot(registry())
    get_(app, "/things/1", **{"X-API-KEY": ROOT_KEY})
    get_(app, "/things/1")  # 401
    r = get_(app, "/metrics", Accept="application/json", **{"X-API-KEY": ROOT_KEY})
    body = r.json()
    assert set(body) >= {
        "totalRequests",
        "totalErrors",
        "requestsByStatus",
        "requestsByMethod",
        "averageDurationMs",
    }
    assert body["totalRequests"] == before["totalRequests"] + 2  # this scrape is not counted yet
    assert body["totalErrors"] == before["totalErrors"] + 1
    assert body["requestsByStatus"]["401"] >= 1 and body["requestsByMethod"]["GET"] >= 2
    assert body["averageDurationMs"] > 0


def test_metrics_root_only_and_can_be_switched_off() -> None:
    app = build()
    assert get_(app, "/metrics").status_code == 401
    r = get_(app, "/metrics", **{"X-API-KEY": ADMIN_KEY})
    assert r.status_code == 403 and r.json() == {"error": "Forbidden"}
    off = build(METRICS_ENABLED="false")
    r = get_(off, "/metrics", **{"X-API-KEY": ROOT_KEY})
    assert r.status_code == 404 and r.json() == {"error": "Not found"}
