"""Operator metrics of the replica: its lag, and the reads and waits that fell back."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final

from prometheus_client import Counter, Gauge, Histogram

_ONE_SERIES: Final = "livemostrecent"  # every worker measures the same replica


@dataclass(frozen=True, slots=True)
class ReplicaInstruments:
    lag_seconds: Gauge
    lag_bytes: Gauge
    serving: Gauge
    reads: Counter
    wait_seconds: Histogram
    wait_timeouts: Counter


@functools.cache
def instruments() -> ReplicaInstruments:
    """Made on first use, in a worker (file-backed values in multiprocess mode)."""
    return ReplicaInstruments(
        lag_seconds=Gauge(
            "escrowgrid_replica_lag_seconds",
            "Age of the newest proof that the replica had replayed all the primary had flushed",
            multiprocess_mode=_ONE_SERIES,
        ),
        lag_bytes=Gauge(
            "escrowgrid_replica_lag_bytes",
            "WAL bytes the primary had flushed and the replica had not replayed, last probe",
            multiprocess_mode=_ONE_SERIES,
        ),
        serving=Gauge(
            "escrowgrid_replica_serving_reads",
            "1 while queries go to the replica, 0 while they fall back to the primary",
            multiprocess_mode=_ONE_SERIES,
        ),
        reads=Counter(
            "escrowgrid_replica_reads",
            "Queries by the server that answered them; reason says why not the replica",
            ["served_by", "reason"],
        ),
        wait_seconds=Histogram(
            "escrowgrid_replica_wait_seconds",
            "A command's wait for the replica to replay its effects",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        ),
        wait_timeouts=Counter(
            "escrowgrid_replica_wait_timeouts",
            "Commands whose effects the replica had not replayed within the bound",
        ),
    )
