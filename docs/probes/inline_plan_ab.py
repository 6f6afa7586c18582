"""A/B of migration 0090's plan setting on a log of 300,000 events: one database, one checkout.

Run from the repository with its virtualenv: `.venv/bin/python docs/probes/inline_plan_ab.py 4`
(rounds of each side). Fills a private PostgreSQL's log with 300,000 events of a topic no read
model projects, then alternates `escrowgrid serve` with project_positions_inline's
plan_cache_mode reset (A, PostgreSQL's auto) and set to force_generic_plan (B, migration 0090),
each loaded as `escrowgrid bench http` loads it. Prints each round, then medians and B/A.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from escrowgrid.bench.http import (
    HttpBenchConfig,
    _drive,
    _free_port,
    _Meter,
    _postmaster,
    _service_env,
    _spawn_service,
    _stop,
    _wait_healthy,
)
from escrowgrid.embedded_pg import DB_NAME, EmbeddedPostgres
from escrowgrid.migrations import migrate

SIGNATURE = "project_positions_inline(bigint, bigint, bigint, text, text, integer)"
FILL = """
INSERT INTO events (stream_id, version, topic, state, tenant_id, meta, prev_hash, hash)
SELECT gen_random_uuid(), 1, 'filler', '\\x7b7d'::bytea, NULL, '{}'::jsonb, NULL,
       decode(md5(i::text) || md5(i::text), 'hex')
FROM generate_series(1, 300000) AS i
"""
SETTING = {"A": "RESET plan_cache_mode", "B": "SET plan_cache_mode = force_generic_plan"}


def main(rounds: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="inline-plan-ab-"))
    pg = EmbeddedPostgres(folder)
    pg.start()
    config = HttpBenchConfig(8.0, 16, 2)
    root = secrets.token_urlsafe(24)
    results: dict[str, list[list[tuple[float, float]]]] = {"A": [], "B": []}
    try:
        migrate(pg.dsn)
        with psycopg.connect(pg.admin_dsn(DB_NAME), autocommit=True) as conn:
            conn.execute(FILL)
            conn.execute("ANALYZE")
        # The first start catches the read models up over the filler; it is not counted.
        for side in ["warm-up", *(s for _ in range(rounds) for s in ("A", "B"))]:
            figures = _round(pg, config, root, SETTING.get(side, SETTING["B"]))
            print(side, " | ".join(f"{r:,.0f}/s, PostgreSQL {ms:.3f} ms/op" for r, ms in figures))
            if side in results:
                results[side].append(figures)
    finally:
        pg.destroy()
    for i, name in enumerate(("creates", "moves", "reads")):
        a, b = (statistics.median(f[i][0] for f in results[s]) for s in "AB")
        pa, pb = (statistics.median(f[i][1] for f in results[s]) for s in "AB")
        print(
            f"{name}: A {a:,.1f}/s, B {b:,.1f}/s, B/A {b / a:.2f}x; "
            f"PostgreSQL ms/op A {pa:.3f}, B {pb:.3f} ({pb / pa:.2f}x)"
        )


def _round(
    pg: EmbeddedPostgres, config: HttpBenchConfig, root: str, setting: str
) -> list[tuple[float, float]]:
    with psycopg.connect(pg.admin_dsn(DB_NAME), autocommit=True) as conn:
        conn.execute(f"ALTER FUNCTION {SIGNATURE} {setting}")
    port = _free_port()
    env = _service_env(pg.dsn, root, port, config.workers, pg.data_dir / "service")
    processes = _spawn_service(config, env)
    try:
        _wait_healthy(port, 300)
        _wait_caught_up(pg)
        meter = _Meter([p.pid for p in processes], _postmaster(pg))
        phases = asyncio.run(_drive(config, port, root, meter))
    finally:
        for process in processes:
            _stop(process)
    return [(p.sample.ops_per_s, 1000 * p.cpu["postgres"] / p.sample.ops_per_s) for p in phases]


def _wait_caught_up(pg: EmbeddedPostgres, timeout: float = 600) -> None:
    query = """SELECT count(*) = 0 AND EXISTS (SELECT 1 FROM projection_tracking)
               FROM projection_tracking WHERE position < (SELECT max(position) FROM events)"""
    deadline = time.monotonic() + timeout
    with psycopg.connect(pg.admin_dsn(DB_NAME), autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(query).fetchone()
            if row is not None and row[0]:
                return
            time.sleep(1)
    raise RuntimeError("the read models did not catch up with the filler")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4)
