"""Session-wide PostgreSQL cluster, a fresh migrated database per test, and a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import PgCluster
from tests.support.server import ServerProcess

ROOT_KEY = "test-root-key-0123456789abcdef"


@pytest.fixture(scope="session")
def cluster() -> Iterator[PgCluster]:
    running = PgCluster.start()
    running.prepare_template()
    yield running
    running.stop()


@pytest.fixture
def database_url(cluster: PgCluster) -> Iterator[str]:
    name = cluster.new_database()
    yield cluster.dsn(name)
    cluster.drop_database(name)


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        {
            "DATABASE_URL": database_url,
            "ROOT_API_KEY": ROOT_KEY,
            "ESCROWGRID_DATA_DIR": str(tmp_path / "data"),
        },
        tmp_path / "server.log",
    ).start()
    yield proc
    proc.stop()
