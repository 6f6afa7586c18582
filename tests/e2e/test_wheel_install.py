"""The service as a non-editable install sees it: the wheel the Dockerfile's builder stage makes
from the checkout, installed into the fresh venv of its runtime stage outside it, run from a
folder that is not the checkout. The `image` fixture (tests/conftest.py) runs those stages once
for these tests and the container ones."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import ROOT_KEY
from tests.support.api import Api
from tests.support.cluster import PgCluster
from tests.support.server import REPO, ServerProcess, run_cli
from tests.support.stack import Image

SHIPPED = sorted(path.name for path in (REPO / "db" / "migrations").glob("*.sql"))


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("outside")
    assert REPO not in folder.parents
    return folder


@pytest.fixture(scope="module")
def wheel(image: Image) -> Path:
    (built,) = image.wheels.glob("escrowgrid-*.whl")
    return built


@pytest.fixture(scope="module")
def venv_bin(image: Image) -> Path:
    return image.venv / "bin"


@pytest.fixture
def blank_database(cluster: PgCluster) -> Iterator[str]:
    name = cluster.new_database(migrated=False)
    yield cluster.dsn(name)
    cluster.drop_database(name)


def _env(outside: Path, database_url: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(outside)),
        "DATABASE_URL": database_url,
        "ROOT_API_KEY": ROOT_KEY,
        "ESCROWGRID_DATA_DIR": str(outside / "data"),
        "LOG_LEVEL": "warning",
    }


def test_the_wheel_carries_every_migration(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    packaged = sorted(
        Path(name).name for name in names if name.startswith("escrowgrid/db_migrations/")
    )
    assert SHIPPED and packaged == SHIPPED


def test_the_wheel_carries_the_built_console(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "escrowgrid/console_dist/index.html" in names
    assert any(n.startswith("escrowgrid/console_dist/assets/") and n.endswith(".js") for n in names)


def test_the_installed_service_migrates_and_holds_a_position(
    venv_bin: Path, outside: Path, blank_database: str
) -> None:
    server = ServerProcess(
        _env(outside, blank_database),
        outside / "serve.log",
        cwd=outside,
        command=[str(venv_bin / "escrowgrid")],
        inherit_env=False,
    ).start(timeout=120)
    try:
        api = Api(server.url, ROOT_KEY)
        assert api.get("/ready").status_code == 200
        institution = api.institution("Wheel Bank")
        template = api.template(institution["id"])
        asset = api.asset(template["id"], institution["id"])
        position = api.position(asset["id"], institution_id=institution["id"])
        assert api.ok(api.get(f"/positions/{position['id']}"))["state"] == "CREATED"
    finally:
        server.stop()
    with psycopg.connect(blank_database) as conn:
        applied = conn.execute("SELECT name FROM schema_migrations ORDER BY version").fetchall()
    assert [name for (name,) in applied] == SHIPPED


def test_migrate_without_migration_files_fails_loudly(
    venv_bin: Path, outside: Path, blank_database: str
) -> None:
    (packaged,) = venv_bin.parent.glob("lib/python*/site-packages/escrowgrid/db_migrations")
    hidden = packaged.with_name("db_migrations.hidden")
    packaged.rename(hidden)
    try:
        done = run_cli(
            _env(outside, blank_database), "db", "migrate",
            command=[str(venv_bin / "escrowgrid")], cwd=outside,
        )  # fmt: skip
    finally:
        hidden.rename(packaged)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "no migration" in done.stderr
