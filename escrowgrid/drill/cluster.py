"""The drills' own PostgreSQL: durable settings, a fresh database per round, stop and start."""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path

import psycopg

from escrowgrid.embedded_pg import DB_USER, EmbeddedPostgres

_numbers = itertools.count(1)


def scratch_dir(prefix: str) -> Path:
    """A private folder on tmpfs when there is one (fsync stays on, and costs little there)."""
    shm = Path("/dev/shm")  # noqa: S108 - mkdtemp makes it private
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


class DrillCluster:
    """One cluster the drills may stop, crash and restart; each round gets a new database."""

    def __init__(self, folder: Path | None = None, max_connections: int = 100) -> None:
        self.pg = EmbeddedPostgres(
            folder or scratch_dir("escrowgrid-drill-"),
            settings={"max_connections": str(max_connections)},
        )
        self.max_connections = max_connections

    def start(self) -> DrillCluster:
        self.pg.start()
        return self

    def dsn(self, dbname: str) -> str:
        return f"postgresql://{DB_USER}@/{dbname}?host={self.pg.socket_dir}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.pg.admin_dsn(), autocommit=True)

    def new_database(self) -> str:
        """A new empty database (the service migrates it at start, as users run it)."""
        name = f"drill_{os.getpid()}_{next(_numbers)}"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name} OWNER {DB_USER}")
        return self.dsn(name)

    @staticmethod
    def database_name(dsn: str) -> str:
        return dsn.split("@/", 1)[1].split("?", 1)[0]

    def drop_database(self, dsn: str) -> None:
        name = self.database_name(dsn)
        with self.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def restart(self, mode: str) -> None:
        """Stop in `mode` (fast | immediate) and start again at once."""
        self.pg.stop(mode)
        self.pg.start()

    def stop(self, mode: str = "fast") -> None:
        self.pg.stop(mode)

    def destroy(self) -> None:
        self.pg.destroy()
