"""Prometheus metrics: HTTP requests by route template, events appended, the read side's lag.

Server workers are separate processes: `prepare_multiprocess` points prometheus_client at one
folder they all write to, and a scrape aggregates every worker's files.
"""

from __future__ import annotations

import functools
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from psycopg_pool import AsyncConnectionPool

from escrowgrid.api.errors import ERROR_RESPONSES
from escrowgrid.api.request_context import ASGIApp, Message, Receive, Scope, Send
from escrowgrid.config import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
TEXT_FORMAT = "text/plain; version=0.0.4"  # Litestar appends the charset
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class Instruments:
    requests: Counter
    duration: Histogram
    taas_requests: Counter
    events_appended: Counter


@functools.cache
def instruments() -> Instruments:
    """Made on first use, in a worker: after `prepare_multiprocess` chose file-backed values."""
    # The read side's metrics (lag, batches) too; importing them earlier, in the parent
    # process, would make them in-memory values that the forked workers inherit.
    import projections.runner.metrics  # noqa: F401

    labels = ("method", "route", "status")
    return Instruments(
        requests=Counter("http_requests", "HTTP requests answered", labels),
        duration=Histogram(
            "http_request_duration_seconds",
            "Time from request to the end of the answer",
            ("method", "route"),
            buckets=BUCKETS,
        ),
        taas_requests=Counter("taas_requests", "HTTP requests (the old service's name)", labels),
        events_appended=Counter("escrowgrid_events_appended", "Events appended to the log"),
    )


def prepare_multiprocess(settings: Settings) -> None:
    """Give the workers one fresh, empty metrics folder (called before they start)."""
    folder = Path(settings.data_dir).resolve() / "prometheus-multiproc"
    shutil.rmtree(folder, ignore_errors=True)  # counts of an earlier run must not add up
    folder.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(folder)
    # prometheus_client picks its value class at import; this process may have imported it.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def registry() -> CollectorRegistry:
    """Every worker's metrics when the folder is set, else this process's own."""
    folder = os.environ.get(MULTIPROC_ENV)
    if not folder:
        return REGISTRY
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged, path=folder)  # type: ignore[no-untyped-call]
    return merged


class _AppendedSync:
    """Adds this process's new appends to the counter; the appender counts, not the metric."""

    def __init__(self) -> None:
        self.appender: Any = None
        self.resolved = False
        self.seen = 0

    async def __call__(self, app: Any) -> None:
        if not self.resolved:
            if app is None:
                return
            self.resolved = True
            services = getattr(getattr(app, "state", None), "services", None)  # app_state()
            self.appender = getattr(services, "appender", None)
        if self.appender is None:
            return
        total = int(self.appender.appended)
        if total > self.seen:
            instruments().events_appended.inc(total - self.seen)
            self.seen = total


_sync_appended = _AppendedSync()


class MetricsMiddleware:
    """Outside routing and auth: records every request, its route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._m = instruments()
        # The labelled children, by (method, route, status): `labels()` takes a lock and
        # builds its key on every call. Bounded: methods and route templates are, statuses nearly.
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - started
            method = scope.get("method", "")
            method = method if method in METHODS else "OTHER"  # bounded label values
            route = scope.get("path_template") or UNMATCHED  # set by Litestar's router
            children = self._children.get((method, route, status))
            if children is None:
                children = self._children[(method, route, status)] = self._label(
                    method, route, status
                )
            children[0].inc()
            children[1].inc()
            children[2].observe(elapsed)
            await _sync_appended(scope.get("litestar_app"))

    def _label(self, method: str, route: str, status: int) -> tuple[Any, Any, Any]:
        code = str(status)
        return (
            self._m.requests.labels(method, route, code),
            self._m.taas_requests.labels(method, route, code),
            self._m.duration.labels(method, route),
        )


def snapshot(source: CollectorRegistry) -> dict[str, Any]:
    """The old service's JSON summary, computed from the HTTP metrics."""
    total = errors = server_errors = 0
    by_status: dict[str, int] = {}
    by_method: dict[str, int] = {}
    seconds = count = 0.0
    for family in source.collect():
        if family.name == "http_requests":
            for sample in family.samples:
                if not sample.name.endswith("_total"):
                    continue
                n = int(sample.value)
                status, method = sample.labels["status"], sample.labels["method"]
                total += n
                errors += n if int(status) >= 400 else 0
                server_errors += n if int(status) >= 500 else 0
                by_status[status] = by_status.get(status, 0) + n
                by_method[method] = by_method.get(method, 0) + n
        elif family.name == "http_request_duration_seconds":
            for sample in family.samples:
                if sample.name.endswith("_sum"):
                    seconds += sample.value
                elif sample.name.endswith("_count"):
                    count += sample.value
    return {
        "totalRequests": total,
        "totalErrors": errors,
        "totalServerErrors": server_errors,
        "requestsByStatus": dict(sorted(by_status.items())),
        "requestsByMethod": dict(sorted(by_method.items())),
        "averageDurationMs": round(seconds / count * 1000, 3) if count else 0.0,
    }


def _refusal(request: Request[Any, Any, Any], settings: Settings) -> Response[Any] | None:
    if not settings.metrics_enabled:
        return Response({"error": "Not found"}, status_code=404, media_type="application/json")
    actor = request.scope.get("state", {}).get("actor")
    if actor is None or not actor.is_root:
        return Response({"error": "Forbidden"}, status_code=403, media_type="application/json")
    return None


async def _exposition(
    request: Request[Any, Any, Any],
    settings: Settings,
    json: bool,
    pool: AsyncConnectionPool | None,
) -> Any:
    refused = _refusal(request, settings)
    if refused is not None:
        return refused
    # Imported here, in a worker: it makes the lag gauges (see `instruments`).
    from escrowgrid.api.scrape_probe import probe

    await probe(pool)
    await _sync_appended(request.app)
    source = registry()
    if json:
        return Response(snapshot(source), media_type="application/json")
    return Response(generate_latest(source), media_type=TEXT_FORMAT)


class MetricsController(Controller):
    """GET /metrics and /metrics/prometheus, root key only."""

    path = "/metrics"
    tags = ["operations"]

    @get(
        "/",
        operation_id="getMetrics",
        summary="Metrics (Prometheus text; JSON summary with Accept: application/json)",
        media_type=TEXT_FORMAT,
        responses=ERROR_RESPONSES,
    )
    async def metrics(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        pool: AsyncConnectionPool | None,
    ) -> Response[Any]:
        accept = request.headers.get("accept", "")
        wants_json = "application/json" in accept and "text/plain" not in accept
        result: Response[Any] = await _exposition(request, settings, wants_json, pool)
        return result

    @get(
        "/prometheus",
        operation_id="getMetricsPrometheus",
        summary="Metrics, Prometheus text",
        media_type=TEXT_FORMAT,
        responses=ERROR_RESPONSES,
    )
    async def prometheus(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        pool: AsyncConnectionPool | None,
    ) -> Response[Any]:
        result: Response[Any] = await _exposition(request, settings, False, pool)
        return result
