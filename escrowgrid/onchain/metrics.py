"""Operator metrics of the on-chain publisher (prometheus_client's default registry)."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge

_ONE_SERIES: Final = "livemostrecent"

PUBLISHED = Counter("escrowgrid_onchain_published_total", "Events confirmed on chain")
FAILED = Counter(
    "escrowgrid_onchain_failed_total", "Events marked failed after their retries ran out"
)
SEND_ERRORS = Counter("escrowgrid_onchain_send_errors_total", "Failed send attempts")
PENDING = Gauge(
    "escrowgrid_onchain_pending_events",
    "Events queued, not yet confirmed",
    multiprocess_mode=_ONE_SERIES,
)
FAILED_NOW = Gauge(
    "escrowgrid_onchain_failed_events", "Events now marked failed", multiprocess_mode=_ONE_SERIES
)
LAG = Gauge(
    "escrowgrid_onchain_lag_events",
    "Log positions between the head of the log and the last published event",
    multiprocess_mode=_ONE_SERIES,
)
