"""Session-wide PostgreSQL cluster, a fresh migrated database per test, and a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api import Api
from tests.support.cluster import PgCluster, served_database
from tests.support.server import ServerProcess
from tests.support.stack import Image, build_image

ROOT_KEY = "test-root-key-0123456789abcdef"


@pytest.fixture(scope="session")
def cluster() -> Iterator[PgCluster]:
    running = PgCluster.start()
    running.prepare_template()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    """The Dockerfile's stages run here, once: the container and the wheel tests share it."""
    return build_image(tmp_path_factory.mktemp("image"))


@pytest.fixture
def database_url(cluster: PgCluster) -> Iterator[str]:
    name = cluster.new_database()
    yield cluster.dsn(name)
    cluster.drop_database(name)


@pytest.fixture(scope="module")
def api_server(
    cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One service for a whole test module, on its own database (tests isolate by institution)."""
    with served_database(cluster, tmp_path_factory.mktemp("api"), ROOT_KEY) as (proc, _):
        yield proc


@pytest.fixture(scope="module")
def api(api_server: ServerProcess) -> Api:
    return Api(api_server.url, ROOT_KEY)


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
