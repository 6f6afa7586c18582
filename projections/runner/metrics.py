"""Operator metrics of the read side, in prometheus_client's default registry."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

# Every runner of every worker measures the same lag from the database: across worker processes
# the gauges show the latest value of a live process, once per projection (not once per pid).
_ONE_SERIES: Final = "livemostrecent"

LAG_EVENTS = Gauge(
    "escrowgrid_projection_lag_events",
    "Log positions between the head of the log and the projection's tracking position",
    ["projection"],
    multiprocess_mode=_ONE_SERIES,
)
LAG_SECONDS = Gauge(
    "escrowgrid_projection_lag_seconds",
    "Age of the oldest event the projection has not processed (0 when caught up)",
    ["projection"],
    multiprocess_mode=_ONE_SERIES,
)
POSITION = Gauge(
    "escrowgrid_projection_position",
    "Tracking position of the projection",
    ["projection"],
    multiprocess_mode=_ONE_SERIES,
)
EVENTS = Counter(
    "escrowgrid_projection_events",
    "Events this process has projected (committed), per projection",
    ["projection"],
)
FAILURES = Counter(
    "escrowgrid_projection_failures",
    "Batches of this process that failed and were rolled back, per projection",
    ["projection"],
)
BATCH_SECONDS = Histogram(
    "escrowgrid_projection_batch_seconds",
    "Duration of one runner transaction (read, apply, track, commit)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
