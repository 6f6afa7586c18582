"""What the read-side benchmarks share: their own durable PostgreSQL, and the moves they make."""

from __future__ import annotations

import os
import platform
import tempfile
from decimal import Decimal
from pathlib import Path

import psycopg

from escrowgrid.embedded_pg import EmbeddedPostgres
from escrowgrid.migrations import migrate

MOVES = (("FUNDED", None), ("PARTIALLY_RELEASED", Decimal("100.5")), ("RELEASED", None))


def cluster(data_root: Path) -> tuple[EmbeddedPostgres, str]:
    data_root.mkdir(parents=True, exist_ok=True)
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="bench-read-", dir=data_root)))
    pg.start()
    with psycopg.connect(pg.admin_dsn(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE bench_read OWNER escrowgrid")
    dsn = f"postgresql://escrowgrid@/bench_read?host={pg.socket_dir}"
    migrate(dsn)
    return pg, dsn


def describe_machine(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN"
                " ('server_version', 'fsync', 'synchronous_commit', 'shared_buffers')"
            ).fetchall()
        )
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"PostgreSQL {settings.get('server_version')} fsync={settings.get('fsync')} "
        f"synchronous_commit={settings.get('synchronous_commit')} "
        f"shared_buffers={settings.get('shared_buffers')} (8 kB pages)"
    )
