"""`escrowgrid openapi`: the service's /openapi.json without a database (console codegen)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from escrowgrid.config import load_settings

# Never contacted: the pool opens in the lifespan, which this in-process request never starts.
_DUMMY_ENV = {
    "STORE_BACKEND": "postgres",
    "DATABASE_URL": "postgresql://openapi@127.0.0.1:1/openapi",
    "ROOT_API_KEY": "openapi-dump-root-key",
    "PUBLIC_DOCS_ENABLED": "true",
    "RATE_LIMIT_ENABLED": "false",
    "PROJECTIONS_INLINE": "false",
}


async def _get(app: Any, path: str) -> bytes:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 0), "server": ("localhost", 80), "state": {},
    }  # fmt: skip
    status: list[int] = []
    body: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    if status != [200]:
        raise RuntimeError(f"GET {path} answered {status}: {b''.join(body)[:200]!r}")
    return b"".join(body)


def openapi_document() -> dict[str, Any]:
    """The document /openapi.json serves, built from the real app with dummy settings."""
    from escrowgrid.api.app import create_app

    app = create_app(load_settings(_DUMMY_ENV))
    document: dict[str, Any] = json.loads(asyncio.run(_get(app, "/openapi.json")))
    return document


def main() -> int:
    print(json.dumps(openapi_document(), indent=2, sort_keys=True))
    return 0
