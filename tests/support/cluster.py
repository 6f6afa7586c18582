"""A PostgreSQL cluster for the test session, from the same server wheel the service uses."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psycopg

from escrowgrid import migrations
from escrowgrid.embedded_pg import EmbeddedPostgres
from tests.support.server import ServerProcess

TEMPLATE_DB = "escrowgrid_template"
_counter = itertools.count(1)

# Tests are about behaviour, not durability: skip fsync to keep CI fast. Benchmarks keep it on.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def scratch_dir(prefix: str) -> Path:
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


class PgCluster:
    """One running cluster; hands out a fresh migrated database per test."""

    def __init__(self, pg: EmbeddedPostgres) -> None:
        self.pg = pg

    @classmethod
    def start(cls, prefix: str = "escrowgrid-test-") -> PgCluster:
        pg = EmbeddedPostgres(scratch_dir(prefix), settings=FAST_SETTINGS)
        pg.start()
        return cls(pg)

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.pg.admin_dsn(), autocommit=True)

    def dsn(self, dbname: str, user: str = "escrowgrid") -> str:
        return f"postgresql://{user}@/{dbname}?host={self.pg.socket_dir}"

    def prepare_template(self) -> None:
        with self.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE_DB}")
            conn.execute(f"CREATE DATABASE {TEMPLATE_DB} OWNER escrowgrid")
        migrations.migrate(self.dsn(TEMPLATE_DB))

    def new_database(self, migrated: bool = True) -> str:
        name = f"t{os.getpid()}_{next(_counter)}"
        with self.admin() as conn:
            if migrated:
                conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB} OWNER escrowgrid")
            else:
                conn.execute(f"CREATE DATABASE {name} OWNER escrowgrid")
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        self.pg.destroy()


@contextmanager
def served_database(
    cluster: PgCluster, folder: Path, root_key: str, env: Mapping[str, str] | None = None
) -> Iterator[tuple[ServerProcess, str]]:
    """A real service on a fresh migrated database of its own: (the server, the database name).
    Rate limits are off unless `env` (settings over the defaults) turns them on."""
    name = cluster.new_database()
    proc = ServerProcess(
        {
            "DATABASE_URL": cluster.dsn(name),
            "ROOT_API_KEY": root_key,
            "ESCROWGRID_DATA_DIR": str(folder / "data"),
            "RATE_LIMIT_ENABLED": "false",
            **(env or {}),
        },
        folder / "server.log",
    ).start()
    try:
        yield proc, name
    finally:
        proc.stop()
        cluster.drop_database(name)
