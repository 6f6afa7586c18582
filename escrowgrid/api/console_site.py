"""The admin console's built files at /console/ (same origin as the API), with an SPA fallback.

Served before authentication: the files are public, every API call they make carries a key.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from escrowgrid.api.request_context import ASGIApp, Receive, Scope, Send

PREFIX = "/console"
PACKAGED = Path(__file__).resolve().parent.parent / "console_dist"  # in a wheel (setup.py)
CHECKOUT = Path(__file__).resolve().parents[2] / "admin-console" / "dist"  # editable install
# The console's own scripts and styles; it talks to this origin, or the API URL it is given.
CSP = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"font-src 'self'; connect-src 'self' http: https:; base-uri 'none'; form-action 'self'; "
    b"frame-ancestors 'none'"
)
HASHED = b"public, max-age=31536000, immutable"  # Vite's assets/ carry a content hash


def console_root() -> Path | None:
    for folder in (PACKAGED, CHECKOUT):
        if (folder / "index.html").is_file():
            return folder
    return None


class ConsoleSite:
    """Answers GET/HEAD under /console/ from the built files; everything else goes on."""

    def __init__(self, app: ASGIApp, root: Path | None = None) -> None:
        self.app = app
        self._root = root

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        if scope.get("method") not in ("GET", "HEAD"):
            await _answer(send, 405, b"text/plain", b"method not allowed", b"no-store")
            return
        root = self._root or console_root()
        if root is None:
            body = b"console not built: run `npm ci && npm run build` in admin-console/"
            await _answer(send, 404, b"text/plain", body, b"no-store")
            return
        if path == PREFIX:
            await _answer(send, 308, b"text/plain", b"", b"no-store", PREFIX.encode() + b"/")
            return
        relative = path[len(PREFIX) + 1 :]
        file = (root / relative).resolve()
        if not relative or not file.is_file() or not file.is_relative_to(root.resolve()):
            if relative.startswith("assets/"):
                await _answer(send, 404, b"text/plain", b"not found", b"no-store")
                return
            file = root / "index.html"  # a client-side route: the app decides
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        cache = HASHED if relative.startswith("assets/") else b"no-cache"
        body = file.read_bytes()
        await _answer(send, 200, kind.encode(), body, cache, head=scope.get("method") == "HEAD")


async def _answer(
    send: Send,
    status: int,
    kind: bytes,
    body: bytes,
    cache: bytes,
    location: bytes = b"",
    *,
    head: bool = False,
) -> None:
    headers = [
        (b"content-type", kind),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", cache),
        (b"content-security-policy", CSP),
    ]
    if location:
        headers.append((b"location", location))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
