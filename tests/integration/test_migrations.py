"""Migrations: recorded, idempotent, transactional, checksummed; schema.sql equals their result."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from escrowgrid import migrations
from escrowgrid.embedded_pg import bin_dir
from escrowgrid.verify import compare_models
from projections.rebuilding.rebuild import rebuild
from tests.support.cluster import PgCluster
from tests.support.ledger import fill_funded

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def empty_db(cluster: PgCluster) -> str:
    name = cluster.new_database(migrated=False)
    yield cluster.dsn(name)  # type: ignore[misc]
    cluster.drop_database(name)


def _dump(cluster: PgCluster, dsn: str) -> str:
    dbname = conninfo_to_dict(dsn)["dbname"]
    out = subprocess.run(
        [str(bin_dir() / "pg_dump"), "--schema-only", "--no-owner", "--no-privileges",
         "-d", cluster.dsn(dbname, user="postgres")],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    # pg_dump prints a random \restrict token per run; it is not schema.
    return "\n".join(line for line in out.splitlines() if not line.startswith("\\"))


def test_migrate_applies_each_file_once_and_records_it(empty_db: str) -> None:
    first = migrations.migrate(empty_db)
    assert first == [m.name for m in migrations.discover()]
    assert migrations.migrate(empty_db) == []
    with psycopg.connect(empty_db) as conn:
        rows = conn.execute(
            "SELECT version, name, checksum FROM schema_migrations ORDER BY 1"
        ).fetchall()
    assert [(v, n, c) for v, n, c in rows] == [
        (m.version, m.name, m.checksum) for m in migrations.discover()
    ]


def test_a_changed_applied_migration_is_refused_by_name(empty_db: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(migrations.MIGRATIONS_DIR, folder)
    migrations.migrate(empty_db, folder)
    target = sorted(folder.glob("*.sql"))[0]
    target.write_text(target.read_text() + "\n-- edited after release\n")
    with pytest.raises(migrations.MigrationError, match=target.name):
        migrations.migrate(empty_db, folder)


def test_a_failing_migration_leaves_nothing_behind(empty_db: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(migrations.MIGRATIONS_DIR, folder)
    (folder / "9999_broken.sql").write_text(
        "CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;\n"
    )
    with pytest.raises(migrations.MigrationError, match=r"9999_broken\.sql"):
        migrations.migrate(empty_db, folder)
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regclass('half_done')").fetchone() == (None,)
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert 9999 not in versions


def test_bad_file_names_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1_x.sql").write_text("SELECT 1;")
    with pytest.raises(migrations.MigrationError, match="NNNN_lower_snake"):
        migrations.discover(tmp_path)


def test_schema_sql_is_current_and_equals_the_migrations(cluster: PgCluster, empty_db: str) -> None:
    schema_sql = (REPO / "db" / "schema.sql").read_text()
    assert schema_sql == migrations.render_schema_sql(), "run: escrowgrid db schema > db/schema.sql"
    migrated = cluster.new_database(migrated=False)
    try:
        migrations.migrate(cluster.dsn(migrated))
        with psycopg.connect(empty_db, autocommit=True) as conn:
            conn.execute(schema_sql.encode())
        assert _dump(cluster, empty_db) == _dump(cluster, cluster.dsn(migrated))
        # A database built from schema.sql is one the service accepts as fully migrated.
        assert migrations.migrate(empty_db) == []
    finally:
        cluster.drop_database(migrated)


def test_an_install_with_creation_steps_keeps_live_equal_to_a_rebuild(
    empty_db: str, tmp_path: Path
) -> None:
    """Before 0060 the positions read model stored each creation as a lifecycle step; the
    migration drops those rows, so the live tables equal what a rebuild now writes."""
    earlier = tmp_path / "migrations"
    earlier.mkdir()
    for path in migrations.MIGRATIONS_DIR.glob("*.sql"):
        if int(path.name[:4]) < 60:
            shutil.copy(path, earlier)
    migrations.migrate(empty_db, earlier)

    async def build() -> None:
        await fill_funded(empty_db, 3, inline=False)  # as an install before 0070 appended
        await rebuild(empty_db, show_progress=False)

    asyncio.run(build())
    with psycopg.connect(empty_db, autocommit=True) as conn:
        # The creation steps as the earlier projector wrote them.
        conn.execute(
            "INSERT INTO position_lifecycle (position_id, seq, id, from_state, to_state, at)"
            " SELECT position_id, 1, id, NULL, 'CREATED', at FROM ledger_events"
            " WHERE kind = 'POSITION_CREATED'"
        )
    assert migrations.migrate(empty_db)[0] == "0060_lifecycle_transitions_only.sql"
    with psycopg.connect(empty_db) as conn:
        steps = conn.execute("SELECT from_state, to_state FROM position_lifecycle").fetchall()
        assert steps == [("CREATED", "FUNDED")] * 3
        with pytest.raises(psycopg.errors.NotNullViolation):
            conn.execute(
                "INSERT INTO position_lifecycle (position_id, seq, id, to_state, at)"
                " SELECT position_id, 9, id, 'CREATED', at FROM position_lifecycle LIMIT 1"
            )
    assert asyncio.run(compare_models(empty_db)) is None


def test_migrate_without_migration_files_is_an_error(empty_db: str, tmp_path: Path) -> None:
    with pytest.raises(migrations.MigrationError, match="no migration files"):
        migrations.migrate(empty_db, tmp_path)
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,)


def test_a_checkout_reads_db_migrations_in_place() -> None:
    assert migrations.MIGRATIONS_DIR == REPO / "db" / "migrations"
