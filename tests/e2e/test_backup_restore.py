"""db/backup.sh and db/restore.sh end to end: data written through the API, backed up, restored
into a fresh database; `escrowgrid verify` passes there with the same ledger digest."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from escrowgrid.embedded_pg import bin_dir
from tests.conftest import ROOT_KEY
from tests.support.api import Api
from tests.support.cluster import PgCluster
from tests.support.server import REPO, ServerProcess

BACKUP, RESTORE = REPO / "db" / "backup.sh", REPO / "db" / "restore.sh"
DIGEST = re.compile(r"ledger digest at (\d+): ([0-9a-f]{64})")


def _script(
    script: Path, *args: str | Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ["PATH"], "PG_BIN": str(bin_dir())}
    command = [str(script), *map(str, args)]
    return subprocess.run(command, env={**base, **env}, capture_output=True, text=True, timeout=120)


def _verify(database_url: str) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "escrowgrid.cli", "verify"],
        env={**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "warning"},
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    found = DIGEST.search(done.stdout)
    assert found, done.stdout
    return found.group(1), found.group(2)


def _write_through_api(server: ServerProcess) -> None:
    world = Api(server.url, ROOT_KEY).world()
    admin: Api = world["admin"]
    for amount in (100, 250):
        position = admin.position(world["asset"]["id"], amount=amount)
        admin.ok(admin.move(position["id"], "FUNDED"))


@pytest.fixture
def blank(cluster: PgCluster) -> Iterator[str]:
    name = cluster.new_database(migrated=False)
    yield name
    cluster.drop_database(name)


def test_backup_then_restore_into_a_fresh_database(
    server: ServerProcess, database_url: str, cluster: PgCluster, blank: str, tmp_path: Path
) -> None:
    _write_through_api(server)
    before = _verify(database_url)
    assert int(before[0]) > 0

    done = _script(BACKUP, tmp_path / "backups", env={"DATABASE_URL": database_url})
    assert done.returncode == 0, done.stderr
    dump = Path(done.stdout.strip())
    assert re.fullmatch(r"escrowgrid-\d{8}T\d{6}Z\.dump", dump.name), dump
    assert dump.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    assert list(dump.parent.iterdir()) == [dump]  # no partial file left

    restored = cluster.dsn(blank)
    done = _script(RESTORE, dump, env={"DATABASE_URL": restored})
    assert done.returncode == 0, done.stderr
    assert _verify(restored) == before


def test_restore_refuses_a_database_with_tables_unless_forced(
    server: ServerProcess, database_url: str, cluster: PgCluster, tmp_path: Path
) -> None:
    _write_through_api(server)
    before = _verify(database_url)
    # The PG* variables instead of DATABASE_URL, as libpq reads them.
    socket_dir = str(cluster.pg.socket_dir)
    name = database_url.split("@/", 1)[1].split("?", 1)[0]
    pg_env = {"PGHOST": socket_dir, "PGUSER": "escrowgrid", "PGDATABASE": name}
    done = _script(BACKUP, tmp_path, env=pg_env)
    assert done.returncode == 0, done.stderr
    dump = Path(done.stdout.strip())

    other = cluster.new_database()  # migrated, so it holds tables (and some other history)
    try:
        target = {**pg_env, "PGDATABASE": other}
        refused = _script(RESTORE, dump, env=target)
        assert refused.returncode == 3, refused.stderr
        assert "--force" in refused.stderr
        done = _script(RESTORE, "--force", dump, env=target)
        assert done.returncode == 0, done.stderr
        assert _verify(cluster.dsn(other)) == before
    finally:
        cluster.drop_database(other)


def test_restore_explains_its_usage() -> None:
    done = _script(RESTORE, env={})
    assert done.returncode == 2 and "usage" in done.stderr
