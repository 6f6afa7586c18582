"""Failed authentications written to `auth_failures` in batches, off the request path."""

from __future__ import annotations

import logging
from typing import Any

from psycopg_pool import AsyncConnectionPool

from escrowgrid.api.batched_log import BatchedLog

log = logging.getLogger("escrowgrid.auth")

_COLUMNS = (
    ("reason", "reason", "text"),
    ("method", "method", "text"),
    ("path", "path", "text"),
    ("client_addr", "clientAddr", "text"),
    ("request_id", "requestId", "text"),
)


class AuthFailureLog(BatchedLog):
    """Logs each failure at once and writes them every `interval` seconds."""

    def __init__(self, pool: AsyncConnectionPool, interval: float = 0.5) -> None:
        super().__init__(pool, "auth_failures", _COLUMNS, interval)

    def record(self, failure: dict[str, Any]) -> None:
        log.warning("authentication failed", extra={"type": "auth_failure", **failure})
        self.add(failure)
