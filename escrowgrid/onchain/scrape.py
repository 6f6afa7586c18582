"""`escrowgrid onchain run`'s /metrics: the publisher's own scrape target (ONCHAIN_METRICS_PORT)."""

# A publisher running alone has no API beside it to expose its counters, so it answers
# GET /metrics and /metrics/prometheus itself, in the Prometheus text format. Who may scrape is
# decided by `authorize` (the command line gives it the API's root-key rule); this module only
# reads one request head per connection and answers it.

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import REGISTRY, generate_latest

log = logging.getLogger("escrowgrid.onchain")

# (request headers, lower-case names; client address) -> (status, error message when refused)
Authorize = Callable[[list[tuple[bytes, bytes]], str | None], Awaitable[tuple[int, str]]]
PATHS = frozenset({"/metrics", "/metrics/prometheus"})
TEXT_FORMAT = b"text/plain; version=0.0.4; charset=utf-8"
MAX_HEAD = 16_384
READ_SECONDS = 10.0
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}
_REASONS |= {404: "Not Found", 405: "Method Not Allowed"}


class MetricsEndpoint:
    """A follower (start/stop) serving this process's metrics on `host:port`."""

    def __init__(self, host: str, port: int, authorize: Authorize) -> None:
        self.host = host
        self.port = port
        self._authorize = authorize
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        # The mirror matters more than its metrics: a port in use is logged, and Prometheus
        # shows the target down, but the publisher still publishes.
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
        except OSError as exc:
            log.error(
                "onchain metrics cannot listen",
                extra={
                    "event": "onchain_metrics_unavailable",
                    "port": self.port,
                    "error": str(exc),
                },
            )
            return
        log.info(
            "onchain metrics listening",
            extra={"event": "onchain_metrics_listening", "host": self.host, "port": self.port},
        )

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_SECONDS)
            peer = writer.get_extra_info("peername")
            status, body, media = await self._answer(head, peer[0] if peer else None)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            status, body, media = _error(400, "Bad request")
        except ConnectionError:
            return
        writer.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % (status, _REASONS[status].encode(), media, len(body))
        )
        writer.write(body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    async def _answer(self, head: bytes, client: str | None) -> tuple[int, bytes, bytes]:
        if len(head) > MAX_HEAD:
            return _error(400, "Bad request")
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, _, rest = request_line.partition(" ")
        path = rest.partition(" ")[0].partition("?")[0]
        if path not in PATHS:
            return _error(404, "Not found")
        if method not in ("GET", "HEAD"):
            return _error(405, "Method not allowed")
        headers = []
        for line in lines:
            name, colon, value = line.partition(":")
            if colon:
                headers.append((name.strip().lower().encode(), value.strip().encode("latin-1")))
        status, message = await self._authorize(headers, client)
        if status != 200:
            return _error(status, message)
        body = generate_latest(REGISTRY)
        return 200, b"" if method == "HEAD" else body, TEXT_FORMAT


def _error(status: int, message: str) -> tuple[int, bytes, bytes]:
    return status, json.dumps({"error": message}).encode(), b"application/json"
