"""`escrowgrid bench floor`: what the stack costs a request before any of our code runs.

Serves each case of escrowgrid.bench.floor_apps in turn (Granian alone, Litestar's GET, its
POST with a decoded body, that POST with one pooled psycopg query to a private PostgreSQL) and
loads it as `bench http` loads the service: same client, concurrency and workers. Reports the
service's and PostgreSQL's CPU per request, the figure a throughput target divides into.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from escrowgrid.bench.floor_apps import CASES
from escrowgrid.bench.http import (
    HttpBenchConfig,
    Phase,
    _free_port,
    _Meter,
    _phase,
    _postmaster,
    _stop,
    _wait_healthy,
)
from escrowgrid.bench.http_client import Connection
from escrowgrid.embedded_pg import EmbeddedPostgres

_BODY = json.dumps({"name": "holder-7", "amount": "1250.50"}).encode()
_REQUESTS = {
    "asgi": ("POST", "/x"),
    "litestar-get": ("GET", "/ready"),
    "litestar-post": ("POST", "/x"),
    "litestar-post-query": ("POST", "/query"),
}


def run(config: HttpBenchConfig, data_root: Path, rounds: int) -> str:
    """`rounds` passes over every case (cases alternate within a pass); medians per case."""
    data_root.mkdir(parents=True, exist_ok=True)
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="bench-floor-", dir=data_root)))
    pg.start()
    results: dict[str, list[Phase]] = {case: [] for case in CASES}
    try:
        postmaster = _postmaster(pg)
        for _ in range(rounds):
            for case in CASES:
                results[case].append(_measure(case, config, pg.dsn, postmaster))
    finally:
        pg.destroy()
    return _report(results, config, rounds)


def _measure(case: str, config: HttpBenchConfig, dsn: str, postmaster: int) -> Phase:
    port = _free_port()
    env = {**os.environ, "FLOOR_DATABASE_URL": dsn}
    args = [sys.executable, "-m", "escrowgrid.bench.floor_apps", case, str(port)]
    process = subprocess.Popen(  # noqa: S603 (our own module, fixed arguments)
        [*args, str(config.workers)], env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    method, path = _REQUESTS[case]
    body = _BODY if method == "POST" else None

    async def op(conn: Connection, _: int) -> bool:
        reply = await conn.request(method, path, body)
        return reply.status < 300

    try:
        _wait_healthy(port)
        meter = _Meter([process.pid], postmaster)
        return asyncio.run(_phase(case, config, port, "", meter, op))
    finally:
        _stop(process)


def _report(results: dict[str, list[Phase]], config: HttpBenchConfig, rounds: int) -> str:
    lines = [
        "| case (median of rounds) | req/s | p99 ms | non-2xx | service CPU ms/req "
        "| PostgreSQL CPU ms/req |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for case, phases in results.items():
        rates = [p.sample.ops_per_s for p in phases]
        lines.append(
            f"| {case} | {statistics.median(rates):,.0f} "
            f"| {statistics.median(p.sample.percentile_ms(99) for p in phases):.2f} "
            f"| {sum(p.sample.errors for p in phases)} "
            f"| {_per_request(phases, 'service'):.3f} | {_per_request(phases, 'postgres'):.3f} |"
        )
    lines.append("")
    lines.append(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; workers: {config.workers}; "
        f"concurrency: {config.concurrency}; {rounds} rounds of {config.seconds:.0f} s a case"
    )
    return "\n".join(lines)


def _per_request(phases: list[Phase], group: str) -> float:
    """Median over rounds of CPU milliseconds per answered request."""
    return statistics.median(
        1000 * p.cpu[group] / p.sample.ops_per_s if p.sample.ops_per_s else float("nan")
        for p in phases
    )
